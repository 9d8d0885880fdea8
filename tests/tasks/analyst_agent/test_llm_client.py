"""`ModelClient` against the scripted model: the real `openai` client over a real socket."""

from __future__ import annotations

import threading
import time

import openai
import pytest
from pydantic import BaseModel, Field

from tasks.analyst_agent.llm import (
    InvalidModelOutputError,
    ModelAuthError,
    ModelCancelledError,
    ModelClient,
    ModelRateLimitError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    RetryPolicy,
)
from tests.tasks.analyst_agent.scripted_model import (
    Error,
    Raw,
    Reply,
    ScriptedModel,
    Step,
    offers_tool,
    tool_call,
    wants_schema,
)

API_KEY = "sk-test-SECRETKEY-1234567890abcdef"
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


class Plan(BaseModel):
    """A todo list for the question."""

    steps: list[str] = Field(min_length=1)
    needs_clarification: bool


class ExecuteSql(BaseModel):
    """Run one read-only SQL query on the data source."""

    sql: str
    limit: int


def client_for(model: ScriptedModel, **kwargs) -> ModelClient:
    kwargs.setdefault("retry", FAST)
    return ModelClient(model.endpoint(api_key=API_KEY), **kwargs)


USER = [{"role": "user", "content": "Which channel brought the most revenue?"}]


# -- the happy paths ----------------------------------------------------------------------------------------------------
def test_plain_answer_carries_content_usage_and_what_was_sent(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="Paid search.", prompt_tokens=120, completion_tokens=9))
    with client_for(scripted_model) as client:
        reply = client.chat(USER, temperature=0.2, max_tokens=64, seed=7)
    assert reply.content == "Paid search."
    assert reply.tool_calls == [] and reply.parsed is None
    assert reply.finish_reason == "stop" and reply.attempts == 1 and reply.reasks == 0
    assert reply.usage.snapshot()["prompt_tokens"] == 120
    assert client.usage.prompt_tokens == 120 and client.usage.completion_tokens == 9 and client.usage.model_calls == 1
    assert client.usage.seconds_in_model > 0
    sent = scripted_model.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "scripted-model"
    assert sent.body["messages"] == USER
    assert (sent.body["temperature"], sent.body["max_tokens"], sent.body["seed"]) == (0.2, 64, 7)
    assert "tools" not in sent.body and "response_format" not in sent.body
    scripted_model.assert_done()


def test_tool_call_is_parsed_into_the_tools_pydantic_model(scripted_model: ScriptedModel) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql"), {
        "type": "function",
        "function": {"name": "done", "parameters": {"type": "object", "properties": {"answer": {"type": "string"}}}},
    }]
    scripted_model.add(
        Step(
            Reply(tool_calls=[tool_call("execute_sql", {"sql": "select 1", "limit": 10}, "call_a"),
                              tool_call("done", {"answer": "one"}, "call_b")]),
            expect=offers_tool("execute_sql"),
        )
    )
    with client_for(scripted_model) as client:
        reply = client.chat(USER, tools=tools, tool_choice="auto")
    assert [c.name for c in reply.tool_calls] == ["execute_sql", "done"]
    first, second = reply.tool_calls
    assert isinstance(first.parsed, ExecuteSql) and first.parsed.sql == "select 1" and first.parsed.limit == 10
    assert first.id == "call_a"
    assert second.parsed == {"answer": "one"}  # a plain JSON-schema tool: decoded, not validated
    assert reply.finish_reason == "tool_calls"
    sent = scripted_model.requests[0].body
    assert sent["tool_choice"] == "auto"
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["sql", "limit"]
    # the reply can be put back into the conversation as the assistant turn
    assert reply.assistant_message()["tool_calls"][0] == {
        "id": "call_a", "type": "function",
        "function": {"name": "execute_sql", "arguments": '{"sql": "select 1", "limit": 10}'},
    }
    scripted_model.assert_done()


def test_structured_output_sends_json_schema_and_returns_the_validated_object(scripted_model: ScriptedModel) -> None:
    scripted_model.add(
        Step(Reply(content='{"steps": ["find revenue table", "sum by channel"], "needs_clarification": false}'),
             expect=wants_schema("Plan"))
    )
    with client_for(scripted_model) as client:
        reply = client.chat(USER, response_format=Plan)
    assert isinstance(reply.parsed, Plan)
    assert reply.parsed.steps == ["find revenue table", "sum by channel"] and reply.parsed.needs_clarification is False
    fmt = scripted_model.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"steps", "needs_clarification"}
    scripted_model.assert_done()


def test_fenced_json_is_accepted_without_a_reask(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content='```json\n{"steps": ["a"], "needs_clarification": true}\n```'))
    with client_for(scripted_model) as client:
        reply = client.chat(USER, response_format=Plan)
    assert reply.parsed == Plan(steps=["a"], needs_clarification=True) and reply.reasks == 0
    assert len(scripted_model.requests) == 1


# -- replies that do not fit: re-asked once, then a typed error -------------------------------------------------------
def test_invalid_json_is_reasked_once_with_the_reason(scripted_model: ScriptedModel) -> None:
    scripted_model.add(
        Reply(content="Sure! Here is the plan: steps are find and sum", prompt_tokens=50, completion_tokens=12),
        Reply(content='{"steps": ["find", "sum"], "needs_clarification": false}', prompt_tokens=80, completion_tokens=15),
    )
    with client_for(scripted_model) as client:
        reply = client.chat(USER, response_format=Plan)
    assert reply.parsed.steps == ["find", "sum"] and reply.reasks == 1 and reply.attempts == 2
    assert reply.usage.prompt_tokens == 130 and reply.usage.model_calls == 2  # both calls are paid for
    reask = scripted_model.requests[1].messages
    assert reask[:1] == USER
    assert reask[1] == {"role": "assistant", "content": "Sure! Here is the plan: steps are find and sum"}
    assert reask[2]["role"] == "user" and "not valid JSON" in reask[2]["content"]
    scripted_model.assert_done()


def test_schema_violation_reason_names_the_field(scripted_model: ScriptedModel) -> None:
    scripted_model.add(
        Reply(content='{"steps": [], "needs_clarification": false}'),
        Reply(content='{"steps": ["x"], "needs_clarification": false}'),
    )
    with client_for(scripted_model) as client:
        client.chat(USER, response_format=Plan)
    assert "steps" in scripted_model.requests[1].last_message("user")


def test_output_still_invalid_after_the_reask_raises_a_typed_error(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="not json"), Reply(content='{"steps": "oops"}'))
    with client_for(scripted_model) as client, pytest.raises(InvalidModelOutputError) as caught:
        client.chat(USER, response_format=Plan)
    error = caught.value
    assert error.retryable is False and error.code == "invalid_model_output"
    assert "steps" in error.details["reason"] and error.details["reply"] == '{"steps": "oops"}'
    assert len(scripted_model.requests) == 2
    assert client.usage.model_calls == 2


def test_reasks_zero_fails_on_the_first_invalid_reply(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="{"))
    with client_for(scripted_model, reasks=0) as client, pytest.raises(InvalidModelOutputError):
        client.chat(USER, response_format=Plan)
    assert len(scripted_model.requests) == 1


def test_bad_tool_arguments_and_unknown_tools_are_reasked(scripted_model: ScriptedModel) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    scripted_model.add(
        Reply(tool_calls=[tool_call("execute_sql", '{"sql": "select 1", "limit": ')]),  # truncated JSON
        Reply(tool_calls=[tool_call("drop_everything", {})]),
    )
    with client_for(scripted_model, reasks=1) as client, pytest.raises(InvalidModelOutputError) as caught:
        client.chat(USER, tools=tools)
    assert "no tool named 'drop_everything'" in caught.value.details["reason"]
    assert len(scripted_model.requests) == 2
    second = scripted_model.requests[1].messages
    assert 'execute_sql({"sql": "select 1", "limit": ' in second[-2]["content"]  # the invalid call, spelled out
    assert "not valid JSON" in second[-1]["content"]
    scripted_model.assert_done()


def test_tool_arguments_off_schema_are_reasked_then_accepted(scripted_model: ScriptedModel) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    scripted_model.add(
        Reply(tool_calls=[tool_call("execute_sql", {"sql": "select 1"})]),
        Reply(tool_calls=[tool_call("execute_sql", {"sql": "select 1", "limit": 5})]),
    )
    with client_for(scripted_model) as client:
        reply = client.chat(USER, tools=tools)
    assert reply.tool_calls[0].parsed == ExecuteSql(sql="select 1", limit=5)
    assert "limit" in scripted_model.requests[1].last_message("user")


# -- transient failures: retried with backoff ---------------------------------------------------------------------------
def test_429_with_retry_after_and_500_are_retried_then_succeed(scripted_model: ScriptedModel) -> None:
    scripted_model.add(
        Error(429, "slow down", headers={"Retry-After": "0.3"}),
        Error(500, "boom"),
        Error(503, "overloaded"),
        Reply(content="ok"),
    )
    started = time.monotonic()
    with client_for(scripted_model) as client:
        reply = client.chat(USER)
    assert reply.content == "ok" and reply.attempts == 4
    assert len(scripted_model.requests) == 4
    gap = scripted_model.requests[1].received_at - scripted_model.requests[0].received_at
    assert gap >= 0.3, f"Retry-After 0.3 s not honoured: retried after {gap:.3f} s"
    assert time.monotonic() - started < 5
    assert client.usage.model_calls == 1  # failed attempts are not completions...
    assert client.usage.seconds_in_model > 0  # ...but their time is model time


def test_rate_limit_that_never_passes_raises_a_retryable_error_after_the_bound(scripted_model: ScriptedModel) -> None:
    scripted_model.add(*[Error(429, "slow down", headers={"Retry-After": "0"}) for _ in range(4)])
    with client_for(scripted_model) as client, pytest.raises(ModelRateLimitError) as caught:
        client.chat(USER)
    assert caught.value.retryable is True and caught.value.details["attempts"] == 4
    assert len(scripted_model.requests) == 4
    scripted_model.assert_done()


def test_exhausted_quota_429_is_not_retried(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(429, "You exceeded your current quota", code="insufficient_quota"))
    with client_for(scripted_model) as client, pytest.raises(ModelRateLimitError) as caught:
        client.chat(USER)
    assert caught.value.retryable is False and "quota" in caught.value.message
    assert len(scripted_model.requests) == 1


def test_total_wait_bound_stops_retrying_before_a_long_retry_after(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(429, headers={"Retry-After": "30"}))
    policy = RetryPolicy(max_attempts=5, base_delay=0.01, max_total_wait=1.0)
    started = time.monotonic()
    with client_for(scripted_model, retry=policy) as client, pytest.raises(ModelRateLimitError):
        client.chat(USER)
    assert time.monotonic() - started < 2 and len(scripted_model.requests) == 1


def test_malformed_body_and_html_page_are_retried_as_unavailable(scripted_model: ScriptedModel) -> None:
    scripted_model.add(
        Raw('{"id": "x", "choices": [', status=200),
        Raw("<html>502 Bad Gateway</html>", status=200, content_type="text/html"),
        Raw('{"id": "x", "object": "chat.completion", "choices": []}'),
        Reply(content="fine"),
    )
    with client_for(scripted_model) as client:
        assert client.chat(USER).content == "fine"
    assert len(scripted_model.requests) == 4


def test_malformed_body_every_time_raises_unavailable(scripted_model: ScriptedModel) -> None:
    scripted_model.add(*[Raw("{{{") for _ in range(4)])
    with client_for(scripted_model) as client, pytest.raises(ModelUnavailableError) as caught:
        client.chat(USER)
    assert caught.value.retryable is True and caught.value.message.startswith("The model at 127.0.0.1")


def test_timeout_is_retried_then_raised_as_model_timeout(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="late", delay=3), Reply(content="late", delay=3))
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    started = time.monotonic()
    with client_for(scripted_model, retry=policy, timeout=0.4) as client, pytest.raises(ModelTimeoutError) as caught:
        client.chat(USER)
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed < 2.5, elapsed
    assert caught.value.retryable is True and caught.value.details["attempts"] == 2
    assert len(scripted_model.requests) == 2
    assert client.usage.seconds_in_model >= 0.8 and client.usage.model_calls == 0


def test_unreachable_endpoint_is_unavailable(scripted_model: ScriptedModel) -> None:
    endpoint = scripted_model.endpoint(api_key=API_KEY)
    scripted_model.stop()  # nothing listens on that port any more
    with ModelClient(endpoint, retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as client:
        with pytest.raises(ModelUnavailableError) as caught:
            client.chat(USER)
    assert caught.value.details["attempts"] == 2 and "could not be reached" in caught.value.message


def test_cancel_during_backoff_stops_at_once(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(503), Error(503))
    cancel = threading.Event()
    policy = RetryPolicy(max_attempts=5, base_delay=5.0, max_delay=5.0)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with client_for(scripted_model, retry=policy, cancel_event=cancel) as client, pytest.raises(ModelCancelledError):
        client.chat(USER)
    assert time.monotonic() - started < 2
    assert len(scripted_model.requests) == 1


def test_cancelled_before_the_call_sends_nothing(scripted_model: ScriptedModel) -> None:
    cancel = threading.Event()
    cancel.set()
    with client_for(scripted_model, cancel_event=cancel) as client, pytest.raises(ModelCancelledError):
        client.chat(USER)
    assert scripted_model.requests == []


# -- errors that retrying cannot fix ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried_and_never_shows_the_key(scripted_model: ScriptedModel, status: int) -> None:
    # endpoints echo the key they were given; the message must not
    scripted_model.add(Error(status, f"Incorrect API key provided: {API_KEY}. Also Bearer {API_KEY}", code="invalid_api_key"))
    with client_for(scripted_model) as client, pytest.raises(ModelAuthError) as caught:
        client.chat(USER)
    error = caught.value
    assert error.retryable is False and error.code == "model_auth_failed"
    assert f"HTTP {status}" in error.message and "OPENAI_API_KEY" in error.message
    assert "Incorrect API key provided" in error.message
    for text in (error.message, str(error), repr(error), str(error.to_dict())):
        assert API_KEY not in text and "SECRETKEY" not in text
    assert len(scripted_model.requests) == 1


def test_key_shaped_tokens_of_other_keys_are_masked_too(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(401, "key sk-proxyOtherKey987654321 is not valid"))
    with client_for(scripted_model) as client, pytest.raises(ModelAuthError) as caught:
        client.chat(USER)
    assert "sk-proxyOtherKey987654321" not in caught.value.message and "**********" in caught.value.message


def test_bad_request_is_not_retried(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(400, "'messages' must contain the word 'json'", code="invalid_request"))
    with client_for(scripted_model) as client, pytest.raises(ModelRequestError) as caught:
        client.chat(USER)
    assert caught.value.retryable is False and caught.value.details["status"] == 400
    assert "must contain the word" in caught.value.message
    assert len(scripted_model.requests) == 1


def test_context_overflow_has_its_own_code(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(400, "This model's maximum context length is 8192 tokens", code="context_length_exceeded"))
    with client_for(scripted_model) as client, pytest.raises(ModelRequestError) as caught:
        client.chat(USER)
    assert caught.value.code == "model_context_too_long"


def test_usage_accumulates_across_calls_for_metadata(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="a", prompt_tokens=10, completion_tokens=1),
                       Reply(content="b", prompt_tokens=20, completion_tokens=2))
    with client_for(scripted_model) as client:
        client.chat(USER)
        client.chat(USER)
    snap = client.usage.snapshot()
    assert (snap["prompt_tokens"], snap["completion_tokens"], snap["model_calls"]) == (30, 3, 2)
    assert set(snap) == {"prompt_tokens", "completion_tokens", "model_calls", "seconds_in_model"}


def test_empty_messages_are_refused_before_any_request(scripted_model: ScriptedModel) -> None:
    with client_for(scripted_model) as client, pytest.raises(ValueError):
        client.chat([])
    assert scripted_model.requests == []


# -- llama-cpp-python's dialect and its small model's habits ---------------------------------------------------------
LLAMA_CPP_VALIDATION_500 = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


def test_local_dialect_sends_json_object_with_the_schema(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content='{"steps": ["a"], "needs_clarification": false}'))
    endpoint = scripted_model.endpoint(api_key=API_KEY, structured_output="json_object_schema")
    with ModelClient(endpoint, retry=FAST) as client:
        assert client.chat(USER, response_format=Plan).parsed.steps == ["a"]
    fmt = scripted_model.requests[0].body["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["required"] == ["steps", "needs_clarification"]


def test_json_schema_refused_switches_to_json_object_once_and_remembers(scripted_model: ScriptedModel) -> None:
    scripted_model.add(
        Error(500, LLAMA_CPP_VALIDATION_500),  # how llama-cpp-python's server answers json_schema
        Reply(content='{"steps": ["a"], "needs_clarification": false}'),
        Reply(content='{"steps": ["b"], "needs_clarification": true}'),
    )
    with client_for(scripted_model) as client:
        first = client.chat(USER, response_format=Plan)
        second = client.chat(USER, response_format=Plan)
    assert (first.parsed.steps, second.parsed.steps) == (["a"], ["b"])
    assert first.attempts == 2 and client.structured_output == "json_object_schema"
    types = [r.body["response_format"]["type"] for r in scripted_model.requests]
    assert types == ["json_schema", "json_object", "json_object"]  # the 500 was not retried as transient
    scripted_model.assert_done()


def test_a_validation_500_is_a_request_error_not_retried(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(500, "2 validation errors:\n  {'loc': ('body', 'messages', 2, 'content')}"))
    with client_for(scripted_model) as client, pytest.raises(ModelRequestError):
        client.chat(USER)
    assert len(scripted_model.requests) == 1


@pytest.mark.parametrize(
    "written",
    [
        '{{"name": "execute_sql", "arguments": {"sql": "SELECT 1", "limit": 3}}}',  # Qwen2.5-Coder via the GGUF template
        '<tool_call>\n{"name": "execute_sql", "arguments": {"sql": "SELECT 1", "limit": 3}}\n</tool_call>',
        '```json\n{"name": "execute_sql", "arguments": {"sql": "SELECT 1", "limit": 3}}\n```',
    ],
)
def test_tool_calls_written_as_text_are_parsed(scripted_model: ScriptedModel, written: str) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    scripted_model.add(Reply(content=written))
    with client_for(scripted_model) as client:
        reply = client.chat(USER, tools=tools)
    assert reply.tool_calls_from_text is True and reply.content is None
    assert [c.parsed for c in reply.tool_calls] == [ExecuteSql(sql="SELECT 1", limit=3)]
    message = reply.assistant_message()
    assert "content" not in message and message["tool_calls"][0]["function"]["name"] == "execute_sql"


def test_several_tagged_calls_are_all_parsed(scripted_model: ScriptedModel) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    scripted_model.add(Reply(content=(
        '<tool_call>{"name": "execute_sql", "arguments": {"sql": "SELECT 1", "limit": 1}}</tool_call>\n'
        '<tool_call>{"name": "execute_sql", "arguments": {"sql": "SELECT 2", "limit": 2}}</tool_call>'
    )))
    with client_for(scripted_model) as client:
        reply = client.chat(USER, tools=tools)
    assert [c.parsed.sql for c in reply.tool_calls] == ["SELECT 1", "SELECT 2"]
    assert len({c.id for c in reply.tool_calls}) == 2


def test_a_plain_answer_with_tools_offered_stays_an_answer(scripted_model: ScriptedModel) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    scripted_model.add(Reply(content='Revenue was highest for {"channel": "search"}.'),
                       Reply(content='{"name": "someone", "age": 3}'))
    with client_for(scripted_model) as client:
        first = client.chat(USER, tools=tools)
        second = client.chat(USER, tools=tools)
    assert first.tool_calls == [] and first.content.startswith("Revenue")
    assert second.tool_calls == [] and second.content == '{"name": "someone", "age": 3}'


def test_a_written_call_with_bad_arguments_is_reasked(scripted_model: ScriptedModel) -> None:
    tools = [openai.pydantic_function_tool(ExecuteSql, name="execute_sql")]
    scripted_model.add(
        Reply(content='{{"name": "execute_sql", "arguments": {"query": "SELECT 1"}}}'),
        Reply(content='{{"name": "execute_sql", "arguments": {"sql": "SELECT 1", "limit": 5}}}'),
    )
    with client_for(scripted_model) as client:
        reply = client.chat(USER, tools=tools)
    assert reply.reasks == 1 and reply.tool_calls[0].parsed.limit == 5
    assert "sql" in scripted_model.requests[1].last_message("user")


def test_cancel_while_the_model_is_answering_returns_at_once(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="too late", delay=5))
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_once_the_model_has_the_request() -> None:
        deadline = time.monotonic() + 5
        while not scripted_model.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_once_the_model_has_the_request).start()
    with client_for(scripted_model, cancel_event=cancel) as client, pytest.raises(ModelCancelledError):
        client.chat(USER)
    assert time.monotonic() - cancelled_at[0] < 0.5  # not the 5 s the model takes
    assert len(scripted_model.requests) == 1
    assert client.usage.seconds_in_model >= 0.2 and client.usage.model_calls == 0


def test_with_a_cancel_event_that_stays_clear_calls_work(scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="fine", delay=0.2))
    with client_for(scripted_model, cancel_event=threading.Event()) as client:
        assert client.chat(USER).content == "fine"
