"""How the signals become one score: a learned linear fusion in two stages.

Stage 1 scores each table from its own evidence (BM25 per field, question coverage, the schema's BM25, value
matches, embedding similarity). Stage 2 adds what its join-graph neighbours earned in stage 1 (best and second-best
neighbour, each as a share of the question's best table), so join partners of strong hits rise with them.

Raw signals live on different scales (a BM25 score depends on the question's length and rarity), so each BM25
signal is divided by its best value for the question; the embedding similarity is kept raw and also taken relative to
the question's best. The weights come from `weights.json`, fitted by `bench/fit_search_weights.py` on the spider-dev
questions against the spider-dev catalog only (never the pooled schemas the benchmark ranks against); one set with
embeddings, one without.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tasks.analyst_agent.search.graph import JoinGraph

WEIGHTS_FILE = Path(__file__).with_name("weights.json")

LEXICAL_FEATURES = (
    "name_bm25",  # table name words
    "columns_bm25",  # column name words
    "text_bm25",  # comments, view definitions
    "values_bm25",  # words of profiled and indexed values
    "name_coverage",  # share of the table name's words the question says
    "question_coverage",  # IDF-weighted share of the question's words found in this table's names
    "group_bm25",  # the table's schema (database) as one document
    "value_match",  # a question phrase equals a stored value of the table
    "group_value_match",  # ... of another table of the same schema
)
DENSE_FEATURES = ("dense", "dense_relative", "group_dense")
GRAPH_FEATURES = ("neighbour_best", "neighbour_second")


def feature_names(dense: bool) -> tuple[str, ...]:
    return LEXICAL_FEATURES + (DENSE_FEATURES if dense else ())


@dataclass(frozen=True)
class FusionWeights:
    stage1: dict[str, float]
    stage2: dict[str, float]

    def vector(self, names: tuple[str, ...]) -> np.ndarray:
        return np.array([self.stage1.get(n, 0.0) for n in names], np.float32)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {"stage1": dict(self.stage1), "stage2": dict(self.stage2)}


#: starting point of the fit, and the fallback when weights.json lacks a set
DEFAULT_WEIGHTS = {
    True: FusionWeights(
        stage1={
            "name_bm25": 3.0,
            "columns_bm25": 1.5,
            "text_bm25": 0.5,
            "values_bm25": 0.5,
            "name_coverage": 1.0,
            "question_coverage": 2.0,
            "group_bm25": 2.0,
            "value_match": 2.0,
            "group_value_match": 0.5,
            "dense": 4.0,
            "dense_relative": 4.0,
            "group_dense": 1.0,
        },
        stage2={"neighbour_best": 1.0, "neighbour_second": 1.0},
    ),
    False: FusionWeights(
        stage1={
            "name_bm25": 3.0,
            "columns_bm25": 1.5,
            "text_bm25": 0.5,
            "values_bm25": 0.5,
            "name_coverage": 1.0,
            "question_coverage": 2.0,
            "group_bm25": 2.0,
            "value_match": 2.0,
            "group_value_match": 0.5,
        },
        stage2={"neighbour_best": 1.0, "neighbour_second": 1.0},
    ),
}


@lru_cache(maxsize=1)
def _weights_file() -> dict:
    if not WEIGHTS_FILE.is_file():
        return {}
    return json.loads(WEIGHTS_FILE.read_text())


def learned_weights(dense: bool) -> FusionWeights:
    data = _weights_file().get("dense" if dense else "lexical")
    if not data:
        return DEFAULT_WEIGHTS[dense]
    return FusionWeights(stage1=dict(data["stage1"]), stage2=dict(data["stage2"]))


def relative(scores: np.ndarray) -> np.ndarray:
    """exp(score - best): 1 for the question's best table, falling off for the rest (scale of the fused score)."""
    if scores.size == 0:
        return scores
    return np.exp(scores - scores.max())


def fuse(
    stage1_features: np.ndarray, names: tuple[str, ...], weights: FusionWeights, graph: "JoinGraph"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(final score, stage-1 score, best neighbour share, second neighbour share) for every table.

    `stage1_features` is (tables, features) in the order of `names`."""
    s1 = stage1_features @ weights.vector(names)
    best, second = graph.neighbour_max(relative(s1))
    s2 = s1 + weights.stage2.get("neighbour_best", 0.0) * best + weights.stage2.get("neighbour_second", 0.0) * second
    return s2, s1, best, second
