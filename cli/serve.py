"""`taskpack serve` (API + dashboard + an embedded worker, one process) and `taskpack dev` (the same, reloading).

    taskpack serve [--host 127.0.0.1] [--port 8030] [--no-worker]
    taskpack dev   [--host 127.0.0.1] [--port 8030]

The embedded SQLite default needs the worker in the API's process; on PostgreSQL run `serve --no-worker` behind a
load balancer and `taskpack worker` processes apart. `dev` restarts everything when a file under the project's task
dirs, api/, runtime/, store/ or trigger_config.py changes (uvicorn's reloader, watchfiles underneath). Settings go to
the app through the environment (api.app.app_from_env), so the reloader's fresh process sees the same ones.
"""

from __future__ import annotations

import os
from typing import Optional

import typer

from cli.common import DB_OPTION, err, fail

FACTORY = "api.app:app_from_env"


def register(root: typer.Typer) -> None:
    from runtime import cli as runtime_cli

    root.command("serve")(serve)
    root.command("dev")(dev)
    # One command starts everything: this `dev` replaces the runtime's worker-only one, which Typer would otherwise
    # let win (the runtime's commands are merged into the root after the root's own). `python -m runtime.cli dev`
    # keeps it for a worker alone.
    runtime_cli.app.registered_commands[:] = [
        c for c in runtime_cli.app.registered_commands if (c.name or c.callback.__name__) != "dev"
    ]


def _environment(database_url: Optional[str], worker: bool, concurrency: int, env: Optional[str]) -> None:
    if database_url:
        os.environ["TASKPACK_DATABASE_URL"] = database_url
    if env:
        os.environ["TASKPACK_ENV"] = env
    os.environ["TASKPACK_SERVE_WORKER"] = "1" if worker else "0"
    os.environ["TASKPACK_SERVE_CONCURRENCY"] = str(concurrency)


def _hint_keys() -> None:
    """One line when nobody could call the API yet: no active key for the environment this server accepts."""
    from store import api_keys

    env = os.environ.get("TASKPACK_ENV") or "dev"
    try:
        keys = [k for k in api_keys.list_keys(include_revoked=False) if k.environment == env]
    except Exception as exc:  # the app reports database problems itself, with more context
        err.print(f"[yellow]warning:[/yellow] cannot read the API keys: {type(exc).__name__}")
        return
    if not keys:
        err.print(f"no API key for the {env} environment yet: create one with [bold]taskpack keys create --env {env}[/bold]", soft_wrap=True)


def _check_tasks() -> None:
    """The dev worker needs task modules: said in one line before the server starts (the worker's own refusal came
    from inside the server's startup, as a traceback)."""
    from runtime.config import load_config
    from runtime.loader import discover_modules

    if not discover_modules():
        dirs = ", ".join(load_config().dirs) or "(none)"
        fail(f"no task modules: none under the task dirs ({dirs}) of the project, nor an installed package of that name")


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        fail(f"--port: {port} is not a TCP port")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(8030, "--port"),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="run a worker in this process (needed on SQLite)"),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, help="runs the embedded worker executes at once"),
    env: Optional[str] = typer.Option(None, "--env", help="the environment whose keys this server accepts (default dev; TASKPACK_ENV)"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Serve the HTTP API, realtime streams and dashboard (and run a worker unless --no-worker)."""
    import uvicorn

    _check_port(port)
    _environment(database_url, worker, concurrency, env)
    _hint_keys()
    uvicorn.run(FACTORY, factory=True, host=host, port=port, log_level="info", timeout_graceful_shutdown=5, proxy_headers=False)


def dev(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8030, "--port"),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1),
    env: Optional[str] = typer.Option(None, "--env"),
    database_url: Optional[str] = DB_OPTION,
) -> None:
    """Local development: API + dashboard + worker, restarted when code changes."""
    import uvicorn

    from runtime.config import load_config, project_root

    _check_port(port)
    _check_tasks()
    _environment(database_url, True, concurrency, env)
    _hint_keys()
    root = project_root()
    watched = [d for d in [*load_config().dirs, "api", "runtime", "store", "connectors", "cli"] if (root / d).is_dir()]
    uvicorn.run(
        FACTORY, factory=True, host=host, port=port, reload=True, reload_dirs=[str(root / d) for d in watched] or [str(root)],
        reload_includes=["*.py", "trigger_config.py"], log_level="info", timeout_graceful_shutdown=5,
    )
