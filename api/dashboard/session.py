"""Who is looking at the dashboard: a secret key pasted once and kept in a cookie, or an Authorization header.

The cookie is HttpOnly (page scripts never read it), SameSite=Strict (other sites' pages cannot send it) and Secure
when served over https. Every form that changes something also carries a CSRF token derived from the key (HMAC), so
a request forged from elsewhere fails even where SameSite is not honoured. A revoked key logs the browser out at its
next request: the cookie is checked like an Authorization header, on every page.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request
from fastapi.responses import Response

from api.auth.dependencies import authenticate, spend_refused_credential
from api.auth.principal import Principal
from api.errors import ApiError

COOKIE = "taskpack_session"
MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def principal(request: Request) -> Principal | None:
    """The secret key's principal, or None (no key, unknown, revoked, other environment, or a public token)."""
    key = presented_key(request)
    if not key or len(key) > 512:
        return None
    try:
        return authenticate(key, request.app.state.settings, allow_public=False)
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


def log_in(response: Response, request: Request, key: str) -> None:
    response.set_cookie(
        COOKIE, key, max_age=MAX_AGE_S, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def log_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
