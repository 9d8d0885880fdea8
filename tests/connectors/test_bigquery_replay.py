"""BigQuery's server-side cancel and job timeout through the real client, against replayed REST answers
(bigquery_replay.py): a RUNNING job long-polled by google-cloud-bigquery, stopped by `jobs.cancel`, or failed by
BigQuery at job_timeout_ms.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("google.cloud.bigquery")

from tests.connectors.bigquery_replay import ReplayBigQuery, replay_bigquery  # noqa: F401,E402

from connectors import QueryCanceledError, QueryTimeoutError, connect  # noqa: E402


def _creds(replay: ReplayBigQuery) -> dict:
    return {"type": "bigquery", "project_id": "replay-project", "api_endpoint": replay.endpoint, "maximum_bytes_billed": 10**9}


def test_cancel_calls_jobs_cancel_and_the_waiting_query_reports_bigquerys_stop(replay_bigquery: ReplayBigQuery) -> None:
    with connect(_creds(replay_bigquery)) as conn:
        threading.Timer(0.3, conn.cancel).start()
        start = time.monotonic()
        with pytest.raises(QueryCanceledError) as info:
            conn.query("SELECT 'WAIT_FOR_CANCEL' AS x", timeout=30)
        assert time.monotonic() - start < 3.0
    job_id = replay_bigquery.inserted[0]["jobReference"]["jobId"]
    assert replay_bigquery.cancels[:1] == [job_id]  # the job the query started, by its client-made id
    assert info.value.details.get("reason") == "stopped"  # BigQuery confirmed: not just the client giving up


def test_job_timeout_is_sent_and_bigquerys_timeout_is_a_query_timeout(replay_bigquery: ReplayBigQuery) -> None:
    with connect(_creds(replay_bigquery)) as conn:
        with pytest.raises(QueryTimeoutError) as info:
            conn.query("SELECT 'HIT_JOB_TIMEOUT' AS x", timeout=1)
    assert info.value.details.get("reason") == "timeout"
    config = replay_bigquery.inserted[0]["configuration"]
    assert int(config["jobTimeoutMs"]) == 1000
    assert int(config["query"]["maximumBytesBilled"]) == 10**9


def test_a_finished_query_reads_its_rows_by_long_polling(replay_bigquery: ReplayBigQuery) -> None:
    with connect(_creds(replay_bigquery)) as conn:
        result = conn.query("SELECT 1 AS x")
    assert result.rows == [[1]] and replay_bigquery.cancels == []
