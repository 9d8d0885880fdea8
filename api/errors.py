"""Every error the API returns has one shape: `{"error": {"code", "message", "metadata"}}` (Trigger.dev's envelope).

Routes raise `ApiError` (or let the runtime's typed errors through); the handlers installed by `install_error_handlers`
turn each into its status: 400 malformed request, 401 no/unknown/revoked key, 403 outside a token's scope, 404 unknown
task/run/schedule/route, 409 a state that forbids the action, 413 body over 3 MB, 422 invalid input naming the field,
429 rate limited (with Retry-After). Nothing else leaves: an unexpected exception is a 500 with a generic message
(the traceback goes to the server log, never to the client, which may be on the other side of the internet).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import runtime

log = logging.getLogger("taskpack.api")


class ApiError(Exception):
    """An error response: HTTP `status`, a stable machine `code`, a human `message`, optional `metadata` and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.metadata = metadata or {}
        self.headers = headers or {}


def error_body(code: str, message: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "metadata": metadata or {}}}


def error_response(status: int, code: str, message: str, metadata: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, metadata), status_code=status, headers=headers)


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "options", "delay")` -> `options.delay`; list indexes as `[3]`."""
    parts = [p for p in location if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or str(location[0] if location else "body")


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """pydantic's errors as `{"field", "message"}`, without the refused input (it may be a secret or a megabyte)."""
    return [{"field": _field_of(tuple(e.get("loc") or ())), "message": str(e.get("msg", "invalid"))} for e in errors]


def input_error(exc: runtime.InputError, status: int = 422) -> ApiError:
    """The runtime's refusal at the door (runtime.limits) as a 422 naming the field."""
    errors = getattr(exc, "errors", None) or ([{"field": exc.field, "message": str(exc)}] if exc.field else [])
    code = "invalid_payload" if isinstance(exc, runtime.PayloadError) else "invalid_request"
    return ApiError(status, code, str(exc), metadata={"field": exc.field, "errors": errors})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.metadata, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "invalid_json", "the request body is not valid JSON", {"errors": errors})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return error_response(422, "invalid_request", f"{first['field']}: {first['message']}", {"field": first["field"], "errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), message, headers=getattr(exc, "headers", None))

    @app.exception_handler(runtime.UnknownTaskError)
    async def _unknown_task(_: Request, exc: runtime.UnknownTaskError) -> JSONResponse:
        return error_response(404, "task_not_found", str(exc), {"taskIdentifier": exc.task_id})

    @app.exception_handler(runtime.RunNotFoundError)
    async def _unknown_run(_: Request, exc: runtime.RunNotFoundError) -> JSONResponse:
        return error_response(404, "run_not_found", str(exc)[:200])

    @app.exception_handler(runtime.InputError)
    async def _input(_: Request, exc: runtime.InputError) -> JSONResponse:
        err = input_error(exc)
        return error_response(err.status, err.code, err.message, err.metadata)

    @app.exception_handler(runtime.SecretKeyError)
    async def _secret_key(_: Request, exc: runtime.SecretKeyError) -> JSONResponse:
        log.error("secret key problem: %s", exc.message)
        return error_response(503, "secret_key_unavailable", "the server cannot read its encryption key; see its log")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error")
