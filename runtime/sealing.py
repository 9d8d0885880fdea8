"""Secret fields of a run's payload, encrypted before the run is stored and opened only inside the worker.

DBOS keeps every run's input for as long as the run is kept (replays, recovery after a crash), so a password in a
payload would otherwise sit in the runtime database in plain text. When a run of a `schema_task` is triggered, each
value its schema types as secret (`SecretStr`: `"format": "password"` / `writeOnly` in the published JSON Schema;
nested models, lists and union branches included) is replaced by an envelope:

    {"password": "hunter2"}  ->  {"password": {"$encrypted": "gAAAAAB..."}}

The token is Fernet over the value's JSON, so an object given for a secret field (a service-account key) round-trips
whole. The worker opens the envelopes just before validating the payload into the task's model; the plain values
live only in that process's memory. Listings show an envelope as `[REDACTED]`, and a replay re-uses the stored
envelopes as they are (opened only to validate the payload again).

Envelopes are accepted from outside only through `runs.replay`: a token lifted from the database and pasted into a
new payload would otherwise make a worker decrypt it on the caller's behalf (next to a host of the caller's choice).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["ENVELOPE_KEY", "KeyringSource", "envelope", "find_envelope", "is_envelope", "open_envelopes", "refuse_envelopes",
           "rotate_envelopes", "seal_secret_fields"]

from runtime.envelope import ENVELOPE_KEY, envelope, is_envelope
from runtime.errors import PayloadError
from runtime.limits import field_path
from runtime.redaction import SchemaView
from runtime.secret_key import Keyring

MAX_DEPTH = 200

KeyringSource = Callable[[], Keyring]


def find_envelope(value: Any, path: tuple[str | int, ...] = (), depth: int = 0) -> tuple[str | int, ...] | None:
    """The path of the first envelope inside `value`, or None."""
    if depth > MAX_DEPTH:
        return None
    if is_envelope(value):
        return path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, child in items:
        found = find_envelope(child, (*path, key), depth + 1)
        if found is not None:
            return found
    return None


def refuse_envelopes(payload: Any) -> None:
    """A payload from outside may not carry envelopes (only `runs.replay` passes stored ones back)."""
    path = find_envelope(payload)
    if path is not None:
        where = field_path("payload", path)
        raise PayloadError(
            f"{where}: an encrypted value ({{\"{ENVELOPE_KEY}\": ...}}) is accepted only when a run is replayed; "
            "send the plain value, the runtime encrypts it",
            field=where,
        )


def seal_secret_fields(payload: Any, view: SchemaView | None, keys: KeyringSource) -> Any:
    """A copy of `payload` whose secret fields hold envelopes. Envelopes already there are kept as they are; the
    keyring is loaded only when there is something to encrypt (a payload without secrets needs no key)."""
    if view is None:
        return payload
    sealer = _Sealer(keys)
    return sealer.walk(payload, view, 0)


class _Sealer:
    def __init__(self, keys: KeyringSource) -> None:
        self._keys = keys
        self._ring: Keyring | None = None

    def walk(self, value: Any, view: SchemaView | None, depth: int) -> Any:
        if value is None or view is None or depth > MAX_DEPTH or is_envelope(value):
            return value
        if view.is_secret():
            if self._ring is None:
                self._ring = self._keys()
            return envelope(self._ring.encrypt_json(value))
        if isinstance(value, dict):
            return {k: self.walk(v, view.child(str(k)), depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.walk(v, view.item(i), depth + 1) for i, v in enumerate(value)]
        return value


def open_envelopes(payload: Any, keys: KeyringSource, root: str = "payload") -> Any:
    """A copy of `payload` with every envelope replaced by the value it holds.

    SecretKeyError when the key is missing, SecretDecryptError naming the field when no key reads a token.
    """
    if find_envelope(payload) is None:
        return payload
    ring = keys()
    return _open(payload, ring, root, (), 0)


def _open(value: Any, ring: Keyring, root: str, path: tuple[str | int, ...], depth: int) -> Any:
    if depth > MAX_DEPTH:
        return value
    if is_envelope(value):
        return ring.decrypt_json(value[ENVELOPE_KEY], what=f"the encrypted value at {field_path(root, path)}")
    if isinstance(value, dict):
        return {k: _open(v, ring, root, (*path, str(k)), depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_open(v, ring, root, (*path, i), depth + 1) for i, v in enumerate(value)]
    return value


def rotate_envelopes(value: Any, ring: Keyring, what: str, depth: int = 0) -> tuple[Any, int]:
    """(`value` with every envelope re-encrypted with the current key, how many there were)."""
    if depth > MAX_DEPTH:
        return value, 0
    if is_envelope(value):
        return envelope(ring.rotate(value[ENVELOPE_KEY], what=what)), 1
    count = 0
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            out[k], n = rotate_envelopes(v, ring, what, depth + 1)
            count += n
        return (out, count) if count else (value, 0)
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            rotated, n = rotate_envelopes(v, ring, what, depth + 1)
            items.append(rotated)
            count += n
        return ((type(value)(items) if isinstance(value, tuple) else items), count) if count else (value, 0)
    return value, 0
