"""The Fernet keys that encrypt secrets at rest, and where they come from.

One keyring serves everything the platform encrypts in the runtime's database: the `SecretStr` fields of run
payloads (runtime.sealing), secret values in what DBOS records for a run (runtime.serializer), and the store's
registered credentials (store.secrets uses this module; it keeps no key logic of its own).

`TASKPACK_SECRET_KEY` is the current key: every token is written with it. `TASKPACK_SECRET_KEY_PREVIOUS`
(comma-separated) lists retired keys that still decrypt, so a key can be rotated without downtime: set the new key,
move the old one to PREVIOUS, run `taskpack sources rotate-key`, then drop PREVIOUS.

On the embedded SQLite default (one machine) an unset key is generated once into `.taskpack/secret.key` with mode
0600, so a first run needs no setup; a key file that others may read is refused rather than trusted. On PostgreSQL
the database is shared by many machines and a per-machine file would split it into unreadable halves, so there the
key must come from the environment and its absence is an error before anything is encrypted or decrypted.
"""

from __future__ import annotations

import binascii
import json
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from runtime.config import project_root
from runtime.errors import SecretDecryptError, SecretKeyError

ENV_KEY = "TASKPACK_SECRET_KEY"
ENV_PREVIOUS = "TASKPACK_SECRET_KEY_PREVIOUS"
KEY_FILE = Path(".taskpack") / "secret.key"
GENERATE_HINT = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


@dataclass(frozen=True)
class Keyring:
    """The current key first, then the previous ones; `origin` says where the current key came from."""

    fernet: MultiFernet
    origin: str

    def encrypt_json(self, value: Any) -> str:
        """One token for any JSON value (text, a number, an object): what it decrypts to is exactly `value`."""
        return self.fernet.encrypt(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()).decode("ascii")

    def decrypt_json(self, token: str, *, what: str) -> Any:
        """The value a token holds; SecretDecryptError naming `what` (never the token) when no key reads it."""
        try:
            return json.loads(self.fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, UnicodeError, ValueError, TypeError):
            raise undecryptable(what, self.origin) from None

    def rotate(self, token: str, *, what: str) -> str:
        """The same plaintext encrypted with the current key (MultiFernet.rotate)."""
        try:
            return self.fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError, TypeError):
            raise undecryptable(what, self.origin) from None


def load_keyring(*, sqlite: bool, database: str = "PostgreSQL") -> Keyring:
    """The keys for a runtime database: from the environment, else (SQLite only) from the generated key file.

    Read afresh on every call: a key set or rotated in the environment counts at once, and callers only ask when
    they have something to encrypt or decrypt.
    """
    current = os.environ.get(ENV_KEY, "").strip()
    if current:
        keys, origin = [_fernet(current, ENV_KEY)], ENV_KEY
    elif sqlite:
        path = key_file_path()
        keys, origin = [_fernet(_read_or_create_key_file(path), f"the key file {path}")], str(path)
    else:
        raise SecretKeyError(
            f"{ENV_KEY} is not set: a {database} runtime database is shared by several machines, so the key that "
            f"encrypts secrets (data-source credentials, SecretStr fields of run payloads) must come from the "
            f"environment (generate one with {GENERATE_HINT})"
        )
    previous = [p.strip() for p in os.environ.get(ENV_PREVIOUS, "").split(",") if p.strip()]
    keys += [_fernet(p, f"{ENV_PREVIOUS} item {n}") for n, p in enumerate(previous, start=1)]
    return Keyring(MultiFernet(keys), origin)


def key_file_path() -> Path:
    return project_root() / KEY_FILE


def undecryptable(what: str, origin: str) -> SecretDecryptError:
    return SecretDecryptError(
        f"{what} cannot be decrypted with the current key ({origin}) nor with {ENV_PREVIOUS}: "
        f"if the key was changed, put the old one in {ENV_PREVIOUS} and run `taskpack sources rotate-key`"
    )


def _fernet(key: str | bytes, where: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError, binascii.Error):
        raise SecretKeyError(f"{where} is not a Fernet key (32 url-safe base64-encoded bytes; generate one with {GENERATE_HINT})") from None


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        _create_key_file(path)
        info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SecretKeyError(f"the key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise SecretKeyError(
            f"the key file {path} has mode {stat.S_IMODE(info.st_mode):04o}: other users may read it, so it is not used; "
            f"make it private with `chmod 600 {path}`"
        )
    return path.read_bytes().strip()


def _create_key_file(path: Path) -> None:
    """Write a new key with mode 0600, atomically: a process racing us either wins or reads the winner's key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # fails if another process created the file first: theirs is the key
    except FileExistsError:
        pass
    finally:
        temp.unlink()
