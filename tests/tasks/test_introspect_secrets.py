"""No password of a data source is stored anywhere in the runtime database, whatever introspect-data does with it.

The complete set: the runtime database on SQLite (the file, its WAL and shared memory) and on PostgreSQL (every row
of every table, DBOS's own included); credentials given inline in the run's payload and registered in the store;
a run that succeeds and one that fails with a wrong password. The source is the scram-sha-256 PostgreSQL cluster of
the connector tests, which really checks passwords (the shared server trusts every login). The scan looks for each
password and its base64 forms (tests/secret_scan.py); `runs show` and `runs list --json` are checked too.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from runtime import RunStatus, Worker, runs, tasks
from runtime.backend import get_backend
from runtime.cli import app
from runtime.envelope import is_envelope
from store import sources
from tasks.introspect_data import task as introspect_module
from tests.connectors.postgres_fixtures import scram_server  # noqa: F401 - fixture
from tests.runtime.conftest import fresh_database
from tests.secret_scan import database_bytes, hits

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgres"])
def runtime_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def worker(runtime_url: str) -> Iterator[Worker]:
    with Worker(database_url=runtime_url, tasks=[introspect_module], concurrency=2) as w:
        yield w


@pytest.mark.parametrize("outcome", ["succeeds", "wrong password"])
@pytest.mark.parametrize("where", ["inline", "registered"])
def test_no_password_is_stored_anywhere(worker: Worker, runtime_url: str, scram_server: dict[str, Any], where: str, outcome: str) -> None:
    right = scram_server["password"]
    wrong = f"wrongScram-{uuid.uuid4().hex}"
    credentials = {"type": "postgres", "ssl_mode": "disable", "connect_timeout": 3, **scram_server}
    if outcome == "wrong password":
        credentials["password"] = wrong
    if where == "registered":
        source = sources.add_source(f"scram-{uuid.uuid4().hex[:8]}", credentials)
        payload: dict[str, Any] = {"data_source_id": source.id}
    else:
        payload = {"data_source_id": f"ds-inline-{uuid.uuid4().hex[:6]}", "credentials": credentials}

    run = runs.wait(tasks.trigger("introspect-data", payload).id, timeout=60)
    if outcome == "succeeds":
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["source_type"] == "postgres" and run.output["snapshot_id"]
    else:
        assert run.status is RunStatus.FAILED and run.attempts == 1
        assert run.error is not None and run.error.type == "AuthError" and run.error.retryable is False

    [status] = get_backend(runtime_url).client.list_workflows(workflow_ids=[run.id], load_input=True)
    stored = status.input["args"][0]
    if where == "inline":
        assert is_envelope(stored["credentials"]["password"])  # encrypted before DBOS stored the run
        assert run.payload["credentials"]["password"] == "[REDACTED]" and run.payload["credentials"]["host"] == "127.0.0.1"
    else:
        assert "credentials" not in stored  # only the source's id travels

    shown = [runner.invoke(app, [*args, "--database-url", runtime_url]) for args in (["runs", "show", run.id, "--json"], ["runs", "list", "--json"], ["runs", "show", run.id])]
    for result in shown:
        assert result.exit_code == 0, result.output
        assert right not in result.output and wrong not in result.output
    assert json.loads(shown[0].stdout)["run"]["id"] == run.id

    everything = database_bytes(runtime_url)
    assert run.id.encode() in everything and hits(everything, payload["data_source_id"])  # the scan reads this run
    if outcome == "wrong password":
        assert hits(everything, "AuthError")  # ... its error included
    assert hits(everything, right) == [] and hits(everything, wrong) == []
