"""The pieces of payload encryption on their own: envelopes (runtime.sealing) and the DBOS serializer
(runtime.serializer), including what happens without a key and to a reader that is not ours."""

from __future__ import annotations

import base64
import json
import os
import pickle
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, SecretBytes, SecretStr

from runtime.envelope import ENVELOPE_KEY, envelope, is_envelope
from runtime.errors import PayloadError, SecretDecryptError, SecretKeyError
from runtime.payload_schema import SchemaView
from runtime.redaction import MASK, RunSecrets, redact, reset_secrets, use_secrets
from runtime.sealing import open_envelopes, refuse_envelopes, rotate_envelopes, seal_secret_fields
from runtime.secret_key import Keyring, load_keyring
from runtime.serializer import SealingSerializer, reseal
from tests.secret_scan import hits


class Inner(BaseModel):
    name: str
    token: SecretStr


class Outer(BaseModel):
    items: list[Inner]
    choice: Inner | int
    key: SecretStr | None = None


def ring() -> Keyring:
    return load_keyring(sqlite=False)


def no_key() -> Keyring:
    raise SecretKeyError("TASKPACK_SECRET_KEY is not set")


VIEW = SchemaView.of(Outer.model_json_schema())


# -- envelopes -------------------------------------------------------------------------------------------------------------
def test_only_secret_places_are_sealed_and_none_stays_none() -> None:
    payload = {"items": [{"name": "a", "token": "tok-a-1234"}], "choice": {"name": "c", "token": "tok-c-1234"}, "key": None}
    sealed = seal_secret_fields(payload, VIEW, ring)
    assert sealed["items"][0]["name"] == "a" and sealed["choice"]["name"] == "c" and sealed["key"] is None
    assert is_envelope(sealed["items"][0]["token"]) and is_envelope(sealed["choice"]["token"])
    assert "tok-a-1234" not in json.dumps(sealed)
    assert open_envelopes(sealed, ring) == payload
    assert seal_secret_fields({"choice": 5, "items": []}, VIEW, no_key) == {"choice": 5, "items": []}  # nothing to seal, no key asked


def test_sealing_keeps_envelopes_it_is_given_and_asks_for_a_key_only_when_needed() -> None:
    first = seal_secret_fields({"items": [], "choice": 1, "key": "k-secret-1"}, VIEW, ring)
    again = seal_secret_fields(first, VIEW, no_key)
    assert again == first  # already sealed: re-used as is, no key needed


def test_opening_names_the_field_and_never_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = seal_secret_fields({"items": [{"name": "a", "token": "tok-a-1234"}], "choice": 1}, VIEW, ring)
    monkeypatch.setenv("TASKPACK_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(SecretDecryptError) as caught:
        open_envelopes(sealed, ring)
    assert "payload.items[0].token" in caught.value.message
    assert sealed["items"][0]["token"][ENVELOPE_KEY] not in caught.value.message
    with pytest.raises(SecretKeyError):
        open_envelopes(sealed, no_key)


def test_only_the_exact_envelope_shape_is_refused_from_outside() -> None:
    refuse_envelopes({"note": {ENVELOPE_KEY: "x", "other": 1}, "n": {ENVELOPE_KEY: 5}})  # not envelopes
    with pytest.raises(PayloadError) as caught:
        refuse_envelopes({"a": [{"b": {ENVELOPE_KEY: "gAAAA-token"}}]})
    assert caught.value.field == "payload.a[0].b" and "gAAAA-token" not in str(caught.value)


def test_rotation_re_encrypts_every_envelope_with_the_current_key(monkeypatch: pytest.MonkeyPatch) -> None:
    old = ring()
    sealed = seal_secret_fields({"items": [{"name": "a", "token": "tok-a-1234"}], "choice": 1, "key": "k-9999"}, VIEW, lambda: old)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("TASKPACK_SECRET_KEY_PREVIOUS", os.environ["TASKPACK_SECRET_KEY"])
    monkeypatch.setenv("TASKPACK_SECRET_KEY", new_key)
    rotated, count = rotate_envelopes(sealed, ring(), "x")
    assert count == 2 and rotated != sealed
    assert json.loads(Fernet(new_key).decrypt(rotated["key"][ENVELOPE_KEY].encode())) == "k-9999"


def test_listings_show_an_envelope_anywhere_as_masked() -> None:
    shown = redact({"note": envelope("gAAAA-some-token"), "list": [envelope("gAAAA-other")]})
    assert shown == {"note": MASK, "list": [MASK]}


# -- the serializer --------------------------------------------------------------------------------------------------------
WORKER = SealingSerializer(ring, opens=True)
READER = SealingSerializer(ring, opens=False)


def test_secret_objects_are_tokens_restored_only_by_the_worker() -> None:
    value = {"model": Inner(name="n", token=SecretStr("model-secret-77")), "bytes": SecretBytes(b"raw-bytes-secret-88")}
    text = WORKER.serialize(value)
    assert hits(base64.b64decode(text), "model-secret-77") == [] and hits(text.encode(), "model-secret-77") == []
    assert b"raw-bytes-secret-88" not in base64.b64decode(text)
    back = WORKER.deserialize(text)
    assert back["model"].token.get_secret_value() == "model-secret-77" and back["bytes"].get_secret_value() == b"raw-bytes-secret-88"
    seen = READER.deserialize(text)
    assert is_envelope(seen["model"].token) and is_envelope(seen["bytes"])
    assert is_envelope(pickle.loads(base64.b64decode(text))["bytes"])  # a plain unpickler gets envelopes, not values


def test_strings_carrying_the_running_runs_secrets_are_sealed_and_others_are_not() -> None:
    secrets = RunSecrets(["run-secret-4242"])
    token = use_secrets(secrets)
    try:
        text = WORKER.serialize(ValueError("login with run-secret-4242 failed"))
        plain = WORKER.serialize({"note": "nothing secret here"})
    finally:
        reset_secrets(token)
    assert hits(base64.b64decode(text), "run-secret-4242") == []
    assert str(WORKER.deserialize(text)) == "login with run-secret-4242 failed"
    assert base64.b64decode(plain) == pickle.dumps({"note": "nothing secret here"}, protocol=pickle.DEFAULT_PROTOCOL)  # no extra pass
    assert is_envelope(READER.deserialize(text).args[0])


def test_without_a_key_a_secret_is_stored_masked_never_plain(caplog: pytest.LogCaptureFixture) -> None:
    keyless = SealingSerializer(no_key, opens=True)
    text = keyless.serialize(Inner(name="n", token=SecretStr("no-key-secret-55")))
    assert hits(base64.b64decode(text), "no-key-secret-55") == []
    assert keyless.deserialize(text).token.get_secret_value() == MASK
    assert "stored as [REDACTED]" in caplog.text and "no-key-secret-55" not in caplog.text


def test_the_worker_refuses_a_token_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    text = WORKER.serialize(SecretStr("old-key-secret"))
    monkeypatch.setenv("TASKPACK_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(SecretDecryptError, match="DBOS recorded"):
        WORKER.deserialize(text)
    assert is_envelope(READER.deserialize(text))  # reading for a listing needs no key at all


def test_reseal_rewrites_tokens_and_envelopes_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    value: Any = {"args": ({"p": envelope(ring().encrypt_json("env-secret"))}, {}), "m": Inner(name="n", token=SecretStr("obj-secret"))}
    text = WORKER.serialize(value)
    old_key, new_key = os.environ["TASKPACK_SECRET_KEY"], Fernet.generate_key().decode()
    monkeypatch.setenv("TASKPACK_SECRET_KEY", new_key)
    monkeypatch.setenv("TASKPACK_SECRET_KEY_PREVIOUS", old_key)
    new_text, count = reseal(text, ring(), "run x")
    assert count == 2
    monkeypatch.delenv("TASKPACK_SECRET_KEY_PREVIOUS")
    back = WORKER.deserialize(new_text)
    assert back["m"].token.get_secret_value() == "obj-secret"
    assert json.loads(Fernet(new_key).decrypt(back["args"][0]["p"][ENVELOPE_KEY].encode())) == "env-secret"
    assert reseal(WORKER.serialize({"plain": 1}), ring(), "run y") == (WORKER.serialize({"plain": 1}), 0)
