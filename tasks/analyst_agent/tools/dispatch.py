"""`run_tool`: one entry for a tool call by name with raw JSON arguments, as a model sends it.

Unknown tool names and arguments that do not validate come back as `ToolFailure` with the reason (naming the field),
for the model to correct; nothing the model sends raises. What the model cannot fix (a canceled run, lost
credentials, a warehouse that stays unreachable) raises, as in each tool.
"""

from __future__ import annotations

import json
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from tasks.analyst_agent.tools import args as tool_args
from tasks.analyst_agent.tools.conversation import ClarifyingQuestion, Done, ask_clarifying_question, done
from tasks.analyst_agent.tools.env import ToolEnv
from tasks.analyst_agent.tools.saving import (
    DashboardOutcome,
    MetricOutcome,
    create_dashboard,
    create_metric,
    modify_dashboard,
    modify_metric,
)
from tasks.analyst_agent.tools.sql import SqlResult, execute_sql

MAX_ARGUMENT_CHARS = 200_000


class ToolFailure(BaseModel):
    """A call that never reached its tool: unknown name or invalid arguments."""

    tool: str
    ok: bool = False
    error: str

    def for_model(self) -> str:
        return f"ERROR: {self.error}"

    def record(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error}


ToolOutcome = Union[SqlResult, MetricOutcome, DashboardOutcome, ClarifyingQuestion, Done, ToolFailure]


def parse_arguments(name: str, arguments: str | dict[str, Any] | BaseModel) -> BaseModel | ToolFailure:
    """The validated argument model of tool `name`, or the failure to show the model."""
    model = tool_args.TOOL_ARGS.get(name)
    if model is None:
        known = ", ".join(tool_args.TOOL_ARGS)
        return ToolFailure(tool=str(name)[:100], error=f"there is no tool {str(name)[:100]!r}; the tools are {known}")
    if isinstance(arguments, model):
        return arguments
    if isinstance(arguments, BaseModel):
        arguments = arguments.model_dump(exclude_unset=True)
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENT_CHARS:
            return ToolFailure(tool=name, error=f"the arguments are {len(arguments)} characters; at most {MAX_ARGUMENT_CHARS}")
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            return ToolFailure(tool=name, error=f"the arguments of {name} are not valid JSON: {exc.msg} at character {exc.pos}")
    if not isinstance(arguments, dict):
        return ToolFailure(tool=name, error=f"the arguments of {name} must be a JSON object")
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors(include_url=False)[:8]
        )
        return ToolFailure(tool=name, error=f"invalid arguments for {name}: {problems}")


def run_tool(env: ToolEnv, name: str, arguments: str | dict[str, Any] | BaseModel, *, tool_call_id: str) -> ToolOutcome:
    """Validate the arguments and run the tool; every outcome has `ok`, `for_model()` and `record()`."""
    parsed = parse_arguments(name, arguments)
    if isinstance(parsed, ToolFailure):
        return parsed
    if name == "execute_sql":
        return execute_sql(env, parsed.sql)  # type: ignore[attr-defined]
    if name == "create_metric":
        return create_metric(env, parsed, tool_call_id=tool_call_id)  # type: ignore[arg-type]
    if name == "modify_metric":
        return modify_metric(env, parsed, tool_call_id=tool_call_id)  # type: ignore[arg-type]
    if name == "create_dashboard":
        return create_dashboard(env, parsed, tool_call_id=tool_call_id)  # type: ignore[arg-type]
    if name == "modify_dashboard":
        return modify_dashboard(env, parsed, tool_call_id=tool_call_id)  # type: ignore[arg-type]
    if name == "ask_clarifying_question":
        return ask_clarifying_question(env, parsed)  # type: ignore[arg-type]
    return done(env, parsed)  # type: ignore[arg-type]
