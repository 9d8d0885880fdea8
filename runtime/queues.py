"""Queues: where runs wait for a worker, and how many of them may execute at once."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_QUEUE = "taskpack-default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,120}$")


class Queue(BaseModel):
    """A named queue with an optional concurrency limit shared by every worker.

    With a `concurrency_key` on trigger, each key gets its own set of `concurrency_limit` slots (one analyst run
    per chat at a time), as Trigger.dev's per-key queue copies do. `concurrency_key_from` names a top-level payload
    field whose text is the key when a trigger gives none: a caller that forgets the key (an HTTP client) still gets
    one lane per chat, not one lane shared by every chat. It is stored with the task's registration, so a process
    that triggers the task without importing it (the CLI, the API) applies it too.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    concurrency_limit: int | None = Field(None, ge=1, le=10_000)
    concurrency_key_from: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _NAME.match(name) or name.startswith("_dbos"):
            raise ValueError(f"invalid queue name {name!r}: letters, digits and _.:/- only, not starting with _dbos")
        return name

    @property
    def keyed_name(self) -> str:
        """The partitioned companion queue that carries runs triggered with a concurrency_key."""
        return f"{self.name}#keyed"
