"""Fit the catalog search's fusion weights on the spider-dev questions; write them to the search's weights.json.

Run as a script: `python bench/fit_search_weights.py [--cv] [--write]`.

What is fitted on what:
- questions: the dataset's (spider-dev) questions and their gold tables, nothing else;
- candidates: the dataset's own catalog (its ten databases pooled together, ~40 tables). The benchmark's pool
  (spider-schemas) is never seen here, so `bench/agent_eval.py` measures the weights on tables they were not fit to.
- loss: listwise softmax cross-entropy of each gold table against every table, plus a small L2 pull towards the
  hand-set defaults; weights kept non-negative so that every signal only ever adds evidence (explanations stay
  honest). scipy's L-BFGS-B minimises it.

`--cv` also reports leave-one-database-out figures: for each dataset database, weights fitted on the other nine
rank that database's questions in the pooled catalog (the benchmark's setting); their pooled recall is what the
fitted weights can be expected to do on a database they have never seen.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.agent_eval import _gold_indices, gold_ranks, ranking_stats  # noqa: E402
from bench.agent_eval_data import DEFAULT_DATASET, DEFAULT_POOL, Dataset, Question, load_dataset  # noqa: E402
from connectors.catalog import Catalog  # noqa: E402
from tasks.analyst_agent.search import (  # noqa: E402
    CatalogIndex,
    fusion,  # noqa: E402
    load_embedder,
)

L2 = 0.01
UPPER = 30.0


def _weights_from(vector: np.ndarray, names: tuple[str, ...]) -> fusion.FusionWeights:
    stage1 = {n: float(v) for n, v in zip(names, vector[: len(names)])}
    stage2 = {n: float(v) for n, v in zip(fusion.GRAPH_FEATURES, vector[len(names) :])}
    return fusion.FusionWeights(stage1=stage1, stage2=stage2)


def _vector_from(weights: fusion.FusionWeights, names: tuple[str, ...]) -> np.ndarray:
    return np.array(
        [weights.stage1.get(n, 0.0) for n in names] + [weights.stage2.get(n, 0.0) for n in fusion.GRAPH_FEATURES],
        np.float64,
    )


Rows = list[tuple[np.ndarray, np.ndarray]]  # per question: stage-1 features (tables x features), gold table indices


def collect(index: CatalogIndex, questions: Sequence[Question], embedder: Embedder | None) -> Rows:
    """(stage-1 features, gold indices) per question."""
    rows = []
    for q in questions:
        scored = index.score(q.question, embedder)
        rows.append((scored.features.astype(np.float64), np.array(sorted(_gold_indices(index, q)))))
    return rows


def fit(
    index: CatalogIndex, rows: Rows, names: tuple[str, ...], start: fusion.FusionWeights
) -> tuple[fusion.FusionWeights, float]:
    from scipy.optimize import minimize

    x0 = _vector_from(start, names)

    def loss(x: np.ndarray) -> float:
        w1 = x[: len(names)]
        a, b = x[len(names) :]
        total = 0.0
        for features, gold in rows:
            s1 = features @ w1
            best, second = index.graph.neighbour_max(fusion.relative(s1).astype(np.float32))
            s = s1 + a * best + b * second
            top = s.max()
            log_z = top + np.log(np.exp(s - top).sum())
            total += float((log_z - s[gold]).sum())
        return total / len(rows) + L2 * float(((x - x0) ** 2).sum())

    result = minimize(loss, x0, method="L-BFGS-B", bounds=[(0.0, UPPER)] * len(x0), options={"maxiter": 200})
    return _weights_from(result.x, names), float(result.fun)


def _catalog_of(dataset: Dataset, databases: Sequence[str]) -> Catalog:
    return Catalog(source_type=dataset.catalog.source_type, databases=[dataset.catalog.database(d) for d in databases])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL, help="used by --cv only, to measure")
    parser.add_argument("--cv", action="store_true", help="leave-one-database-out figures on the pooled catalog")
    parser.add_argument("--write", action="store_true", help=f"write {fusion.WEIGHTS_FILE.name}")
    args = parser.parse_args(argv)

    dataset = load_dataset(args.dataset, None)
    embedder = load_embedder()
    modes = [False, True] if embedder is not None else [False]
    out: dict[str, object] = {
        "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "questions": len(dataset.questions),
        "candidates": dataset.catalog.table_count,
        "trained_on": f"{args.dataset.name} questions against the {args.dataset.name} catalog only",
    }
    pooled = load_dataset(args.dataset, args.pool) if args.cv else None
    for dense in modes:
        model = embedder if dense else None
        names = fusion.feature_names(dense)
        started = time.perf_counter()
        index = CatalogIndex.build(dataset.catalog, dataset.profiles, dataset.values, embedder=model)
        rows = collect(index, dataset.questions, model)
        weights, final_loss = fit(index, rows, names, fusion.DEFAULT_WEIGHTS[dense])
        label = "dense" if dense else "lexical"
        print(f"[{label}] loss {final_loss:.4f} in {time.perf_counter() - started:.1f} s")
        print("  stage1 " + ", ".join(f"{k}={v:.2f}" for k, v in weights.stage1.items()))
        print("  stage2 " + ", ".join(f"{k}={v:.2f}" for k, v in weights.stage2.items()))
        out[label] = weights.to_dict()
        if pooled is not None:
            _cross_validate(dataset, pooled, index, rows, names, model)
    if args.write:
        fusion.WEIGHTS_FILE.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {fusion.WEIGHTS_FILE}")


def _cross_validate(
    dataset: Dataset, pooled: Dataset, index: CatalogIndex, rows: Rows, names: tuple[str, ...], model: Embedder | None
) -> None:
    pool_index = CatalogIndex.build(pooled.catalog, pooled.profiles, pooled.values, embedder=model)
    databases = sorted({q.database for q in dataset.questions})
    ranks: list[list[int]] = []
    for held_out in databases:
        train = [r for r, q in zip(rows, dataset.questions) if q.database != held_out]
        weights, _ = fit(index, train, names, fusion.DEFAULT_WEIGHTS[model is not None])
        for q in pooled.questions:
            if q.database == held_out:
                order = pool_index.rank(q.question, model, weights)
                ranks.append(gold_ranks(order, _gold_indices(pool_index, q)))
    stats = ranking_stats(ranks)
    print(
        f"  leave-one-database-out, pooled {pool_index.keys.__len__()} tables: R@1 {stats.recall[1]:.3f} "
        f"R@5 {stats.recall[5]:.3f} R@10 {stats.recall[10]:.3f} all@5 {stats.all_found[5]:.3f} "
        f"all@10 {stats.all_found[10]:.3f}"
    )


if __name__ == "__main__":
    main()
