"""A process that does not define a task (the HTTP API, the CLI) triggers it from the definition workers published.
That row is read at most once per `PUBLISHED_DEFINITION_TTL_S` per task, not on every trigger; a task nobody has
published yet is looked up again on each trigger."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from runtime import UnknownTaskError, runs, tasks
from runtime import triggering
from runtime.backend import get_backend
from runtime.store import task_definitions

TASK_ID = "published-elsewhere"


def _definition(queue: str) -> dict[str, Any]:
    return {
        "id": TASK_ID, "queue": queue, "concurrency_limit": None, "concurrency_key_from": None, "max_duration": None,
        "retry": {"max_attempts": 1}, "machine": None, "is_async": False, "has_schema": False, "payload_schema": None,
        "description": "defined by a worker of another process",
    }


def _publish(db_url: str, queue: str) -> None:
    with get_backend(db_url).engine.begin() as conn:
        conn.execute(sa.delete(task_definitions).where(task_definitions.c.id == TASK_ID))
        conn.execute(sa.insert(task_definitions).values(id=TASK_ID, definition=_definition(queue), updated_at=time.time()))


def _definition_reads(db_url: str) -> list[str]:
    reads: list[str] = []

    @sa.event.listens_for(get_backend(db_url).engine, "before_cursor_execute")
    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and task_definitions.name in statement:
            reads.append(statement)

    return reads


def test_a_published_definition_is_read_once_per_ttl_and_a_change_is_seen_after_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(triggering, "PUBLISHED_DEFINITION_TTL_S", 0.5)
    _publish(db_url, "lane-a")
    reads = _definition_reads(db_url)
    first = [tasks.trigger(TASK_ID, {"i": i}, database_url=db_url) for i in range(10)]
    assert len(reads) == 1
    assert {runs.retrieve(h.id, database_url=db_url).queue for h in first} == {"lane-a"}

    _publish(db_url, "lane-b")  # workers of new code started
    time.sleep(0.6)
    reads.clear()
    later = tasks.trigger(TASK_ID, {}, database_url=db_url)
    assert len(reads) == 1
    assert runs.retrieve(later.id, database_url=db_url).queue == "lane-b"


def test_an_unpublished_task_is_looked_up_on_every_trigger_and_found_once_published(db_url: str) -> None:
    reads = _definition_reads(db_url)
    for _ in range(2):
        with pytest.raises(UnknownTaskError, match=TASK_ID):
            tasks.trigger(TASK_ID, {}, database_url=db_url)
    assert len(reads) == 2
    _publish(db_url, "lane-a")
    handle = tasks.trigger(TASK_ID, {}, database_url=db_url)  # at once: a miss is never kept
    assert runs.retrieve(handle.id, database_url=db_url).queue == "lane-a"
