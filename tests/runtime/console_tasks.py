"""Tasks whose runs log at several levels, for test_console_log.py's worker process."""

from __future__ import annotations

from typing import Any

from runtime import TaskContext, logger, task


@task(id="console-warns")
def console_warns(payload: dict[str, Any], ctx: TaskContext) -> str:
    ctx.redact(payload["password"])
    logger.info("an info line nobody needs on the console", step=1)
    logger.warn("role is not read-only", principal="postgres", capabilities=["can_write", "superuser"], dsn=f"postgres://u:{payload['password']}@h/db")
    return "done"
