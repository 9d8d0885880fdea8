"""`ModelClient.chat`: the one door the agent's states use to talk to a model.

The official `openai` client against any OpenAI-compatible endpoint. On top of it, what every state needs and no
state should write twice: transient failures (429, 5xx, connection errors, timeouts) retried with bounded backoff;
everything else raised as a typed `ModelError` with a message fit to show a user and no API key in it; tool-call
arguments and structured output decoded and validated by pydantic, the model re-asked (bounded) when its reply does
not fit; and the run's token, call and time usage accumulated in one `ModelUsage`.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from runtime import logger
from tasks.analyst_agent.llm.backoff import RetryPolicy, retry_after_seconds
from tasks.analyst_agent.llm.endpoint import Endpoint, resolve_endpoint
from tasks.analyst_agent.llm.error_mapping import MalformedCompletion, model_error_from
from tasks.analyst_agent.llm.errors import InvalidModelOutputError, ModelCancelledError, ModelRequestError
from tasks.analyst_agent.llm.replies import ModelReply, ToolCall
from tasks.analyst_agent.llm.structured import (
    OutputInvalid,
    parse_structured,
    parse_tool_call,
    response_format_for,
    tool_calls_in_text,
    tool_models,
)
from tasks.analyst_agent.llm.tracing import model_call_span, record_completion
from tasks.analyst_agent.llm.usage import ModelUsage

#: seconds one HTTP request to the model may take (a 1.5B model on 2 cores needs tens of seconds for a long prompt)
DEFAULT_TIMEOUT = 300.0
#: how many times a reply that does not fit (JSON schema, tool arguments) is sent back to the model with the reason
DEFAULT_REASKS = 1
#: how much of a model's invalid reply goes into an error's details
MAX_QUOTED_CHARS = 400
#: how often a call waiting for the model looks at the cancel event
CANCEL_POLL_SECONDS = 0.05

Message = Mapping[str, Any]


class ModelClient:
    """A client for one endpoint and one run; `usage` grows with every call (put `usage.snapshot()` in metadata).

    `cancel_event` (the run's `ctx.cancel_event`) makes a call raise `ModelCancelledError` within 50 ms, whether it is
    waiting for the model or between retries.
    """

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        reasks: int = DEFAULT_REASKS,
        usage: ModelUsage | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if reasks < 0:
            raise ValueError("reasks must not be negative")
        self.endpoint = endpoint if endpoint is not None else resolve_endpoint()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.reasks = reasks
        self.usage = usage if usage is not None else ModelUsage()
        self.cancel_event = cancel_event
        #: may switch to "json_object_schema" when the endpoint turns json_schema down (llama-cpp-python does)
        self.structured_output = self.endpoint.structured_output
        self._secret = self.endpoint.api_key.get_secret_value()
        # max_retries=0: this class is the only place that retries (see backoff.py)
        self._openai = openai.OpenAI(
            api_key=self._secret,
            base_url=self.endpoint.base_url,
            timeout=timeout,
            max_retries=0,
        )

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._openai.close()

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> str:
        return self.endpoint.model

    # -- the call ----------------------------------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: type[BaseModel] | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        timeout: float | None = None,
    ) -> ModelReply:
        """One answer from the model: content, decoded tool calls, and the validated `response_format` object.

        `tools` are OpenAI tool dicts; build them with `openai.pydantic_function_tool(Model)` to get the arguments
        validated as `Model`. When the reply breaks the schema or calls a tool wrongly, the model is shown its reply
        and the reason, up to `reasks` times, then `InvalidModelOutputError` is raised.
        """
        if not messages:
            raise ValueError("messages must not be empty")
        request = self._request(tools, tool_choice, response_format, temperature, max_tokens, seed)
        known_tools = tool_models(tools)
        conversation = [dict(message) for message in messages]
        call_usage = ModelUsage()
        attempts = 0
        for reask in range(self.reasks + 1):
            completion, tries = self._complete_in_some_dialect(
                conversation, request, response_format, timeout or self.timeout, call_usage
            )
            attempts += tries
            choice = completion.choices[0]
            try:
                content, tool_calls, parsed, from_text = self._read(choice.message, known_tools, response_format)
            except OutputInvalid as invalid:
                reason = invalid.reason
                if choice.finish_reason == "length":
                    reason += " (the reply was cut off at max_tokens)"
                if reask == self.reasks:
                    raise InvalidModelOutputError(
                        "The model's answer did not have the expected form"
                        + (", even after it was asked again." if reask else "."),
                        details={
                            "reason": reason,
                            "reasks": reask,
                            "finish_reason": choice.finish_reason,
                            "reply": (choice.message.content or "")[:MAX_QUOTED_CHARS],
                            "model": self.endpoint.model,
                        },
                    ) from None
                logger.warn("model reply invalid, asking again", reason=reason, model=self.endpoint.model)
                conversation += self._reask_messages(choice.message, reason)
                continue
            return ModelReply(
                content=content,
                tool_calls=tool_calls,
                parsed=parsed,
                finish_reason=choice.finish_reason,
                model=getattr(completion, "model", None),
                usage=call_usage,
                attempts=attempts,
                reasks=reask,
                tool_calls_from_text=from_text,
            )
        raise AssertionError("unreachable")  # the loop returns or raises

    def _request(
        self,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: str | Mapping[str, Any] | None,
        response_format: type[BaseModel] | None,
        temperature: float | None,
        max_tokens: int | None,
        seed: int | None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.endpoint.model}
        if tools:
            request["tools"] = [dict(tool) for tool in tools]
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        if response_format is not None:
            request["response_format"] = response_format_for(response_format, self.structured_output)
        for key, value in (("temperature", temperature), ("max_tokens", max_tokens), ("seed", seed)):
            if value is not None:
                request[key] = value
        return request

    def _complete_in_some_dialect(
        self,
        conversation: list[dict[str, Any]],
        request: dict[str, Any],
        response_format: type[BaseModel] | None,
        timeout: float,
        call_usage: ModelUsage,
    ) -> tuple[ChatCompletion, int]:
        """`_complete`; when the endpoint refuses OpenAI's json_schema, once more with llama-cpp-python's spelling
        (and that spelling for the rest of this client's life)."""
        try:
            return self._complete(conversation, request, timeout, call_usage)
        except ModelRequestError as error:
            said = str(error.details.get("endpoint_message", "")).lower()
            other_dialect_may_help = (
                response_format is not None
                and self.structured_output == "json_schema"
                and ("response_format" in said or "json_schema" in said)
            )
            if not other_dialect_may_help:
                raise
            assert response_format is not None
            self.structured_output = "json_object_schema"
            request["response_format"] = response_format_for(response_format, self.structured_output)
            logger.warn("endpoint refused json_schema, using json_object with a schema", host=self.endpoint.host)
            completion, tries = self._complete(conversation, request, timeout, call_usage)
            return completion, tries + int(error.details.get("attempts", 1))

    def _read(
        self, message: Any, known_tools: Mapping[str, type[BaseModel] | None], response_format: type[BaseModel] | None
    ) -> tuple[str | None, list[ToolCall], BaseModel | None, bool]:
        """content, tool calls, parsed object, and whether the calls came from the text; `OutputInvalid` if unfit."""
        content = message.content
        tool_calls = self._tool_calls(message, known_tools)
        from_text = False
        if known_tools and not tool_calls:
            tool_calls = tool_calls_in_text(content, known_tools)
            if tool_calls:
                from_text, content = True, None
        parsed = None
        if response_format is not None and not tool_calls:
            parsed = parse_structured(content, response_format)
        return content, tool_calls, parsed, from_text

    # -- one completion, transient failures retried --------------------------------------------------------------------
    def _complete(
        self,
        conversation: list[dict[str, Any]],
        request: dict[str, Any],
        timeout: float,
        call_usage: ModelUsage,
    ) -> tuple[ChatCompletion, int]:
        waited = 0.0
        policy = self.retry
        for attempt in range(1, policy.max_attempts + 1):
            self._raise_if_cancelled()
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                with model_call_span(self.endpoint.model, self.endpoint.host, request) as span:
                    completion = self._checked(self._send(conversation, request, timeout))
                    record_completion(span, completion)
            except ModelCancelledError:
                self._account(call_usage, seconds=time.perf_counter() - started)
                raise
            except (openai.APIError, json.JSONDecodeError, MalformedCompletion) as exc:
                self._account(call_usage, seconds=time.perf_counter() - started)
                error = model_error_from(exc, self.endpoint, self._secret)
                if isinstance(exc, openai.APIStatusError):
                    retry_after = retry_after_seconds(exc.response.headers)
            else:
                usage = completion.usage
                self._account(
                    call_usage,
                    seconds=time.perf_counter() - started,
                    prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
                    completion_tokens=(usage.completion_tokens or 0) if usage else 0,
                    calls=1,
                )
                return completion, attempt
            if not error.retryable or attempt == policy.max_attempts:
                error.details["attempts"] = attempt
                raise error
            delay = policy.delay(attempt, retry_after)
            if waited + delay > policy.max_total_wait:
                error.details["attempts"] = attempt
                raise error
            logger.warn(
                "model call failed, retrying",
                code=error.code,
                attempt=attempt,
                delay_s=round(delay, 2),
                host=self.endpoint.host,
            )
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _send(self, conversation: list[dict[str, Any]], request: dict[str, Any], timeout: float) -> object:
        """One HTTP request. With a cancel event it runs in a helper thread so a cancel returns at once: neither
        httpx2 nor the openai client can interrupt a request in flight. The abandoned request still runs to its end
        on the server (llama-cpp-python finishes a non-streamed completion even when the client has gone), which
        `max_tokens` bounds."""

        def create() -> object:
            return self._openai.chat.completions.create(
                messages=conversation,  # type: ignore[arg-type]  # OpenAI message dicts
                timeout=timeout,
                **request,
            )

        if self.cancel_event is None:
            return create()
        future = _in_daemon_thread(create)
        while True:
            done, _ = concurrent.futures.wait([future], timeout=CANCEL_POLL_SECONDS)
            if done:
                return future.result()
            if self.cancel_event.is_set():
                future.cancel()
                self._raise_if_cancelled()

    def _checked(self, completion: object) -> ChatCompletion:
        """The completion, unless the endpoint's 200 is not one (a proxy's HTML page, a body without choices)."""
        if not isinstance(completion, ChatCompletion):
            raise MalformedCompletion(f"the endpoint answered with {type(completion).__name__}, not a chat completion")
        choices = getattr(completion, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise MalformedCompletion("the endpoint answered with a chat completion without choices")
        return completion

    def _account(
        self,
        call_usage: ModelUsage,
        *,
        seconds: float,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        calls: int = 0,
    ) -> None:
        for usage in (call_usage, self.usage):
            usage.add(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                model_calls=calls,
                seconds_in_model=seconds,
            )

    def _raise_if_cancelled(self) -> None:
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise ModelCancelledError("The model call was canceled.", details={"host": self.endpoint.host})

    def _sleep(self, seconds: float) -> None:
        if self.cancel_event is None:
            time.sleep(seconds)
        elif self.cancel_event.wait(seconds):
            self._raise_if_cancelled()

    # -- replies that do not fit ---------------------------------------------------------------------------------------
    def _tool_calls(self, message: Any, known: Mapping[str, type[BaseModel] | None]) -> list[ToolCall]:
        calls: list[ToolCall] = []
        for call in message.tool_calls or ():
            function = getattr(call, "function", None)
            if function is None:
                raise OutputInvalid(f"tool call of type {getattr(call, 'type', '?')!r} is not supported; call a function")
            calls.append(parse_tool_call(call.id, function.name, function.arguments, known))
        return calls

    def _reask_messages(self, message: Any, reason: str) -> list[dict[str, Any]]:
        """The invalid reply as text (tool calls spelled out, so no tool result is owed) and what was wrong."""
        said = message.content or ""
        for call in message.tool_calls or ():
            function = getattr(call, "function", None)
            if function is not None:
                said += f"\n{function.name}({function.arguments})"
        return [
            {"role": "assistant", "content": said.strip() or "(empty reply)"},
            {
                "role": "user",
                "content": f"That reply was invalid: {reason}. Answer again, following the required format exactly.",
            },
        ]




def _in_daemon_thread(call: Callable[[], object]) -> concurrent.futures.Future[object]:
    """`call()` in a daemon thread, its outcome in a future. Not a ThreadPoolExecutor: the interpreter joins pool
    threads at exit, so one abandoned (cancelled) request still waiting on a slow model would keep the process alive
    until the model answered."""
    future: concurrent.futures.Future[object] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the waiting caller, who re-raises it
            future.set_exception(exc)

    threading.Thread(target=run, name="model-call", daemon=True).start()
    return future
