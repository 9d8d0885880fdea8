"""`taskpack sources`: register data sources, test them, introspect them, read their catalogs and diffs, schedule.

No secret ever travels on the command line: credentials come from a file or stdin, and everything printed shows
secrets masked. A source is named by its id or its unique name everywhere.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Column, Table

import connectors
from cli.common import DB_OPTION, console, err, fail, handle_errors, print_json, read_json
from runtime import Schedule, rotate_run_secrets
from store import NoSnapshotError, SnapshotDiff, snapshots, source_schedules, sources
from store.secrets import ENV_PREVIOUS, keyring, store_errors

app = typer.Typer(help="Registered data sources: credentials encrypted at rest, catalogs, diffs, schedules.", no_args_is_help=True)

INTROSPECT_TASK = "introspect-data"
TASK_MODULE = "tasks.introspect_data.task"
SOURCE = typer.Argument(..., metavar="ID", help="the source's id or unique name")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sources")


def _load_introspection_tasks() -> None:
    """Define introspect-data here, so this process can trigger and schedule it without a worker having run."""
    importlib.import_module(TASK_MODULE)


# -- registry --------------------------------------------------------------------------------------------------------
@app.command("add")
@handle_errors
def add(
    name: str = typer.Argument(..., help="a unique name: letters, digits, '_', '.', '-'"),
    credentials_file: str = typer.Option(
        ..., "--credentials-file", help="JSON as connectors.parse_credentials takes it; '-' reads stdin"
    ),
    filters_file: Optional[str] = typer.Option(None, "--filters-file", help="JSON include/exclude globs (CatalogFilters)"),
    profile: bool = typer.Option(False, "--profile", help="scheduled introspections also profile tables"),
    as_json: bool = typer.Option(False, "--json"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Register a source; prints its new id."""
    credentials = read_json(credentials_file, "credentials")
    filters = read_json(filters_file, "filters") if filters_file is not None else None
    source = sources.add_source(name, credentials, filters=filters, profile=profile, database_url=database_url)
    if as_json:
        print_json({"id": source.id})
    else:
        typer.echo(source.id)


@app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json"), database_url: Optional[str] = DB_OPTION) -> None:
    """Every registered source (secrets masked)."""
    found = sources.list_sources(database_url=database_url)
    by_source = {s.deduplication_key: s for s in _all_schedules(database_url)}
    if as_json:
        print_json([{**s.public_dict(), "schedule": _schedule_dict(by_source.get(s.id))} for s in found])
        return
    table = Table(Column("id", no_wrap=True, min_width=20), "name", "type", "target", "profile", "schedule")
    for s in found:
        schedule = by_source.get(s.id)
        table.add_row(s.id, escape(s.name), s.source_type, escape(_target(s.credentials.safe_dict())), "yes" if s.profile else "",
                      f"{schedule.cron} ({schedule.timezone})" if schedule else "")
    console.print(table)


@app.command("show")
@handle_errors
def show(ref: str = SOURCE, as_json: bool = typer.Option(False, "--json"), database_url: Optional[str] = DB_OPTION) -> None:
    """One source: credentials (secrets masked), filters, schedule, latest snapshot."""
    source = sources.get_source(ref, database_url=database_url)
    schedule = source_schedules.schedule_of(source.id, database_url=database_url)
    latest = snapshots.list_snapshots(source.id, limit=1, database_url=database_url)
    data = {
        **source.public_dict(),
        "schedule": _schedule_dict(schedule),
        "latest_snapshot": latest[0].model_dump(mode="json") if latest else None,
    }
    if as_json:
        print_json(data)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key in ("id", "name", "source_type", "profile", "created_at"):
        grid.add_row(key, escape(str(data[key])))
    for key, value in data["credentials"].items():
        grid.add_row(f"credentials.{key}", escape(str(value)))
    if source.filters is not None:
        for key, value in source.filters.model_dump().items():
            if value:
                grid.add_row(f"filters.{key}", escape(", ".join(value)))
    grid.add_row("schedule", f"{schedule.cron} ({schedule.timezone}), next {schedule.next_run_at.isoformat()}" if schedule else "none")
    grid.add_row("latest snapshot", f"{latest[0].id} at {latest[0].created_at.isoformat()}, {latest[0].table_count} tables" if latest else "none")
    console.print(grid)


@app.command("remove")
@handle_errors
def remove(ref: str = SOURCE, database_url: Optional[str] = DB_OPTION) -> None:
    """Delete a source with its schedule, its snapshots and the agent's metrics, dashboards and chats on it."""
    removed = sources.remove_source(ref, database_url=database_url)
    schedule = f", schedule {removed.schedule_id}" if removed.schedule_id else ""
    agent = f", {removed.metrics_deleted} metrics, {removed.dashboards_deleted} dashboards, {removed.chats_deleted} chats"
    console.print(f"removed {escape(removed.name)} ({removed.id}): {removed.snapshots_deleted} snapshots{agent}{schedule}")


@app.command("rotate-key")
@handle_errors
def rotate_key(database_url: Optional[str] = DB_OPTION) -> None:
    """Re-encrypt every source's credentials, and the secrets of runs not finished yet, with the current key."""
    count = sources.rotate_key(database_url=database_url)
    origin = keyring(database_url).origin
    console.print(f"re-encrypted the credentials of {count} data source{'s' if count != 1 else ''} with the current key ({escape(origin)})")
    with store_errors():
        runs = rotate_run_secrets(database_url)
    console.print(f"re-encrypted the secrets of {runs} unfinished run{'s' if runs != 1 else ''} (payloads, recorded steps); "
                  f"finished runs keep theirs: keep the old key in {ENV_PREVIOUS} while you may replay them")


# -- the source itself -----------------------------------------------------------------------------------------------
@app.command("test")
@handle_errors
def test(ref: str = SOURCE, database_url: Optional[str] = DB_OPTION) -> None:
    """Open a connection and run the source's check query; exit 1 with the typed error when it fails."""
    source = sources.get_source(ref, database_url=database_url)
    try:
        with connectors.connect(source.credentials) as conn:
            result = conn.test_connection()
    except connectors.ConnectorError as exc:  # a missing driver, an unsupported source
        fail(f"{type(exc).__name__} ({exc.code}): {exc.message}", 1)
    if not result.ok:
        error = result.error or {}
        fail(f"{error.get('type', 'ConnectorError')} ({error.get('code')}): {error.get('message', 'connection test failed')}", 1)
    console.print(f"ok: {escape(source.name)} ({source.source_type} {escape(result.server_version or '')}) answered in {result.latency_ms:.1f} ms")
    role = result.role
    if role is None:
        return
    if role.read_only is False:  # the defence beside the SQL guard: see README "Read-only roles"
        held = ", ".join(role.beyond_read())
        console.print(f"warning: the role {escape(role.principal or '')} may do more than read: {held} (README: Read-only roles)")
    elif role.read_only:
        console.print(f"role: {escape(role.principal or '')} is read-only")
    else:
        console.print(f"role: {escape(role.principal or '')} may only read as far as the source can tell (unknown: {', '.join(role.unknown())})")


@app.command("introspect")
@handle_errors
def introspect(
    ref: str = SOURCE,
    profile: Optional[bool] = typer.Option(None, "--profile/--no-profile", help="default: the source's registered setting"),
    wait: bool = typer.Option(False, "--wait", "-w", help="follow the run live until it ends (exit 1 unless it completes)"),
    local: bool = typer.Option(False, "--local", help="run an in-process worker while waiting (no separate worker needed)"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Trigger introspect-data for the source. The run's payload holds its id only: the worker decrypts the credentials."""
    from runtime import Worker, tasks
    from runtime.cli import follow

    source = sources.resolve(ref, database_url=database_url)
    _load_introspection_tasks()
    payload = {"data_source_id": source.id, "profile": source.profile if profile is None else profile}
    embedded = Worker(database_url=database_url, tasks=[TASK_MODULE], concurrency=4) if local else None
    if embedded is not None:
        try:
            embedded.start()
        except Exception as exc:
            fail(f"could not start the local worker: {exc}")
    try:
        handle = tasks.trigger(INTROSPECT_TASK, payload, tags=[f"data_source:{source.id}"], database_url=database_url)
        console.print(f"run [bold]{handle.id}[/bold]: introspecting {escape(source.name)} ({source.id})")
        if wait:
            raise typer.Exit(0 if follow(handle.id, database_url) == "COMPLETED" else 1)
    finally:
        if embedded is not None:
            embedded.stop()


# -- snapshots -------------------------------------------------------------------------------------------------------
@app.command("catalog")
@handle_errors
def catalog(ref: str = SOURCE, as_json: bool = typer.Option(False, "--json"), database_url: Optional[str] = DB_OPTION) -> None:
    """The source's latest snapshot: its tables, views and columns."""
    source = sources.resolve(ref, database_url=database_url)
    snapshot = snapshots.latest_snapshot(source.id, database_url=database_url)
    if snapshot is None:
        raise NoSnapshotError(f"data source {source.name!r} has no snapshot yet: run `taskpack sources introspect {source.name}`")
    if as_json:
        print_json(snapshot.model_dump(mode="json", by_alias=True))
        return
    console.print(
        f"[bold]{escape(source.name)}[/bold] ({source.id}) snapshot {snapshot.id} at {snapshot.created_at.isoformat()}: "
        f"{snapshot.source_type} {escape(snapshot.server_version or '')}, {snapshot.table_count} tables and views, "
        f"{snapshot.column_count} columns"
    )
    table = Table(Column("table", overflow="fold"), "kind", "columns", "rows", "primary key", "comment")
    for db, sch, t in snapshot.catalog.iter_tables():
        table.add_row(escape(f"{db.name}.{sch.name}.{t.name}"), t.kind, str(len(t.columns)), "" if t.row_count is None else str(t.row_count),
                      escape(", ".join(t.primary_key)), escape(t.comment or ""))
    console.print(table)


@app.command("diff")
@handle_errors
def diff(
    ref: str = SOURCE,
    from_snapshot: Optional[str] = typer.Option(None, "--from", metavar="SNAP", help="default: the snapshot before --to"),
    to_snapshot: Optional[str] = typer.Option(None, "--to", metavar="SNAP", help="default: the latest snapshot"),
    as_json: bool = typer.Option(False, "--json"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """What changed between two snapshots of the source (default: the latest two)."""
    source = sources.resolve(ref, database_url=database_url)
    result = snapshots.compare_snapshots(source.id, from_snapshot, to_snapshot, database_url=database_url)
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        _print_diff(result)


def _print_diff(result: SnapshotDiff) -> None:
    console.print(f"{result.from_snapshot} → {result.to_snapshot}")
    if result.is_empty:
        console.print("no changes")
        return
    lines = [f"[green]+ table  {escape(n)}[/green]" for n in result.tables_added]
    lines += [f"[red]- table  {escape(n)}[/red]" for n in result.tables_removed]
    lines += [f"[green]+ column {escape(n)}[/green]" for n in result.columns_added]
    lines += [f"[red]- column {escape(n)}[/red]" for n in result.columns_removed]
    for change in result.columns_changed:
        what = "; ".join(f"{attr} {old!r} → {new!r}" for attr, (old, new) in change.changes.items())
        lines.append(f"[yellow]~ column {escape(change.column)}[/yellow]: {escape(what)}")
    for line in lines:
        console.print(line, soft_wrap=True)


# -- schedules -------------------------------------------------------------------------------------------------------
@app.command("schedule")
@handle_errors
def schedule(
    ref: str = SOURCE,
    cron: str = typer.Option(..., "--cron", help='five fields, e.g. "0 3 * * *"'),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA name, e.g. Europe/Paris"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Introspect the source on a cron schedule; scheduling again replaces its schedule."""
    source = sources.resolve(ref, database_url=database_url)
    _load_introspection_tasks()
    created = source_schedules.schedule(source.id, cron=cron, timezone=timezone, database_url=database_url)
    upcoming = ", ".join(t.isoformat() for t in created.upcoming[:3])
    console.print(f"schedule [bold]{created.id}[/bold]: {escape(source.name)} at '{created.cron}' ({created.timezone}); next {upcoming}")


@app.command("unschedule")
@handle_errors
def unschedule(ref: str = SOURCE, database_url: Optional[str] = DB_OPTION) -> None:
    """Delete the source's schedule (exit 1 when it has none)."""
    source = sources.resolve(ref, database_url=database_url)
    removed = source_schedules.unschedule(source.id, database_url=database_url)
    if removed is None:
        fail(f"data source {source.name!r} has no schedule", 1)
    console.print(f"deleted schedule {removed.id} of {escape(source.name)}")


# -- helpers ---------------------------------------------------------------------------------------------------------
def _all_schedules(database_url: str | None) -> list[Schedule]:
    from runtime import schedules

    return [s for s in schedules.list(task=source_schedules.SCHEDULED_TASK, database_url=database_url) if s.deduplication_key]


def _schedule_dict(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {"id": schedule.id, "cron": schedule.cron, "timezone": schedule.timezone, "next_run_at": schedule.next_run_at.isoformat()}


def _target(creds: dict[str, Any]) -> str:
    """Where a source points, in one short string (no secret: `creds` is already masked)."""
    where = next((str(creds[k]) for k in ("host", "account", "server_hostname", "project_id", "path") if creds.get(k)), "")
    user = creds.get("username")
    database = creds.get("database") or creds.get("catalog") or creds.get("default_dataset")
    return f"{user + '@' if user else ''}{where}{':' + str(creds['port']) if creds.get('port') else ''}{'/' + str(database) if database else ''}"
