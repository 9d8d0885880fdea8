"""The analyst agent's evaluation harness: its SQL (execution accuracy with a model) and its catalog search.

Run as a script:
- `python bench/agent_eval.py [--limit N] [--seed S] [--databases a,b] [--details out.jsonl]`: the agent's SQL on the
  dataset's questions with the configured model (the offline one unless OPENAI_* is set), the single-prompt baseline
  in the same run; see `bench/agent_eval_sql.py` for the rule and the pipeline. Ablation switches: `--k`,
  `--examples`, `--samples`, `--no-link-values`, `--max-repairs`, `--no-vote`, `--no-baseline`.
- `python bench/agent_eval.py --search-only [--pool data/spider-schemas] [--limit N] [--databases a,b]`: the search.

The search-only mode:

For every question of a Spider-layout dataset (`sqlite/*.sqlite`, `questions.csv`), the tables its gold SQL reads
(parsed with sqlglot) must rank high:
- own database: the search sees only the question's database (one index per database);
- pooled: the search sees ONE catalog holding every dataset database plus every pool database (779 tables with the
  repository's spider-schemas; a database present in both counts once).

Reported per setting: recall@1/5/10 (share of a question's gold tables in the top k, averaged over questions),
all@5/10 (questions whose gold tables are ALL in the top k), mean rank (the rank at which a question's last gold
table appears), index build seconds, and search milliseconds per question (p50/p95, the public `search()` call with
its explanations, question embedding included), each also as CPU time of the process (what the figures would be on
an otherwise idle machine; the 1-minute load average is printed with them). The last line is `BENCH {json}`.

With a model the table shows the baseline, the agent's first answer (no repair) and the agent, and the last line is
`BENCH {"ex", "baseline_ex", "recall_at_5", "model_calls_per_question", "s_per_question", "baseline_s_per_question",
"overhead_ms_per_question", ...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.agent_eval_data import DEFAULT_DATASET, DEFAULT_POOL, Dataset, DatasetError, Question, load_dataset  # noqa: E402
from connectors.catalog import Catalog  # noqa: E402
from tasks.analyst_agent.search import CatalogIndex, load_embedder  # noqa: E402
from tasks.analyst_agent.search.dense import Embedder  # noqa: E402
from tasks.analyst_agent.search.fusion import FusionWeights  # noqa: E402

if TYPE_CHECKING:
    from tasks.analyst_agent.llm import ModelClient

KS = (1, 5, 10)


@dataclass
class RankingStats:
    """Recall figures of one setting (own database or pooled) over a question set."""

    recall: dict[int, float] = field(default_factory=dict)
    all_found: dict[int, float] = field(default_factory=dict)
    mean_rank: float = 0.0
    questions: int = 0


def gold_ranks(order: Sequence[int], gold: set[int]) -> list[int]:
    """1-based ranks of the gold tables in a ranking (all tables, best first)."""
    position = {t: r for r, t in enumerate(order, start=1)}
    return sorted(position[g] for g in gold)


def ranking_stats(all_ranks: list[list[int]]) -> RankingStats:
    stats = RankingStats(questions=len(all_ranks))
    if not all_ranks:
        return stats
    for k in KS:
        stats.recall[k] = statistics.fmean(sum(r <= k for r in ranks) / len(ranks) for ranks in all_ranks)
        stats.all_found[k] = statistics.fmean(float(max(ranks) <= k) for ranks in all_ranks)
    stats.mean_rank = statistics.fmean(max(ranks) for ranks in all_ranks)
    return stats


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def _gold_indices(index: CatalogIndex, question: Question) -> set[int]:
    wanted = {(question.database, t) for t in question.gold}
    found = {i for i, key in enumerate(index.keys) if (key.database, key.table.lower()) in wanted}
    if len(found) != len(question.gold):
        raise DatasetError(f"gold tables of {question.question!r} not all in the index")
    return found


class Evaluation(Protocol):
    """One part of the harness: runs over the dataset, prints its table, adds its keys to the BENCH line."""

    def run(self, dataset: Dataset, questions: list[Question]) -> dict[str, float]: ...


@dataclass
class SearchEvaluation:
    embedder: Embedder | None
    weights: FusionWeights | None = None
    pooled: bool = True
    timing_repeat: int = 1
    own: RankingStats | None = None
    pool: RankingStats | None = None
    own_build_s: float = 0.0
    pool_build_s: float = 0.0
    pool_build_cpu_s: float = 0.0
    search_ms: list[float] = field(default_factory=list)
    search_cpu_ms: list[float] = field(default_factory=list)
    misses: list[tuple[Question, list[str]]] = field(default_factory=list)

    def run(self, dataset: Dataset, questions: list[Question]) -> dict[str, float]:
        own_ranks: list[list[int]] = []
        by_db: dict[str, list[Question]] = {}
        for q in questions:
            by_db.setdefault(q.database, []).append(q)
        for name, qs in by_db.items():
            sub = Catalog(source_type=dataset.catalog.source_type, databases=[dataset.catalog.database(name)])
            index = self._build(sub, dataset)
            self.own_build_s += index.build_seconds
            for q in qs:
                own_ranks.append(
                    gold_ranks(index.rank(q.question, self.embedder, self.weights), _gold_indices(index, q))
                )
        self.own = ranking_stats(own_ranks)

        if self.pooled:
            cpu = time.process_time()
            index = self._build(dataset.catalog, dataset)
            self.pool_build_cpu_s = time.process_time() - cpu
            self.pool_build_s = index.build_seconds
            pool_ranks = []
            for q in questions:
                order = index.rank(q.question, self.embedder, self.weights)
                ranks = gold_ranks(order, _gold_indices(index, q))
                pool_ranks.append(ranks)
                if max(ranks) > 5:
                    self.misses.append((q, [index.keys[i].qualified for i in order[:5]]))
            self.pool = ranking_stats(pool_ranks)
            for _ in range(self.timing_repeat):
                for q in questions:
                    cpu, start = time.process_time(), time.perf_counter()
                    index.search(q.question, 10, embedder=self.embedder, weights=self.weights)
                    self.search_ms.append((time.perf_counter() - start) * 1000)
                    self.search_cpu_ms.append((time.process_time() - cpu) * 1000)
        return self.bench()

    def _build(self, catalog: Catalog, dataset: Dataset) -> CatalogIndex:
        names = {d.name for d in catalog.databases}
        profiles = [p for p in dataset.profiles if p.database in names]
        values = [v for v in dataset.values if v.table.database in names]
        return CatalogIndex.build(catalog, profiles, values, embedder=self.embedder)

    def bench(self) -> dict[str, float]:
        result: dict[str, float] = {"recall_at_5": round(self.own.recall[5], 4) if self.own else 0.0}
        if self.pool:
            result.update(
                pooled_recall_at_5=round(self.pool.recall[5], 4),
                pooled_recall_at_10=round(self.pool.recall[10], 4),
                pooled_all_at_5=round(self.pool.all_found[5], 4),
                search_ms_p95=round(percentile(self.search_ms, 0.95), 2),
                index_build_s=round(self.pool_build_s, 3),
                search_cpu_ms_p95=round(percentile(self.search_cpu_ms, 0.95), 2),
                index_build_cpu_s=round(self.pool_build_cpu_s, 3),
            )
        return result

    def table(self, tables: int) -> str:
        lines = [
            f"{'setting':<10} {'tables':>6} {'questions':>9} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'all@5':>6} "
            f"{'all@10':>6} {'rank':>6} {'build_s':>8}"
        ]
        rows = [("own-db", self.own, None, self.own_build_s)]
        if self.pool:
            rows.append(("pooled", self.pool, tables, self.pool_build_s))
        for name, stats, n, build in rows:
            assert stats is not None
            lines.append(
                f"{name:<10} {n if n is not None else '-':>6} {stats.questions:>9} {stats.recall[1]:>6.3f} "
                f"{stats.recall[5]:>6.3f} {stats.recall[10]:>6.3f} {stats.all_found[5]:>6.3f} "
                f"{stats.all_found[10]:>6.3f} {stats.mean_rank:>6.2f} {build:>8.2f}"
            )
        if self.search_ms:
            lines.append(
                f"search ms per question (pooled, k=10): p50 {percentile(self.search_ms, 0.5):.2f}  "
                f"p95 {percentile(self.search_ms, 0.95):.2f}  max {max(self.search_ms):.2f}  "
                f"(CPU ms p50 {percentile(self.search_cpu_ms, 0.5):.2f}  p95 {percentile(self.search_cpu_ms, 0.95):.2f})"
            )
            lines.append(
                f"index build (pooled): {self.pool_build_s:.2f} s wall, {self.pool_build_cpu_s:.2f} s CPU (all threads)"
            )
        return "\n".join(lines)


def pick_questions(questions: list[Question], limit: int | None, seed: int) -> list[Question]:
    if limit is None or limit >= len(questions):
        return list(questions)
    return random.Random(seed).sample(questions, limit)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset", type=Path, default=DEFAULT_DATASET, help="Spider-layout folder (sqlite/, questions.csv)"
    )
    parser.add_argument(
        "--pool", type=Path, default=DEFAULT_POOL, help="folder of <db>.schema.sql DDL files to pool with"
    )
    parser.add_argument("--no-pool", action="store_true", help="own-database recall only")
    parser.add_argument("--search-only", action="store_true", help="measure the catalog search (no model)")
    parser.add_argument("--limit", type=int, default=None, help="at most N questions (a seeded sample)")
    parser.add_argument("--databases", type=str, default=None, help="comma-separated dataset databases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-embeddings", action="store_true", help="lexical, value and graph signals only")
    parser.add_argument("--no-values", action="store_true", help="index no profiles or column values (schema only)")
    parser.add_argument("--misses", type=int, default=0, help="print up to N pooled questions missed at k=5")
    model = parser.add_argument_group("with a model (without --search-only)")
    model.add_argument("--k", type=int, default=5, help="tables the search keeps for the prompt")
    model.add_argument(
        "--prune", choices=("agent", "topk"), default="agent",
        help="agent: the searching state's cut of the top k (choose_tables); topk: all top k tables",
    )
    model.add_argument("--examples", type=int, default=0, help="few-shot examples from the other databases")
    model.add_argument("--samples", type=int, default=2, help="sample values per text column in the schema")
    model.add_argument("--no-link-values", action="store_true", help="no question literals linked to stored values")
    model.add_argument("--max-repairs", type=int, default=2, help="repair rounds after an error or a doubtful result")
    model.add_argument("--no-vote", action="store_true", help="no vote when the answer stays doubtful")
    model.add_argument("--vote-samples", type=int, default=3, help="sampled queries in a vote")
    model.add_argument(
        "--only-databases", type=str, default=None, help="comma-separated: of the seeded sample, only these databases' "
        "questions (to split one run over processes; merge with --report)"
    )
    model.add_argument(
        "--questions-from", type=Path, default=None,
        help="JSON lines with db and question (e.g. picked from --details): of the seeded sample, only these",
    )
    model.add_argument("--report", type=Path, nargs="+", default=None, help="no model: merge --details files")
    model.add_argument("--head", type=int, default=None, help="only the first N of the seeded sample (ablations)")
    model.add_argument("--no-baseline", action="store_true", help="skip the single-prompt baseline")
    model.add_argument("--details", type=Path, default=None, help="write one JSON line per answer to this file")
    model.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if args.head is not None and args.head < 1:
        parser.error("--head must be >= 1")
    if args.k < 1 or args.examples < 0 or args.samples < 0 or args.max_repairs < 0 or args.vote_samples < 0:
        parser.error("--k must be >= 1; --examples, --samples, --max-repairs, --vote-samples must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    if not args.search_only:
        return main_with_model(args)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()] if args.databases else None
    try:
        dataset = load_dataset(
            args.dataset, None if args.no_pool else args.pool, databases=databases, with_profiles=not args.no_values
        )
    except DatasetError as error:
        raise SystemExit(f"dataset error: {error}") from None
    questions = pick_questions(dataset.questions, args.limit, args.seed)
    embedder = None if args.no_embeddings else load_embedder()
    evaluation = SearchEvaluation(embedder=embedder, pooled=not args.no_pool)
    result = evaluation.run(dataset, questions)

    mode = f"embeddings {embedder.model_id}" if embedder else "no embeddings (lexical, values, graph)"
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)  # wall times stretch on a shared machine: say how busy
    pooled = "pooled" if not args.no_pool else "(no pool)"
    print(
        f"catalog search: {len(questions)} questions, {len(dataset.catalog.databases)} databases, "
        f"{dataset.catalog.table_count} tables {pooled}; {mode}; values {'off' if args.no_values else 'on'}"
    )
    print(evaluation.table(dataset.catalog.table_count))
    for q, top in evaluation.misses[: args.misses]:
        print(f"  miss [{q.database}] {q.question}  gold={sorted(q.gold)}  top5={top}")
    print("BENCH " + json.dumps(result))
    return result


def report_details(args: argparse.Namespace, questions: list[Question]) -> dict[str, float]:
    """The table and BENCH line of a run split over processes (`--only-databases`), from their `--details` files.
    Every question of the seeded sample must have been answered by the agent (and the baseline, unless skipped)."""
    from bench.agent_eval_sql import ModelSettings, SqlEvaluation

    rows = [json.loads(line) for path in args.report for line in path.read_text(encoding="utf-8").splitlines() if line]
    wanted = {(q.database, q.question) for q in questions}
    kinds = ("agent",) if args.no_baseline else ("agent", "baseline")
    for kind in kinds:
        answered = {(r["db"], r["question"]) for r in rows if r["kind"] == kind}
        missing = wanted - answered
        if missing:
            raise SystemExit(f"--report: {len(missing)} question(s) of the sample have no {kind} answer in the files")
    evaluation = SqlEvaluation(
        model=None,  # type: ignore[arg-type]  # nothing is asked: the answers are in the files
        embedder=None,
        settings=ModelSettings(
            k=args.k, examples=args.examples, link_values=not args.no_link_values, max_repairs=args.max_repairs,
            vote=not args.no_vote, vote_samples=args.vote_samples, baseline=not args.no_baseline, prune=args.prune,
        ),  # fmt: skip
    )
    evaluation.load_details([r for r in rows if (r["db"], r["question"]) in wanted])
    result = evaluation.bench()
    print(
        f"agent SQL: {len(questions)} questions (seed {args.seed}) from {len({q.database for q in questions})} "
        f"databases; merged from {len(args.report)} file(s) of --details"
    )
    print(evaluation.table())
    print("BENCH " + json.dumps(result))
    return result


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main_with_model(args: argparse.Namespace, model: "ModelClient | None" = None) -> dict[str, float]:
    """EX of the agent's SQL and of the baseline with one model (the configured endpoint unless one is passed)."""
    from bench.agent_eval_sql import ModelSettings, SqlEvaluation, open_details
    from tasks.analyst_agent.llm import ModelClient, resolve_endpoint

    databases = [d.strip() for d in args.databases.split(",") if d.strip()] if args.databases else None
    try:
        dataset = load_dataset(args.dataset, None, databases=databases, with_profiles=not args.no_values)
    except DatasetError as error:
        raise SystemExit(f"dataset error: {error}") from None
    questions = pick_questions(dataset.questions, args.limit, args.seed)
    if args.head is not None:
        questions = questions[: args.head]  # the same questions a full run with this --limit and --seed starts with
    if args.only_databases:
        keep = {d.strip() for d in args.only_databases.split(",") if d.strip()}
        questions = [q for q in questions if q.database in keep]
    if args.questions_from:
        picked = [json.loads(line) for line in args.questions_from.read_text(encoding="utf-8").splitlines() if line]
        wanted = {(row["db"], row["question"]) for row in picked}
        questions = [q for q in questions if (q.database, q.question) in wanted]
    if args.report:
        return report_details(args, questions)
    embedder = None if args.no_embeddings else load_embedder()
    settings = ModelSettings(
        k=args.k,
        examples=args.examples,
        samples=args.samples,
        link_values=not args.no_link_values,
        max_repairs=args.max_repairs,
        vote=not args.no_vote,
        vote_samples=args.vote_samples,
        baseline=not args.no_baseline,
        seed=args.seed,
        prune=args.prune,
    )
    own = model is None
    client = model if model is not None else ModelClient(resolve_endpoint())
    details = open_details(args.details)
    started = time.perf_counter()
    try:
        evaluation = SqlEvaluation(
            model=client,
            embedder=embedder,
            settings=settings,
            progress=None if args.quiet else sys.stderr,
            details=details,
        )
        partial = False
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            result = evaluation.run(dataset, questions)
        except KeyboardInterrupt:  # stopped early (Ctrl-C, SIGTERM): report what was measured, marked partial
            if not evaluation.agent:
                raise
            partial = True
            result = evaluation.bench()
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        if details is not None:
            details.close()
        if own:
            client.close()
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    if partial:
        result["partial"] = True
        print(f"STOPPED EARLY: {len(evaluation.agent)} of {len(questions)} questions answered")
    databases_used = len({q.database for q in questions})
    print(
        f"agent SQL: {len(questions)} questions (seed {args.seed}) from {databases_used} databases; model "
        f"{client.model}; search {'embeddings ' + embedder.model_id if embedder else 'lexical'}; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    print(evaluation.table())
    print("BENCH " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
