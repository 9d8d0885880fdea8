"""Chats in the store, on SQLite and PostgreSQL: created on first use, one turn per run (a resumed run never adds a
second), positions in order under racing runs, history for the next run, ids checked as an attacker would send them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from store import chats
from store.chats import ChatNotFoundError, InvalidChatError


def test_turns_are_kept_in_order_once_per_run(store_url: str) -> None:
    chat = chats.ensure_chat("chat-1", data_source_id="src_a", title="Marketing", database_url=store_url)
    assert chats.ensure_chat("chat-1", data_source_id="src_a", database_url=store_url) == chat
    first = chats.add_turn(
        "chat-1", run_id="run_1", question="Which channel brought the most revenue?", answer="Email: $1,234.50",
        sql_queries=["SELECT 1"], metric_ids=["met_1"], database_url=store_url,
    )  # fmt: skip
    repeat = chats.add_turn("chat-1", run_id="run_1", question="changed on the retry", database_url=store_url)
    assert repeat.position == first.position == 1 and repeat.question == first.question
    chats.add_turn("chat-1", run_id="run_2", question="And last year?", clarifying_question="Calendar or fiscal?", database_url=store_url)
    chats.add_turn("chat-1", run_id=None, question="A turn written by hand", answer="ok", database_url=store_url)
    turns = chats.history("chat-1", database_url=store_url)
    assert [(t.position, t.run_id) for t in turns] == [(1, "run_1"), (2, "run_2"), (3, None)]
    assert turns[0].metric_ids == ["met_1"] and turns[0].sql_queries == ["SELECT 1"] and turns[1].answer is None
    assert [t.position for t in chats.history("chat-1", limit=2, database_url=store_url)] == [2, 3]
    assert chats.turn_for_run("run_2", database_url=store_url).clarifying_question == "Calendar or fiscal?"
    assert chats.turn_for_run("run_9", database_url=store_url) is None
    assert chats.history("chat-unknown", database_url=store_url) == []
    assert chats.get_chat("chat-1", database_url=store_url).updated_at >= chat.updated_at
    chats.ensure_chat("chat-2", data_source_id="src_b", database_url=store_url)
    assert [c.id for c in chats.list_chats(data_source_id="src_a", database_url=store_url)] == ["chat-1"]


def test_racing_runs_get_distinct_positions_and_a_repeated_run_one_turn(store_url: str) -> None:
    chats.ensure_chat("race", data_source_id="src_a", database_url=store_url)
    barrier = threading.Barrier(6)

    def add(n: int) -> int:
        barrier.wait()
        return chats.add_turn("race", run_id=f"run_{n % 3}", question=f"q{n % 3}", database_url=store_url).position

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(add, range(6)))
    turns = chats.history("race", database_url=store_url)
    assert [t.position for t in turns] == [1, 2, 3]
    assert sorted(t.run_id for t in turns) == ["run_0", "run_1", "run_2"]


def test_bad_ids_and_text_are_refused_and_a_chat_stays_on_its_source(store_url: str) -> None:
    for bad in ("", " chat", "../etc/passwd", "a" * 201, "chat\x00x", "chat;drop", "-lead", 7, None):
        with pytest.raises(InvalidChatError, match="invalid chat id"):
            chats.ensure_chat(bad, data_source_id="src_a", database_url=store_url)  # type: ignore[arg-type]
    longest = "c" + "-" * 198 + "z"
    assert chats.ensure_chat(longest, data_source_id="src_a", database_url=store_url).id == longest  # as the payload allows
    chats.ensure_chat("c", data_source_id="src_a", database_url=store_url)
    with pytest.raises(InvalidChatError, match="belongs to data source 'src_a'"):
        chats.ensure_chat("c", data_source_id="src_b", database_url=store_url)
    with pytest.raises(ChatNotFoundError, match="'nope'"):
        chats.add_turn("nope", run_id="run_1", question="q", database_url=store_url)
    with pytest.raises(InvalidChatError, match="question must not be empty"):
        chats.add_turn("c", run_id="run_1", question="   ", database_url=store_url)
    with pytest.raises(InvalidChatError, match="NUL"):
        chats.add_turn("c", run_id="run_1", question="a\x00b", database_url=store_url)
    with pytest.raises(InvalidChatError, match="metric_ids must be a list"):
        chats.add_turn("c", run_id="run_1", question="q", metric_ids="met_1", database_url=store_url)  # type: ignore[arg-type]
    with pytest.raises(ChatNotFoundError):
        chats.get_chat("nope", database_url=store_url)
    assert chats.history("c", database_url=store_url) == []
