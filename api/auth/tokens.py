"""Public access tokens: short-lived JWTs a browser may hold, able only to read the runs and tags they name.

Signed HS256 with a secret the database keeps encrypted (store.api_keys.signing_secret), so every API process on one
database issues and accepts the same tokens. Verification pins the algorithm (no `alg: none`, no RS/HS confusion),
requires `exp`, `iat`, the issuer and the audience, and the token carries the id of the secret key that issued it:
revoking that key ends its tokens too (checked on every use).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt

import runtime
from store import api_keys

ALGORITHM = "HS256"
ISSUER = "taskpack"
AUDIENCE = "taskpack:public"
PURPOSE = "public-access-tokens"
MAX_SCOPE_ITEMS = 100


class InvalidTokenError(Exception):
    """The token is malformed, forged, expired or issued by a revoked key; the message says which, never the token."""


@dataclass(frozen=True)
class TokenScopes:
    """What a public token may read: these runs, and every run carrying one of these tags."""

    runs: frozenset[str] = field(default_factory=frozenset)
    tags: frozenset[str] = field(default_factory=frozenset)

    def to_claim(self) -> dict[str, Any]:
        return {"read": {"runs": sorted(self.runs), "tags": sorted(self.tags)}}

    @classmethod
    def from_claim(cls, claim: Any) -> "TokenScopes":
        read = claim.get("read") if isinstance(claim, dict) else None
        if not isinstance(read, dict):
            raise InvalidTokenError("the token has no read scope")
        runs, tags = read.get("runs") or [], read.get("tags") or []
        if not (isinstance(runs, list) and isinstance(tags, list) and all(isinstance(x, str) for x in runs + tags)):
            raise InvalidTokenError("the token's scopes are malformed")
        return cls(frozenset(runs), frozenset(tags))


@dataclass(frozen=True)
class PublicToken:
    key_id: str
    environment: str
    scopes: TokenScopes
    expires_at: float


_secrets: dict[str, bytes] = {}
_secrets_lock = threading.Lock()


def signing_key(database_url: str | None) -> bytes:
    """The signing secret, read (and decrypted) once per process and database: it never changes once created."""
    database = runtime.database_engine(database_url).url.render_as_string(hide_password=False)
    with _secrets_lock:
        if database not in _secrets:
            _secrets[database] = api_keys.signing_secret(PURPOSE, database_url=database_url)
        return _secrets[database]


def issue(key_id: str, environment: str, scopes: TokenScopes, ttl_s: int, *, database_url: str | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": key_id,
        "env": environment,
        "iat": now,
        "nbf": now - 5,
        "exp": now + int(ttl_s),
        "jti": uuid.uuid4().hex,
        "scopes": scopes.to_claim(),
    }
    return jwt.encode(claims, signing_key(database_url), algorithm=ALGORITHM)


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and not value.startswith(api_keys.KEY_PREFIX)


def verify(token: str, *, database_url: str | None = None) -> PublicToken:
    """The token's claims when it is genuine, current, and its issuing key is still active; else InvalidTokenError."""
    if len(token) > 16_384:
        raise InvalidTokenError("the token is too long")
    try:
        claims = jwt.decode(
            token,
            signing_key(database_url),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidTokenError("the public access token has expired") from None
    except jwt.PyJWTError:
        raise InvalidTokenError("the public access token is not valid") from None
    key_id = claims.get("sub")
    if not isinstance(key_id, str) or not api_keys.is_active(key_id, database_url=database_url):
        raise InvalidTokenError("the key that issued this public access token was revoked")
    return PublicToken(
        key_id=key_id,
        environment=str(claims.get("env") or ""),
        scopes=TokenScopes.from_claim(claims.get("scopes")),
        expires_at=float(claims["exp"]),
    )
