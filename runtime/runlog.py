"""`logger`: structured log lines stored with the run (and echoed to Python logging), secrets redacted."""

from __future__ import annotations

import logging
from typing import Any

from runtime import tracing
from runtime.context import maybe_current_context
from runtime.redaction import redact, redact_text

_py = logging.getLogger("taskpack.task")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class RunLogger:
    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        message = redact_text(str(message))
        safe = redact(fields) if fields else {}
        ctx = maybe_current_context()
        ids = tracing.log_ids()  # None unless tracing is on: then the line names its trace and span
        # the message and fields apart too, for a handler that shows fields its own way (runtime/console_log.py)
        extra: dict[str, Any] = {"log_message": message, "log_fields": safe, **(ids or {})}
        if ctx is not None:
            ctx.state.logs.add(level, message, safe, ctx.attempt)  # the trace and span ids are added there
            extra["run_id"] = ctx.run_id
        _py.log(_LEVELS[level], "%s %s", message, safe or "", extra=extra)

    def debug(self, message: str, **fields: Any) -> None:
        self._log("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log("info", message, fields)

    def warn(self, message: str, **fields: Any) -> None:
        self._log("warn", message, fields)

    warning = warn

    def error(self, message: str, **fields: Any) -> None:
        self._log("error", message, fields)


logger = RunLogger()
