"""What every tool needs from the run that calls it, in one object the task builds once per attempt.

Tools are plain functions of a `ToolEnv` and their arguments, so the task calls them inside `ctx.step` (a finished
call is not repeated after a crash) and tests call them directly on a real connector.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from connectors import Catalog, Connector

DEFAULT_MAX_ROWS = 100
DEFAULT_TIMEOUT_S = 30.0
#: rows of a result the model is shown (the result itself keeps up to max_rows)
DEFAULT_PREVIEW_ROWS = 20
#: characters of one cell the model is shown
DEFAULT_CELL_CHARS = 120


@dataclass
class ToolEnv:
    """The connector opened for the run's data source, the limits its queries run under, and who is asking.

    `cancel_event` is the attempt's (`ctx.cancel_event`): a tool checks it before it starts and a canceled query is
    raised, never shown to the model as something to fix. `for_context` also registers `connector.cancel` with
    `ctx.on_cancel`, so a cancel or timeout stops the statement on the server.
    """

    connector: Connector
    data_source_id: str
    run_id: str | None = None
    catalog: Catalog | None = None
    chat_id: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    timeout_s: float = DEFAULT_TIMEOUT_S
    preview_rows: int = DEFAULT_PREVIEW_ROWS
    cell_chars: int = DEFAULT_CELL_CHARS
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: the store's database; None: the runtime's (the worker's) database
    database_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_rows, int) or not 1 <= self.max_rows <= 100_000:
            raise ValueError(f"max_rows must be an integer from 1 to 100000, got {self.max_rows!r}")
        if not 0 < float(self.timeout_s) <= 3600:
            raise ValueError(f"timeout_s must be more than 0 and at most 3600 seconds, got {self.timeout_s!r}")
        if not isinstance(self.preview_rows, int) or self.preview_rows < 1:
            raise ValueError(f"preview_rows must be a positive integer, got {self.preview_rows!r}")

    @classmethod
    def for_context(cls, ctx: Any, connector: Connector, **fields: Any) -> "ToolEnv":
        """The env of one task attempt: its run id and cancel event, the connector's cancel on `ctx.on_cancel`."""
        ctx.on_cancel(connector.cancel)
        return cls(connector=connector, run_id=ctx.run_id, cancel_event=ctx.cancel_event, **fields)

    @property
    def dialect(self) -> str:
        """The sqlglot dialect of the source (what the model must write, what the review parses)."""
        return self.connector.dialect

    def cancel(self) -> None:
        """Stop whatever the tools are doing: set the event and cancel the running statement on the server."""
        self.cancel_event.set()
        self.connector.cancel()
