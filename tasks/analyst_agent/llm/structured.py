"""Structured output: pydantic model -> `response_format` json_schema, and model text -> validated object.

Small models behind endpoints that ignore `response_format` wrap JSON in Markdown fences or write invalid JSON; the
client re-asks with the validation error (see `client.py`). Parsing here only says what was wrong, briefly enough to
send back to the model.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Mapping, Sequence

import openai
from pydantic import BaseModel, ValidationError

from tasks.analyst_agent.llm.replies import ToolCall

# ```json\n{...}\n``` around the whole reply (the most common way a chat model "helps")
_FENCED = re.compile(r"^\s*```[a-zA-Z0-9_-]{0,20}\s*\n(?P<body>.*?)\n?```\s*$", re.S)
#: how much of a validation error goes back to the model (and into error details)
MAX_ERROR_CHARS = 1200


class OutputInvalid(Exception):
    """A reply that does not fit what was asked; `reason` is short enough to send back to the model."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:MAX_ERROR_CHARS]


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The schema OpenAI's strict structured outputs expect (every property required, no extra keys).

    The `openai` package owns that transformation; its public door to it is `pydantic_function_tool`.
    """
    return dict(openai.pydantic_function_tool(model)["function"]["parameters"])


def response_format_for(model: type[BaseModel], dialect: str = "json_schema") -> dict[str, Any]:
    """The `response_format` asking for `model` as JSON, in the endpoint's dialect (see `Endpoint.structured_output`).

    Both carry the same strict schema; llama-cpp-python compiles it into a grammar, so its output always parses.
    """
    schema = strict_json_schema(model)
    if dialect == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema, "strict": True}}


def _json_text(content: str) -> str:
    fenced = _FENCED.match(content)
    return fenced.group("body") if fenced else content


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False)[:8]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_structured(content: str | None, model: type[BaseModel]) -> BaseModel:
    """The reply validated as `model`, or `OutputInvalid` saying why not."""
    if not content or not content.strip():
        raise OutputInvalid("the reply was empty; a JSON object was expected")
    text = _json_text(content)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputInvalid(f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise OutputInvalid(f"the JSON does not match the schema: {_describe(exc)}") from None


def tool_models(tools: Sequence[Mapping[str, Any]] | None) -> dict[str, type[BaseModel] | None]:
    """Tool name -> the pydantic model its arguments validate against (None for a plain JSON-schema tool)."""
    found: dict[str, type[BaseModel] | None] = {}
    for tool in tools or ():
        function = tool.get("function") or {}
        name = function.get("name")
        if name:
            found[name] = getattr(function, "model", None)  # openai.pydantic_function_tool keeps the model there
    return found


def parse_tool_call(call_id: str, name: str, arguments: str | None, known: Mapping[str, type[BaseModel] | None]) -> ToolCall:
    """One tool call with decoded arguments, or `OutputInvalid` (unknown tool, bad JSON, arguments off-schema)."""
    if name not in known:
        offered = ", ".join(sorted(known)) or "none"
        raise OutputInvalid(f"there is no tool named {name!r} (tools: {offered})")
    raw = arguments or "{}"
    try:
        data = json.loads(_json_text(raw))
    except json.JSONDecodeError as exc:
        raise OutputInvalid(f"the arguments of {name} are not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise OutputInvalid(f"the arguments of {name} must be a JSON object")
    model = known[name]
    parsed: Any = data
    if model is not None:
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            raise OutputInvalid(f"the arguments of {name} do not match its schema: {_describe(exc)}") from None
    return ToolCall(id=call_id, name=name, arguments=raw, parsed=parsed)


# -- tool calls written as text ---------------------------------------------------------------------------------------
# Qwen / Hermes format: <tool_call>{"name": ..., "arguments": {...}}</tool_call> (the closing tag is sometimes missing)
_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(?P<body>.*?)\s*(?:</tool_call>|$)", re.S)


def _loads_call(text: str) -> Any:
    """JSON of one written call; Qwen2.5-Coder behind llama-cpp-python writes `{{...}}` (its template's braces)."""
    text = _json_text(text.strip())
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.startswith("{{") and text.endswith("}}"):
            try:
                return json.loads(text[1:-1])
            except json.JSONDecodeError:
                return None
        return None


def tool_calls_in_text(content: str | None, known: Mapping[str, type[BaseModel] | None]) -> list[ToolCall]:
    """Tool calls a model wrote into its text because the endpoint does not parse them (llama-cpp-python with the
    model's own chat template). A reply that is not call-shaped is an answer: `[]`. A call-shaped reply naming a
    known tool with bad arguments raises `OutputInvalid`, so the client re-asks."""
    if not content or not known:
        return []
    tagged = [m.group("body") for m in _TOOL_CALL_TAG.finditer(content)]
    calls: list[ToolCall] = []
    for index, body in enumerate(tagged or [content]):
        data = _loads_call(body)
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            if tagged:
                raise OutputInvalid("a <tool_call> block is not a JSON object with a name and arguments")
            return []
        if data["name"] not in known and not tagged:
            return []
        arguments = data.get("arguments", data.get("parameters", {}))
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append(parse_tool_call(f"call_text_{index}_{uuid.uuid4().hex[:8]}", data["name"], raw, known))
    return calls
