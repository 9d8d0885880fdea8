"""A worker run from the command line shows its warnings and errors as one readable line each, on stderr.

The runtime logs through Python's logging (its own messages under `taskpack`, the runs' `logger` lines under
`taskpack.task`) and, as a library, configures nothing: the application embedding it decides. `taskpack worker`
(and `taskpack dev` / `taskpack serve`, which run one) is such an application. Without a handler Python's last-resort
one printed each record's bare text, a run's structured fields as a dict's repr and no run id:

    role is not read-only {'code': 'role_not_read_only', 'principal': 'postgres', ...}

Now:

    20:35:03 WARN  run_01a242c3…  role is not read-only  code=role_not_read_only principal=postgres ...

The stored run log keeps every line (`runs.logs`, the API, the dashboard); this is what a terminal shows meanwhile.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

#: a value longer than this is cut (a long SQL statement, a list of grants): the run log has it whole
MAX_VALUE_CHARS = 160
_LEVEL_NAMES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL run_id  message  key=value ...`; a run log line's fields as key=value, JSON-ish values."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = _LEVEL_NAMES.get(record.levelname, record.levelname)
        fields = getattr(record, "log_fields", None)
        message = getattr(record, "log_message", None) if isinstance(fields, dict) else None
        if message is None:
            message, fields = record.getMessage(), None
        parts = [f"{when} {level:<5}"]
        run_id = getattr(record, "run_id", None)
        if run_id:
            parts.append(str(run_id))
        parts.append(message)
        if fields:
            parts.append(" ".join(f"{key}={_value(value)}" for key, value in fields.items()))
        line = "  ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _value(value: Any) -> str:
    text = value if isinstance(value, str) and value and " " not in value else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module added, so a second call adds none."""


def show_warnings_on_console(stream: TextIO | None = None, level: int = logging.WARNING) -> logging.Handler:
    """Give the `taskpack` loggers one console handler at `level` (once per process) and return it. Records still
    propagate: an application that configured the root logger gets them there as well."""
    root = logging.getLogger("taskpack")
    for handler in root.handlers:
        if isinstance(handler, _ConsoleHandler):
            return handler
    handler = _ConsoleHandler(stream if stream is not None else sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(ConsoleFormatter())
    root.addHandler(handler)
    return handler
