"""Registered credentials are Fernet tokens written with the runtime's keys.

The keys (TASKPACK_SECRET_KEY, TASKPACK_SECRET_KEY_PREVIOUS, the 0600 key file on the embedded SQLite default, the
error on PostgreSQL without a key) belong to the runtime (runtime.secret_key): it encrypts the SecretStr fields of
run payloads with them too, so one key and one rotation cover everything the database holds. This module only gives
the store's callers the store's errors (SecretKeyError, SecretDecryptError are StoreErrors: one line in the CLI).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import runtime
from runtime.secret_key import ENV_KEY, ENV_PREVIOUS, key_file_path
from store.errors import SecretDecryptError, SecretKeyError

__all__ = ["ENV_KEY", "ENV_PREVIOUS", "Keyring", "key_file_path", "keyring"]


@dataclass(frozen=True)
class Keyring:
    """The runtime's keyring, raising the store's errors."""

    keys: runtime.Keyring

    @property
    def origin(self) -> str:
        return self.keys.origin

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.keys.encrypt_json(value)

    def decrypt_json(self, token: str, *, what: str) -> dict[str, Any]:
        with store_errors():
            return self.keys.decrypt_json(token, what=what)

    def rotate(self, token: str, *, what: str) -> str:
        """The same plaintext encrypted with the current key (MultiFernet.rotate)."""
        with store_errors():
            return self.keys.rotate(token, what=what)


def keyring(database_url: str | None = None) -> Keyring:
    """The keys of this runtime database (the running Worker's, else the configured one)."""
    with store_errors():
        return Keyring(runtime.secret_keyring(database_url))


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except runtime.SecretDecryptError as exc:
        raise SecretDecryptError(exc.message) from None
    except runtime.SecretKeyError as exc:
        raise SecretKeyError(exc.message) from None
