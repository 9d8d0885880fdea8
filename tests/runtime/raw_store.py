"""Reading and writing the stores behind the runtime's back: what the hostile-input tests compare and attack."""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa

from runtime.backend import APP_VERSION, get_backend, workflow_name
from runtime.definitions import get_task
from runtime.queues import DEFAULT_QUEUE


def stored_rows(url: str) -> dict[str, int]:
    """Row counts of every table the runtime and DBOS keep: what 'nothing stored' is checked against."""
    backend = get_backend(url)
    counts: dict[str, int] = {}
    for engine in (backend.engine, backend.sys_engine):
        inspector = sa.inspect(engine)
        schemas = [None] if engine.dialect.name == "sqlite" else [s for s in inspector.get_schema_names() if s in ("public", "dbos")]
        with engine.connect() as conn:
            for schema in schemas:
                for table in inspector.get_table_names(schema=schema):
                    name = f"{schema}.{table}" if schema else table
                    quoted = f'"{schema}"."{table}"' if schema else f'"{table}"'
                    counts[name] = conn.execute(sa.text(f"SELECT count(*) FROM {quoted}")).scalar_one()
    assert any("workflow_status" in name for name in counts)  # the scan sees DBOS's tables, not just ours
    return counts


def enqueue_unchecked(db_url: str, task_id: str, payload: Any, attributes: dict[str, Any] | None = None) -> str:
    """Store a run the way an old or foreign client could, past the door (what these tests need to attack reading)."""
    backend = get_backend(db_url)
    run_id = f"run_raw_{uuid.uuid4().hex[:12]}"
    definition = get_task(task_id)
    queue = definition.queue.name if definition is not None else DEFAULT_QUEUE
    backend.client.enqueue(
        {"workflow_name": workflow_name(task_id), "queue_name": queue, "app_version": APP_VERSION, "workflow_id": run_id,
         "attributes": {"task": task_id, **(attributes or {})}},
        payload,
        {"created_at": time.time(), "queue": queue},
    )
    return run_id


def set_columns(db_url: str, run_id: str, **values: Any) -> None:
    backend = get_backend(db_url)
    ws = backend.workflows
    with backend.sys_engine.begin() as conn:
        conn.execute(sa.update(ws).where(ws.c.workflow_uuid == run_id).values(**values))


def set_stored_inputs(db_url: str, run_id: str, text: str) -> None:
    """DBOS keeps a run's inputs in workflow_input (older rows: workflow_status.inputs); overwrite both."""
    backend = get_backend(db_url)
    ws, wi = backend.workflows, backend.sys_db.tables.workflow_input
    with backend.sys_engine.begin() as conn:
        conn.execute(sa.update(ws).where(ws.c.workflow_uuid == run_id).values(inputs=text))
        conn.execute(sa.update(wi).where(wi.c.workflow_uuid == run_id).values(inputs=text))
