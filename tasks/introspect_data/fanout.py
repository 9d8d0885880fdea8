"""The profiling stage of `introspect-data`: profile here, or fan out to child runs for a big source.

The chosen tables are cut into chunks of `profile_chunk_size`. When they all fit in one chunk, this run profiles
them itself on its open connection (a child would only add a second connection and a queue hop). Otherwise the
connection is closed and the chunks go to `introspect-data-profile` child runs, `profile_concurrency` in flight: a
sliding window, in plan order. Chunk k+concurrency is triggered as soon as chunk k has ended, while the others
still run; waiting for a whole group before starting the next left workers idle at every group's tail and at every
group's start (the parent noticing the end, the workers noticing the new runs). Each trigger is recorded in this
run, and the order of triggers depends only on the plan, never on which child ends first, so a parent resumed
after a crash finds the children it had already started instead of starting them again, and reads their results
from the runs themselves. The plan is a recorded step for the same reason: a replayed parent re-reads the catalog,
which may have changed since. Each child gets its tables' catalog entries, so it profiles them without reading the
catalog again.

Every table ends up profiled or named in a warning: a child's own warnings (a failed or timed-out table), or, for a
child run that failed as a whole, one warning per table of its chunk naming the run. Progress is live: each child
adds its chunk to the parent's `profiled_tables`, `profile_failures` and `progress` as it finishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from connectors import Catalog, Connector, Table, TableRef
from runtime import BatchItem, RunHandle, RunStatus, TaskContext, TaskRunResult, logger, metadata, runs
from store import SnapshotWarning
from tasks.introspect_data.interfaces import IntrospectDataInput, ProfileChunkInput, ProfileChunkOutput
from tasks.introspect_data.profile_task import introspect_data_profile
from tasks.introspect_data.profiling import (
    PROFILE_FAILED,
    ProfiledTables,
    catalog_entries,
    profile_tables,
    qualified_name,
    tables_to_profile,
)

#: seconds a child run gets beyond its tables' own timeouts: connecting, the catalog lookups, queue hops
CHILD_SETUP_S = 120.0
#: a child's payload carries its tables' catalog entries up to this many columns in all (~100 bytes each, far below
#: the payload limit); a chunk of wider tables has each one looked up by the child instead
CHILD_ENTRY_COLUMNS = 5_000
#: seconds between two looks at whether this run was canceled while it waits for a child
CHILD_WAIT_SLICE_S = 1.0
#: warnings listed in the run's metadata (all of them are in the output): metadata has a size cap
METADATA_WARNINGS = 20
#: statuses of a child run that is not finished
UNFINISHED = [status for status in RunStatus if not status.is_final]  # PENDING_VERSION included


@dataclass
class ProfilingOutcome:
    """Profiles in catalog order, a warning per table without one, and how many child runs did the work."""

    profiled: ProfiledTables
    child_runs: int = 0

    @classmethod
    def nothing(cls) -> "ProfilingOutcome":
        """The outcome of a run that does not profile."""
        return cls(ProfiledTables())


def profile_stage(
    conn: Connector,
    catalog: Catalog,
    payload: IntrospectDataInput,
    ctx: TaskContext,
    *,
    progress: tuple[float, float],
) -> ProfilingOutcome:
    """Profile the tables the payload asks for, between the `progress` fractions given; see the module docstring."""
    chunks = ctx.step("plan-profiles", plan_chunks, catalog, payload)
    total = sum(len(chunk) for chunk in chunks)
    metadata.set("profile", {"total": total, "chunks": len(chunks), "chunk_size": payload.profile_chunk_size,
                             "concurrency": payload.profile_concurrency})
    metadata.set("profiled_tables", 0).set("profile_failures", 0)
    if len(chunks) <= 1:
        tables = [TableRef.model_validate(t) for chunk in chunks for t in chunk]
        outcome = ProfilingOutcome(_profile_here(conn, tables, catalog_entries(catalog, tables), payload, ctx, progress))
    else:
        conn.close()  # the parent holds no warehouse session while its children work
        outcome = _profile_in_children(chunks, catalog, payload, ctx, progress)
    profiled = outcome.profiled
    metadata.set("profiled_tables", len(profiled.profiles)).set("profile_failures", len(profiled.warnings))
    if profiled.warnings:
        metadata.set("profile_warnings", [_brief(w) for w in profiled.warnings[:METADATA_WARNINGS]])
    logger.info("profiling done", tables=total, profiled=len(profiled.profiles), failed=len(profiled.warnings),
                child_runs=outcome.child_runs)
    return outcome


def plan_chunks(catalog: Catalog, payload: IntrospectDataInput) -> list[list[dict[str, Any]]]:
    """The tables to profile, in catalog order, cut into chunks (as JSON: the plan is recorded as a step)."""
    tables = tables_to_profile(catalog, include_views=payload.profile_views, limit=payload.max_tables_to_profile)
    size = payload.profile_chunk_size
    return [[t.model_dump(mode="json", by_alias=True) for t in tables[i : i + size]] for i in range(0, len(tables), size)]


def _profile_here(
    conn: Connector,
    tables: list[TableRef],
    entries: list[Table] | None,
    payload: IntrospectDataInput,
    ctx: TaskContext,
    progress: tuple[float, float],
) -> ProfiledTables:
    start, end = progress

    def advance(done: int) -> None:
        metadata.set("progress", round(start + (end - start) * done / max(len(tables), 1), 4))

    return profile_tables(
        conn, tables, sample_size=payload.profile_sample_size, table_timeout=payload.profile_table_timeout, ctx=ctx,
        entries=entries, after_table=advance,
    )


def _profile_in_children(
    chunks: list[list[dict[str, Any]]],
    catalog: Catalog,
    payload: IntrospectDataInput,
    ctx: TaskContext,
    progress: tuple[float, float],
) -> ProfilingOutcome:
    total = sum(len(chunk) for chunk in chunks)
    span = progress[1] - progress[0]
    logger.info("profiling fans out", tables=total, chunks=len(chunks), concurrency=payload.profile_concurrency)
    # Children add to these counters from their own processes: what this run set must be stored first.
    metadata.flush()
    family = children_tag(ctx.run_id)
    # Canceling this run cancels its children (the runtime cascades); hitting max_duration does not, so this does.
    ctx.on_cancel(lambda: cancel_children(family))
    tags = [family, f"data_source:{payload.data_source_id}"[:128]]
    shares = [span * len(chunk) / total for chunk in chunks]
    outcome = ProfilingOutcome(ProfiledTables())
    handles: list[RunHandle] = []
    for index, chunk in enumerate(chunks):
        # keep `profile_concurrency` children in flight: this chunk's and the ones after it
        while len(handles) < min(len(chunks), index + payload.profile_concurrency):
            ctx.raise_if_cancelled()
            item = _child_item(chunks[len(handles)], catalog, payload, shares[len(handles)])
            handles.append(introspect_data_profile.trigger(item.payload, tags=tags, **item.options))
        result = wait_for_child(handles[index], ctx)
        outcome.child_runs += 1
        metadata.set("profile_runs", outcome.child_runs)
        outcome.profiled.extend(_chunk_outcome(chunk, result, shares[index]))
    return outcome


def wait_for_child(handle: RunHandle, ctx: TaskContext) -> TaskRunResult:
    """The child run's result once it has ended (at once for one that already has: a resumed parent); stops when this
    run is canceled or times out."""
    while True:
        ctx.raise_if_cancelled()
        try:
            run = runs.wait(handle.id, timeout=CHILD_WAIT_SLICE_S)
        except TimeoutError:
            continue
        return TaskRunResult(
            id=run.id, task_id=run.task_id, ok=run.status is RunStatus.COMPLETED, status=run.status, output=run.output,
            error=run.error,
        )


def children_tag(run_id: str) -> str:
    """The tag every profiling child of a run carries: how the run (or a UI) finds its children."""
    return f"profile_parent:{run_id}"


def cancel_children(tag: str) -> None:
    """Cancel every unfinished child run carrying `tag` (each child's worker then stops its warehouse query)."""
    for child in runs.list(tag=tag, status=UNFINISHED, limit=500).data:
        runs.cancel(child.id)
        logger.info("profile run canceled with its parent", run_id=child.id)


def _child_item(chunk: list[dict[str, Any]], catalog: Catalog, payload: IntrospectDataInput, share: float) -> BatchItem:
    tables = [TableRef.model_validate(t) for t in chunk]
    child = ProfileChunkInput(
        data_source_id=payload.data_source_id,
        # Only a parent given inline credentials passes them on, in the same typed field (see profile_task.py); the
        # runtime stores a model payload with its SecretStr values, as it stored the parent's.
        credentials=payload.credentials,
        tables=tables,
        entries=catalog_entries(catalog, tables, max_columns=CHILD_ENTRY_COLUMNS),
        sample_size=payload.profile_sample_size,
        table_timeout=payload.profile_table_timeout,
        parent_progress_share=round(share, 6),
    )
    max_duration = math.ceil(len(chunk) * payload.profile_table_timeout + CHILD_SETUP_S)
    return BatchItem(payload=child, options={"max_duration": max_duration})


def _chunk_outcome(chunk: list[dict[str, Any]], result: TaskRunResult, share: float) -> ProfiledTables:
    """A finished child's profiles and warnings; for a child that failed, a warning for every table of its chunk."""
    if result.ok:
        output = ProfileChunkOutput.model_validate(result.output)
        warnings = [w.model_copy(update={"details": {**w.details, "run_id": result.id}}) for w in output.warnings]
        for warning in warnings:
            logger.warn("table profile failed", table=warning.details.get("table"), code=warning.code, run_id=result.id)
        return ProfiledTables(profiles=output.profiles, warnings=warnings)
    error = result.error
    reason = f"{error.type}: {error.message}" if error else "no error recorded"
    logger.warn("profile run failed", run_id=result.id, status=result.status.value, error=reason, tables=len(chunk))
    names = [qualified_name(TableRef.model_validate(t)) for t in chunk]
    # The child added nothing to the counters: its tables are failures now, and its share of progress is done.
    metadata.increment("profile_failures", len(names))
    if share:
        metadata.increment("progress", round(share, 6))
    return ProfiledTables(
        warnings=[
            SnapshotWarning(
                code=PROFILE_FAILED,
                message=f"table {name} was not profiled: profile run {result.id} ended {result.status.value} ({reason})",
                details={"table": name, "run_id": result.id, "status": result.status.value,
                         "error": error.type if error else None},
            )
            for name in names
        ]
    )


def _brief(warning: SnapshotWarning) -> dict[str, Any]:
    return {"code": warning.code, "table": warning.details.get("table")}
