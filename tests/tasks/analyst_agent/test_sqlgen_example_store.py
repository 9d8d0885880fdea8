"""The verified question -> SQL pair store (`store.examples`), on a fresh SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from runtime.backend import reset_backends
from store import examples
from store.examples import ExampleInputError
from tests.runtime.conftest import fresh_database


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TASKPACK_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_a_pair_is_stored_once_per_source_and_listed_oldest_first(store_url: str) -> None:
    first = examples.add_example("src_a", "How many orders?", "SELECT count(*) FROM orders", origin="seed", database_url=store_url)
    again = examples.add_example("src_a", "  how many   ORDERS? ", "SELECT  count(*)  FROM orders", database_url=store_url)
    assert again.id == first.id and again.origin == "seed"  # the same pair (spacing, case of the question) once
    other = examples.add_example(
        "src_a", "Revenue by channel?", "SELECT channel, sum(x) FROM t GROUP BY 1", origin="metric", metric_id="m_1",
        database_url=store_url,
    )  # fmt: skip
    examples.add_example("src_b", "How many orders?", "SELECT count(*) FROM orders", database_url=store_url)
    listed = examples.list_examples("src_a", database_url=store_url)
    assert [e.id for e in listed] == [first.id, other.id] and listed[1].metric_id == "m_1"
    assert len(examples.list_examples("src_b", database_url=store_url)) == 1
    assert examples.list_examples("nobody", database_url=store_url) == []
    assert examples.delete_example(first.id, database_url=store_url)
    assert not examples.delete_example(first.id, database_url=store_url)
    assert [e.id for e in examples.list_examples("src_a", database_url=store_url)] == [other.id]


def test_concurrent_adds_of_one_pair_store_one_row(store_url: str) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def add() -> None:
        try:
            results.append(examples.add_example("src", "Top customer?", "SELECT 1", database_url=store_url).id)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=add) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert len(examples.list_examples("src", database_url=store_url)) == 1


@pytest.mark.parametrize(
    ("question", "sql", "origin", "message"),
    [
        ("", "SELECT 1", "user", "non-empty"),
        ("q?", "   ", "user", "non-empty"),
        ("q" * 2001, "SELECT 1", "user", "too long"),
        ("q?", "SELECT 1", "robot", "origin must be"),
    ],
)
def test_bad_pairs_are_refused_before_anything_is_written(question: str, sql: str, origin: str, message: str, sqlite_url: str) -> None:
    with pytest.raises(ExampleInputError, match=message):
        examples.add_example("src", question, sql, origin=origin, database_url=sqlite_url)  # type: ignore[arg-type]
    assert examples.list_examples("src", database_url=sqlite_url) == []


def test_sql_injection_in_a_question_is_stored_as_text(sqlite_url: str) -> None:
    nasty = "x'); DROP TABLE store_sql_examples; --"
    stored = examples.add_example("src", nasty, "SELECT 1", database_url=sqlite_url)
    assert stored.question == nasty
    assert [e.question for e in examples.list_examples("src", database_url=sqlite_url)] == [nasty]


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    try:
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    finally:
        reset_backends()


def test_verified_examples_of_the_source_are_chosen_by_question_skeleton(sqlite_url: str) -> None:
    from tasks.analyst_agent.sqlgen import verified_examples

    examples.add_example("wh", "How many orders were placed in 2024?", "SELECT count(*) FROM orders WHERE y = 2024", database_url=sqlite_url)
    examples.add_example("wh", "Which channel brought the most revenue?", "SELECT channel FROM sales GROUP BY 1 ORDER BY sum(revenue) DESC LIMIT 1", database_url=sqlite_url)
    examples.add_example("other", "Which channel brought the most revenue?", "SELECT 1", database_url=sqlite_url)
    found = verified_examples("wh", "Which region brought the most revenue?", ["sales", "channel", "region", "revenue"], 1, database_url=sqlite_url)
    assert [e.sql for e in found] == ["SELECT channel FROM sales GROUP BY 1 ORDER BY sum(revenue) DESC LIMIT 1"]
    assert found[0].source == "wh"
    assert verified_examples("nobody", "Which region?", [], 3, database_url=sqlite_url) == []
    assert verified_examples("wh", "Which region?", [], 0, database_url=sqlite_url) == []
