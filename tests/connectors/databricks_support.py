"""Recorded databricks-sql-connector behaviour for the Databricks tests.

The connector cannot talk to an open-source Spark Thrift server (protocol version and result-format differences), so
the query, catalog and profile tests run at the DB-API boundary the connector uses, against these stand-ins for
`databricks.sql.client.Connection` / `Cursor`. Their answers have the documented shapes: `cursor(row_limit=...)`,
`execute(operation, parameters=None)`, `description` as 7-tuples whose `type_code` is the Databricks type name
(`'int'`, `'string'`, `'decimal'`, ...), rows as `databricks.sql.types.Row` (a tuple with field names), `fetchmany`,
`fetchall`, `fetchone`, a thread-safe `cancel()`, `close()`. Failures are the connector's own exception classes with
the message format the warehouse uses (`[ERROR_CLASS] text SQLSTATE: xxxxx`). Every statement that reaches the
"warehouse" is recorded in `executed`.

The driver's own HTTP/Thrift path is exercised for real in test_databricks_connection.py (local HTTPS endpoints).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from databricks.sql import exc as dbx
from databricks.sql.types import Row


def description(*columns: tuple[str, str]) -> list[tuple[Any, ...]]:
    return [(name, type_code, None, None, None, None, None) for name, type_code in columns]


def rows(names: Sequence[str], values: Sequence[Sequence[Any]]) -> list[Row]:
    return [Row(**dict(zip(names, v))) for v in values]


def server_error(error_class: str, text: str, sqlstate: str) -> dbx.ServerOperationError:
    return dbx.ServerOperationError(f"[{error_class}] {text} SQLSTATE: {sqlstate}", {"operation-id": "01ef-rec"})


@dataclass
class Answer:
    description: list[tuple[Any, ...]] | None = None
    rows: list[Any] = field(default_factory=list)
    error: BaseException | None = None
    block_until_cancel: BaseException | None = None


class RecordedCursor:
    def __init__(self, conn: "RecordedConnection", row_limit: int | None) -> None:
        self.conn = conn
        self.row_limit = row_limit
        self.description: list[tuple[Any, ...]] | None = None
        self._rows: list[Any] = []
        self._canceled = threading.Event()
        self.fetchmany_sizes: list[int] = []
        self.closed = False

    def execute(self, operation: str, parameters: Any = None) -> "RecordedCursor":
        self.conn.executed.append((operation, parameters, self.row_limit))
        answer = self.conn.answer(operation)
        if answer.block_until_cancel is not None:
            self.conn.running.set()
            if not self._canceled.wait(10):
                raise AssertionError("recorded statement was never canceled")
            raise answer.block_until_cancel
        if answer.error is not None:
            raise answer.error
        self.description = answer.description
        self._rows = list(answer.rows)
        return self

    def fetchmany(self, size: int) -> list[Any]:
        self.fetchmany_sizes.append(size)
        out, self._rows = self._rows[:size], self._rows[size:]
        return out

    def fetchall(self) -> list[Any]:
        out, self._rows = self._rows, []
        return out

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def cancel(self) -> None:
        self.conn.cancels += 1
        self._canceled.set()

    def close(self) -> None:
        self.closed = True


class RecordedConnection:
    def __init__(self, answer: Callable[[str], Answer]) -> None:
        self.answer = answer
        self.executed: list[tuple[str, Any, int | None]] = []
        self.cursors: list[RecordedCursor] = []
        self.cancels = 0
        self.closed = False
        self.running = threading.Event()

    def cursor(self, arraysize: int = 10000, buffer_size_bytes: int = 0, row_limit: int | None = None) -> RecordedCursor:
        cur = RecordedCursor(self, row_limit)
        self.cursors.append(cur)
        return cur

    def close(self) -> None:
        self.closed = True

    @property
    def statements(self) -> list[str]:
        return [sql for sql, _, _ in self.executed]
