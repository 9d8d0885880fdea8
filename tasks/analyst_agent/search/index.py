"""The search index of one catalog snapshot: built once (seconds), then queried per question (milliseconds).

`CatalogIndex.build` turns the catalog, its profiles and column values into per-field BM25 matrices, a value
dictionary, the join graph and (with the `embeddings` extra) one vector per table. `search` scores every table on
every signal with a few vectorised operations, fuses them (see fusion.py) and explains the top k. A rebuild for a
new snapshot can pass the previous index: tables whose description did not change keep their vectors, so a small
catalog diff costs a small number of model calls.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from connectors.catalog import Catalog, TableProfile
from tasks.analyst_agent.search import fusion
from tasks.analyst_agent.search.bm25 import FieldIndex
from tasks.analyst_agent.search.dense import Embedder, load_embedder
from tasks.analyst_agent.search.documents import build_documents, group_terms
from tasks.analyst_agent.search.explain import explain
from tasks.analyst_agent.search.graph import JOIN_PATH_HITS, JoinGraph, build_graph, complete_join_paths
from tasks.analyst_agent.search.results import ColumnValues, TableHit, TableKey
from tasks.analyst_agent.search.text import QUESTION_STOPWORDS, question_terms
from tasks.analyst_agent.search.values import ValueIndex, ValueMatch

TABLE_FIELDS = ("name", "columns", "text", "values")
MAX_K = 1000
#: word pieces the model reads per index build, spread over the tables: the model costs ~0.28 ms of CPU per word
#: piece here, so this bounds a build's embedding time (~70 s of CPU, ~35 s on two idle cores) whatever the
#: catalog's size. Up to ~940 tables every description is read whole (<= 256 pieces); at 20,000 tables each gets
#: 12: its name and first few columns (measured on the 779-table pool: 12 pieces per table cost ~0.01 of recall@5).
EMBED_TOKEN_BUDGET = 240_000
MIN_TOKENS_PER_TABLE = 12


def tokens_per_table(tables: int) -> int:
    return max(MIN_TOKENS_PER_TABLE, min(256, EMBED_TOKEN_BUDGET // max(1, tables)))


class SearchInputError(ValueError):
    """A question or k the search cannot take (empty question, k out of range)."""


@dataclass
class Scored:
    """Everything one question computed, kept for explanations and for fitting the fusion."""

    terms: list[str]
    features: np.ndarray  # (tables, features)
    names: tuple[str, ...]
    value_matches: list[ValueMatch]
    dense: np.ndarray | None


@dataclass
class CatalogIndex:
    keys: list[TableKey]
    groups: list[tuple[str, str]]
    table_group: np.ndarray  # int32 per table
    columns: list[list[str]]
    fields: dict[str, FieldIndex]
    group_field: FieldIndex
    values: ValueIndex
    graph: JoinGraph
    name_term_counts: np.ndarray  # float32: distinct content words in each table's name
    vectors: np.ndarray | None = None  # (tables, dim) float32, L2-normalised
    text_hashes: list[str] = field(default_factory=list)  # per table: hash of its embedding text
    model_id: str | None = None
    snapshot_id: str | None = None
    build_seconds: float = 0.0
    embedded_tables: int = 0  # tables whose vector this build computed (the rest came from the previous index)

    # -- building ---------------------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        catalog: Catalog,
        profiles: Iterable[TableProfile] = (),
        values: Iterable[ColumnValues] = (),
        *,
        embedder: Embedder | None | str = "auto",
        previous: "CatalogIndex | None" = None,
        snapshot_id: str | None = None,
    ) -> "CatalogIndex":
        """Index a catalog. `embedder="auto"` uses the installed model when the `embeddings` extra is present, None
        builds a lexical-only index; `previous` lends its vectors to tables whose description is unchanged."""
        started = time.perf_counter()
        model = load_embedder() if embedder == "auto" else embedder
        docs, groups = build_documents(catalog, profiles, values)
        keys = [d.key for d in docs]
        fields = {
            "name": FieldIndex.build([d.name_terms for d in docs]),
            "columns": FieldIndex.build([d.columns_field for d in docs]),
            "text": FieldIndex.build([d.text_field for d in docs]),
            "values": FieldIndex.build([d.values_field for d in docs]),
        }
        value_index = ValueIndex.build(
            ((i, column, value) for i, d in enumerate(docs) for column, value in d.values), len(docs)
        )
        name_counts = np.array(
            [max(1, len({t for t in d.name_terms if t not in QUESTION_STOPWORDS})) for d in docs], np.float32
        )
        index = cls(
            keys=keys,
            groups=groups,
            table_group=np.array([d.group for d in docs], np.int32),
            columns=[d.columns for d in docs],
            fields=fields,
            group_field=FieldIndex.build(group_terms(docs, groups)),
            values=value_index,
            graph=build_graph(catalog, keys),
            name_term_counts=name_counts,
            snapshot_id=snapshot_id,
        )
        if model is not None:
            index._embed([d.embed_text for d in docs], model, previous)
        index.build_seconds = time.perf_counter() - started
        return index

    def _embed(self, texts: list[str], model: Embedder, previous: "CatalogIndex | None") -> None:
        limit = tokens_per_table(len(texts))
        hashes = [hashlib.blake2b(f"{limit}:{t}".encode(), digest_size=12).hexdigest() for t in texts]
        vectors: np.ndarray | None = None
        todo = list(range(len(texts)))
        if previous is not None and previous.vectors is not None and previous.model_id == model.model_id:
            known = {h: i for i, h in enumerate(previous.text_hashes)}
            reuse = [(i, known[h]) for i, h in enumerate(hashes) if h in known]
            if reuse:
                vectors = np.zeros((len(texts), previous.vectors.shape[1]), np.float32)
                mine, theirs = zip(*reuse)
                vectors[list(mine)] = previous.vectors[list(theirs)]
                done = set(mine)
                todo = [i for i in todo if i not in done]
        if todo:
            unique = list(dict.fromkeys(texts[i] for i in todo))  # copies of a table (partitions, envs) embed once
            fresh = model.embed(unique, max_tokens=limit)
            row = {text: r for r, text in enumerate(unique)}
            if vectors is None:
                vectors = np.zeros((len(texts), fresh.shape[1]), np.float32)
            vectors[todo] = fresh[[row[texts[i]] for i in todo]]
        self.vectors = vectors if vectors is not None else np.zeros((0, 0), np.float32)
        self.text_hashes = hashes
        self.model_id = model.model_id
        self.embedded_tables = len(todo)

    # -- scoring -----------------------------------------------------------------------------------------------------
    @property
    def has_vectors(self) -> bool:
        return self.vectors is not None and self.model_id is not None and len(self.keys) > 0

    def score(self, question: str, embedder: Embedder | None = None) -> Scored:
        """Every signal for every table (see fusion.LEXICAL_FEATURES / DENSE_FEATURES)."""
        n = len(self.keys)
        terms = question_terms(question)
        raw = {name: self.fields[name].scores(terms) for name in TABLE_FIELDS}
        feats: dict[str, np.ndarray] = {
            "name_bm25": _by_max(raw["name"]),
            "columns_bm25": _by_max(raw["columns"]),
            "text_bm25": _by_max(raw["text"]),
            "values_bm25": _by_max(raw["values"]),
        }
        feats["name_coverage"], feats["question_coverage"] = self._coverage(terms)
        feats["group_bm25"] = _by_max(self.group_field.scores(terms))[self.table_group] if n else np.zeros(0)
        matches = self.values.match(question)
        value_match = np.zeros(n, np.float32)
        for m in matches:
            value_match[m.table] = max(value_match[m.table], m.score)
        feats["value_match"] = value_match
        feats["group_value_match"] = self._group_max(value_match)
        dense = None
        use_dense = embedder is not None and self.has_vectors and embedder.model_id == self.model_id
        if use_dense:
            qv = embedder.embed([question])[0]  # type: ignore[union-attr]
            # einsum, not `@`: a matrix-vector product through multi-threaded BLAS costs 3x more on a busy machine
            dense = np.einsum("ij,j->i", self.vectors, qv.astype(np.float32)).astype(np.float32, copy=False)
            top = float(dense.max()) if n else 0.0
            feats["dense"] = dense
            feats["dense_relative"] = dense - top
            feats["group_dense"] = self._group_max(dense) - top
        names = fusion.feature_names(use_dense)
        matrix = (
            np.stack([feats[name] for name in names], axis=1).astype(np.float32) if n else np.zeros((0, len(names)))
        )
        return Scored(terms=terms, features=matrix, names=names, value_matches=matches, dense=dense)

    def _group_max(self, values: np.ndarray) -> np.ndarray:
        best = np.full(len(self.groups), -np.inf, np.float32)
        np.maximum.at(best, self.table_group, values)
        return best[self.table_group]

    def _coverage(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.keys)
        name_hits = np.zeros(n, np.float32)
        covered = np.zeros(n, np.float32)
        total = 0.0
        for term in terms:
            name_docs, _ = self.fields["name"].term_weights(term)
            column_docs, _ = self.fields["columns"].term_weights(term)
            docs = np.union1d(name_docs, column_docs)
            if docs.size == 0:
                continue
            idf = math.log(1 + n / docs.size)
            total += idf
            covered[docs] += idf
            if term not in QUESTION_STOPWORDS:
                name_hits[name_docs] += 1
        return np.minimum(name_hits / self.name_term_counts, 1.0), covered / total if total else covered

    # -- searching ---------------------------------------------------------------------------------------------------
    def search(
        self,
        question: str,
        k: int = 10,
        *,
        embedder: Embedder | None | str = "auto",
        weights: fusion.FusionWeights | None = None,
    ) -> list[TableHit]:
        """The k tables most likely needed to answer `question`, best first, each with its reasons."""
        if not isinstance(question, str) or not question.strip():
            raise SearchInputError("question must be a non-empty string")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise SearchInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        if not self.keys:
            return []
        model = (load_embedder() if self.has_vectors else None) if embedder == "auto" else embedder
        scored = self.score(question, model)  # type: ignore[arg-type]
        use_dense = scored.dense is not None
        weights = weights or fusion.learned_weights(use_dense)
        final, s1, _, _ = fusion.fuse(scored.features, scored.names, weights, self.graph)
        order, bridges = self._order(final, min(len(final), k + JOIN_PATH_HITS))
        top = [int(i) for i in order[:k]]
        chosen = set(top)
        shares = fusion.relative(s1)
        return [explain(self, i, float(final[i]), scored, weights, shares, chosen, bridges.get(i)) for i in top]

    def rank(
        self, question: str, embedder: Embedder | None = None, weights: fusion.FusionWeights | None = None
    ) -> np.ndarray:
        """All tables, best first (indices into `keys`): the benchmark's view, without explanations."""
        scored = self.score(question, embedder)
        weights = weights or fusion.learned_weights(scored.dense is not None)
        final, _, _, _ = fusion.fuse(scored.features, scored.names, weights, self.graph)
        order, _ = self._order(final, len(final))
        return order

    def _order(self, final: np.ndarray, head: int) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
        """The best `head` tables in order, join paths of the leading hits completed (see graph.complete_join_paths)."""
        if head < len(final):
            top = np.argpartition(-final, head - 1)[:head]
            top = top[np.argsort(-final[top], kind="stable")]
        else:
            top = np.argsort(-final, kind="stable")
        return complete_join_paths(top, final, self.graph, self.table_group)


def _by_max(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if scores.size else 0.0
    return (scores / top).astype(np.float32) if top > 0 else scores.astype(np.float32)
