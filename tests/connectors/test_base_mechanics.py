"""The mechanics every connector shares (`connectors.base`, `connectors.deadline`, `connectors.errors`).

Pure functions and thread plumbing, tested without a server: the cursors below stand in for a driver cursor only in
the two calls these helpers make on it (`cancel()`, `close()`); the sources' own tests run them against real drivers.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from connectors.base import check_query_limits, close_quietly, finished_query, log_introspected, run_connection_test
from connectors.catalog import Catalog
from connectors.deadline import RunningCursor, watchdog
from connectors.errors import AuthError, QueryError, redact_secrets
from connectors.results import ResultColumn

log = logging.getLogger("connectors.test")


@pytest.mark.parametrize(("max_rows", "timeout"), [(-1, 1.0), (0, 0), (10, -5)])
def test_query_limits_refuse_negative_rows_and_non_positive_timeouts(max_rows: int, timeout: float) -> None:
    with pytest.raises(QueryError) as info:
        check_query_limits(max_rows, timeout)
    assert info.value.code == "invalid_argument"


def test_query_limits_accept_zero_rows_and_a_positive_timeout() -> None:
    check_query_limits(0, 0.001)


def test_connection_test_reports_latency_and_version_or_the_error() -> None:
    ok = run_connection_test(lambda: (time.sleep(0.01), "16.4")[1])
    assert ok.ok and ok.server_version == "16.4" and ok.latency_ms is not None and ok.latency_ms >= 10

    def refused() -> str:
        raise AuthError("password authentication failed")

    failed = run_connection_test(refused)
    assert not failed.ok and failed.error is not None and failed.error["type"] == "AuthError"


def test_connection_test_lets_programming_errors_through() -> None:
    def broken() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_connection_test(broken)


def test_finished_query_counts_rows_and_logs_the_source(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connectors.test")
    result = finished_query(log, "postgres", [ResultColumn(name="a", type="int4")], [[1], [2]], True, time.perf_counter())
    assert (result.row_count, result.truncated) == (2, True)
    record = next(r for r in caplog.records if r.getMessage() == "query finished")
    assert (record.source, record.rows, record.truncated) == ("postgres", 2, True)  # type: ignore[attr-defined]


def test_introspected_log_carries_source_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connectors.test")
    log_introspected(log, "bigquery", Catalog(source_type="bigquery", round_trips=3), time.perf_counter(), api_fallback=True)
    record = next(r for r in caplog.records if r.getMessage() == "introspected catalog")
    assert (record.tables, record.round_trips, record.api_fallback) == (0, 3, True)  # type: ignore[attr-defined]


def test_redact_replaces_every_secret_and_skips_empty_ones() -> None:
    assert redact_secrets("user bob pw hunter2 again hunter2", ["hunter2", ""]) == "user bob pw ********** again **********"
    assert redact_secrets("pw hunter2", ["hunter2"], mask="***") == "pw ***"


class _Cursor:
    def __init__(self, *, cancel_fails: bool = False, close_fails: bool = False) -> None:
        self.cancels = 0
        self.closed = False
        self._cancel_fails = cancel_fails
        self._close_fails = close_fails

    def cancel(self) -> None:
        self.cancels += 1
        if self._cancel_fails:
            raise RuntimeError("nothing to cancel")

    def close(self) -> None:
        if self._close_fails:
            raise RuntimeError("socket gone")
        self.closed = True


def test_close_quietly_swallows_close_failures_and_accepts_none() -> None:
    close_quietly(None)
    close_quietly(_Cursor(close_fails=True))
    cursor = _Cursor()
    close_quietly(cursor)
    assert cursor.closed


def test_watchdog_fires_only_when_the_block_outlives_it() -> None:
    fired = threading.Event()
    with watchdog(0.05, fired.set):
        time.sleep(0.2)
    assert fired.is_set()

    quiet = threading.Event()
    with watchdog(0.1, quiet.set):
        pass
    time.sleep(0.2)
    assert not quiet.is_set()

    with watchdog(None, quiet.set):  # no timeout: no timer at all
        time.sleep(0.01)
    assert not quiet.is_set()


def test_watchdog_is_canceled_when_the_block_raises() -> None:
    fired = threading.Event()
    with pytest.raises(ValueError):
        with watchdog(0.1, fired.set):
            raise ValueError("driver error")
    time.sleep(0.2)
    assert not fired.is_set()


def test_running_cursor_cancels_only_while_tracked_then_closes() -> None:
    running = RunningCursor(log, "sqlserver")
    cursor = _Cursor()
    running.cancel()  # nothing running: nothing to cancel
    with running.track(cursor) as tracked:
        assert tracked is cursor
        running.cancel()
    assert cursor.cancels == 1 and cursor.closed
    running.cancel()
    assert cursor.cancels == 1


def test_running_cursor_cancel_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connectors.test")
    running = RunningCursor(log, "databricks")
    with running.track(_Cursor(cancel_fails=True, close_fails=True)):
        running.cancel()
    messages = [r.getMessage() for r in caplog.records]
    assert "cancel failed" in messages and "cancel sent" not in messages


def test_secret_values_lists_every_set_secret_field_in_order() -> None:
    from connectors import parse_credentials

    snowflake = parse_credentials(
        {"type": "snowflake", "account": "acme", "username": "u", "private_key": "PEM", "private_key_passphrase": "pp"}
    )
    assert snowflake.secret_values() == ["PEM", "pp"]
    assert parse_credentials({"type": "postgres", "host": "h", "database": "d", "username": "u"}).secret_values() == []
