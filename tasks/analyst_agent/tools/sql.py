"""`execute_sql`: run the model's SQL on the warehouse through the connector, and say what happened in words the model
can act on.

What the model can fix comes back as a result with `ok=False` and `error` holding the reason verbatim: the read-only
guard's refusal, the warehouse's own error (syntax, unknown column, permission), the statement timeout (stopped on
the server by the connector). What it cannot fix is raised: the run being canceled, a wrong password, a missing
driver, and a network failure that outlasted the retries (transient failures are retried here with backoff).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import random
import re
import uuid
from typing import Any

from pydantic import BaseModel, Field

from connectors import (
    AuthError,
    ConnectorError,
    MissingDriverError,
    NetworkError,
    QueryCanceledError,
    QueryTimeoutError,
    ReadOnlyViolation,
)
from tasks.analyst_agent.tools.env import ToolEnv

#: attempts for a transient (network) failure, and the base of the exponential delay between them
TRANSIENT_ATTEMPTS = 3
TRANSIENT_BASE_DELAY_S = 0.5
MAX_SQL_CHARS = 100_000
#: a text cell longer than this is cut (a model reads previews; a run's stored steps must not hold megabyte cells)
MAX_CELL_CHARS = 10_000
CUT_MARK = "…[cut]"

_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class SqlResult(BaseModel):
    """One execute_sql call: rows, or the error the model is shown."""

    sql: str
    ok: bool
    columns: list[str] = Field(default_factory=list)
    column_types: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list, description="JSON-safe values (dates as ISO text)")
    row_count: int = 0
    truncated: bool = Field(False, description="the source had more rows than max_rows")
    max_rows: int = 0
    elapsed_ms: float | None = None
    error: str | None = Field(None, description="what the model is shown when ok is false, verbatim")
    error_code: str | None = Field(None, description="read_only_violation, query_error, query_timeout, ...")

    def for_model(self, preview_rows: int = 20, cell_chars: int = 120) -> str:
        """The result as the model reads it: the error, or the columns and the first rows as a compact table."""
        if not self.ok:
            return f"ERROR ({self.error_code}): {self.error}"
        shown = self.rows[:preview_rows]
        lines = [" | ".join(self.columns)]
        lines += [" | ".join(_cell(v, cell_chars) for v in row) for row in shown]
        if not self.rows:
            head = "0 rows."
        elif self.truncated:
            head = f"{self.row_count} rows (the limit; more exist: aggregate or filter), first {len(shown)} shown:"
        elif len(shown) < self.row_count:
            head = f"{self.row_count} rows, first {len(shown)} shown:"
        else:
            head = f"{self.row_count} rows:"
        return "\n".join([head, *lines])

    def record(self) -> dict[str, Any]:
        """A short, JSON-safe account for the run's metadata (no rows)."""
        return {
            "sql": self.sql[:2000],
            "ok": self.ok,
            "row_count": self.row_count,
            "truncated": self.truncated,
            "elapsed_ms": self.elapsed_ms,
            "error_code": self.error_code,
            "error": (self.error or "")[:500] or None,
        }


def clean_sql(text: str) -> str:
    """The statement without a Markdown code fence or trailing semicolons (small models wrap SQL in ```sql)."""
    match = _FENCE.match(text)
    if match:
        text = match.group(1)
    return text.strip().rstrip(";").strip()


def execute_sql(env: ToolEnv, sql: str) -> SqlResult:
    """Run one read-only statement with the env's row limit and timeout; see the module docstring for what is
    returned and what is raised."""
    if env.cancel_event.is_set():
        raise QueryCanceledError("the run was canceled before the query started")
    if not isinstance(sql, str):
        return _refused(str(sql), "invalid_argument", f"the SQL must be text, got {type(sql).__name__}")
    statement = clean_sql(sql)
    if not statement:
        return _refused(sql, "invalid_argument", "the SQL is empty: write one SELECT statement")
    if len(statement) > MAX_SQL_CHARS:
        return _refused(statement[:2000], "invalid_argument", f"the SQL is {len(statement)} characters; at most {MAX_SQL_CHARS}")
    if "\x00" in statement:
        return _refused(statement.replace("\x00", ""), "invalid_argument", "the SQL contains a NUL character")
    rng = random.Random()
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            result = env.connector.query(statement, max_rows=env.max_rows, timeout=env.timeout_s)
        except ReadOnlyViolation as exc:
            return _refused(statement, exc.code, f"refused by the read-only guard, nothing ran: {exc.message}")
        except QueryCanceledError:
            raise  # the run is being canceled (or closed): nothing for the model to fix
        except QueryTimeoutError as exc:
            return _refused(
                statement, exc.code, f"{exc.message} (the query was stopped; make it cheaper: filter, aggregate, LIMIT)"
            )
        except (AuthError, MissingDriverError):
            raise
        except NetworkError:
            if attempt == TRANSIENT_ATTEMPTS:
                raise
            delay = TRANSIENT_BASE_DELAY_S * 2 ** (attempt - 1) * (0.5 + 0.5 * rng.random())
            if env.cancel_event.wait(delay):
                raise QueryCanceledError("the run was canceled while waiting to retry the query") from None
            continue
        except ConnectorError as exc:
            if exc.code == "connector_closed" or env.cancel_event.is_set():
                raise
            if exc.retryable and attempt < TRANSIENT_ATTEMPTS:
                if env.cancel_event.wait(TRANSIENT_BASE_DELAY_S * 2 ** (attempt - 1)):
                    raise QueryCanceledError("the run was canceled while waiting to retry the query") from None
                continue
            if exc.retryable:
                raise
            return _refused(statement, exc.code, exc.message)
        return SqlResult(
            sql=statement,
            ok=True,
            columns=[c.name for c in result.columns],
            column_types=[c.type for c in result.columns],
            rows=[[_bounded(json_safe(v)) for v in row] for row in result.rows],
            row_count=result.row_count,
            truncated=result.truncated,
            max_rows=env.max_rows,
            elapsed_ms=result.elapsed_ms,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def json_safe(value: Any) -> Any:
    """A warehouse value as JSON can hold it (metadata, the store, the model's prompt): numbers stay numbers,
    dates and times become ISO text, bytes base64, anything else its text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return value[:MAX_CELL_CHARS] + CUT_MARK
    if isinstance(value, (list, dict)) and len(str(value)) > MAX_CELL_CHARS:
        return str(value)[:MAX_CELL_CHARS] + CUT_MARK
    return value


def _refused(sql: str, code: str, message: str) -> SqlResult:
    return SqlResult(sql=sql, ok=False, error=message, error_code=code)


def _cell(value: Any, limit: int) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"
