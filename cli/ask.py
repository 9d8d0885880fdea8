"""`taskpack ask "question" --source demo`: the analyst agent on a worker inside this process, its states live.

The README's main job: after `taskpack demo`, one command answers a question about the demo warehouse with the
offline model (or the OPENAI_* endpoint when set), showing each state as it starts and ends (Rich), then the answer,
the SQL and the metrics. `--json` prints the run's output instead (for scripts). Ctrl-C cancels the run, which stops
the model call and the warehouse query it was in.

Exit codes: 0 answered (or asked a clarifying question); 1 the run failed or timed out; 2 bad input (unknown source,
an option out of range).
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status
from rich.syntax import Syntax
from rich.table import Table

from cli.common import DB_OPTION, console, err, fail, handle_errors, print_json
from store import sources

TASK_MODULE = "tasks.analyst_agent.task"
POLL_S = 0.25
QUIET_LOGGERS = ("taskpack", "connectors")
STATE_WORDS = {
    "initializing": "loading the source, its catalog and the chat",
    "searching": "finding the tables the question needs",
    "planning": "planning",
    "analyzing": "querying and saving metrics",
    "reviewing": "checking the metrics and the answer",
}


def register(root: typer.Typer) -> None:
    root.command("ask")(ask)


@handle_errors
def ask(
    question: str = typer.Argument(..., help="the question, in your words"),
    source: str = typer.Option(..., "--source", "-s", help="the data source's name or id (e.g. demo)"),
    chat: Optional[str] = typer.Option(None, "--chat", help="continue this chat (its earlier turns are the context)"),
    model: Optional[str] = typer.Option(None, "--model", help="model name on the endpoint (default: TASKPACK_MODEL)"),
    max_steps: int = typer.Option(8, "--max-steps", min=1, max=50, help="actions the agent may take"),
    max_rows: int = typer.Option(100, "--max-rows", min=1, max=5000, help="rows one query may return"),
    tool_mode: str = typer.Option("auto", "--tool-mode", help="auto, structured or tools"),
    as_json: bool = typer.Option(False, "--json", help="print the run's output as JSON"),
    timeout: float = typer.Option(1800.0, "--timeout", min=1, help="seconds to wait for the answer"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Ask the analyst agent a question about a data source."""
    from runtime import Worker, runs

    for name in QUIET_LOGGERS:
        logging.getLogger(name).addHandler(logging.NullHandler())
    if tool_mode not in ("auto", "structured", "tools"):
        fail(f"--tool-mode must be auto, structured or tools, not {tool_mode!r}", 2)
    found = sources.get_source(source, database_url=database_url)  # SourceNotFoundError: exit 2
    options: dict[str, Any] = {"max_steps": max_steps, "max_rows": max_rows, "tool_mode": tool_mode}
    if model:
        options["model"] = model
    agent = importlib.import_module(TASK_MODULE)
    worker = Worker(database_url=database_url, tasks=[TASK_MODULE], concurrency=2)
    try:
        worker.start()
    except Exception as exc:
        fail(f"could not start the local worker: {exc}", 1)
    try:
        handle = agent.ask(question, found.id, chat_id=chat, options=options, database_url=database_url)
        try:
            run = _follow(handle.id, timeout, database_url, quiet=as_json)
        except KeyboardInterrupt:
            runs.cancel(handle.id, database_url=database_url)
            err.print(f"canceled run {handle.id}")
            raise typer.Exit(130)
    finally:
        worker.stop()
    if run.status.value != "COMPLETED":
        error = f": {run.error.message}" if run.error is not None else ""
        fail(f"the agent's run {run.id} ended {run.status.value}{error}", 1)
    if as_json:
        print_json({"run_id": run.id, **dict(run.output)})
        return
    _show(run.id, dict(run.output))


def _follow(run_id: str, timeout: float, database_url: str | None, *, quiet: bool) -> Any:
    """Poll the run, printing each state as it finishes (with its summary) and a spinner for the current one."""
    from runtime import runs

    deadline = time.monotonic() + timeout
    printed = 0
    run = runs.retrieve(run_id, database_url=database_url)
    with Status("queued", console=err if quiet else console) as status:
        while True:
            states = run.metadata.get("states") or []
            for state in states[printed:]:
                if not state.get("finished_at"):
                    break
                if not quiet and state["name"] not in ("completed", "failed"):
                    console.print(f"[green]✓[/green] {state['name']:<13} {escape(state.get('summary') or '')}")
                printed += 1
            current = states[printed]["name"] if printed < len(states) else "queued"
            usage = run.metadata.get("usage") or {}
            calls = f" · {usage.get('model_calls', 0)} model calls" if usage else ""
            status.update(f"{current}: {STATE_WORDS.get(current, current)}{calls}")
            if run.is_final:
                return run
            if time.monotonic() > deadline:
                runs.cancel(run_id, database_url=database_url)
                fail(f"no answer within {timeout:g} s: run {run_id} canceled", 1)
            time.sleep(POLL_S)
            run = runs.retrieve(run_id, database_url=database_url)


def _show(run_id: str, output: dict[str, Any]) -> None:
    if output.get("clarifying_question"):
        console.print(Panel(escape(output["clarifying_question"]), title="the agent asks", border_style="yellow"))
        console.print(f"reply with: taskpack ask \"...\" --source <source> --chat {output.get('chat_id')}")
        return
    console.print(Panel(escape(output.get("answer") or ""), title="answer", border_style="green"))
    main = [q for q in output.get("sql_queries") or [] if q.get("ok")]
    sql = (output.get("metrics") or [{}])[0].get("sql") if output.get("metrics") else (main[0]["sql"] if main else None)
    if sql:
        console.print(Syntax(sql, "sql", word_wrap=True))
    if output.get("metrics"):
        table = Table("metric", "chart", "rows", "id", title="metrics", title_justify="left")
        for metric in output["metrics"]:
            chart = metric.get("chart") or {}
            table.add_row(escape(metric["name"]), f"{chart.get('type')} {chart.get('x') or ''} {', '.join(chart.get('y') or [])}",
                          str(metric.get("row_count")), metric["id"])
        console.print(table)
        preview = output["metrics"][0]
        if preview.get("rows"):
            rows = Table(*[escape(c) for c in preview.get("columns") or []], title=escape(preview["name"]), title_justify="left")
            for row in preview["rows"][:10]:
                rows.add_row(*[escape(str(v)) for v in row])
            console.print(rows)
    problems = (output.get("review") or {}).get("problems") or []
    for problem in problems:
        console.print(f"[yellow]review:[/yellow] {escape(problem)}")
    usage = output.get("usage") or {}
    console.print(
        f"run {run_id} · chat {output.get('chat_id')} · {usage.get('model_calls', 0)} model calls, "
        f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens, "
        f"{usage.get('seconds_in_model', 0):.1f} s in the model"
    )


__all__ = ["ask", "register"]
