"""Server-side timeout and cancel through the real driver, against recorded Snowflake answers (snowflake_replay.py).

fakesnow cannot cancel and has no session id; here the endpoint behaves as Snowflake documents: the session id comes
with the login, SYSTEM$CANCEL_ALL_QUERIES(<session id>) stops the running statement, which then fails with 000604,
and a statement past STATEMENT_TIMEOUT_IN_SECONDS fails with 000630.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("snowflake.connector")

from tests.connectors.snowflake_replay import SESSION_ID, ReplaySnowflake, replay_snowflake  # noqa: F401,E402

from connectors import QueryCanceledError, QueryTimeoutError, parse_credentials  # noqa: E402
from connectors.snowflake.connection import SnowflakeConnector  # noqa: E402
from connectors.snowflake.pool import WarmPool  # noqa: E402


def _connector(replay: ReplaySnowflake, pool: WarmPool) -> SnowflakeConnector:
    creds = parse_credentials({"type": "snowflake", "account": "acct", "username": "ANALYST", "password": "replay-pw-1",
                               "host": "127.0.0.1", "port": replay.port, "protocol": "http", "warehouse": "WH"})
    return SnowflakeConnector(creds, pool=pool)  # type: ignore[arg-type]


def test_cancel_sends_system_cancel_all_queries_for_the_session_and_the_query_reports_canceled(replay_snowflake: ReplaySnowflake) -> None:
    pool = WarmPool()
    with _connector(replay_snowflake, pool) as conn:
        conn.query("SELECT 1 AS X")
        threading.Timer(0.3, conn.cancel).start()
        start = time.monotonic()
        with pytest.raises(QueryCanceledError) as info:
            conn.query("SELECT 'WAIT_FOR_CANCEL' AS X", timeout=30)
        assert time.monotonic() - start < 3.0
    assert info.value.details["errno"] == 604  # Snowflake confirmed: not an abandoned session
    assert replay_snowflake.cancel_bindings and str(SESSION_ID) in json.dumps(replay_snowflake.cancel_bindings)
    assert pool.stats["discarded"] >= 1 and pool.idle_count() == 0  # a canceled session is not reused
    pool.clear()


def test_statement_timeout_is_sent_and_snowflakes_timeout_error_is_a_query_timeout(replay_snowflake: ReplaySnowflake) -> None:
    with _connector(replay_snowflake, WarmPool()) as conn:
        with pytest.raises(QueryTimeoutError) as info:
            conn.query("SELECT 'HIT_STATEMENT_TIMEOUT' AS X", timeout=1)
    assert info.value.details["errno"] == 630
    sent = next(q for q in replay_snowflake.queries if "HIT_STATEMENT_TIMEOUT" in q.get("sqlText", ""))
    assert sent["parameters"]["STATEMENT_TIMEOUT_IN_SECONDS"] == 1
    assert sent["sqlText"].endswith("LIMIT 5001")  # the row limit went with it
