"""initializing: the source, its latest snapshot, the chat's history and the organisation's instructions.

A source without a snapshot is introspected first (task.py triggers `introspect-data` and waits, durably); a source
that is not registered fails the run at once with a message the user can act on.
"""

from __future__ import annotations

from pathlib import Path

import connectors
from runtime import logger, project_root
from store import snapshots, sources
from tasks.analyst_agent.errors import ChatMismatchError, SourceNotFoundError
from tasks.analyst_agent.interfaces import AnalystInput, ChatTurn
from tasks.analyst_agent.memory import RunMemory

#: the organisation's standing instructions (terms, conventions, "revenue excludes refunds"), one file per project
INSTRUCTIONS_FILE = Path(".taskpack") / "instructions.md"
MAX_INSTRUCTIONS_CHARS = 8_000
MAX_HISTORY_TURNS = 20


def initialize(memory: RunMemory, payload: AnalystInput) -> RunMemory:
    source = sources.find_source_by_id(payload.data_source_id)
    if source is None:
        raise SourceNotFoundError(
            f"The data source {payload.data_source_id!r} is not registered (removed?): register it again or pick "
            "another source.",
            details={"data_source_id": payload.data_source_id},
        )
    memory.source_name = source.name
    memory.source_type = source.source_type
    memory.dialect = connectors.connect(source.credentials).dialect  # lazy: nothing is opened here
    latest = snapshots.latest_snapshot(source.id)
    memory.snapshot_id = latest.id if latest is not None else None
    if payload.chat_id is not None:
        open_chat(payload.chat_id, source.id, payload.question)
    memory.history = payload.history if payload.history is not None else load_history(payload.chat_id)
    memory.instructions = organisation_instructions(payload.instructions)
    logger.info("source loaded", source=source.name, source_type=source.source_type, snapshot_id=memory.snapshot_id,
                history_turns=len(memory.history))
    return memory


def latest_snapshot_id(data_source_id: str) -> str | None:
    latest = snapshots.latest_snapshot(data_source_id)
    return latest.id if latest is not None else None


def open_chat(chat_id: str, data_source_id: str, question: str) -> None:
    """The chat, created on its first question; a chat of another source is refused before any work is done."""
    from store import chats

    try:
        chats.ensure_chat(chat_id, data_source_id=data_source_id, title=question[:200])
    except chats.InvalidChatError as error:
        raise ChatMismatchError(str(error), details={"chat_id": chat_id}) from None


def load_history(chat_id: str | None) -> list[ChatTurn]:
    """The chat's earlier turns from the store (oldest first); none without a chat id or before its first turn."""
    if chat_id is None:
        return []
    from store import chats

    turns = chats.history(chat_id, limit=MAX_HISTORY_TURNS)
    return [
        ChatTurn(
            question=t.question,
            answer=t.answer,
            clarifying_question=t.clarifying_question,
            sql=(t.sql_queries[-1] if t.sql_queries else None),
        )
        for t in turns
    ]


def organisation_instructions(extra: str | None) -> str:
    """`.taskpack/instructions.md` under the project root, then the payload's own."""
    parts = []
    path = project_root() / INSTRUCTIONS_FILE
    if path.is_file():
        parts.append(path.read_text(encoding="utf-8", errors="replace").strip())
    if extra:
        parts.append(extra.strip())
    return "\n\n".join(p for p in parts if p)[:MAX_INSTRUCTIONS_CHARS]
