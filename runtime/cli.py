"""`taskpack`: the command line for workers, triggering and inspecting runs, and schedules."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from typing import Any, Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

app = typer.Typer(help="analyst-taskpack: durable background tasks on DBOS.", no_args_is_help=True, add_completion=False)
runs_app = typer.Typer(help="Inspect and steer runs.", no_args_is_help=True)
schedules_app = typer.Typer(help="Cron schedules.", no_args_is_help=True)
tasks_app = typer.Typer(help="Task definitions.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(schedules_app, name="schedules")
app.add_typer(tasks_app, name="tasks")
console = Console()
err = Console(stderr=True)

STATUS_STYLE = {
    "QUEUED": "cyan", "PENDING_VERSION": "yellow", "DELAYED": "cyan", "EXECUTING": "yellow", "WAITING": "yellow", "COMPLETED": "green",
    "WAITING_FOR_WORKER": "magenta", "FAILED": "red", "CANCELED": "magenta", "TIMED_OUT": "red", "CRASHED": "red", "EXPIRED": "magenta",
}
DB_OPTION = typer.Option(None, "--database-url", envvar="TASKPACK_DATABASE_URL", help="default: the embedded SQLite file")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _plain(text: str, *, one_line: bool = False) -> Text:
    """User data as inert text: no Rich markup, no terminal escape sequences, nothing a terminal cannot encode."""
    if one_line:
        text = text.replace("\r", " ").replace("\n", " ")
    return Text(_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _fail(message: str, code: int = 2) -> None:
    """One line on stderr, no traceback: what was wrong, naming the field."""
    err.print(Text.assemble(("error: ", "red"), _plain(message, one_line=True)), soft_wrap=True)
    raise typer.Exit(code)


def _warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "yellow"), _plain(message, one_line=True)), soft_wrap=True)


def _id_column() -> Any:
    from rich.table import Column

    return Column("id", no_wrap=True, min_width=20)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _load_local_tasks() -> None:
    """Import the project's task modules so their definitions (queues, limits) are known to this process."""
    from runtime.loader import load_tasks

    try:
        load_tasks(None)
    except Exception as exc:
        err.print(f"[yellow]warning:[/yellow] could not load task modules: {exc}")


# -- workers ---------------------------------------------------------------------------------------------------------
@app.command()
def worker(
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, help="runs executing at once in this process"),
    database_url: Optional[str] = DB_OPTION,
    executor_id: Optional[str] = typer.Option(None, help="stable id; default: host name plus a free slot"),
    module: list[str] = typer.Option(None, "--module", "-m", help="task module to load (default: the configured dirs)"),
    grace: int = typer.Option(10, "--grace", min=0, help="on SIGTERM, seconds running runs may take to finish before they are handed back"),
) -> None:
    """Run a worker in the foreground until Ctrl-C / SIGTERM (graceful: no new runs, running ones finish or are handed back)."""
    from runtime.worker import Worker

    from runtime.console_log import show_warnings_on_console

    show_warnings_on_console()  # the runs' warnings and errors as lines here (they are stored with the runs too)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    w = Worker(database_url=database_url, tasks=module or None, concurrency=concurrency, executor_id=executor_id, shutdown_timeout=grace)
    try:
        w.start()
    except Exception as exc:
        _fail(str(exc))
    console.print(
        Panel.fit(
            f"executor [bold]{w.executor_id}[/bold] · {len(w.tasks)} tasks · concurrency {concurrency}\n"
            f"database {_safe_url(w.database_url)}\n" + ", ".join(sorted(t.id for t in w.tasks)),
            title="taskpack worker",
        )
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        console.print(f"stopping worker: running runs have {grace}s to finish…")
        w.stop()
        if w.handed_back:
            # Their attempts' threads are abandoned (Python cannot stop a thread) and would keep the process alive.
            console.print(f"handed back {len(w.handed_back)} runs to their queues")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


@app.command()
def dev(
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Local dev worker: loads tasks from the configured dirs and restarts when a file changes."""
    import watchfiles

    from runtime.config import load_config, project_root

    root = project_root()
    paths = [str(root / d) for d in load_config().dirs if (root / d).exists()] + [str(root / "trigger_config.py")]
    args = [sys.executable, "-m", "runtime.cli", "worker", "--concurrency", str(concurrency)]
    if database_url:
        args += ["--database-url", database_url]
    console.print(f"[bold]taskpack dev[/bold]: watching {', '.join(paths)}")

    def on_change(changes: set[Any]) -> None:
        files = sorted({str(path) for _, path in changes})
        console.print(f"[cyan]change detected[/cyan] ({', '.join(files[:3])}{'…' if len(files) > 3 else ''}): restarting worker")

    watchfiles.run_process(
        *paths, target=" ".join(_quote(a) for a in args), target_type="command", callback=on_change,
        watch_filter=watchfiles.PythonFilter(),
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _safe_url(url: str) -> str:
    from runtime.redaction import redact_text

    return redact_text(url)


# -- triggering ------------------------------------------------------------------------------------------------------
@app.command()
def trigger(
    task_id: str = typer.Argument(..., help="task id"),
    payload: str = typer.Option("{}", "--payload", "-p", help="JSON payload, or @file.json"),
    wait: bool = typer.Option(False, "--wait", "-w", help="follow the run live until it ends"),
    local: bool = typer.Option(False, "--local", help="run an in-process worker while waiting (no separate worker needed)"),
    tag: list[str] = typer.Option(None, "--tag", "-t"),
    idempotency_key: Optional[str] = typer.Option(None),
    delay: Optional[str] = typer.Option(None, help="e.g. 30s, 5m, 1h"),
    ttl: Optional[str] = typer.Option(None, help="expire if not started within, e.g. 10m"),
    concurrency_key: Optional[str] = typer.Option(None),
    max_attempts: Optional[int] = typer.Option(None, min=1),
    max_duration: Optional[str] = typer.Option(None),
    database_url: Optional[str] = DB_OPTION,
    module: list[str] = typer.Option(None, "--module", "-m", help="task module for --local (default: the configured dirs)"),
) -> None:
    """Trigger a run; with --wait, show its status and metadata live (exit 1 unless it completes)."""
    from runtime import InputError, SecretKeyError, tasks
    from runtime.worker import Worker

    try:
        body = _read_payload(payload)
    except InputError as exc:
        _fail(f"--{exc}")
    if module:
        from runtime.loader import load_tasks

        load_tasks(module)
    else:
        _load_local_tasks()
    embedded = None
    if local:
        embedded = Worker(database_url=database_url, tasks=module or None, concurrency=4)
        try:
            embedded.start()
        except Exception as exc:
            _fail(f"could not start the local worker: {exc}")
    try:
        try:
            handle = tasks.trigger(
                task_id, body, tags=tag or None, idempotency_key=idempotency_key, delay=delay, ttl=ttl,
                concurrency_key=concurrency_key, max_attempts=max_attempts, max_duration=max_duration, database_url=database_url,
            )
        except (LookupError, ValueError, SecretKeyError) as exc:  # SecretKeyError: no key to encrypt a SecretStr field
            _fail(str(exc))
        console.print(f"run [bold]{handle.id}[/bold]{' (existing run for this idempotency key)' if handle.is_cached else ''}")
        if wait:
            status = follow(handle.id, database_url)
            raise typer.Exit(0 if status == "COMPLETED" else 1)
    finally:
        if embedded is not None:
            embedded.stop()


def _read_payload(option: str) -> Any:
    """`--payload`: JSON text, or @file. Checked by the same rules as every other way in (runtime.limits)."""
    from runtime.errors import PayloadError
    from runtime.limits import MAX_PAYLOAD_BYTES, parse_json

    if not option.startswith("@"):
        return parse_json(option, "payload")
    try:
        with open(option[1:], "rb") as handle:
            data = handle.read(MAX_PAYLOAD_BYTES + 1)
    except OSError as exc:
        raise PayloadError(f"payload: cannot read {option[1:]!r}: {exc.strerror or type(exc).__name__}", field="payload") from None
    return parse_json(data, "payload")


def _progress_view(run: Any) -> Any:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", _plain(run.id))
    grid.add_row("task", _plain(run.task_id))
    grid.add_row("status", _status(run.status.value))
    if run.status_reason:
        grid.add_row("", _plain(run.status_reason))
    grid.add_row("attempt", str(run.attempts))
    if run.version:
        waits = run.status.value == "PENDING_VERSION"
        shown = f"{run.version} (no living worker runs it)" if waits else run.version
        if run.triggered_version and run.triggered_version != run.version:
            shown += f", triggered for {run.triggered_version}"
        grid.add_row("version", _plain(shown))
    meta = dict(run.metadata)
    progress = meta.get("progress")
    if isinstance(progress, (int, float)) and 0 <= progress <= 1:
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=1.0, completed=float(progress), width=40), f"{progress:.0%}")
        grid.add_row("progress", bar)
    for key, value in meta.items():
        if key != "progress":
            text = json.dumps(value, default=str)
            grid.add_row(_plain(str(key)), _plain(text if len(text) < 120 else text[:117] + "…"))
    return Panel(grid, title="taskpack run", border_style=STATUS_STYLE.get(run.status.value, "white"))


def follow(run_id: str, database_url: str | None) -> str:
    """Live view of a run until it is final; returns its final status."""
    from runtime import runs

    run = runs.retrieve(run_id, database_url=database_url)
    told: set[str] = set()
    with Live(_progress_view(run), console=console, refresh_per_second=8, transient=False) as live:
        while not run.is_final:
            if run.status_reason and run.status_reason not in told:  # also where no live view is drawn (not a terminal)
                told.add(run.status_reason)
                err.print(Text.assemble((run.status.value, "yellow"), ": ", _plain(run.status_reason)))
            time.sleep(0.2)
            run = runs.retrieve(run_id, database_url=database_url)
            live.update(_progress_view(run))
    if run.status.value == "COMPLETED":
        console.print_json(json.dumps(run.output, default=str))
    elif run.error is not None:
        err.print(Text.assemble((run.error.type, "red"), ": ", _plain(run.error.message)))
    return run.status.value


# -- runs ------------------------------------------------------------------------------------------------------------
@runs_app.command("list")
def runs_list(
    status: Optional[str] = typer.Option(None, help="QUEUED, PENDING_VERSION, EXECUTING, WAITING_FOR_WORKER, COMPLETED, FAILED, CRASHED, …"),
    task: Optional[str] = typer.Option(None, "--task"),
    tag: Optional[str] = typer.Option(None),
    limit: int = typer.Option(20, min=1, max=500),
    cursor: Optional[str] = typer.Option(None),
    as_json: bool = typer.Option(False, "--json"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    from runtime import runs

    try:
        page = runs.list(status=status.upper() if status else None, task_id=task, tag=tag, limit=limit, cursor=cursor, database_url=database_url)
    except ValueError as exc:
        _fail(str(exc))
    for run in page.data:
        for warning in run.warnings:
            _warn(f"run {run.id}: {warning}")
    if as_json:
        console.print_json(page.model_dump_json())
        return
    table = Table("task", "status", "attempts", "created", "duration", "tags")
    table.columns.insert(0, _id_column())
    for run in page.data:
        duration = ""
        if run.started_at and run.finished_at:
            duration = f"{(run.finished_at - run.started_at).total_seconds():.2f}s"
        table.add_row(_plain(run.id), _plain(run.task_id), _status(run.status.value), str(run.attempts), run.created_at.strftime("%Y-%m-%d %H:%M:%S"), duration, _plain(", ".join(run.tags)))
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@runs_app.command("show")
def runs_show(
    run_id: str,
    logs: bool = typer.Option(True, "--logs/--no-logs"),
    as_json: bool = typer.Option(False, "--json"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    from runtime import RunNotFoundError, runs

    try:
        run = runs.retrieve(run_id, database_url=database_url)
    except RunNotFoundError as exc:
        _fail(str(exc), 1)
    entries = runs.logs(run_id, database_url=database_url) if logs else []
    for warning in run.warnings:
        _warn(f"run {run.id}: {warning}")
    if as_json:
        console.print_json(json.dumps({"run": run.model_dump(mode="json"), "logs": [e.model_dump(mode="json") for e in entries]}))
        return
    console.print(_progress_view(run))
    console.print(Panel(_plain(json.dumps(run.payload, indent=2, default=str)), title="payload"))
    if run.output is not None:
        console.print(Panel(_plain(json.dumps(run.output, indent=2, default=str)), title="output"))
    if run.error is not None:
        console.print(Panel(_plain(f"{run.error.type}: {run.error.message}"), title="error", border_style="red"))
    if entries:
        table = Table("time", "attempt", "level", "message", "fields")
        for e in entries:
            fields = json.dumps(e.fields, default=str) if e.fields else ""
            table.add_row(e.created_at.strftime("%H:%M:%S.%f")[:-3], str(e.attempt or ""), _plain(e.level), _plain(e.message), _plain(fields))
        console.print(table)


@runs_app.command("cancel")
def runs_cancel(run_id: str, database_url: Optional[str] = DB_OPTION) -> None:
    from runtime import RunNotFoundError, runs

    try:
        run = runs.cancel(run_id, database_url=database_url)
    except RunNotFoundError as exc:
        _fail(str(exc), 1)
    console.print(f"{run.id}: ", _status(run.status.value))


@runs_app.command("replay")
def runs_replay(run_id: str, wait: bool = typer.Option(False, "--wait", "-w"), database_url: Optional[str] = DB_OPTION) -> None:
    from runtime import RunNotFoundError, SecretKeyError, runs

    _load_local_tasks()
    try:
        handle = runs.replay(run_id, database_url=database_url)
    except (RunNotFoundError, LookupError) as exc:
        _fail(str(exc), 1)
    except (ValueError, SecretKeyError) as exc:  # the stored payload no longer passes the door, or no key opens it
        _fail(str(exc))
    console.print(Text.assemble("replayed ", _plain(run_id), " as ", (handle.id, "bold")))
    if wait:
        raise typer.Exit(0 if follow(handle.id, database_url) == "COMPLETED" else 1)


# -- schedules -------------------------------------------------------------------------------------------------------
@schedules_app.command("list")
def schedules_list(
    task: Optional[str] = typer.Option(None, "--task"),
    as_json: bool = typer.Option(False, "--json"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    from runtime import schedules

    found = schedules.list(task=task, database_url=database_url)
    if as_json:
        console.print_json(json.dumps([s.model_dump(mode="json") for s in found]))
        return
    table = Table("task", "cron", "timezone", "kind", "next run", "external id")
    table.columns.insert(0, _id_column())
    for s in found:
        table.add_row(_plain(s.id), _plain(s.task_id), _plain(s.cron), _plain(s.timezone), s.kind, s.next_run_at.isoformat(), _plain(s.external_id or ""))
    console.print(table)


@schedules_app.command("create")
def schedules_create(
    task: str = typer.Option(..., "--task"),
    cron: str = typer.Option(...),
    timezone: str = typer.Option("UTC"),
    external_id: Optional[str] = typer.Option(None),
    deduplication_key: Optional[str] = typer.Option(None),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    from runtime import schedules

    _load_local_tasks()
    try:
        s = schedules.create(task=task, cron=cron, timezone=timezone, external_id=external_id, deduplication_key=deduplication_key, database_url=database_url)
    except (ValueError, LookupError) as exc:
        _fail(str(exc))
    console.print(f"schedule [bold]{s.id}[/bold]: {s.task_id} at '{s.cron}' ({s.timezone}); next {', '.join(t.isoformat() for t in s.upcoming[:3])}")


@schedules_app.command("delete")
def schedules_delete(schedule_id: str, database_url: Optional[str] = DB_OPTION) -> None:
    from runtime import ScheduleError, schedules

    try:
        schedules.delete(schedule_id, database_url=database_url)
    except ScheduleError as exc:
        _fail(str(exc), 1)
    console.print(f"deleted {schedule_id}")


@tasks_app.command("list")
def tasks_list() -> None:
    """Tasks defined under the configured dirs."""
    from runtime.loader import load_tasks

    table = Table("id", "queue", "limit", "max duration", "retries", "machine", "description")
    for t in sorted(load_tasks(None), key=lambda t: t.id):
        table.add_row(t.id, t.queue.name, str(t.queue.concurrency_limit or "-"), f"{t.max_duration:g}s", str(t.retry.max_attempts), t.machine, t.description or "")
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
