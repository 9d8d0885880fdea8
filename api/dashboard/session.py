"""Who is looking at the dashboard: a secret key pasted once into the login form, or an Authorization header.

The login form's key is checked and then forgotten: the cookie holds a session, `<key id>.<expiry>.<HMAC>`, signed
with a server secret (`store.api_keys.signing_secret`, kept encrypted in the database), never the key itself, so the
secret does not sit in the browser's cookie store. The cookie is HttpOnly (page scripts never read it),
SameSite=Strict (other sites' pages cannot send it) and Secure when served over https. Every form that changes
something also carries a CSRF token derived from the session (HMAC), so a request forged from elsewhere fails even
where SameSite is not honoured. A revoked key logs the browser out at its next request: each page looks the session's
key up and refuses a revoked one, or one of another environment.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Request
from fastapi.responses import Response

from api.auth.dependencies import authenticate, spend_refused_credential
from api.auth.principal import Principal
from api.errors import ApiError
from store import api_keys

COOKIE = "taskpack_session"
SESSION_PURPOSE = "dashboard-session"
MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def _signed(request: Request, text: str) -> str:
    secret = api_keys.signing_secret(SESSION_PURPOSE, database_url=request.app.state.settings.database_url)
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def session_value(request: Request, key_id: str, now: float | None = None) -> str:
    """The cookie of a session of key `key_id`, valid for MAX_AGE_S."""
    text = f"{key_id}.{int((now if now is not None else time.time()) + MAX_AGE_S)}"
    return f"{text}.{_signed(request, text)}"


def _session_principal(request: Request, value: str) -> Principal:
    """The principal of a signed session cookie; ApiError 401 for a forged, expired or revoked one."""
    refused = ApiError(401, "invalid_session", "the session is not valid: log in again")
    key_id, _, rest = value.partition(".")
    expires, _, signature = rest.partition(".")
    if not key_id or not expires.isdigit() or not hmac.compare_digest(_signed(request, f"{key_id}.{expires}"), signature):
        raise refused
    if int(expires) < time.time():
        raise refused
    settings = request.app.state.settings
    try:
        key = api_keys.get_key(key_id, database_url=settings.database_url)
    except api_keys.ApiKeyError:
        raise refused from None
    if key.revoked or key.environment != settings.environment:
        raise refused
    return Principal("secret_key", key.id, key.environment)


def principal(request: Request) -> Principal | None:
    """The secret key's principal, or None (no key, unknown, revoked, other environment, a public token, or a
    forged or expired session)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    key = presented_key(request)
    if not key or len(key) > 512:
        return None
    try:
        if scheme.lower() == "bearer" and value.strip():
            return authenticate(key, request.app.state.settings, allow_public=False)
        return _session_principal(request, key)
    except ApiError as exc:
        if exc.status == 401:
            try:
                spend_refused_credential(request)  # a forged cookie is a guess like any other
            except ApiError:
                pass  # the page goes to the login form either way; the form answers 429 while the bucket is empty
        return None


def csrf_token(key: str) -> str:
    return hmac.new(key.encode(), b"taskpack-dashboard-csrf", hashlib.sha256).hexdigest()[:40]


def csrf_ok(request: Request, submitted: str | None) -> bool:
    key = presented_key(request)
    if not key or not submitted:
        return False
    return hmac.compare_digest(csrf_token(key), submitted)


def log_in(response: Response, request: Request, key_id: str) -> None:
    """Open a session of the (already authenticated) key `key_id`: the cookie names the key, never holds it."""
    response.set_cookie(
        COOKIE, session_value(request, key_id), max_age=MAX_AGE_S, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def log_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
