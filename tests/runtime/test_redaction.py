"""Masking rules, without a database: field names, JSON inside strings, private keys, scoped secret values."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, SecretStr

from runtime.payload_schema import SchemaView, json_schema_of
from runtime.redaction import MASK, RunSecrets, active_secrets, collect_secrets, redact, redact_text, reset_secrets, secret_key_kind, use_secrets

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq0Zl9Jb1mXo=\n-----END PRIVATE KEY-----\n"
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "proj-1",
    "private_key_id": "abc123",
    "private_key": PEM,
    "client_email": "svc@proj-1.iam.gserviceaccount.com",
}


@pytest.mark.parametrize(
    "key",
    ["password", "PASSWORD", "db_password", "dbPassword", "password2", "password_confirm", "passwd", "passwrd", "pasword",
     "passowrd", "pwd", "pw", "pass", "db_pass", "passphrase", "passcode", "client_secret", "secret", "secert", "access_token",
     "apiKey", "x-api-key", "api_key", "private_key", "service_account_key", "Authorization", "session_key", "cookie",
     "credentials", "credentails", "connection_string"],
)
def test_secret_field_names_are_recognised_including_near_misspellings(key: str) -> None:
    assert secret_key_kind(key) is not None
    assert redact({key: "hunter2-value"}) == {key: MASK}


@pytest.mark.parametrize(
    "key",
    ["pass_rate", "passport", "passage", "bypass", "compass", "passive", "passes", "token_count", "tokenizer", "secret_name",
     "secretary", "select", "secure", "key", "idempotency_key", "private_key_id", "source_type", "author", "monkey", "host"],
)
def test_ordinary_field_names_are_left_alone(key: str) -> None:
    assert secret_key_kind(key) is None
    assert redact({key: "visible-value"}) == {key: "visible-value"}


def test_every_item_of_a_list_under_a_secret_name_is_masked() -> None:
    payload = {"passwords": ["pw-one-1", "pw-two-2"], "api_keys": [["nested-key-3"]], "hosts": ["a", "b"]}
    secrets = collect_secrets(payload)
    assert redact(payload, secrets=secrets) == {"passwords": [MASK, MASK], "api_keys": [[MASK]], "hosts": ["a", "b"]}
    assert all(v in secrets for v in ("pw-one-1", "pw-two-2", "nested-key-3"))
    assert "a" not in secrets


def test_numbers_are_masked_under_password_names_but_not_under_token_counts() -> None:
    assert redact({"pin_password": 1234, "max_tokens": 4000, "token_count": 12}) == {"pin_password": MASK, "max_tokens": 4000, "token_count": 12}


def test_a_service_account_key_given_as_a_json_string_is_masked_inside() -> None:
    shown = redact({"credentials": {"type": "bigquery", "project_id": "proj-1", "blob": json.dumps(SERVICE_ACCOUNT)}})
    text = json.dumps(shown)
    assert "MIIEvQIBADANBgkq" not in text and "BEGIN PRIVATE KEY" not in text
    inner = json.loads(shown["credentials"]["blob"])
    assert inner["private_key"] == MASK
    assert inner["client_email"] == SERVICE_ACCOUNT["client_email"]  # only the secret part goes
    assert shown["credentials"]["project_id"] == "proj-1"


def test_json_nested_in_json_strings_is_masked_at_every_level() -> None:
    twice = json.dumps({"config": json.dumps({"password": "deep-secret-1"})})
    assert "deep-secret-1" not in json.dumps(redact({"wrapper": twice}))


def test_pem_private_key_blocks_are_masked_in_any_text() -> None:
    for label in ("", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "):
        pem = PEM.replace("PRIVATE KEY", f"{label}PRIVATE KEY")
        masked = redact_text(f"error loading key {pem} from file")
        assert "MIIEvQIBADANBgkq" not in masked and masked.startswith("error loading key ") and masked.endswith(" from file")
    escaped = json.dumps(PEM)[1:-1]  # as it appears inside a JSON document: \n as two characters
    assert "MIIEvQIBADANBgkq" not in redact_text('{"k": "' + escaped + '"}')
    truncated = PEM[:60]  # an error message cut before the END line
    assert "MIIEvQIBADANBgkq" not in redact_text("bad key: " + truncated)
    assert redact_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----") == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


def test_key_value_pairs_and_url_passwords_in_free_text() -> None:
    text = "login failed for postgresql://app:hunter2@db/x with db_password=hunter3 and {'client_secret': 'hunter4'}; PWD=hunter5;"
    masked = redact_text(text)
    for secret in ("hunter2", "hunter3", "hunter4", "hunter5"):
        assert secret not in masked
    assert "max_tokens=4000" in redact_text("max_tokens=4000") and "token_count: 3" in redact_text("token_count: 3")


@pytest.mark.parametrize("text, hidden", [
    ("password:hunter6", "hunter6"),  # a colon alone, no '=' and no space
    ("api_key=hunter7", "hunter7"),  # an '=' alone
    ("x\x00password:hunter8", "hunter8"),  # ASCII with a NUL: NUL replaced, the pair still masked
    ("é token: hunter9", "hunter9"),  # not ASCII
    ("abcd", "abcd"),  # a text exactly as long as the shortest secret searched for
    ("xabcdx and a-much-longer-secret", "abcd"),
])
def test_each_rule_still_applies_where_its_quick_check_lets_it_through(text: str, hidden: str) -> None:
    """The rules skip text that cannot hold their match ('=' or ':' for key-value pairs, non-ASCII or NUL for
    unstorable characters, the shortest secret's length for the run's secrets): the edges of those checks."""
    secrets = RunSecrets(["abcd", "a-much-longer-secret"])
    masked = redact_text(text, secrets)
    assert hidden not in masked and "\x00" not in masked
    assert redact_text("abc", secrets) == "abc" and redact_text("name", secrets) == "name"


def test_secret_values_are_scoped_to_the_run_that_holds_them() -> None:
    run_a = collect_secrets({"credentials": {"host": "db", "password": "postgres"}})
    run_b = collect_secrets({"text": "postgres"})
    assert redact({"source_type": "postgres"}, secrets=run_a) == {"source_type": MASK}
    assert redact({"source_type": "postgres"}, secrets=run_b) == {"source_type": "postgres"}
    assert redact_text("connected to postgres", run_b) == "connected to postgres"
    token = use_secrets(run_a)
    try:  # while run A executes, its own secrets are the active ones
        assert redact_text("connected to postgres") == f"connected to {MASK}"
    finally:
        reset_secrets(token)
    assert active_secrets() is None
    assert redact_text("connected to postgres") == "connected to postgres"  # outside any run: the rules only


def test_short_secrets_are_masked_in_their_field_but_not_searched_in_text() -> None:
    secrets = collect_secrets({"password": "ab"})
    assert redact({"password": "ab", "note": "ab", "word": "abstract"}, secrets=secrets) == {"password": MASK, "note": MASK, "word": "abstract"}


def test_schema_secret_fields_are_masked_whatever_their_name() -> None:
    class Inner(BaseModel):
        material: SecretStr
        label: str

    class Outer(BaseModel):
        items: list[Inner]
        maybe: Inner | None = None

    view = SchemaView.of(json_schema_of(Outer))
    payload = {"items": [{"material": "m-1-secret", "label": "one"}], "maybe": {"material": "m-2-secret", "label": "two"}}
    shown = redact(payload, secrets=collect_secrets(payload, view), schema=view)
    assert shown == {"items": [{"material": MASK, "label": "one"}], "maybe": {"material": MASK, "label": "two"}}
    secrets = collect_secrets(payload, view)
    assert "m-1-secret" in secrets and "m-2-secret" in secrets and "one" not in secrets


def test_lone_surrogates_and_nul_become_replacement_characters() -> None:
    shown = redact({"s": "a\ud800b", "k\udc80": "x\x00y"})
    assert shown == {"s": "a\ufffdb", "k\ufffd": "x\ufffdy"}
    json.dumps(shown, ensure_ascii=False).encode("utf-8")  # encodable now


def test_very_deep_values_are_cut_not_a_recursion_error() -> None:
    deep: object = "password=leaked"
    for _ in range(5000):
        deep = [deep]
    shown = redact(deep)
    assert "leaked" not in json.dumps(shown)


def test_a_run_secret_set_holds_values_only_once() -> None:
    secrets = RunSecrets()
    for _ in range(1000):
        secrets.add("same-value")
    secrets.add(SecretStr("other-value"))
    assert len(secrets) == 2


def test_masking_hostile_text_stays_linear() -> None:
    """A megabyte of BEGIN markers without an END: a lazy regex to the next END would take minutes."""
    import time

    text = "-----BEGIN PRIVATE KEY-----!" * 37_000
    started = time.perf_counter()
    masked = redact_text(text)
    assert time.perf_counter() - started < 5
    assert "BEGIN PRIVATE KEY" not in masked and masked.count(MASK) == 37_000
    many = collect_secrets({f"password_{i}": f"pw-{i:05d}-x" for i in range(5000)})
    started = time.perf_counter()
    redact_text("pw-00000-y" * 30_000, many)
    assert time.perf_counter() - started < 5  # thousands of secrets: only the longest 256 are searched in text


def test_a_schema_view_is_found_by_the_schema_object_and_by_its_content(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same schema object gives the view made for it without encoding it again; an equal schema built anew gives
    the same view by its text; a different schema, its own; and the identity cache stays bounded."""
    from runtime import payload_schema

    class Vault(BaseModel):
        key: SecretStr
        label: str

    schema = json_schema_of(Vault)
    equal_copy = json.loads(json.dumps(schema))
    view = SchemaView.of(schema)
    assert view is not None and view.child("key").is_secret() and not view.child("label").is_secret()
    encoded: list[dict] = []
    real_dumps = json.dumps
    monkeypatch.setattr(payload_schema.json, "dumps", lambda value, **kw: encoded.append(value) or real_dumps(value, **kw))
    assert SchemaView.of(schema) is view and encoded == []  # by identity: not encoded again
    assert SchemaView.of(equal_copy) is view and encoded == [equal_copy]  # an equal copy: by its text
    monkeypatch.undo()
    other = SchemaView.of({"type": "object", "properties": {"label": {"type": "string"}}})
    assert other is not view and not other.child("label").is_secret()
    for n in range(payload_schema._VIEWS_BY_IDENTITY_MAX + 10):
        SchemaView.of({"type": "object", "title": f"t{n}"})
    assert len(payload_schema._views_by_identity) <= payload_schema._VIEWS_BY_IDENTITY_MAX
