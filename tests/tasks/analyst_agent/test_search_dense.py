"""The embedder reads only the pieces it keeps: texts cut to their first words give the same vectors as whole texts
cut to the same number of pieces, and texts that read the same once cut run the model once."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tasks.analyst_agent.search import dense
from tasks.analyst_agent.search.dense import MiniLMEmbedder, embeddings_available, first_words


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    if not embeddings_available():
        if os.environ.get("CI") == "true":
            pytest.fail("the embeddings extra is missing (CI installs it)")
        pytest.skip("the embeddings extra is not installed")
    return MiniLMEmbedder(workers=2)


def test_first_words_keeps_whole_words_and_short_texts_as_they_are() -> None:
    assert first_words("order items: order id, product id, quantity", 3) == "order items: order"
    assert first_words("  spaced \t out\nwords here ", 2) == "spaced out"
    assert first_words("two words", 2) == "two words" and first_words("", 5) == ""
    assert first_words("exactly three words", 3) == "exactly three words"


TEXTS = [
    "customer order line items: order id, product id, quantity, unit price, discount, tax rate, shipped at",
    "payments: payment id, order id, amount, currency, method, captured at, refunded amount, processor reference",
    "marketing channels: channel id, name, kind, monthly budget, owner email, started on",
    "über-größe café: naïve straße, façade résumé",  # accents and punctuation: the tokenizer normalises them
    "x",
]


@pytest.mark.parametrize("limit", [5, 8, 12, 256])
def test_cut_texts_embed_exactly_as_whole_texts_cut_to_the_same_pieces(model: MiniLMEmbedder, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    cut = model.embed(TEXTS, max_tokens=limit)
    monkeypatch.setattr(dense, "first_words", lambda text, count: text)  # the whole text goes to the tokenizer
    whole = model.embed(TEXTS, max_tokens=limit)
    assert np.allclose(cut, whole, atol=1e-6)
    norms = np.linalg.norm(cut, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    if limit <= 8:  # the first rows differ only past their first pieces: cut short, they differ still by name
        assert not np.allclose(cut[0], cut[1])


def test_texts_that_read_the_same_once_cut_run_the_model_once(model: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    rows_run: list[int] = []
    real_run = model._run

    def counting_run(batch):  # type: ignore[no-untyped-def]
        rows_run.append(len(batch))
        return real_run(batch)

    monkeypatch.setattr(model, "_run", counting_run)
    texts = [
        "orders archive 2024 january: order id, customer id, total",
        "orders archive 2024 february: order id, customer id, total",
        "orders archive 2024 january: order id, customer id, total",
    ]
    vectors = model.embed(texts, max_tokens=6)  # [CLS] orders archive 2024 ... [SEP]: all three read the same
    assert sum(rows_run) == 1
    assert np.array_equal(vectors[0], vectors[1]) and np.array_equal(vectors[1], vectors[2])
    rows_run.clear()
    vectors = model.embed(texts, max_tokens=64)  # whole: two distinct texts
    assert sum(rows_run) == 2
    assert np.array_equal(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
