"""What a trigger returns: a handle on the run it created (or found), which can read that run."""

from __future__ import annotations

from pydantic import BaseModel

from runtime.models import Run
from runtime.run_reader import retrieve_run, wait_for_run


class RunHandle(BaseModel):
    """What a trigger returns: the run's id, and whether an idempotency key pointed at an existing run."""

    id: str
    task_id: str
    is_cached: bool = False

    def retrieve(self) -> Run:
        return retrieve_run(self.id)

    def wait(self, timeout: float | None = None) -> Run:
        return wait_for_run(self.id, timeout=timeout)


class BatchHandle(BaseModel):
    batch_id: str
    runs: list[RunHandle]
