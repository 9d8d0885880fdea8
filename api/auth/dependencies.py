"""FastAPI dependencies that authenticate every `/api/*` and `/realtime/*` request and apply the rate limit.

    @router.post("/x", dependencies=[Depends(require_secret_key)])          # secret keys only
    def read(principal: Principal = Depends(require_reader)): ...           # a secret key or a public token
    def stream(principal: Principal = Depends(require_stream_reader)): ...  # the same, or `?token=` (EventSource)

A missing, unknown, revoked or other-environment key is a 401; a public token where only a secret key may go is a
403; a key over its rate is a 429 with Retry-After. The principal is also left in `request.state.principal`.
The dependencies are plain functions (FastAPI runs them in its thread pool: the key check reads the database).
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import tokens
from api.auth.principal import Principal
from api.errors import ApiError
from api.settings import ApiSettings
from store import api_keys

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="taskpack"'}
# Documents the scheme in /openapi.json (the "Authorize" button of /docs); the header is parsed below, not by it.
bearer_scheme = HTTPBearer(auto_error=False, description="a secret key (tp_<env>_…) or a public access token")


def _unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers=WWW_AUTHENTICATE)


def bearer_credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <secret key or public access token>'")
    return value.strip()


def authenticate(credential: str, settings: ApiSettings, *, allow_public: bool) -> Principal:
    """The principal behind a secret key or a public access token (no rate limit here; see `_limited`)."""
    if credential.startswith(api_keys.KEY_PREFIX):
        key = api_keys.verify_key(credential, database_url=settings.database_url)
        if key is None:
            raise _unauthorized("invalid or revoked API key", "invalid_api_key")
        if key.environment != settings.environment:
            raise _unauthorized(
                f"this key belongs to the {key.environment} environment; this server serves {settings.environment}",
                "wrong_environment",
            )
        return Principal("secret_key", key.id, key.environment)
    if tokens.looks_like_jwt(credential):
        try:
            token = tokens.verify(credential, database_url=settings.database_url)
        except tokens.InvalidTokenError as exc:
            raise _unauthorized(str(exc), "invalid_token") from None
        if token.environment != settings.environment:
            raise _unauthorized("this public access token belongs to another environment", "wrong_environment")
        if not allow_public:
            raise ApiError(403, "forbidden", "a public access token may only read runs; use a secret key")
        return Principal("public_token", token.key_id, token.environment, token.scopes, token.expires_at)
    raise _unauthorized("invalid or revoked API key", "invalid_api_key")


def _limited(request: Request, principal: Principal) -> Principal:
    wait = request.app.state.rate_limiter.take(principal.key_id)
    if wait is not None:
        retry = request.app.state.rate_limiter.retry_after_header(wait)
        raise ApiError(
            429, "rate_limited", f"too many requests for this key; retry after {retry} s",
            metadata={"retryAfterSeconds": int(retry)}, headers={"Retry-After": retry},
        )
    request.state.principal = principal
    return principal


def _settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def _guarded(request: Request, credential: str, *, allow_public: bool) -> Principal:
    """Authenticate; every refused credential also spends a token of the client address's bucket, so guessing keys
    from one address is rate limited like using one (429 once the bucket is empty)."""
    try:
        principal = authenticate(credential, _settings(request), allow_public=allow_public)
    except ApiError as exc:
        if exc.status == 401:
            spend_refused_credential(request)
        raise
    return _limited(request, principal)


def spend_refused_credential(request: Request) -> None:
    """One refused credential from the client's address (API header, dashboard login or cookie alike): raises the
    429 ApiError once that address's bucket is empty."""
    address = request.client.host if request.client else "unknown"
    wait = request.app.state.rate_limiter.take(f"failed-auth:{address}")
    if wait is not None:
        retry = request.app.state.rate_limiter.retry_after_header(wait)
        raise ApiError(429, "rate_limited", f"too many refused credentials from this address; retry after {retry} s",
                       metadata={"retryAfterSeconds": int(retry)}, headers={"Retry-After": retry})


def require_secret_key(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Principal:
    credential = bearer_credential(request)
    if credential is None:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <secret key>'", "missing_api_key")
    return _guarded(request, credential, allow_public=False)


def require_reader(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Principal:
    credential = bearer_credential(request)
    if credential is None:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <secret key or public access token>'", "missing_api_key")
    return _guarded(request, credential, allow_public=True)


def require_stream_reader(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Principal:
    """Like `require_reader`, also taking a public token as `?token=` (a browser's EventSource cannot set headers).
    A secret key is never accepted in the URL: URLs end up in logs and browser histories."""
    credential = bearer_credential(request)
    if credential is None:
        query = request.query_params.get("token")
        if query is None:
            raise _unauthorized("missing credentials: send 'Authorization: Bearer <key>' or '?token=<public access token>'", "missing_api_key")
        if query.startswith(api_keys.KEY_PREFIX):
            raise _unauthorized("a secret key may not travel in the URL; send it in the Authorization header", "key_in_url")
        credential = query
    return _guarded(request, credential, allow_public=True)


SecretKey = Depends(require_secret_key)
Reader = Depends(require_reader)
StreamReader = Depends(require_stream_reader)
