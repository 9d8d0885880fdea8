"""Why a table was picked, in words: the matched columns and one reason per signal, weighted by its share.

The weights are the fused score's own parts (each feature times its learned weight, the graph's lent shares), so
the UI shows what actually decided, and the planner can repeat it ("'Aberdeen' is a value of airports.City").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tasks.analyst_agent.search import fusion
from tasks.analyst_agent.search.graph import DECLARED
from tasks.analyst_agent.search.results import Reason, TableHit
from tasks.analyst_agent.search.text import identifier_terms, split_identifier, stem

if TYPE_CHECKING:
    from tasks.analyst_agent.search.index import CatalogIndex, Scored

LEXICAL = ("name_bm25", "columns_bm25", "text_bm25", "values_bm25", "name_coverage", "question_coverage")
SCHEMA = ("group_bm25", "group_value_match", "group_dense")
#: a neighbour lending less than this share of the best score is not named as a reason
NEIGHBOUR_SHARE = 0.05
#: the schema is named when it makes at least this share of the score
SCHEMA_SHARE = 0.15


def explain(
    index: "CatalogIndex",
    i: int,
    score: float,
    scored: "Scored",
    weights: fusion.FusionWeights,
    shares: np.ndarray,
    chosen: set[int],
    joins: tuple[int, int] | None = None,
) -> TableHit:
    """The hit for table i: matched columns and the reasons, each weighted by its part of the score (`shares`:
    every table's stage-1 score relative to the best, which is what a neighbour lends)."""
    key = index.keys[i]
    terms = set(scored.terms)
    contributions = dict(zip(scored.names, scored.features[i] * weights.vector(scored.names)))
    lexical_columns = [c for c in index.columns[i] if terms.intersection(identifier_terms(c))]
    name_words = [w for w in split_identifier(key.table) if stem(w) in terms]
    values = [m for m in scored.value_matches if m.table == i]
    matched = lexical_columns + [c for c in dict.fromkeys(m.column for m in values) if c not in lexical_columns]

    def positive(names: tuple[str, ...]) -> float:
        return sum(max(0.0, float(contributions.get(f, 0.0))) for f in names)

    by_kind: dict[str, float] = {
        "lexical": positive(LEXICAL),
        "value": positive(("value_match",)),
        "embedding": positive(("dense", "dense_relative")),
        "schema": positive(SCHEMA),
    }
    neighbours = sorted(
        ((float(shares[j]), j, kind, how) for j, kind, how in index.graph.neighbours(i) if j != i),
        reverse=True,
    )
    strong = [(share, j, kind, how) for share, j, kind, how in neighbours[:2] if share >= NEIGHBOUR_SHARE]
    graph_weight = sum(
        share * weights.stage2.get(name, 0.0) for (share, *_), name in zip(strong, fusion.GRAPH_FEATURES)
    )
    by_kind["foreign_key"] = max(0.0, graph_weight)
    total = sum(by_kind.values()) or 1.0

    reasons: list[Reason] = []

    def add(kind: str, detail: str, weight: float) -> None:
        reasons.append(Reason(kind=kind, detail=detail, weight=round(weight, 4)))  # type: ignore[arg-type]

    if by_kind["lexical"] > 0 and (name_words or lexical_columns):
        parts = []
        if name_words:
            parts.append(f"the table name ({', '.join(repr(w) for w in name_words)})")
        if lexical_columns:
            parts.append(f"column(s) {', '.join(lexical_columns[:6])}")
        add("lexical", "question words match " + " and ".join(parts), by_kind["lexical"] / total)
    for m in values[:3]:
        add(
            "value",
            f"'{m.phrase}' is a value of column {m.column} ({m.value!r})",
            by_kind["value"] / total / len(values[:3]),
        )
    if by_kind["embedding"] > 0 and scored.dense is not None:
        cosine = float(scored.dense[i])
        add(
            "embedding", f"its description is close to the question (cosine {cosine:.2f})", by_kind["embedding"] / total
        )
    for share, j, kind, how in strong:
        tag = "foreign key" if kind == DECLARED else "inferred join"
        partner = index.keys[j].table + (" (also returned)" if j in chosen else "")
        add("foreign_key", f"{tag} to {partner}: {how}", by_kind["foreign_key"] / total / len(strong))
    if joins is not None:
        a, b = (index.keys[t].table for t in joins)
        add("foreign_key", f"joins {a} and {b}, which have no key between them", 1.0)
    if by_kind["schema"] / total >= SCHEMA_SHARE:
        db, schema = index.groups[int(index.table_group[i])]
        add("schema", f"schema {db}.{schema} covers the question's words", by_kind["schema"] / total)
    reasons.sort(key=lambda r: -r.weight)
    return TableHit(
        database=key.database,
        schema=key.schema,
        table=key.table,
        score=round(score, 6),
        matched_columns=matched,
        reasons=reasons,
    )
