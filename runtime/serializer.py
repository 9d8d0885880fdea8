"""How DBOS stores what it records for a run, with no secret in plain text.

DBOS keeps a run's inputs, every step's output or error, the run's output or error (and events, streams and
messages, which the runtime does not use) as serialized Python objects: base64 pickles by default. A `SecretStr` in a
step's result, or a password in the message of an exception a step raised, would sit there in plain text. This
serializer (given to DBOS and to the DBOSClient, so every row of ours goes through it) pickles as DBOS does, except:

- every `SecretStr` / `SecretBytes` is written as a Fernet token of its value;
- while a run executes, every string that is or holds one of the run's secret values (runtime.redaction.RunSecrets:
  its payload's secrets and what its code registered with `ctx.redact`) is written as a token too. Pickle stores text
  as UTF-8, so a byte search of the plain pickle tells whether that closer (slower) pass is needed at all.

Reading depends on who reads. The worker (`opens=True`) restores the exact value, so a step replayed after a crash
returns what it returned the first time; a token no key reads is a SecretDecryptError for that run. Every other
reader (listings, `runs show`, replay) gets the envelope `{"$encrypted": token}` in its place, which the runtime
shows as `[REDACTED]` and a replay carries back to a worker.

Without a key (a PostgreSQL database with no TASKPACK_SECRET_KEY) a secret is stored as `[REDACTED]` rather than in
plain text or not at all: DBOS must always be able to record a step or an outcome.
"""

from __future__ import annotations

import base64
import io
import logging
import pickle
from typing import Any

from dbos import Serializer
from pydantic import SecretBytes, SecretStr

from runtime.envelope import envelope
from runtime.errors import SecretKeyError
from runtime.redaction import MASK, RunSecrets, active_secrets
from runtime.sealing import KeyringSource
from runtime.secret_key import Keyring

log = logging.getLogger("taskpack")

SERIALIZER_NAME = "taskpack_sealed_pickle"
_STR, _SECRET_STR, _SECRET_BYTES = "str", "secret_str", "secret_bytes"  # a token of None: stored masked (no key)


def _sealed(kind: str, token: str | None) -> Any:
    """What a plain unpickler (not this module's) makes of a sealed value: the envelope, never the value."""
    return envelope(token) if token else MASK


class SealingSerializer(Serializer):
    """DBOS's pickle, with secrets as tokens; `opens=True` only for the worker's own DBOS (see the module's doc)."""

    def __init__(self, keys: KeyringSource, *, opens: bool) -> None:
        self._keys = keys
        self.opens = opens

    def name(self) -> str:
        return SERIALIZER_NAME

    def serialize(self, data: Any) -> str:
        sealer = _Sealer(self._keys)
        raw = _dump(data, sealer, None)
        secrets = active_secrets()
        if secrets is not None and len(secrets) and secrets.appear_in(raw):
            raw = _dump(data, sealer, secrets)
        return base64.b64encode(raw).decode("ascii")

    def deserialize(self, serialized_data: str) -> Any:
        restore = _Opener(self._keys) if self.opens else _as_envelope
        return _Unpickler(io.BytesIO(base64.b64decode(serialized_data)), restore).load()


# -- writing --------------------------------------------------------------------------------------------------------------
class _Sealer:
    """Encrypts values for one serialize call; the keyring is loaded at the first secret, at most once."""

    def __init__(self, keys: KeyringSource) -> None:
        self._keys = keys
        self._ring: Keyring | None = None
        self._unavailable = False

    def token(self, value: str) -> str | None:
        if self._ring is None and not self._unavailable:
            try:
                self._ring = self._keys()
            except SecretKeyError as exc:
                self._unavailable = True
                log.warning("a secret DBOS records is stored as %s: %s", MASK, exc.message)
        return self._ring.encrypt_json(value) if self._ring is not None else None


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, sealer: _Sealer, secrets: RunSecrets | None) -> None:
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)
        self._sealer = sealer
        self._secrets = secrets

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, SecretStr):
            return self._reduce(_SECRET_STR, obj.get_secret_value())
        if isinstance(obj, SecretBytes):
            return self._reduce(_SECRET_BYTES, base64.b64encode(obj.get_secret_value()).decode("ascii"))
        return NotImplemented

    def _reduce(self, kind: str, value: str) -> Any:
        return (_sealed, (kind, self._sealer.token(value)))


class _ScrubbingPickler(_Pickler):
    """Also seals plain strings that carry the run's secrets (persistent_id sees every object, strings included)."""

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is str and self._secrets is not None and self._secrets.touches(obj):
            return (_STR, self._sealer.token(obj))
        return None


def _dump(data: Any, sealer: _Sealer, secrets: RunSecrets | None) -> bytes:
    buffer = io.BytesIO()
    (_ScrubbingPickler if secrets is not None else _Pickler)(buffer, sealer, secrets).dump(data)
    return buffer.getvalue()


# -- reading --------------------------------------------------------------------------------------------------------------
class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, restore: Any) -> None:
        super().__init__(file)
        self._restore = restore

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 2):
            raise pickle.UnpicklingError("unknown persistent id")
        return self._restore(*pid)

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_sealed":
            return self._restore
        return super().find_class(module, name)


def _as_envelope(kind: str, token: str | None) -> Any:
    return envelope(token) if token else MASK


class _Opener:
    """The worker's reading: each token back to the value it sealed (the keyring loaded once per row)."""

    def __init__(self, keys: KeyringSource) -> None:
        self._keys = keys
        self._ring: Keyring | None = None

    def __call__(self, kind: str, token: str | None) -> Any:
        if not token:
            return SecretStr(MASK) if kind == _SECRET_STR else SecretBytes(MASK.encode()) if kind == _SECRET_BYTES else MASK
        if self._ring is None:
            self._ring = self._keys()
        value = self._ring.decrypt_json(token, what="a secret value DBOS recorded for this run")
        if kind == _SECRET_STR:
            return SecretStr(value)
        if kind == _SECRET_BYTES:
            return SecretBytes(base64.b64decode(value))
        return value


# -- rotation -------------------------------------------------------------------------------------------------------------
class _Token:
    """A sealed value read without its key: what rotation re-encrypts and writes back in its place."""

    def __init__(self, kind: str, token: str | None) -> None:
        self.kind = kind
        self.token = token


class _RotatingPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, ring: Keyring, what: str) -> None:
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)
        self._ring = ring
        self._what = what

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _Token):
            return (_sealed, (obj.kind, self._ring.rotate(obj.token, what=self._what) if obj.token else None))
        return NotImplemented


def reseal(serialized: str, ring: Keyring, what: str) -> tuple[str, int]:
    """(`serialized` with every token in it, sealed values and payload envelopes alike, re-encrypted with the current
    key; how many tokens there were). Nothing is decrypted into the process beyond MultiFernet.rotate's own work."""
    from runtime.sealing import rotate_envelopes

    count = 0

    def hold(kind: str, token: str | None) -> _Token:
        nonlocal count
        count += 1
        return _Token(kind, token)

    value = _Unpickler(io.BytesIO(base64.b64decode(serialized)), hold).load()
    value, envelopes = rotate_envelopes(value, ring, what)
    if not count and not envelopes:
        return serialized, 0
    buffer = io.BytesIO()
    _RotatingPickler(buffer, ring, what).dump(value)
    return base64.b64encode(buffer.getvalue()).decode("ascii"), count + envelopes
