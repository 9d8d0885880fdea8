"""A scripted model: a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions format.

Tests of the agent and its model layer point the real `openai` client at it (`base_url`), so every request crosses a
real socket through the client's own HTTP stack (`httpx2` in openai 3.x, which httpx-patching libraries do not see).
A script says what the model answers, request by request:

    model = ScriptedModel([
        Step(Reply(tool_calls=[tool_call("execute_sql", {"sql": "select 1"})]), expect=offers_tool("execute_sql")),
        Error(429, headers={"Retry-After": "0"}),
        Reply(content='{"answer": "42"}'),
    ])
    with model:
        client = ModelClient(model.endpoint())
        ...
    model.assert_done()          # every step used, every expectation met
    model.requests[0].body       # what the agent sent, as JSON

A script may also be a callable `request -> response`. A request the script did not expect (steps exhausted, an
expectation failed) gets HTTP 400 (not retried by the client, so the test fails at once) and is listed in `problems`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence, Union

from pydantic import SecretStr

from tasks.analyst_agent.llm.endpoint import Endpoint, StructuredOutputDialect

SCRIPTED_MODEL_NAME = "scripted-model"


# -- what the scripted model can answer ---------------------------------------------------------------------------------
@dataclass
class Reply:
    """A 200 chat completion. `content` may be any text (invalid JSON included, to test re-asks)."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None  # default: "tool_calls" when there are tool calls, else "stop"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    model: str = SCRIPTED_MODEL_NAME
    delay: float = 0.0


@dataclass
class Error:
    """An HTTP error in OpenAI's error shape (`{"error": {"message", "type", "code"}}`)."""

    status: int
    message: str = "scripted error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Raw:
    """Any bytes with any status and content type: a malformed body, an HTML error page from a proxy."""

    body: str | bytes
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0


Response = Union[Reply, Error, Raw]


@dataclass
class RecordedRequest:
    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body (None when it was not JSON)
    received_at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in (self.body or {}).get("tools") or [] if t.get("type") == "function"]

    @property
    def schema_name(self) -> str | None:
        fmt = (self.body or {}).get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("name")

    def last_message(self, role: str = "user") -> str:
        for message in reversed(self.messages):
            if message.get("role") == role:
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""


#: an expectation on a request: return False (or raise AssertionError) when the request is not what the step expects
Expectation = Callable[[RecordedRequest], Any]


@dataclass
class Step:
    respond: Response | Callable[[RecordedRequest], Response]
    expect: Expectation | None = None
    name: str = ""


def tool_call(name: str, arguments: dict[str, Any] | str, call_id: str | None = None) -> dict[str, Any]:
    """One tool call for `Reply(tool_calls=[...])`; `arguments` as a dict, or a raw string to send it malformed."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"call_{name}", "type": "function", "function": {"name": name, "arguments": raw}}


# -- expectations -------------------------------------------------------------------------------------------------------
def offers_tool(name: str) -> Expectation:
    return lambda request: name in request.tool_names


def wants_schema(name: str) -> Expectation:
    return lambda request: request.schema_name == name


def last_user_contains(text: str) -> Expectation:
    return lambda request: text in request.last_message("user")


# -- the server ---------------------------------------------------------------------------------------------------------
class ScriptedModel:
    def __init__(self, script: Sequence[Response | Step] | Callable[[RecordedRequest], Response] = ()) -> None:
        self._callable = script if callable(script) else None
        self._steps: list[Step] = [] if callable(script) else [self._as_step(s) for s in script]
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _as_step(item: Response | Step) -> Step:
        return item if isinstance(item, Step) else Step(respond=item)

    # -- script ---------------------------------------------------------------------------------------------------------
    def add(self, *items: Response | Step) -> None:
        with self._lock:
            self._steps.extend(self._as_step(i) for i in items)

    @property
    def steps_left(self) -> int:
        with self._lock:
            return len(self._steps) - self._next

    def assert_done(self) -> None:
        """Every step was used and no request was unexpected."""
        assert not self.problems, f"scripted model problems: {self.problems}"
        assert self._callable is not None or self.steps_left == 0, f"{self.steps_left} scripted step(s) never requested"

    def _choose(self, request: RecordedRequest) -> Response:
        if self._callable is not None:
            return self._callable(request)
        with self._lock:
            if self._next >= len(self._steps):
                return self._problem(f"request {request.index}: the script has no step left")
            step = self._steps[self._next]
            self._next += 1
        if step.expect is not None:
            try:
                ok = step.expect(request)
            except AssertionError as exc:
                ok, why = False, str(exc)
            else:
                why = ""
            if ok is False:
                return self._problem(f"request {request.index} did not match step {step.name or self._next - 1}: {why}")
        return step.respond(request) if callable(step.respond) else step.respond

    def _problem(self, text: str) -> Error:
        self.problems.append(text)
        return Error(400, message=f"scripted model: {text}", code="unexpected_request")

    # -- lifecycle ------------------------------------------------------------------------------------------------------
    def start(self) -> ScriptedModel:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="scripted-model", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the scripted model is not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def endpoint(
        self,
        api_key: str = "sk-scripted-test-key-0000",
        model: str = SCRIPTED_MODEL_NAME,
        structured_output: StructuredOutputDialect = "json_schema",
    ) -> Endpoint:
        return Endpoint(self.base_url, SecretStr(api_key), model, structured_output=structured_output)

    # -- answering ------------------------------------------------------------------------------------------------------
    def _record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            request = RecordedRequest(len(self.requests), method, path, headers, body, time.time())
            self.requests.append(request)
        return request

    def _completion(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": f"chatcmpl-scripted-{request.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }

    def render(self, response: Response, request: RecordedRequest) -> tuple[int, dict[str, str], bytes, float]:
        """status, headers, body and delay of a scripted response."""
        if isinstance(response, Reply):
            body = json.dumps(self._completion(response, request)).encode()
            return 200, {"Content-Type": "application/json"}, body, response.delay
        if isinstance(response, Error):
            error = {"message": response.message, "type": "scripted_error", "param": None, "code": response.code}
            headers = {"Content-Type": "application/json", **response.headers}
            return response.status, headers, json.dumps({"error": error}).encode(), response.delay
        if isinstance(response, Raw):
            body = response.body.encode() if isinstance(response.body, str) else response.body
            return response.status, {"Content-Type": response.content_type}, body, response.delay
        raise TypeError(f"a script step must answer Reply, Error or Raw, not {type(response).__name__}")


def _handler_for(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read model.requests instead
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = model._record("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"Content-Type": "application/json"}, b'{"error": {"message": "not found"}}')
                return
            try:
                status, headers, body, delay = model.render(model._choose(request), request)
            except Exception as exc:  # a broken script must show up in the test, not hang it
                model.problems.append(f"request {request.index}: script raised {exc!r}")
                status, headers, body, delay = model.render(model._problem(repr(exc)), request)
            if delay and model._stopping.wait(delay):
                return
            self._send(status, headers, body)

        def do_GET(self) -> None:
            model._record("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, b"")
            if self.path.rstrip("/") == "/v1/models":
                body = {"object": "list", "data": [{"id": SCRIPTED_MODEL_NAME, "object": "model", "owned_by": "test"}]}
                self._send(200, {"Content-Type": "application/json"}, json.dumps(body).encode())
            else:
                self._send(404, {"Content-Type": "application/json"}, b'{"error": {"message": "not found"}}')

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

    return Handler
