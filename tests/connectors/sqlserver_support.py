"""Recorded pyodbc behaviour for the SQL Server tests (no SQL Server can run on this machine).

`RecordedConnection` / `RecordedCursor` stand in for `pyodbc.Connection` / `pyodbc.Cursor` at the DB-API boundary
the connector uses: `cursor()`, `execute(sql, *params)`, `description`, `fetchmany`, `fetchall`, `fetchone`,
`cancel()`, `close()`, `rollback()`, `timeout`. Their answers are what pyodbc returns: `description` tuples whose
second item is the Python type, rows as tuples, and failures as real `pyodbc.Error` subclasses whose `args` are
`(sqlstate, message)` in pyodbc's `[STATE] [driver][SQL Server]text (native) (SQLFunction)` format (the messages
below are FreeTDS's and SQL Server's own texts). Every statement that reaches the "server" is recorded in
`executed`, which is how the tests prove a refused statement never got there.

The driver path itself (pyodbc -> unixODBC -> FreeTDS -> TCP) is exercised for real in test_sqlserver_connection.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pyodbc

Description = Sequence[tuple[Any, ...]]


def column(name: str, python_type: type) -> tuple[Any, ...]:
    """One `cursor.description` entry as pyodbc builds it."""
    return (name, python_type, None, None, None, None, True)


def odbc_error(cls: type[pyodbc.Error], state: str, text: str, native: int = 0, function: str = "SQLExecDirectW") -> pyodbc.Error:
    return cls(state, f"[{state}] [FreeTDS][SQL Server]{text} ({native}) ({function})")


TIMEOUT_ERROR = (pyodbc.OperationalError, "HYT00", "Timeout expired", 0)
CANCELED_ERROR = (pyodbc.OperationalError, "HY008", "Operation canceled", 0)


@dataclass
class Answer:
    """What the recorded server answers to one statement."""

    description: Description | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    error: pyodbc.Error | None = None
    #: block in execute() until cancel() is called, then raise this error (a long-running statement)
    block_until_cancel: pyodbc.Error | None = None


class RecordedCursor:
    def __init__(self, conn: "RecordedConnection") -> None:
        self.conn = conn
        self.description: Description | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._canceled = threading.Event()
        self.fetchmany_sizes: list[int] = []
        self.cancel_calls = 0
        self.closed = False

    def execute(self, sql: str, *params: Any) -> "RecordedCursor":
        self.conn.executed.append((sql, params))
        self.conn.timeouts.append(self.conn.timeout)
        answer = self.conn.answer(sql)
        if answer.block_until_cancel is not None:
            self.conn.running.set()
            if not self._canceled.wait(10):
                raise AssertionError("recorded statement was never canceled")
            raise answer.block_until_cancel
        if answer.error is not None:
            raise answer.error
        self.description = answer.description
        self._rows = list(answer.rows)
        return self

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        self.fetchmany_sizes.append(size)
        out, self._rows = self._rows[:size], self._rows[size:]
        return out

    def fetchall(self) -> list[tuple[Any, ...]]:
        out, self._rows = self._rows, []
        return out

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def cancel(self) -> None:
        self.cancel_calls += 1
        self.conn.cancels += 1
        self._canceled.set()

    def close(self) -> None:
        self.closed = True


class RecordedConnection:
    """A pyodbc.Connection stand-in; `answer(sql)` decides what each statement returns."""

    def __init__(self, answer: Callable[[str], Answer]) -> None:
        self.answer = answer
        self.timeout = 0
        self.executed: list[tuple[str, tuple[Any, ...]]] = []
        self.timeouts: list[int] = []
        self.cursors: list[RecordedCursor] = []
        self.rollbacks = 0
        self.commits = 0
        self.cancels = 0
        self.closed = False
        self.running = threading.Event()

    def cursor(self) -> RecordedCursor:
        cur = RecordedCursor(self)
        self.cursors.append(cur)
        return cur

    def execute(self, sql: str, *params: Any) -> RecordedCursor:
        return self.cursor().execute(sql, *params)

    def rollback(self) -> None:
        self.rollbacks += 1

    def commit(self) -> None:  # the connector must never commit
        self.commits += 1

    def close(self) -> None:
        self.closed = True

    @property
    def statements(self) -> list[str]:
        return [sql for sql, _ in self.executed]
