"""`POST /api/v1/auth/public-token`: a short-lived token a browser may hold to read some runs (by id or tag)."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request

from api.auth import Principal, TokenScopes
from api.auth.dependencies import SecretKey
from api.auth.tokens import issue
from api.errors import ApiError
from api.schemas import PublicTokenRequest, PublicTokenResponse
from runtime.limits import MAX_ID_CHARS, MAX_RUN_ID_CHARS, check_text

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/public-token", response_model=PublicTokenResponse, summary="Create a public access token")
def create_public_token(body: PublicTokenRequest, request: Request, principal: Principal = SecretKey) -> PublicTokenResponse:
    """Scopes: `{"read": {"runs": [ids], "tags": [tags]}}`; `expires_in` seconds (default 900, at most 7 days).
    The token dies with the key that created it."""
    settings = request.app.state.settings
    ttl = body.expires_in if body.expires_in is not None else settings.public_token_default_ttl_s
    if not 1 <= ttl <= settings.public_token_max_ttl_s:
        raise ApiError(422, "invalid_request", f"expires_in: must be between 1 and {settings.public_token_max_ttl_s} seconds",
                       metadata={"field": "expires_in"})
    runs = [check_text(r, f"scopes.read.runs[{i}]", max_chars=MAX_RUN_ID_CHARS) for i, r in enumerate(body.scopes.read.runs)]
    tags = [check_text(t, f"scopes.read.tags[{i}]", max_chars=MAX_ID_CHARS) for i, t in enumerate(body.scopes.read.tags)]
    if not runs and not tags:
        raise ApiError(422, "invalid_request", "scopes.read: name at least one run or tag", metadata={"field": "scopes.read"})
    token = issue(principal.key_id, principal.environment, TokenScopes(frozenset(runs), frozenset(tags)), ttl,
                  database_url=settings.database_url)
    expires = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + ttl, timezone.utc)
    return PublicTokenResponse(token=token, expires_at=expires)
