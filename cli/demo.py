"""`taskpack demo`: the demo warehouse built, registered as a source and introspected with profiles, in seconds.

It is the README's first command, so it has to work on a fresh machine with nothing but `.ci/install` behind it: no
server (the embedded SQLite runtime database, an in-process worker as `--local` starts), no download (the warehouse
is generated from a seed, `demo/`), and a real catalog at the end. Running it again reuses the file and the source
(one source `demo`, its credentials replaced, a new snapshot); `--rebuild` builds the file again (the same rows).
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import DB_OPTION, console, fail, handle_errors
from store import DataSource, SourceExistsError, SourceNotFoundError, Snapshot, snapshots, sources

INTROSPECT_TASK = "introspect-data"
TASK_MODULE = "tasks.introspect_data.task"
DEMO_FILE = "demo.duckdb"
#: the file is made read-only for its owner once built: the README's DuckDB recipe, so a non-root worker's
#: introspection reports the source read-only (root may write any file and is reported as able to)
READ_ONLY_MODE = 0o444
POLL_S = 0.2
#: how many table names the summary lists
SHOWN_TABLES = 5
#: loggers the in-process worker writes to; their lines are stored with the run (`taskpack runs show`), and what
#: matters of them (the run's warnings, its error) is in the summary, so they are not echoed over the progress bars
QUIET_LOGGERS = ("taskpack", "connectors")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)


@dataclass(frozen=True)
class Built:
    path: Path
    built: bool
    seconds: float


@handle_errors
def demo(
    rebuild: bool = typer.Option(False, "--rebuild", help="build the warehouse file again even if it exists"),
    name: str = typer.Option("demo", "--name", help="the name the warehouse is registered under"),
    timeout: float = typer.Option(300.0, "--timeout", min=1, help="seconds to wait for the introspection"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Build the demo warehouse (DuckDB, ~100k rows of an online shop), register it as a source and introspect it."""
    from runtime import project_root

    for logger in QUIET_LOGGERS:
        logging.getLogger(logger).addHandler(logging.NullHandler())
    path = project_root() / ".taskpack" / DEMO_FILE
    existing = _existing_demo(name, database_url)  # a name taken by another source fails before anything is built
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:
        step = progress.add_task("building the demo warehouse", total=1)
        built = _build(path, rebuild)
        progress.update(step, completed=1, description=f"{'built' if built.built else 'reused'} {_shown(path)}")

        step = progress.add_task(f"registering source {name}", total=1)
        source = _register(name, path, existing, database_url)
        verb = "updated" if existing is not None else "registered"
        progress.update(step, completed=1, description=f"{verb} source {name} ({source.id})")

        step = progress.add_task("introspecting", total=100)
        output = _introspect(source, timeout, database_url, progress, step)
    snapshot = snapshots.get_snapshot(output["snapshot_id"], database_url=database_url)
    if snapshot is None:  # the run completed, so its snapshot was saved; only a later run's pruning removes it
        fail(f"the run's snapshot {output['snapshot_id']} is gone (pruned by a later run?)", 1)
    _summary(built, source, snapshot, output)


# -- the three steps -------------------------------------------------------------------------------------------------
def _build(path: Path, rebuild: bool) -> Built:
    started = time.perf_counter()
    if path.is_file() and not rebuild:
        return Built(path, False, 0.0)
    try:
        from demo import build_demo_warehouse
    except ImportError as exc:  # the duckdb extra is missing
        fail(f"the demo needs the duckdb driver ({exc.name or exc}): pip install -e '.[duckdb]'", 2)
    try:
        build_demo_warehouse(path)
        path.chmod(READ_ONLY_MODE)
    except Exception as exc:  # duckdb or the file system: one line, not a traceback
        fail(f"could not build the demo warehouse at {path}: {type(exc).__name__}: {exc}", 1)
    return Built(path, True, time.perf_counter() - started)


def _existing_demo(name: str, database_url: str | None) -> DataSource | None:
    """The source already registered under `name`, when it is the demo's: a DuckDB file of the demo's file name (the
    project may have moved since). Any other source of that name is the user's and is left alone: exit 2."""
    try:
        existing = sources.get_source(name, database_url=database_url)
    except SourceNotFoundError:
        return None
    current = getattr(existing.credentials, "path", None)
    if existing.source_type != "duckdb" or current is None or Path(current).name != DEMO_FILE:
        what = f"{existing.source_type} {current}" if current else existing.source_type
        fail(f"a data source named {name!r} exists already and is not the demo warehouse ({what}): "
             f"remove it (taskpack sources remove {name}) or pass --name", 2)
    return existing


def _register(name: str, path: Path, existing: DataSource | None, database_url: str | None) -> DataSource:
    """The demo source, pointing at `path`, profiled: the existing one with its credentials replaced (so reruns keep
    one source), else a new one."""
    from demo import demo_credentials

    credentials = demo_credentials(path)
    if existing is None:
        try:
            return sources.add_source(name, credentials, profile=True, database_url=database_url)
        except SourceExistsError:  # another `taskpack demo` registered it a moment ago
            existing = _existing_demo(name, database_url)
            assert existing is not None
    return sources.replace_source(existing.id, credentials, profile=True, database_url=database_url)


def _introspect(source: DataSource, timeout: float, database_url: str | None, progress: Progress, step: TaskID) -> dict[str, Any]:
    """introspect-data with profiles, on a worker inside this process, followed until it ends; its output."""
    from runtime import Worker, runs, tasks

    importlib.import_module(TASK_MODULE)  # defines the task here, so this process can trigger it
    worker = Worker(database_url=database_url, tasks=[TASK_MODULE], concurrency=4)
    try:
        worker.start()
    except Exception as exc:
        fail(f"could not start the local worker: {exc}")
    try:
        handle = tasks.trigger(
            INTROSPECT_TASK, {"data_source_id": source.id, "profile": True}, tags=[f"data_source:{source.id}"],
            database_url=database_url,
        )
        deadline = time.monotonic() + timeout
        try:
            run = runs.retrieve(handle.id, database_url=database_url)
            while not run.is_final:
                if time.monotonic() > deadline:
                    runs.cancel(handle.id, database_url=database_url)
                    fail(f"the introspection did not finish within {timeout:g} s: run {handle.id} canceled", 1)
                progress.update(step, completed=_percent(run.metadata), description=f"introspecting: {_stage(run.metadata)}")
                time.sleep(POLL_S)
                run = runs.retrieve(handle.id, database_url=database_url)
        except KeyboardInterrupt:
            runs.cancel(handle.id, database_url=database_url)
            raise
    finally:
        worker.stop()
    if run.status.value != "COMPLETED":
        error = f": {run.error.type}: {run.error.message}" if run.error is not None else ""
        fail(f"the introspection run {run.id} ended {run.status.value}{error}", 1)
    progress.update(step, completed=100, description=f"introspected (run {run.id})")
    return dict(run.output)


def _percent(meta: dict[str, Any]) -> float:
    value = meta.get("progress")
    return round(float(value) * 100, 1) if isinstance(value, (int, float)) and 0 <= value <= 1 else 0.0


def _stage(meta: dict[str, Any]) -> str:
    """The run's stage in words, with the profiling count when the task reports one."""
    stage = str(meta.get("stage") or "queued")
    profile = meta.get("profile")
    if stage == "profiling" and isinstance(profile, dict) and isinstance(profile.get("total"), int):
        current = f" {profile['current']}" if profile.get("current") else ""
        return f"profiling {profile.get('done', 0)}/{profile['total']}{current}"
    return stage


# -- the summary -----------------------------------------------------------------------------------------------------
def _summary(built: Built, source: DataSource, snapshot: Snapshot, output: dict[str, Any]) -> None:
    tables = [(t.name, t.row_count) for _, _, t in snapshot.catalog.iter_tables() if t.kind != "view"]
    views = sorted(t.name for _, _, t in snapshot.catalog.iter_tables() if t.kind == "view")
    rows = sum(count or 0 for _, count in tables)
    biggest = sorted(tables, key=lambda item: (-(item[1] or 0), item[0]))[:SHOWN_TABLES]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    how = f"built in {built.seconds:.1f} s" if built.built else "reused (--rebuild builds it again)"
    grid.add_row("warehouse", f"{escape(_shown(built.path))}, {how}")
    grid.add_row("source", f"{escape(source.name)} ({source.id}), duckdb {escape(snapshot.server_version or '')}")
    grid.add_row(
        "catalog",
        f"{len(tables)} tables, {len(views)} views, {snapshot.column_count} columns, {rows:,} rows; "
        f"{len(snapshot.profiles)} tables profiled (snapshot {snapshot.id})",
    )
    grid.add_row("tables", escape(", ".join(f"{n} ({c:,})" if c is not None else n for n, c in biggest)
                                  + (", …" if len(tables) > len(biggest) else "")))
    grid.add_row("views", escape(", ".join(views)) or "none")
    role = output.get("role") or {}
    if role.get("read_only") is True:
        grid.add_row("access", "read-only: the worker may not write the file, external access off, configuration locked")
    for warning in output.get("warnings") or []:
        grid.add_row("[yellow]warning[/yellow]", escape(str(warning.get("message", warning))))
    grid.add_row("next", f"taskpack sources catalog {escape(source.name)} | taskpack sources show {escape(source.name)}")
    console.print(grid)


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is under it (shorter, and what the README shows)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
