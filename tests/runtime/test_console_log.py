"""What a worker run from the command line shows of its runs' logs (runtime/console_log.py): warnings and errors as
one line each (time, level, run id, message, fields as key=value), secrets masked, info lines left to the run log."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from runtime import RunStatus, logger, runs, tasks
from runtime.backend import reset_backends
from runtime.console_log import show_warnings_on_console

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = show_warnings_on_console(stream)
    try:
        yield stream
    finally:
        logging.getLogger("taskpack").removeHandler(handler)


def test_a_run_log_line_is_one_readable_line_and_info_stays_off_the_console(console: io.StringIO) -> None:
    logger.info("not shown", a=1)
    logger.warn("role is not read-only", principal="postgres", capabilities=["can_write"], note="two words", long="x" * 500)
    logging.getLogger("taskpack").error("queue poll failed: %s", "boom")
    lines = console.getvalue().splitlines()
    assert len(lines) == 2, lines
    warn, error = lines
    assert " WARN   role is not read-only  " in warn and "not shown" not in console.getvalue()
    assert 'principal=postgres capabilities=["can_write"] note="two words" long=xxx' in warn
    assert warn.endswith("…") and len(warn) < 300  # a long value is cut: the run log keeps it whole
    assert "{'" not in warn  # not a dict's repr
    assert " ERROR  queue poll failed: boom" in error


def test_a_second_call_adds_no_second_handler(console: io.StringIO) -> None:
    again = show_warnings_on_console(io.StringIO())
    assert sum(1 for h in logging.getLogger("taskpack").handlers if h is again) == 1
    logger.warn("once")
    assert console.getvalue().count("once") == 1


def test_taskpack_worker_prints_its_runs_warnings_with_the_run_id_and_secrets_masked(tmp_path: Path) -> None:
    """Python's last-resort handler printed `role is not read-only {'principal': ...}`: no time, no run id."""
    url = f"sqlite:///{tmp_path / 'console.sqlite'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "worker", "-m", "tests.runtime.console_tasks", "--database-url", url, "--grace", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 60
        banner = ""
        while "console-warns" not in banner:
            assert time.monotonic() < deadline and proc.poll() is None, banner
            banner += proc.stdout.readline()  # type: ignore[union-attr]
        run = tasks.trigger("console-warns", {"password": "hunter2-very-secret"}, database_url=url)
        assert runs.wait(run.id, timeout=60, database_url=url).status is RunStatus.COMPLETED
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        reset_backends()
    lines = [line for line in stderr.splitlines() if "role is not read-only" in line]
    assert len(lines) == 1, stderr
    assert f" WARN   {run.id}  role is not read-only  principal=postgres" in lines[0]
    assert "hunter2-very-secret" not in stderr and "dsn=" in lines[0]
    assert "info line" not in stderr
