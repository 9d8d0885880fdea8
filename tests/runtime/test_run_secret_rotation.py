"""`rotate_run_secrets` (behind `taskpack sources rotate-key`): the secrets of unfinished runs re-encrypted with the
current key, so the old key can go; finished runs left as they are. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from runtime import RunStatus, SecretDecryptError, Worker, rotate_run_secrets, runs, tasks
from runtime.backend import get_backend
from runtime.envelope import ENVELOPE_KEY
from runtime.secret_key import ENV_KEY, ENV_PREVIOUS
from runtime.serializer import SealingSerializer
from tests.runtime import sample_tasks, sealed_tasks
from tests.runtime.raw_store import set_columns
from tests.runtime.sample_tasks import EVENTS
from tests.secret_scan import database_bytes, hits


def payload(token: str, password: str) -> dict[str, Any]:
    return {"token": token, "login": {"user": "u", "password": password}}


def payload_token(db_url: str, run_id: str) -> str:
    [status] = get_backend(db_url).client.list_workflows(workflow_ids=[run_id], load_input=True)
    return status.input["args"][0]["login"]["password"][ENVELOPE_KEY]


def step_row(db_url: str, run_id: str, name: str) -> str:
    backend = get_backend(db_url)
    oo = backend.sys_db.tables.operation_outputs
    with backend.sys_engine.connect() as conn:
        return conn.execute(sa.select(oo.c.output).where(oo.c.workflow_uuid == run_id, oo.c.function_name == name)).scalar_one()


def readable_with(key: str, token: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
        return True
    except InvalidToken:
        return False


def wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_rotation_rewrites_unfinished_runs_so_the_old_key_can_go(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old_key, new_key = os.environ[ENV_KEY], Fernet.generate_key().decode()
    passwords = {name: f"rotPw-{name}-{uuid.uuid4().hex[:8]}" for name in ("done", "queued", "delayed", "executing")}
    tokens = {name: f"{name}-{uuid.uuid4().hex[:6]}" for name in passwords}
    EVENTS.clear()
    for token in tokens.values():
        if token.startswith(("done", "queued", "delayed")):
            sealed_tasks.gate(token).set()  # these run straight through once they start
    with Worker(database_url=db_url, tasks=[sample_tasks, sealed_tasks], concurrency=1):  # one slot: the executing run holds it
        done = runs.wait(tasks.trigger("t-vault-hold", payload(tokens["done"], passwords["done"])).id, timeout=30)
        assert done.status is RunStatus.COMPLETED
        executing = tasks.trigger("t-vault-hold", payload(tokens["executing"], passwords["executing"])).id
        wait_for(lambda: EVENTS[tokens["executing"]] == ["fetched"])
        queued = tasks.trigger("t-vault-hold", payload(tokens["queued"], passwords["queued"])).id
        delayed = tasks.trigger("t-vault-hold", payload(tokens["delayed"], passwords["delayed"]), delay="1h").id
        assert [runs.retrieve(i).status for i in (executing, queued, delayed)] == [RunStatus.EXECUTING, RunStatus.QUEUED, RunStatus.DELAYED]
        ids = {"done": done.id, "queued": queued, "delayed": delayed, "executing": executing}
        before = {name: payload_token(db_url, run_id) for name, run_id in ids.items()}
        step_before = step_row(db_url, executing, "fetch")

        monkeypatch.setenv(ENV_KEY, new_key)
        monkeypatch.setenv(ENV_PREVIOUS, old_key)
        assert rotate_run_secrets(db_url) == 3
        after = {name: payload_token(db_url, run_id) for name, run_id in ids.items()}

        assert after["done"] == before["done"]  # finished: left as it was
        for name in ("queued", "delayed", "executing"):
            assert after[name] != before[name] and readable_with(new_key, after[name]) and not readable_with(old_key, after[name])
            assert json.loads(Fernet(new_key).decrypt(after[name].encode())) == passwords[name]
        step_after = step_row(db_url, executing, "fetch")
        assert step_after != step_before  # the executing run's recorded step was rewritten too
        assert all(hits(step_after.encode(), p) == [] for p in passwords.values())

        monkeypatch.delenv(ENV_PREVIOUS)  # the old key is gone: every unfinished run still gets its secrets
        recovered = SealingSerializer(get_backend(db_url).keyring, opens=True).deserialize(step_after)
        assert recovered.login.password.get_secret_value() == passwords["executing"]  # what a recovery would replay
        sealed_tasks.gate(tokens["executing"]).set()
        set_columns(db_url, delayed, delay_until_epoch_ms=int(time.time() * 1000))  # due now
        for name in ("executing", "queued", "delayed"):
            ran = runs.wait(ids[name], timeout=30)
            assert ran.status is RunStatus.COMPLETED, ran.error
            assert EVENTS[tokens[name]][-1] == {"step_password": passwords[name]}
    stored = database_bytes(db_url)
    assert all(hits(stored, p) == [] for p in passwords.values())


def test_rotation_is_all_or_nothing_when_a_run_is_unreadable(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    readable = tasks.trigger("t-vault-hold", payload("r", "rotPw-readable-1"), delay="1h", database_url=db_url).id
    lost_key = Fernet.generate_key().decode()
    session_key = os.environ[ENV_KEY]
    monkeypatch.setenv(ENV_KEY, lost_key)
    lost = tasks.trigger("t-vault-hold", payload("l", "rotPw-lost-1"), delay="1h", database_url=db_url).id
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    monkeypatch.setenv(ENV_PREVIOUS, session_key)
    before = {run_id: payload_token(db_url, run_id) for run_id in (readable, lost)}
    with pytest.raises(SecretDecryptError, match=lost):
        rotate_run_secrets(db_url)
    assert {run_id: payload_token(db_url, run_id) for run_id in (readable, lost)} == before
