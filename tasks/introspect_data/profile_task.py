"""`introspect-data-profile`: one chunk of a big source's tables, profiled in a child run of `introspect-data`.

Fanning out lets several workers share the profiling of a big source (fanout.py plans the chunks and waits for
them). The child has its own queue, `introspection-profiles`: a parent waiting for its children holds a slot of
`introspection`, never one of the queue its children need, so waiting parents cannot starve their own children (the
deadlock Trigger.dev documents for a parent and its children sharing a concurrency-limited queue). The queue's limit
caps profiling children across all workers; each parent's `profile_concurrency` caps its own.

Credentials: a registered source travels as its id and is decrypted here, in the worker, as the parent did; no
secret is added to any payload. A parent that was itself given inline credentials passes them on in the same
`Credentials` model (`ProfileChunkInput.credentials`), so a payload field typed `SecretStr` is what carries them,
as in the parent's own payload.

Cancel: canceling the parent cancels this run too (the runtime cascades to child runs); the worker's monitor stops
the attempt, `ctx.on_cancel(conn.cancel)` stops the statement on the server, and the cleanup hook closes the
connector. A child whose parent has already finished (it timed out, or was canceled while this child was being
enqueued) cancels itself before it touches the warehouse, and checks again between tables.
"""

from __future__ import annotations

import time
from typing import Any

from runtime import (
    Queue,
    RetryConfig,
    TaskCancelledError,
    TaskContext,
    logger,
    metadata,
    runs,
    schema_task,
)
from tasks.introspect_data.connections import close_connector, open_connector, registered_source, retry_only_transient
from tasks.introspect_data.interfaces import ProfileChunkInput, ProfileChunkOutput
from tasks.introspect_data.profiling import ProfiledTables, profile_tables

PROFILE_TASK_ID = "introspect-data-profile"
#: at most this many profiling children execute at once across every worker (each holds one warehouse session)
PROFILE_QUEUE = Queue(name="introspection-profiles", concurrency_limit=16)
#: how often (seconds) a child asks whether its parent is still running, between tables
PARENT_CHECK_INTERVAL_S = 2.0


@schema_task(
    id=PROFILE_TASK_ID,
    schema=ProfileChunkInput,
    max_duration=30 * 60,  # the parent sets each child's own: its tables' timeouts plus room to connect
    retry=RetryConfig(max_attempts=3, factor=2.0, min_timeout=2.0, max_timeout=60.0, randomize=True),
    queue=PROFILE_QUEUE,
    cleanup=close_connector,
    catch_error=retry_only_transient,
)
def introspect_data_profile(payload: ProfileChunkInput, ctx: TaskContext) -> dict[str, Any]:
    """Profile one chunk of tables of a data source for a parent `introspect-data` run."""
    metadata.set("data_source_id", payload.data_source_id).set("profile_total", len(payload.tables))
    watch = ParentWatch(ctx)
    watch.check()
    creds = payload.credentials if payload.credentials is not None else registered_source(payload.data_source_id).credentials
    conn = open_connector(creds, ctx)
    try:
        done = profile_tables(
            conn,
            payload.tables,
            sample_size=payload.sample_size,
            table_timeout=payload.table_timeout,
            ctx=ctx,
            entries=payload.entries,
            before_table=lambda _ref: watch.check(throttle=True),
        )
    finally:
        conn.close()  # the cleanup hook closes it too (idempotent): that one also covers an abandoned attempt
    report_to_parent(ctx, done, payload.parent_progress_share)
    return ProfileChunkOutput(profiles=done.profiles, warnings=done.warnings).model_dump(mode="json", by_alias=True)


class ParentWatch:
    """Stops this run when its parent has finished: nobody would read its profiles any more."""

    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx
        self._checked_at = 0.0

    def check(self, *, throttle: bool = False) -> None:
        ctx = self._ctx
        if ctx.parent_id is None or (throttle and time.monotonic() - self._checked_at < PARENT_CHECK_INTERVAL_S):
            return
        self._checked_at = time.monotonic()
        parent = runs.retrieve(ctx.parent_id)
        if not parent.is_final:
            return
        logger.warn("parent run finished: canceling this profile run", parent_id=parent.id, parent_status=parent.status.value)
        runs.cancel(ctx.run_id)
        raise TaskCancelledError("canceled")


def report_to_parent(ctx: TaskContext, done: ProfiledTables, progress_share: float) -> None:
    """Add this chunk to the parent's live counters and progress, written before this run's result is.

    Flushed here rather than by the worker's periodic flush: the parent reads its children's results as soon as they
    exist and then sets the final counts, which an increment landing later would throw off.
    """
    if ctx.parent_id is None:
        return  # `metadata.parent` would be this run's own metadata, already counted table by table
    parent = metadata.parent
    parent.increment("profiled_tables", len(done.profiles)).increment("profile_failures", len(done.warnings))
    if progress_share:
        parent.increment("progress", progress_share)
    parent.flush()
