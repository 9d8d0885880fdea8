"""Tasks for the encrypted-payload tests: secrets in every shape a schema can hold, and in everything DBOS records.

`t-vault` receives a payload whose SecretStr fields sit in a nested model, a list of models, both branches of a
union, an optional field and a field that accepts an object (as a BigQuery service-account key does). It records
what it really received (EVENTS, in the test's process), then puts the password everywhere a run can put something:
a step's result (a model holding a SecretStr, and plain text holding the password), a step's error, a log line,
metadata, its output, and (with `fail`) its error.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from runtime import RetryConfig, logger, metadata, schema_task, task
from tests.runtime.sample_tasks import record


class Login(BaseModel):
    user: str
    password: SecretStr


class ApiBackend(BaseModel):
    kind: Literal["api"]
    api_key: SecretStr


class DbBackend(BaseModel):
    kind: Literal["db"]
    dsn_secret: SecretStr
    port: int = 5432


def _key_as_text(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value


class VaultInput(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    token: str
    login: Login
    replicas: list[Login] = Field(default_factory=list)
    backend: ApiBackend | DbBackend
    pin: SecretStr | None = None
    service_key: Annotated[SecretStr | None, BeforeValidator(_key_as_text)] = None
    note: str = ""
    fail: bool = False
    fork_from: str | None = None


class StepResult(BaseModel):
    login: Login
    dsn: str


def _fetch(login: Login) -> StepResult:
    return StepResult(login=login, dsn=f"postgresql://{login.user}:{login.password.get_secret_value()}@db.example/app")


def _refuse(password: str) -> None:
    raise PermissionError(f"the vault refused {password}")


@schema_task(id="t-vault", schema=VaultInput, retry=RetryConfig(max_attempts=1))
def vault(payload: VaultInput, ctx) -> dict[str, Any]:
    password = payload.login.password.get_secret_value()
    record(payload.token, {
        "password": password,
        "replicas": [r.password.get_secret_value() for r in payload.replicas],
        "backend": payload.backend.model_dump(mode="json") | {
            "secret": (payload.backend.api_key if isinstance(payload.backend, ApiBackend) else payload.backend.dsn_secret).get_secret_value()
        },
        "pin": payload.pin.get_secret_value() if payload.pin else None,
        "service_key": payload.service_key.get_secret_value() if payload.service_key else None,
        "ctx_payload_password": ctx.payload["login"]["password"],
    })
    fetched = ctx.step("fetch", _fetch, payload.login)
    record(payload.token, {"step_password": fetched.login.password.get_secret_value(), "step_dsn": fetched.dsn})
    try:
        ctx.step("refuse", _refuse, password)
    except PermissionError as exc:
        record(payload.token, {"step_error": str(exc)})
    logger.info(f"connected with {password}", dsn=fetched.dsn)
    metadata.set("dsn", fetched.dsn).set("login", {"user": payload.login.user, "secret": password})
    if payload.fail:
        raise RuntimeError(f"login failed for {payload.login.user} with {password}")
    return {"user": payload.login.user, "password": payload.login.password, "dsn": fetched.dsn, "echo": password}


def vault_phrase(key: str) -> str:
    """A secret that never travels in a payload (read from a vault inside the run)."""
    return f"vault-phrase-{key[::-1]}"


@task(id="t-plain-parent", retry=RetryConfig(max_attempts=1))
def plain_parent(payload: dict, ctx) -> dict[str, Any]:
    """A plain task (no schema) that registers a secret and hands it to its child in an ordinary payload field."""
    phrase = vault_phrase(payload["token"])
    ctx.redact(phrase)
    child = plain_child.trigger_and_wait({"token": payload["token"], "words": f"say {phrase}"})
    return {"child_ok": child.ok, "child_id": child.id}


@task(id="t-plain-child", retry=RetryConfig(max_attempts=1))
def plain_child(payload: dict, ctx) -> str:
    record(payload["token"], {"child_words": payload["words"]})
    return "done"


GATES: dict[str, Any] = {}


def gate(token: str) -> Any:
    import threading

    return GATES.setdefault(token, threading.Event())


class HoldInput(BaseModel):
    token: str
    login: Login


@schema_task(id="t-vault-hold", schema=HoldInput, retry=RetryConfig(max_attempts=1))
def vault_hold(payload: HoldInput, ctx) -> str:
    """Records a step holding the secret, then waits (executing) until the test opens its gate."""
    fetched = ctx.step("fetch", _fetch, payload.login)
    record(payload.token, "fetched")
    gate(payload.token).wait(30)
    record(payload.token, {"step_password": fetched.login.password.get_secret_value()})
    return "done"
