"""`ask_clarifying_question` and `done`: the two tools that end the analyzing loop, with what the user is shown."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tasks.analyst_agent.tools.args import AskClarifyingQuestionArgs, DoneArgs
from tasks.analyst_agent.tools.env import ToolEnv


class ClarifyingQuestion(BaseModel):
    ok: bool = True
    question: str
    options: list[str] = Field(default_factory=list)

    def for_model(self) -> str:
        return "the question was put to the user; stop here"

    def record(self) -> dict[str, Any]:
        return {"ok": True, "question": self.question, "options": self.options}


class Done(BaseModel):
    ok: bool = True
    answer: str

    def for_model(self) -> str:
        return "the answer was recorded"

    def record(self) -> dict[str, Any]:
        return {"ok": True, "answer": self.answer[:2000]}


def ask_clarifying_question(env: ToolEnv, args: AskClarifyingQuestionArgs) -> ClarifyingQuestion:
    """The question for the user (the run ends with it; the user's reply starts the chat's next turn)."""
    options = [o.strip() for o in args.options if o and o.strip()]
    return ClarifyingQuestion(question=args.question.strip(), options=list(dict.fromkeys(options)))


def done(env: ToolEnv, args: DoneArgs) -> Done:
    """The final answer (the reviewing state checks its numbers against the queried results)."""
    return Done(answer=args.answer.strip())
