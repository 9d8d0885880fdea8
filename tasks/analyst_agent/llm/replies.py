"""What one `ModelClient.chat` call returns to the agent's states."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.analyst_agent.llm.usage import ModelUsage


class ToolCall(BaseModel):
    """A tool call the model made, its arguments decoded (and validated when the tool was built from a model)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    name: str
    arguments: str = Field(description="the raw JSON text the model wrote")
    parsed: Any = Field(None, description="dict of the decoded arguments, or the pydantic model of the tool")

    def as_message(self) -> dict[str, Any]:
        """This call in the shape the assistant message of the next request must carry."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class ModelReply(BaseModel):
    """The final answer of one `chat` call (after retries and re-asks)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    parsed: Any = Field(None, description="the validated pydantic object when `response_format` was given")
    finish_reason: str | None = None
    model: str | None = Field(None, description="the model name the endpoint reported")
    usage: ModelUsage = Field(default_factory=ModelUsage, description="this call only, re-asks and retries included")
    attempts: int = Field(1, description="HTTP requests sent, transient failures included")
    reasks: int = Field(0, description="times the model was asked again after an invalid reply")
    tool_calls_from_text: bool = Field(
        False, description="the tool calls were written into the text and parsed here, not returned by the endpoint"
    )

    def assistant_message(self) -> dict[str, Any]:
        """The reply as the assistant message to append to the conversation before sending tool results."""
        message: dict[str, Any] = {"role": "assistant"}
        if self.content is not None or not self.tool_calls:
            message["content"] = self.content or ""  # llama-cpp-python refuses content: null
        if self.tool_calls:
            message["tool_calls"] = [call.as_message() for call in self.tool_calls]
        return message
