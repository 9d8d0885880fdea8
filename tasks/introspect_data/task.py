"""`introspect-data`: read a data source's catalog (and optionally profile its tables), save it as a snapshot.

The platform's main job: every data source is introspected when it is connected and then on a schedule, and the
analyst agent searches the latest snapshot. Stages, in run metadata for the UI:

    connecting -> testing -> introspecting -> profiling (only with profile=true) -> saving

Profiling (fanout.py) happens in this run for a few tables, or fans out to `introspect-data-profile` child runs
(profile_task.py) for a big source; a table that fails or times out becomes a warning and the rest go on.

Failures keep the connector's typed error (AuthError, NetworkError, ...). Errors that retrying cannot fix
(`retryable=False`: wrong password, missing database, permission denied) fail the run after one attempt; network
errors are retried with backoff. Whatever happens (success, error, timeout, cancel) the connector is closed, and a
cancel or timeout also stops the statement running on the server.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from connectors import Catalog, CatalogFilters, ConnectionTest, Connector, ConnectorError, Credentials
from connectors import errors as connector_errors
from runtime import (
    AbortTaskRunError,
    Queue,
    RetryConfig,
    ScheduledPayload,
    TaskContext,
    logger,
    metadata,
    schema_task,
    task,
    tracing,
)
from store import SnapshotWarning, StoreError, snapshots, sources
from tasks.introspect_data.connections import close_connector, open_connector, registered_source, retry_only_transient
from tasks.introspect_data.fanout import ProfilingOutcome, profile_stage
from tasks.introspect_data.interfaces import IntrospectDataInput, IntrospectDataOutput, ScheduledIntrospectionOutput
from tasks.introspect_data.profile_task import introspect_data_profile  # noqa: F401 - loaded with this module
from tasks.introspect_data.role_check import role_warning

#: how far `progress` has got when each stage starts (0..1); profiling fills the space up to `saving`
STAGE_PROGRESS = {"connecting": 0.0, "testing": 0.05, "introspecting": 0.1, "profiling": 0.5, "saving": 0.95}
#: share of the introspecting stage done after each bulk catalog query a connector reports
INTROSPECTION_STEPS = {"relations": 0.3, "columns": 0.6, "keys": 0.8, "views": 0.9, "done": 1.0}
TABLE_KINDS = ("table", "external", "materialized_view")


# -- the task ----------------------------------------------------------------------------------------------------------
@schema_task(
    id="introspect-data",
    schema=IntrospectDataInput,
    max_duration=30 * 60,
    retry=RetryConfig(max_attempts=3, factor=2.0, min_timeout=2.0, max_timeout=60.0, randomize=True),
    queue=Queue(name="introspection", concurrency_limit=10),
    cleanup=close_connector,
    catch_error=retry_only_transient,
)
def introspect_data(payload: IntrospectDataInput, ctx: TaskContext) -> dict[str, Any]:
    """Introspect a data source (optionally profile its tables) and save the catalog as a snapshot."""
    started = time.perf_counter()
    metadata.set("data_source_id", payload.data_source_id)
    _stage("connecting")
    creds, filters = _resolve_source(payload)
    metadata.set("source_type", creds.type)
    conn = open_connector(creds, ctx)  # lazy: nothing touches the network before the connection test
    try:
        _stage("testing")
        test = _test_connection(conn)
        metadata.set("connection_latency_ms", test.latency_ms).set("server_version", test.server_version)
        warnings = _check_role(test, conn.source_type)

        _stage("introspecting")
        catalog = _introspect(conn, filters, ctx)
        counts = catalog_counts(catalog)
        metadata.set("counts", counts)
        logger.info("catalog introspected", **counts, round_trips=catalog.round_trips)

        profiling = ProfilingOutcome.nothing()
        if payload.profile and payload.max_tables_to_profile > 0:
            _stage("profiling")
            profiling = profile_stage(
                conn, catalog, payload, ctx, progress=(STAGE_PROGRESS["profiling"], STAGE_PROGRESS["saving"])
            )
    finally:
        conn.close()  # the cleanup hook closes it too (idempotent): that one also covers an abandoned attempt
    warnings += profiling.profiled.warnings

    _stage("saving")
    ctx.raise_if_cancelled()  # a run canceled or timed out by now saves nothing
    # Not a recorded step: the save is idempotent by itself (the snapshot's id is the run's), so an attempt or a
    # resumed run that saves again returns the snapshot already saved; a step's check and record cost ~2 ms more.
    with tracing.span("save snapshot", attributes={"taskpack.data_source.id": payload.data_source_id}):
        snapshot_id, diff = snapshots.save_snapshot_with_diff(
            data_source_id=payload.data_source_id,
            catalog=catalog,
            profiles=profiling.profiled.profiles,
            source=creds.safe_dict(),
            run_id=ctx.run_id,
            warnings=[w.model_dump(mode="json") for w in warnings],
        )
    changes = diff.summary() if diff is not None else None
    if changes is not None:
        metadata.set("diff", changes.model_dump(mode="json"))
        logger.info("catalog compared with the previous snapshot", **changes.model_dump(mode="json"))
    pruned = snapshots.prune_snapshots(payload.data_source_id, keep=payload.keep_snapshots)
    if pruned:
        logger.info("old snapshots pruned", deleted=pruned, kept=payload.keep_snapshots)
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    metadata.set("snapshot_id", snapshot_id).set("progress", 1.0).set("stage", "done")
    logger.info("snapshot saved", snapshot_id=snapshot_id, duration_ms=duration_ms)
    return IntrospectDataOutput(
        data_source_id=payload.data_source_id,
        snapshot_id=snapshot_id,
        source_type=catalog.source_type,
        server_version=catalog.server_version or test.server_version,
        profiled_tables=len(profiling.profiled.profiles),
        profile_failures=len(profiling.profiled.warnings),
        profile_runs=profiling.child_runs,
        duration_ms=duration_ms,
        connection_latency_ms=test.latency_ms,
        diff=changes,
        role=test.role,
        warnings=warnings,
        **counts,
    ).model_dump(mode="json")


# -- stages ------------------------------------------------------------------------------------------------------------
def _stage(name: str) -> None:
    metadata.set("stage", name).set("progress", STAGE_PROGRESS[name])
    logger.info("stage started", stage=name)


def _resolve_source(payload: IntrospectDataInput) -> tuple[Credentials, CatalogFilters | None]:
    """The payload's credentials, or those registered for the data source (scheduled runs carry no secret)."""
    if payload.credentials is not None:
        return payload.credentials, payload.filters
    source = registered_source(payload.data_source_id)  # decrypted here, inside the worker
    return source.credentials, payload.filters if payload.filters is not None else source.filters


def _test_connection(conn: Connector) -> ConnectionTest:
    test = conn.test_connection()
    if not test.ok:
        error = connector_error_from(test.error or {})
        logger.error("connection test failed", error=type(error).__name__, code=error.code, retryable=error.retryable)
        raise error
    logger.info("connection ok", source_type=conn.source_type, latency_ms=test.latency_ms, server_version=test.server_version)
    return test


def _check_role(test: ConnectionTest, source_type: str) -> list[SnapshotWarning]:
    """Record what the role may do (metadata `role`) and warn when it is more than reading (metadata `warnings`, the
    run log, and later the snapshot and the output)."""
    role = test.role
    if role is not None:
        metadata.set("role", role.model_dump(mode="json"))
    warning = role_warning(role, source_type)
    if warning is None:
        if role is not None and role.read_only:
            logger.info("role is read-only", principal=role.principal)
        elif role is not None:
            logger.info("role privileges partly unknown", principal=role.principal, unknown=role.unknown())
        return []
    logger.warn(
        "role is not read-only",
        code=warning.code,
        principal=warning.details["principal"],
        capabilities=warning.details["capabilities"],
        write_grants=warning.details["write_grants"][:5],
        warning=warning.message,
    )
    metadata.set("warnings", [warning.model_dump(mode="json")])
    return [warning]


def _introspect(conn: Connector, filters: CatalogFilters | None, ctx: TaskContext) -> Catalog:
    start, end = STAGE_PROGRESS["introspecting"], STAGE_PROGRESS["profiling"]
    reached = [0.0]

    def on_progress(step: str, fields: dict[str, Any]) -> None:
        ctx.raise_if_cancelled()  # stop between catalog queries once the run is canceled or timed out
        metadata.set("introspection", {"step": step, **fields})
        fraction = introspection_fraction(step, fields)
        if fraction is not None and fraction > reached[0]:
            reached[0] = fraction
            metadata.set("progress", round(start + (end - start) * fraction, 4))
        logger.debug("introspection progress", step=step, **fields)

    return conn.introspect(filters, progress=on_progress)


def introspection_fraction(step: str, fields: dict[str, Any]) -> float | None:
    """How far a connector's introspection is (0..1), from its progress event; None when the event does not say.

    Sources that walk databases one by one report `done`/`total` (Snowflake, BigQuery); the bulk sources report the
    catalog query they finished (relations, columns, keys, views, done).
    """
    done, total = fields.get("done"), fields.get("total")
    if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return min(1.0, max(0.0, done / total))
    return INTROSPECTION_STEPS.get(step)


# -- helpers -----------------------------------------------------------------------------------------------------------
def catalog_counts(catalog: Catalog) -> dict[str, int]:
    """databases / schemas / tables / views / columns of a catalog (materialized views count as tables)."""
    schemas = [schema for db in catalog.databases for schema in db.schemas]
    # one pass over the kinds, per schema: a generator step per table took ~0.5 ms at 2,000 tables
    kinds = Counter(table.kind for schema in schemas for table in schema.tables)
    return {
        "databases": len(catalog.databases),
        "schemas": len(schemas),
        "tables": sum(kinds[kind] for kind in TABLE_KINDS),
        "views": kinds["view"],
        "columns": sum([len(table.columns) for schema in schemas for table in schema.tables]),
    }


def connector_error_from(info: dict[str, Any]) -> ConnectorError:
    """Rebuild the typed error a failed `test_connection()` reported as a dict (ConnectorError.to_dict())."""
    cls = getattr(connector_errors, str(info.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, ConnectorError)):
        cls = ConnectorError
    message = str(info.get("message") or "connection test failed")
    kwargs = {"code": info.get("code"), "retryable": info.get("retryable"), "details": info.get("details")}
    try:
        return cls(message, **kwargs)
    except TypeError:  # a subclass with its own constructor (ReadOnlyViolation, MissingDriverError)
        return ConnectorError(message, **kwargs)


# -- the scheduled variant -----------------------------------------------------------------------------------------
@task(
    id="introspect-data-scheduled",
    max_duration=35 * 60,
    retry=RetryConfig(max_attempts=1),  # the child run retries on its own; a second parent attempt would re-trigger it
    queue=Queue(name="introspection-schedules"),  # not the child's queue: a waiting parent must not hold its slot
)
def introspect_data_scheduled(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Cron entry point: look up the data source named by the schedule's `external_id`, run `introspect-data` on it."""
    tick = ScheduledPayload.model_validate(payload)
    if not tick.external_id:
        raise AbortTaskRunError("the schedule has no external_id: create it with external_id=<data source id>")
    try:
        source = sources.find_source_by_id(tick.external_id)
    except StoreError as exc:
        raise AbortTaskRunError(exc.message) from None
    if source is None:
        raise AbortTaskRunError(f"no data source registered with id {tick.external_id!r}")
    metadata.set("data_source_id", source.id).set("scheduled_for", tick.timestamp.isoformat())
    logger.info("scheduled introspection", data_source_id=source.id, schedule_id=tick.schedule_id)
    # No credentials in the child's payload: introspect-data reads them from the registry, so no secret is stored
    # with the run (payloads are kept in the runtime database for replays).
    child = {"data_source_id": source.id, "profile": source.profile}
    result = introspect_data.trigger_and_wait(child, tags=[f"data_source:{source.id}"[:128]])
    metadata.set("child_run_id", result.id)
    if not result.ok:
        error = result.error
        raise AbortTaskRunError(
            f"introspect-data run {result.id} ended {result.status.value}: "
            f"{error.type + ': ' + error.message if error else 'no error recorded'}"
        )
    return ScheduledIntrospectionOutput(
        data_source_id=source.id, run_id=result.id, output=IntrospectDataOutput.model_validate(result.output)
    ).model_dump(mode="json")
