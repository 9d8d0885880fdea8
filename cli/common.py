"""What every platform command shares: the consoles, one-line errors with their exit codes, reading JSON input.

Exit codes: 0 done; 1 the command ran and what it tried failed (a connection test, a run, nothing to show yet);
2 the input was wrong (an unknown id, a bad cron or timezone, unreadable JSON, invalid credentials, a key problem).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from connectors import CredentialsError
from runtime import InputError, UnknownTaskError
from runtime.cli import DB_OPTION
from store import NoSnapshotError, StoreError

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DB_OPTION", "console", "err", "fail", "handle_errors", "print_json", "read_json"]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """The store's, the connectors' and the scheduler's input errors become one line and an exit code, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NoSnapshotError as exc:
            fail(exc.message, 1)
        except (StoreError, CredentialsError) as exc:
            fail(exc.message, 2)
        except (InputError, UnknownTaskError) as exc:  # a bad schedule, trigger option or payload (runtime.limits)
            fail(str(exc), 2)

    return wrapper  # type: ignore[return-value]


def read_json(path: str, what: str) -> Any:
    """A JSON document from a file, or from stdin when `path` is '-'. Errors name the file and the position,
    never the content (it may hold a password)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read the {what} file {path!r}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"the {what} file {path!r} is not UTF-8 text")
    source = "stdin" if path == "-" else repr(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"the {what} from {source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour, no wrapping."""
    typer.echo(json.dumps(data, indent=2, default=str))
