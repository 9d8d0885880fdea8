"""Authentication of the HTTP API: secret keys (store.api_keys), public access tokens (JWT), per-key rate limits."""

from api.auth.dependencies import authenticate, require_reader, require_secret_key, require_stream_reader
from api.auth.principal import Principal
from api.auth.rate_limit import RateLimiter
from api.auth.tokens import InvalidTokenError, TokenScopes

__all__ = [
    "InvalidTokenError",
    "Principal",
    "RateLimiter",
    "TokenScopes",
    "authenticate",
    "require_reader",
    "require_secret_key",
    "require_stream_reader",
]
