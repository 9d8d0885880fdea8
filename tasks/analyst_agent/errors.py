"""The agent's own failures: a stable `code`, a `message` fit to show the user, `retryable`, and `details`.

The runtime stores an error's `to_dict()` with the run (type, code, retryable, details), so the UI can say what went
wrong in words ("The data source was removed") without parsing a traceback. Model errors keep their own classes
(`tasks.analyst_agent.llm.errors`), which share this shape.
"""

from __future__ import annotations

from typing import Any


class AgentError(Exception):
    code: str = "agent_error"
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "code": self.code, "message": self.message,
                "retryable": self.retryable, "details": self.details}


class SourceNotFoundError(AgentError):
    """The payload names a data source that is not registered (removed, or a typo)."""

    code = "source_not_found"


class NoCatalogError(AgentError):
    """The source has no snapshot and introspecting it failed: there is nothing to search."""

    code = "no_catalog"


class NoTablesError(AgentError):
    """The source's catalog holds no table the agent could query."""

    code = "no_tables"


class WarehouseError(AgentError):
    """The warehouse could not be reached or failed in a way the model cannot fix (after the in-step retries)."""

    code = "warehouse_unavailable"
    retryable = True


class ChatMismatchError(AgentError):
    """The chat id belongs to a conversation about another data source."""

    code = "chat_on_other_source"
