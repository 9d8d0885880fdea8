"""Secret API keys of the HTTP API, one environment each (`tp_dev_…`, `tp_staging_…`, `tp_prod_…`), stored hashed.

A key is 32 random bytes (base62) behind its environment's prefix. It is shown once, when created; the database keeps
only its SHA-256 (a key with 190 bits of entropy needs no slow hash: nobody can guess their way to a hash) and a
short display prefix. Checking a presented key hashes it, finds the row by that hash and compares the hashes with
`hmac.compare_digest`, so no comparison of secret bytes takes time that depends on how many of them match.

The same table module keeps the secret that signs public access tokens (JWT): generated once per database, stored
encrypted with the runtime's keyring (TASKPACK_SECRET_KEY), so every API process behind one PostgreSQL signs and
verifies with the same secret.

Tables live in the runtime's database beside the store's; they have their own metadata object so that creating them
does not depend on which store modules a process happened to import first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as pysecrets
import string
import threading
import time
import uuid
import weakref
from types import SimpleNamespace
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

import runtime
from store.errors import StoreError
from store.secrets import keyring

ENVIRONMENTS = ("dev", "staging", "prod")
KEY_PREFIX = "tp_"
ID_PREFIX = "key_"
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_CHARS = 32  # 62**32 ~ 2**190
MAX_NAME_CHARS = 200

schema = sa.MetaData()

api_keys = sa.Table(
    "store_api_keys",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("name", sa.String(MAX_NAME_CHARS), nullable=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  # hex SHA-256 of the whole key
    sa.Column("display_prefix", sa.String(32), nullable=False),  # "tp_dev_AbC1…": enough to tell keys apart
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

signing_secrets = sa.Table(
    "store_api_signing_secrets",
    schema,
    sa.Column("purpose", sa.String(64), primary_key=True),
    sa.Column("secret", sa.Text, nullable=False),  # Fernet token (runtime keyring) of the random secret
    sa.Column("created_at", sa.Float, nullable=False),
)


class ApiKeyError(StoreError, ValueError):
    """A key's environment or name is invalid, or no key has this id."""


class ApiKey(BaseModel):
    """A key as listings show it: never the key itself."""

    id: str
    environment: str
    name: str | None = None
    display_prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class CreatedApiKey(ApiKey):
    """What `create_key` returns: the listing fields plus the key, which is shown this once and never again."""

    key: str


_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_ready_lock = threading.Lock()


def _engine(database_url: str | None) -> sa.Engine:
    engine = runtime.database_engine(database_url)
    with _ready_lock:
        if engine not in _ready:
            try:
                schema.create_all(engine, checkfirst=True)
            except sa.exc.DBAPIError:  # another process created them between our check and our CREATE
                if set(schema.tables) - set(sa.inspect(engine).get_table_names()):
                    raise
            _ready.add(engine)
    return engine


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        environment=row.environment,
        name=row.name,
        display_prefix=row.display_prefix,
        created_at=datetime.fromtimestamp(row.created_at, timezone.utc),
        revoked_at=datetime.fromtimestamp(row.revoked_at, timezone.utc) if row.revoked_at else None,
    )


def create_key(environment: str, name: str | None = None, *, database_url: str | None = None) -> CreatedApiKey:
    """A new secret key for `environment`; the returned `key` is the only time it exists outside its owner's hands."""
    if environment not in ENVIRONMENTS:
        raise ApiKeyError(f"environment: must be one of {', '.join(ENVIRONMENTS)}")
    if name is not None:
        _check_name(name)
    key = f"{KEY_PREFIX}{environment}_" + "".join(pysecrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    row = {
        "id": f"{ID_PREFIX}{uuid.uuid4().hex[:16]}",
        "environment": environment,
        "name": name,
        "key_hash": hash_key(key),
        "display_prefix": key[: len(KEY_PREFIX) + len(environment) + 1 + 4] + "…",
        "created_at": time.time(),
        "revoked_at": None,
    }
    with _engine(database_url).begin() as conn:
        conn.execute(sa.insert(api_keys).values(**row))
    return CreatedApiKey(key=key, **_row_to_key(SimpleNamespace(**row)).model_dump())


def _check_name(name: str) -> None:
    from runtime.limits import check_text

    try:
        check_text(name, "name", max_chars=MAX_NAME_CHARS)
    except runtime.InputError as exc:
        raise ApiKeyError(str(exc)) from None


def list_keys(*, include_revoked: bool = True, database_url: str | None = None) -> list[ApiKey]:
    query = sa.select(api_keys).order_by(api_keys.c.created_at)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    with _engine(database_url).connect() as conn:
        return [_row_to_key(r) for r in conn.execute(query).all()]


def get_key(key_id: str, *, database_url: str | None = None) -> ApiKey:
    with _engine(database_url).connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == _check_id(key_id))).first()
    if row is None:
        raise ApiKeyError(f"no API key with id {key_id[:80]!r}")
    return _row_to_key(row)


def revoke_key(key_id: str, *, database_url: str | None = None) -> ApiKey:
    """Revoke a key at once (every API process checks the table on each request); revoking twice is harmless."""
    key_id = _check_id(key_id)
    with _engine(database_url).begin() as conn:
        conn.execute(
            sa.update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=time.time())
        )
    return get_key(key_id, database_url=database_url)


def _check_id(key_id: str) -> str:
    if not isinstance(key_id, str) or not key_id.startswith(ID_PREFIX) or len(key_id) > 64 or not key_id.isascii():
        raise ApiKeyError(f"no API key with id {str(key_id)[:80]!r}")
    return key_id


def verify_key(presented: str, *, database_url: str | None = None) -> ApiKey | None:
    """The active key `presented` is, or None (unknown, malformed or revoked). Constant time in the key's bytes."""
    if not isinstance(presented, str) or not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        hash_key("x" * 64)  # spend the same work on a malformed key as on a well-formed one
        return None
    digest = hash_key(presented)
    with _engine(database_url).connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return _row_to_key(row)


def is_active(key_id: str, *, database_url: str | None = None) -> bool:
    """Whether the key with this id exists and is not revoked (public tokens die with the key that issued them)."""
    with _engine(database_url).connect() as conn:
        row = conn.execute(sa.select(api_keys.c.revoked_at).where(api_keys.c.id == key_id)).first()
    return row is not None and row.revoked_at is None


def signing_secret(purpose: str, *, database_url: str | None = None) -> bytes:
    """The random secret for `purpose` (e.g. signing public access tokens), created on first use, shared by every
    process on this database, stored encrypted with the runtime's keyring."""
    engine = _engine(database_url)
    ring = keyring(database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(signing_secrets.c.secret).where(signing_secrets.c.purpose == purpose)).first()
    if row is None:
        fresh = ring.encrypt_json({"secret": pysecrets.token_urlsafe(48)})
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(signing_secrets).values(purpose=purpose, secret=fresh, created_at=time.time()))
        except sa.exc.IntegrityError:
            pass  # another process created it first: use theirs
        with engine.connect() as conn:
            row = conn.execute(sa.select(signing_secrets.c.secret).where(signing_secrets.c.purpose == purpose)).one()
    value = ring.decrypt_json(row.secret, what=f"the API's {purpose} secret")
    return str(value["secret"]).encode()
