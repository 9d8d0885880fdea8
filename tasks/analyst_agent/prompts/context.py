"""The shared opening of every prompt: the data the model may use, the organisation's rules and the dates."""

from __future__ import annotations

from tasks.analyst_agent.memory import RunMemory

MAX_HISTORY_TURNS = 4
MAX_HISTORY_CHARS = 600


def data_context(memory: RunMemory) -> str:
    """What every state's system prompt starts with, identical across states, so the model server's prefix cache
    serves it once per run (at ~25 prompt tokens/s on the offline model, a 900-token context costs ~35 s)."""
    parts = [f"Database ({memory.dialect or memory.source_type}) tables:\n{memory.schema_text.strip()}"]
    if memory.value_hints:
        parts.append("Values named in the question:\n" + "\n".join(f"- {hint}" for hint in memory.value_hints))
    if memory.date_text:
        parts.append(memory.date_text)
    if memory.instructions.strip():
        parts.append(f"Rules from the organisation:\n{memory.instructions.strip()}")
    return "\n\n".join(parts)


def history_text(memory: RunMemory) -> str:
    """The last few turns of the chat, so a follow-up ("and by country?") has its antecedent."""
    lines = []
    for turn in memory.history[-MAX_HISTORY_TURNS:]:
        lines.append(f"User asked: {turn.question[:MAX_HISTORY_CHARS]}")
        if turn.clarifying_question:
            lines.append(f"You asked back: {turn.clarifying_question[:MAX_HISTORY_CHARS]}")
        elif turn.answer:
            lines.append(f"You answered: {turn.answer[:MAX_HISTORY_CHARS]}")
        if turn.sql:
            lines.append(f"Using SQL: {turn.sql[:MAX_HISTORY_CHARS]}")
    return "\n".join(lines)


def question_text(memory: RunMemory) -> str:
    history = history_text(memory)
    prefix = f"Earlier in this chat:\n{history}\n\n" if history else ""
    return f"{prefix}Question: {memory.question}"


def sql_history(memory: RunMemory) -> list[str]:
    """Earlier questions of the chat as the SQL writer takes them (follow-ups need their antecedent)."""
    return [turn.question for turn in memory.history[-MAX_HISTORY_TURNS:]]
