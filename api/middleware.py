"""ASGI middleware: refuse request bodies over the limit (413) before they are read whole, in the error envelope.

(Starlette's RequestBodyLimitMiddleware / FastAPI's `max_body_size` answer some oversize bodies with a plain-text
"Content Too Large" instead of `{"error": {...}}`, and only once an endpoint reads the body; this one refuses a
declared oversize body before routing or authentication.)

A declared `Content-Length` over the limit is refused at once, without reading a byte; a body sent without one
(chunked) is counted as it arrives and refused as soon as it passes the limit, so a client cannot make the server
buffer gigabytes by leaving the length out.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


class BodyTooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through as a 413 instead of a generic 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is over the {_size(max_bytes)} limit")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "bad_request", "Content-Length is not a number")
                    return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, 413, "payload_too_large", f"the request body ({_size(declared)}) is over the {_size(self.max_bytes)} limit")
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, 413, "payload_too_large", f"the request body is over the {_size(self.max_bytes)} limit")

    @staticmethod
    async def _refuse(send: Callable[[Message], Awaitable[None]], status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})
