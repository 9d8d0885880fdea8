"""Tasks for the secret-masking and hostile-input tests (a module of their own, loaded beside sample_tasks)."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from runtime import logger, metadata, schema_task, task
from tests.runtime.sample_tasks import record

GATES: dict[str, threading.Event] = {}
SECRET_SETS: list[weakref.ref[Any]] = []


def gate(token: str) -> threading.Event:
    return GATES.setdefault(token, threading.Event())


@task(id="t-source-report")
def source_report(payload: dict, ctx) -> dict:
    """Says which source it talked to, everywhere a run can say something: log, metadata, output, and an error."""
    text = payload["text"]
    logger.info(f"connected to {text}", source_type=text)
    metadata.set("source_type", text)
    metadata.flush()
    record(payload["token"], "reported")
    if payload.get("hold"):
        gate(payload["token"]).wait(30)  # keep this run executing while another one runs
    if payload.get("fail"):
        raise RuntimeError(f"could not finish with {text}")
    return {"source_type": text}


@task(id="t-registers-secret")
def registers_secret(payload: dict, ctx) -> str:
    """Registers a secret that only its code knows (not in the payload), like a password read from a vault."""
    value = vault_value(payload["vault_key"])
    ctx.redact(value)
    SECRET_SETS.append(weakref.ref(ctx.secrets))
    logger.info(f"vault said {value}")
    return f"got {value}"


def vault_value(key: str) -> str:
    """The stand-in vault: the secret is derived from the key, so it never travels in the payload."""
    return "vault-secret-" + key[::-1]


class SigningInput(BaseModel):
    """A schema whose secret field has an ordinary name: only its SecretStr type says it is secret."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1)
    signing_material: SecretStr
    retries: int = Field(1, ge=0, le=5)


@schema_task(id="t-signing", schema=SigningInput)
def signing(payload: SigningInput, ctx) -> dict:
    record(payload.account, payload.signing_material.get_secret_value())  # what the run really received
    logger.info("signing with " + payload.signing_material.get_secret_value())
    return {"account": payload.account, "material_echo": payload.signing_material.get_secret_value()}


class LooseInput(BaseModel):
    """Extra fields allowed: a misspelled field is kept (and must still be masked when it looks like a password)."""

    model_config = ConfigDict(extra="allow")

    host: str


@schema_task(id="t-loose", schema=LooseInput)
def loose(payload: LooseInput, ctx) -> str:
    return payload.host
