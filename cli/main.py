"""The `taskpack` entry point: the runtime's commands (worker, dev, trigger, runs, schedules, tasks) plus the
platform's. Each platform module exposes `register(app)`; adding a command group is one module and one line below."""

from __future__ import annotations

import typer

from cli import ask, demo, keys, serve, sources
from runtime import cli as runtime_cli

COMMAND_MODULES = (sources, demo, ask, keys, serve)


def build_app() -> typer.Typer:
    root = typer.Typer(help="analyst-taskpack: durable background tasks and the data platform around them.",
                       no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    root.add_typer(runtime_cli.app)  # no name: its commands stay at the top level
    for module in COMMAND_MODULES:
        module.register(root)
    return root


app = build_app()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
