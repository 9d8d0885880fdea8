"""Re-encrypting what unfinished runs hold with the current key, so a retired key can be dropped.

A run that has not finished still needs its secrets: a queued or delayed run has yet to open its payload's envelopes,
and an executing one may be recovered after a crash, re-reading its payload and its finished steps' results. So
`taskpack sources rotate-key` (after the store's credentials) rewrites, for every such run, its stored payload and
its recorded step results and errors with the current key.

Finished runs are left as they are: nothing reads their secrets again except a replay, and their rows are the
record of what ran. Showing them needs no key (secrets are shown masked); replaying one needs the key it was written
with, so keep a retired key in TASKPACK_SECRET_KEY_PREVIOUS for as long as old runs may be replayed.
"""

from __future__ import annotations

import sqlalchemy as sa

from runtime.backend import WORKFLOW_PREFIX, get_backend
from runtime.serializer import SERIALIZER_NAME, reseal

UNFINISHED = ("ENQUEUED", "DELAYED", "PENDING")


def rotate_run_secrets(database_url: str | None = None) -> int:
    """Re-encrypt the secrets of every unfinished run with the current key; returns how many runs held some.

    All or nothing: a token no key reads raises SecretDecryptError naming its run, and nothing is rewritten.
    """
    backend = get_backend(database_url)
    ring = backend.keyring()
    tables = backend.sys_db.tables
    ws, wi, oo = tables.workflow_status, tables.workflow_input, tables.operation_outputs
    rotated_runs = 0
    with backend.sys_engine.begin() as conn:
        runs = conn.execute(
            sa.select(ws.c.workflow_uuid, ws.c.inputs, wi.c.inputs.label("input_row"))
            .select_from(ws.outerjoin(wi, wi.c.workflow_uuid == ws.c.workflow_uuid))
            .where(ws.c.status.in_(UNFINISHED), ws.c.name.like(f"{WORKFLOW_PREFIX}%"), ws.c.serialization == SERIALIZER_NAME)
            .order_by(ws.c.workflow_uuid)
        ).all()
        for run_id, status_inputs, input_row in runs:
            what = f"a secret of run {run_id}"
            changed = 0
            for table, column, text in ((ws, ws.c.inputs, status_inputs), (wi, wi.c.inputs, input_row)):
                if text:
                    new, count = reseal(text, ring, what)
                    if count:
                        conn.execute(sa.update(table).where(table.c.workflow_uuid == run_id).values({column.name: new}))
                        changed += count
            steps = conn.execute(
                sa.select(oo.c.function_id, oo.c.output, oo.c.error).where(oo.c.workflow_uuid == run_id, oo.c.serialization == SERIALIZER_NAME)
            ).all()
            for function_id, output, error in steps:
                values = {}
                for name, text in (("output", output), ("error", error)):
                    if text:
                        new, count = reseal(text, ring, what)
                        if count:
                            values[name] = new
                if values:
                    conn.execute(sa.update(oo).where(oo.c.workflow_uuid == run_id, oo.c.function_id == function_id).values(values))
                    changed += len(values)
            rotated_runs += bool(changed)
    return rotated_runs
