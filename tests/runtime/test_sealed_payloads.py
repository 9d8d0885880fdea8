"""SecretStr payload fields encrypted before the run is stored, decrypted only inside the worker (runtime.sealing),
and nothing DBOS records for a run in plain text (runtime.serializer), on SQLite and PostgreSQL.

Every test scans the whole runtime database (the SQLite file with its WAL, or every row of every PostgreSQL table,
DBOS's own included) for each secret, plain and base64-encoded (tests/secret_scan.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner

from runtime import PayloadError, RunStatus, SecretDecryptError, SecretKeyError, Worker, runs, tasks
from runtime.backend import APP_VERSION, get_backend, reset_backends
from runtime.cli import app
from runtime.envelope import ENVELOPE_KEY, is_envelope
from runtime.payload_schema import SchemaView
from runtime.secret_key import ENV_KEY, ENV_PREVIOUS
from runtime.serializer import SealingSerializer
from tests.runtime import sample_tasks, sealed_tasks
from tests.runtime.raw_store import stored_rows
from tests.runtime.sample_tasks import EVENTS
from tests.secret_scan import database_bytes, hits

MASK = "[REDACTED]"
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def sealed_worker(db_url: str) -> Iterator[Worker]:
    EVENTS.clear()
    with Worker(database_url=db_url, tasks=[sample_tasks, sealed_tasks], concurrency=4, heartbeat_interval=0.5, dead_worker_after=3) as w:
        yield w


class Secrets:
    """Recognisable, random, long enough for every base64 alignment to be searched."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.password = f"vaultPw-{tag}-main"
        self.replicas = [f"replPw-{tag}-a", f"replPw-{tag}-b"]
        self.dsn_secret = f"dsnSecret-{tag}"
        self.api_key = f"apiKey-{tag}-zz"
        self.pin = f"pin-{tag}-0042"
        self.private_key = f"svcPrivate-{tag}-material"

    def all(self) -> list[str]:
        return [self.password, *self.replicas, self.dsn_secret, self.api_key, self.pin, self.private_key]

    def payload(self, token: str, *, backend: str = "db", **extra: Any) -> dict[str, Any]:
        chosen = {"kind": "db", "dsn_secret": self.dsn_secret, "port": 6543} if backend == "db" else {"kind": "api", "api_key": self.api_key}
        return {
            "token": token,
            "login": {"user": "reader", "password": self.password},
            "replicas": [{"user": "r1", "password": self.replicas[0]}, {"user": "r2", "password": self.replicas[1]}],
            "backend": chosen,
            "pin": self.pin,
            "service_key": {"client_email": "svc@example.iam", "private_key": self.private_key},
            "note": "visible note",
            **extra,
        }


def stored_payload(db_url: str, run_id: str) -> Any:
    """The payload as DBOS keeps it, read the way any process but a worker reads it."""
    [status] = get_backend(db_url).client.list_workflows(workflow_ids=[run_id], load_input=True)
    return status.input["args"][0]


def assert_nothing_in_the_database(db_url: str, secrets: list[str], *present: str) -> None:
    stored = database_bytes(db_url)
    for marker in present:  # the scan really reads these runs' rows, base64 pickles included
        assert hits(stored, marker), marker
    for secret in secrets:
        assert hits(stored, secret) == [], secret


def fernet_key() -> str:
    return os.environ[ENV_KEY]


# -- what is stored, what the worker gets --------------------------------------------------------------------------------
@pytest.mark.parametrize("fail", [False, True], ids=["succeeds", "fails"])
def test_secret_fields_are_stored_encrypted_and_reach_the_worker_in_plain_text(sealed_worker: Worker, db_url: str, fail: bool) -> None:
    s, token = Secrets(), uuid.uuid4().hex[:8]
    run = runs.wait(tasks.trigger("t-vault", s.payload(token, fail=fail)).id, timeout=30)
    assert run.status is (RunStatus.FAILED if fail else RunStatus.COMPLETED), run.error

    received, from_step, step_error = EVENTS[token][:3]
    assert received == {
        "password": s.password,
        "replicas": s.replicas,
        "backend": {"kind": "db", "dsn_secret": "**********", "port": 6543, "secret": s.dsn_secret},
        "pin": s.pin,
        "service_key": json.dumps({"client_email": "svc@example.iam", "private_key": s.private_key}, sort_keys=True),
        "ctx_payload_password": s.password,  # ctx.payload is the decrypted payload too
    }
    assert from_step["step_password"] == s.password and s.password in from_step["step_dsn"]
    assert step_error == {"step_error": f"the vault refused {s.password}"}  # the live exception is the real one

    stored = stored_payload(db_url, run.id)
    envelopes = {
        "login.password": stored["login"]["password"], "replicas[0].password": stored["replicas"][0]["password"],
        "replicas[1].password": stored["replicas"][1]["password"], "backend.dsn_secret": stored["backend"]["dsn_secret"],
        "pin": stored["pin"], "service_key": stored["service_key"],
    }
    assert all(is_envelope(e) for e in envelopes.values()), envelopes
    opened = {k: json.loads(Fernet(fernet_key()).decrypt(e[ENVELOPE_KEY].encode())) for k, e in envelopes.items()}
    assert opened["login.password"] == s.password and opened["backend.dsn_secret"] == s.dsn_secret
    assert opened["service_key"] == {"client_email": "svc@example.iam", "private_key": s.private_key}  # an object, whole
    assert stored["login"]["user"] == "reader" and stored["backend"]["port"] == 6543 and stored["note"] == "visible note"

    assert run.payload["login"] == {"user": "reader", "password": MASK}
    assert run.payload["replicas"] == [{"user": "r1", "password": MASK}, {"user": "r2", "password": MASK}]
    assert run.payload["backend"] == {"kind": "db", "dsn_secret": MASK, "port": 6543}
    assert run.payload["pin"] == MASK and run.payload["service_key"] == MASK and run.payload["note"] == "visible note"
    if fail:
        assert run.error is not None and run.error.message == f"login failed for reader with {MASK}"
    else:
        assert run.output == {"user": "reader", "password": MASK, "dsn": f"postgresql://reader:{MASK}@db.example/app", "echo": MASK}
    assert run.metadata["dsn"] == f"postgresql://reader:{MASK}@db.example/app"
    assert any(e.message == f"connected with {MASK}" for e in runs.logs(run.id))

    shown = [runner.invoke(app, [*args, "--database-url", db_url]) for args in (["runs", "show", run.id, "--json"], ["runs", "list", "--json"], ["runs", "show", run.id])]
    for result in shown:
        assert result.exit_code == 0, result.output
        assert all(secret not in result.output for secret in s.all())
        assert all(e[ENVELOPE_KEY] not in result.output for e in envelopes.values())  # tokens are not shown either
    assert json.loads(shown[0].stdout)["run"]["payload"]["login"]["password"] == MASK
    assert_nothing_in_the_database(db_url, s.all(), run.id, "visible note", "refuse", "fetch")


def test_a_step_result_holding_a_secret_is_restored_exactly_when_the_run_is_replayed_from_its_steps(sealed_worker: Worker, db_url: str) -> None:
    """DBOS returns a finished step's recorded result instead of running it again: that result must come back with
    the real secret (not a mask) in the worker, while the stored row holds only a token."""
    s, token = Secrets(), uuid.uuid4().hex[:8]
    first = runs.wait(tasks.trigger("t-vault", s.payload(token, backend="api")).id, timeout=30)
    assert first.status is RunStatus.COMPLETED, first.error
    backend = get_backend(db_url)
    oo = backend.sys_db.tables.operation_outputs
    with backend.sys_engine.connect() as conn:
        steps = {r.function_name: r for r in conn.execute(sa.select(oo).where(oo.c.workflow_uuid == first.id))}
    fetch, refuse = steps["fetch"], steps["refuse"]
    assert fetch.output is not None and refuse.error is not None
    for text in (fetch.output, refuse.error):
        assert all(hits(text.encode(), secret) == [] for secret in s.all())
    worker_reads = SealingSerializer(backend.keyring, opens=True)
    anyone_reads = SealingSerializer(backend.keyring, opens=False)
    restored = worker_reads.deserialize(fetch.output)
    assert restored.login.password.get_secret_value() == s.password and s.password in restored.dsn
    assert str(worker_reads.deserialize(refuse.error)) == f"the vault refused {s.password}"
    shown = anyone_reads.deserialize(fetch.output)
    assert is_envelope(shown.dsn) and is_envelope(shown.login.password)  # anyone else reads envelopes

    EVENTS[token].clear()
    forked = backend.client.fork_workflow(first.id, refuse.function_id, application_version=APP_VERSION)
    deadline = time.monotonic() + 30
    while len(EVENTS[token]) < 3:
        assert time.monotonic() < deadline, "the forked run did not execute"
        time.sleep(0.05)
    received, from_step, _ = EVENTS[token][:3]
    assert received["password"] == s.password and received["backend"]["secret"] == s.api_key
    assert from_step == {"step_password": s.password, "step_dsn": f"postgresql://reader:{s.password}@db.example/app"}  # replayed, exact
    assert runs.wait(forked.workflow_id, timeout=30).status is RunStatus.COMPLETED
    assert_nothing_in_the_database(db_url, s.all(), first.id, forked.workflow_id)


def test_a_plain_tasks_child_gets_its_parents_secret_but_the_child_row_does_not(sealed_worker: Worker, db_url: str) -> None:
    """No schema, no SecretStr: the parent's registered secret in its child's payload is sealed by the serializer."""
    token = uuid.uuid4().hex[:8]
    phrase = sealed_tasks.vault_phrase(token)
    parent = runs.wait(tasks.trigger("t-plain-parent", {"token": token}).id, timeout=30)
    assert parent.status is RunStatus.COMPLETED, parent.error
    assert EVENTS[token] == [{"child_words": f"say {phrase}"}]  # the child ran with the real text
    child = runs.retrieve(parent.output["child_id"])
    assert child.payload["words"] == MASK and child.status is RunStatus.COMPLETED
    assert is_envelope(stored_payload(db_url, child.id)["words"])
    assert_nothing_in_the_database(db_url, [phrase], child.id)


# -- triggering ----------------------------------------------------------------------------------------------------------
def test_a_process_that_only_knows_the_published_schema_encrypts_the_same_fields(sealed_worker: Worker, db_url: str, tmp_path: Path) -> None:
    s, token = Secrets(), uuid.uuid4().hex[:8]
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(s.payload(token)))
    elsewhere = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "trigger", "t-vault", "-p", f"@{payload_file}", "--database-url", db_url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert elsewhere.returncode == 0, elsewhere.stderr
    run_id = elsewhere.stdout.split()[1]
    run = runs.wait(run_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert EVENTS[token][0]["password"] == s.password and EVENTS[token][0]["pin"] == s.pin
    stored = stored_payload(db_url, run_id)
    assert all(is_envelope(v) for v in (stored["login"]["password"], stored["replicas"][1]["password"], stored["backend"]["dsn_secret"], stored["pin"], stored["service_key"]))
    assert_nothing_in_the_database(db_url, s.all(), run_id)


def test_the_published_schema_marks_every_secret_place() -> None:
    view = SchemaView.of(sealed_tasks.vault.payload_schema)
    assert view is not None
    assert view.child("login").child("password").is_secret()  # type: ignore[union-attr]
    assert view.child("replicas").item(7).child("password").is_secret()  # type: ignore[union-attr]
    assert view.child("backend").child("dsn_secret").is_secret() and view.child("backend").child("api_key").is_secret()  # type: ignore[union-attr]
    assert view.child("pin").is_secret() and view.child("service_key").is_secret()  # type: ignore[union-attr]
    assert not view.child("note").is_secret() and not view.child("login").child("user").is_secret()  # type: ignore[union-attr]


def test_envelopes_from_outside_are_refused_and_nothing_is_stored(sealed_worker: Worker, db_url: str) -> None:
    """A token lifted from the database must not be decrypted on someone else's behalf."""
    s = Secrets()
    first = runs.wait(tasks.trigger("t-vault", s.payload(uuid.uuid4().hex[:8])).id, timeout=30)
    lifted = stored_payload(db_url, first.id)["login"]["password"]
    before = stored_rows(db_url)
    with pytest.raises(PayloadError) as caught:
        tasks.trigger("t-vault", {**s.payload("x"), "login": {"user": "thief", "password": lifted}})
    assert caught.value.field == "payload.login.password" and "runtime encrypts it" in str(caught.value)
    with pytest.raises(PayloadError) as caught:
        tasks.trigger("t-echo", {"deep": [{"x": lifted}]})
    assert caught.value.field == "payload.deep[0].x"
    assert lifted[ENVELOPE_KEY] not in str(caught.value)
    assert stored_rows(db_url) == before


def test_a_payload_without_secrets_needs_no_key(sealed_worker: Worker, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_KEY)
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))  # where SQLite would generate its key file
    run = runs.wait(tasks.trigger("t-echo", {"password": "not-a-schema-field"}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED
    if db_url.startswith("postgresql"):
        before = stored_rows(db_url)
        with pytest.raises(SecretKeyError, match=f"{ENV_KEY} is not set"):
            tasks.trigger("t-vault", Secrets().payload("no-key"))
        assert stored_rows(db_url) == before
    else:
        assert not (tmp_path / ".taskpack" / "secret.key").exists()  # nothing to encrypt: no key file made


# -- replay and keys -----------------------------------------------------------------------------------------------------
def test_replay_reuses_the_stored_envelopes_and_survives_a_key_change_through_previous(
    sealed_worker: Worker, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, token = Secrets(), uuid.uuid4().hex[:8]
    original = runs.wait(tasks.trigger("t-vault", s.payload(token)).id, timeout=30)
    stored = stored_payload(db_url, original.id)

    replayed = runs.wait(runs.replay(original.id).id, timeout=30)
    assert replayed.status is RunStatus.COMPLETED, replayed.error
    assert stored_payload(db_url, replayed.id) == stored  # the same tokens: re-used, not re-encrypted
    assert [e["password"] for e in EVENTS[token] if "password" in e] == [s.password, s.password]

    old_key = os.environ[ENV_KEY]
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    before = stored_rows(db_url)
    with pytest.raises(SecretDecryptError) as caught:
        runs.replay(original.id)
    assert "payload.login.password" in caught.value.message and ENV_PREVIOUS in caught.value.message
    assert all(secret not in caught.value.message for secret in s.all())
    assert stored_rows(db_url) == before  # refused before anything was stored

    monkeypatch.setenv(ENV_PREVIOUS, old_key)
    again = runs.wait(runs.replay(original.id).id, timeout=30)
    assert again.status is RunStatus.COMPLETED, again.error
    assert [e["password"] for e in EVENTS[token] if "password" in e][-1] == s.password
    assert_nothing_in_the_database(db_url, s.all(), again.id)


def test_cli_replay_with_an_unreadable_payload_is_one_line(sealed_worker: Worker, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = runs.wait(tasks.trigger("t-vault", Secrets().payload(uuid.uuid4().hex[:8])).id, timeout=30)
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    result = runner.invoke(app, ["runs", "replay", original.id, "--database-url", db_url])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "payload.login.password" in lines[0] and "cannot be decrypted" in lines[0], result.stderr


@pytest.mark.parametrize("problem", ["wrong key", "no key"])
def test_a_worker_without_the_right_key_fails_the_run_at_once_naming_the_problem(
    sealed_worker: Worker, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, problem: str
) -> None:
    s, token = Secrets(), uuid.uuid4().hex[:8]
    handle = tasks.trigger("t-vault", s.payload(token), delay=1)  # sealed with the session's key
    if problem == "wrong key":
        monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    else:
        monkeypatch.delenv(ENV_KEY)
        monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    run = runs.wait(handle.id, timeout=30)
    assert run.status is RunStatus.FAILED and run.attempts == 1
    assert run.error is not None and run.error.retryable is False and run.error.code == "SECRET_UNREADABLE"
    if problem == "wrong key" or db_url.startswith("sqlite"):  # SQLite without a key generates one: not the one that sealed
        assert run.error.type == "SecretDecryptError"
        assert "payload.login.password" in run.error.message and ENV_PREVIOUS in run.error.message
        if problem == "no key":
            assert str(tmp_path / ".taskpack" / "secret.key") in run.error.message
    else:
        assert run.error.type == "SecretKeyError" and f"{ENV_KEY} is not set" in run.error.message
    assert token not in EVENTS  # the task function never ran
    assert all(secret not in run.model_dump_json() for secret in s.all())
    assert_nothing_in_the_database(db_url, s.all(), run.id)


def test_a_model_instance_payload_is_sealed_like_its_json(sealed_worker: Worker, db_url: str) -> None:
    s, token = Secrets(), uuid.uuid4().hex[:8]
    model = sealed_tasks.VaultInput.model_validate(s.payload(token))
    assert isinstance(model.login.password, SecretStr)
    run = runs.wait(tasks.trigger("t-vault", model).id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert EVENTS[token][0]["password"] == s.password
    assert is_envelope(stored_payload(db_url, run.id)["login"]["password"])
    assert_nothing_in_the_database(db_url, s.all(), run.id)
