"""Secret masking that is exact and scoped to its run, on SQLite and PostgreSQL, with a real worker executing."""

from __future__ import annotations

import gc
import json
import time
import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from typer.testing import CliRunner

from runtime import PayloadError, RunStatus, Worker, runs, tasks
from runtime.backend import get_backend, reset_backends
from runtime.store import task_definitions
from runtime.cli import app
from tests.runtime import sample_tasks, secret_tasks
from tests.runtime.sample_tasks import EVENTS
from tests.runtime.secret_tasks import SECRET_SETS, gate, vault_value
from tests.runtime.raw_store import enqueue_unchecked, stored_rows

MASK = "[REDACTED]"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7tidSecret"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"
runner = CliRunner()


@pytest.fixture
def secrets_worker(db_url: str) -> Iterator[Worker]:
    EVENTS.clear()
    with Worker(database_url=db_url, tasks=[sample_tasks, secret_tasks], concurrency=8, heartbeat_interval=0.5, dead_worker_after=3) as w:
        yield w


def everything_about(run_id: str) -> str:
    """What any reader can get about a run: the run as listed and shown, and its logs."""
    run = runs.retrieve(run_id)
    listed = [r.model_dump(mode="json") for r in runs.list(limit=500).data if r.id == run_id]
    logs = [e.model_dump(mode="json") for e in runs.logs(run_id)]
    return json.dumps({"run": run.model_dump(mode="json"), "listed": listed, "logs": logs})


def wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_one_runs_password_never_masks_another_runs_output(secrets_worker: Worker) -> None:
    """The issue's case: run A's password is `postgres`; run B, executing at the same time, says `postgres` too."""
    a_token, b_token, c_token = (uuid.uuid4().hex[:8] for _ in range(3))
    run_a = tasks.trigger("t-source-report", {"credentials": {"host": "db", "password": "postgres"}, "text": "postgres", "token": a_token, "hold": True}).id
    wait_for(lambda: EVENTS[a_token] == ["reported"])  # A is executing, its secrets are live in this process
    run_b = runs.wait(tasks.trigger("t-source-report", {"text": "postgres", "token": b_token}).id, timeout=30)
    run_c = runs.wait(tasks.trigger("t-source-report", {"text": "postgres", "token": c_token, "fail": True}, max_attempts=1).id, timeout=30)
    gate(a_token).set()
    run_a = runs.wait(run_a, timeout=30)

    assert run_b.status is RunStatus.COMPLETED
    assert run_b.output == {"source_type": "postgres"}
    assert run_b.metadata["source_type"] == "postgres"
    assert [e.message for e in runs.logs(run_b.id) if e.message.startswith("connected")] == ["connected to postgres"]
    assert runs.logs(run_b.id)[0].fields == {"source_type": "postgres"}
    assert run_c.status is RunStatus.FAILED and run_c.error.message == "could not finish with postgres"

    assert run_a.status is RunStatus.COMPLETED
    assert run_a.output == {"source_type": MASK}  # A's own password is masked in A's output, logs and metadata
    assert run_a.metadata["source_type"] == MASK
    assert "postgres" not in everything_about(run_a.id)


def test_secret_sets_die_with_their_runs_across_a_thousand_runs(secrets_worker: Worker) -> None:
    SECRET_SETS.clear()
    keys = [f"{i:04d}-{uuid.uuid4().hex[:6]}" for i in range(1000)]
    values = [vault_value(k) for k in keys]
    batch = tasks.batch_trigger("t-registers-secret", [{"vault_key": k} for k in keys])
    finished = [runs.wait(h.id, timeout=300) for h in batch.runs]
    assert all(r.status is RunStatus.COMPLETED for r in finished)
    assert all(r.output == f"got {MASK}" for r in finished)  # each run's own secret is masked in its output
    assert len(SECRET_SETS) == 1000
    gc.collect()
    alive = [ref for ref in SECRET_SETS if ref() is not None]
    assert alive == [], f"{len(alive)} run secret sets outlived their runs"
    # Nothing carried over: a later run printing every earlier secret shows them all.
    later = runs.wait(tasks.trigger("t-source-report", {"text": " ".join(values[:50]), "token": "later"}).id, timeout=30)
    assert later.output == {"source_type": " ".join(values[:50])}
    assert json.loads(json.dumps(runs.logs(later.id)[0].fields))["source_type"] == " ".join(values[:50])


def test_a_secret_registered_by_task_code_is_scrubbed_from_its_logs_and_output(secrets_worker: Worker) -> None:
    run = runs.wait(tasks.trigger("t-registers-secret", {"vault_key": "321-terces"}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED
    assert run.output == f"got {MASK}"
    assert vault_value("321-terces") not in everything_about(run.id)
    assert [e.message for e in runs.logs(run.id)] == [f"vault said {MASK}"]


def test_a_worker_publishes_each_schema_tasks_payload_schema(secrets_worker: Worker, db_url: str) -> None:
    backend = get_backend(db_url)
    with backend.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(task_definitions.c.id, task_definitions.c.definition)).all())
    signing = rows["t-signing"] if isinstance(rows["t-signing"], dict) else json.loads(rows["t-signing"])
    assert signing["payload_schema"]["properties"]["signing_material"]["writeOnly"] is True
    assert signing["payload_schema"]["additionalProperties"] is False
    echo = rows["t-echo"] if isinstance(rows["t-echo"], dict) else json.loads(rows["t-echo"])
    assert echo["payload_schema"] is None  # a plain task takes any JSON


def test_schema_secret_fields_are_masked_whatever_their_name(secrets_worker: Worker, db_url: str) -> None:
    secret = "sm-material-secret-4711"
    run = runs.wait(tasks.trigger("t-signing", {"account": "acme", "signing_material": secret}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.payload == {"account": "acme", "signing_material": MASK}
    assert run.output == {"account": "acme", "material_echo": MASK}
    assert secret not in everything_about(run.id)
    for args in (["runs", "show", run.id, "--json"], ["runs", "list", "--json"], ["runs", "show", run.id]):
        shown = runner.invoke(app, [*args, "--database-url", db_url])
        assert shown.exit_code == 0, shown.output
        assert secret not in shown.output


def test_a_model_instance_payload_reaches_the_run_with_its_real_secret(secrets_worker: Worker) -> None:
    """A SecretStr dumps as '**********'; the run must get the password, not the mask."""
    account = f"acct-{uuid.uuid4().hex[:6]}"
    payload = secret_tasks.SigningInput(account=account, signing_material=SecretStr("sm-real-material-1"))
    run = runs.wait(tasks.trigger("t-signing", payload).id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert EVENTS[account] == ["sm-real-material-1"]
    assert run.payload["signing_material"] == MASK


def test_a_misspelled_password_field_is_masked_when_the_schema_lets_it_through(secrets_worker: Worker) -> None:
    run = runs.wait(tasks.trigger("t-loose", {"host": "db.internal", "passwrd": "typo-pw-5566", "pwd2": "typo-pw-7788"}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED
    assert run.payload == {"host": "db.internal", "passwrd": MASK, "pwd2": MASK}
    text = everything_about(run.id)
    assert "typo-pw-5566" not in text and "typo-pw-7788" not in text


def test_a_payload_failing_validation_in_the_worker_is_never_shown_unmasked(secrets_worker: Worker, db_url: str) -> None:
    """A payload that reached a worker without the trigger-time check (an older client): the run fails, masked."""
    run_id = enqueue_unchecked(db_url, "t-signing", {"account": "", "signing_material": "sm-unchecked-9911", "passwrd": "typo-pw-9922"})
    run = runs.wait(run_id, timeout=30)
    assert run.status is RunStatus.FAILED and run.error.type == "PayloadValidationError"
    assert "account" in run.error.message and "passwrd" in run.error.message
    text = everything_about(run.id)
    assert "sm-unchecked-9911" not in text and "typo-pw-9922" not in text


def test_a_bigquery_key_given_as_a_json_string_never_shows_its_private_key(db_url: str) -> None:
    """`runs show` and `runs list --json` on a queued introspect-data run, as the issue found them."""
    from tasks.introspect_data import task as introspect  # noqa: F401  (defines introspect-data in this process)

    key = json.dumps({"type": "service_account", "project_id": "p1", "private_key_id": "kid-1", "private_key": PEM, "client_email": "svc@p1.iam.gserviceaccount.com"})
    payload = {"data_source_id": "ds-bq", "credentials": {"type": "bigquery", "project_id": "p1", "service_account_key": key}}
    schema_run = tasks.trigger("introspect-data", payload, database_url=db_url).id
    # The same key under a field name no rule knows, in a task without a schema: masked inside the JSON string.
    plain_run = tasks.trigger("t-echo", {"config": {"blob": key}}, database_url=db_url).id
    reset_backends()
    outputs = []
    for args in (["runs", "list", "--json"], ["runs", "show", schema_run, "--json"], ["runs", "show", schema_run], ["runs", "show", plain_run, "--json"]):
        shown = runner.invoke(app, [*args, "--database-url", db_url])
        reset_backends()
        assert shown.exit_code == 0, shown.output
        outputs.append(shown.output)
    for output in outputs:
        assert PEM_BODY not in output and "BEGIN PRIVATE KEY" not in output
    shown_schema = json.loads(outputs[1])["run"]["payload"]
    assert shown_schema["credentials"]["service_account_key"] == MASK  # a SecretStr field: masked whole
    shown_plain = json.loads(json.loads(outputs[3])["run"]["payload"]["config"]["blob"])
    assert shown_plain["private_key"] == MASK and shown_plain["client_email"] == "svc@p1.iam.gserviceaccount.com"


def test_invalid_credentials_are_refused_at_trigger_without_echoing_them(db_url: str) -> None:
    from tasks.introspect_data import task as introspect  # noqa: F401

    before = stored_rows(db_url)
    bad = {"type": "postgres", "host": "h", "database": "d", "username": "u", "passwrd": "typo-pw-3344", "port": "not-a-port"}
    with pytest.raises(PayloadError) as info:
        tasks.trigger("introspect-data", {"data_source_id": "ds", "credentials": bad}, database_url=db_url)
    message = str(info.value)
    assert info.value.field == "payload.credentials" and "passwrd" in message and "port" in message
    assert "typo-pw-3344" not in message and "not-a-port" not in message
    assert stored_rows(db_url) == before
