"""Queues: where runs wait for a worker, and how many of them may execute at once."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_QUEUE = "taskpack-default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,120}$")


class Queue(BaseModel):
    """A named queue with an optional concurrency limit shared by every worker.

    With a `concurrency_key` on trigger, each key gets its own set of `concurrency_limit` slots (one analyst run
    per chat at a time), as Trigger.dev's per-key queue copies do.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    concurrency_limit: int | None = Field(None, ge=1, le=10_000)

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
