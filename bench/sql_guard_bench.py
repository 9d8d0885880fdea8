"""How long the SQL guard takes per query, and what the red-team corpus does against it.

Run as a script: `python bench/sql_guard_bench.py [--repeat 5] [--no-live]`.

Latency: for each of the eight dialects, every spider-dev gold query is transpiled from MySQL with sqlglot once (not
timed), then checked `--repeat` times. The table shows the distribution of all timed checks and, in `best_p95`, the
p95 over queries of each query's fastest check and, in `cpu_p95`, the p95 of the CPU time each check used (what the
guard costs when the machine is not busy with something else; this 2-core machine is shared, so single wall-clock
samples carry scheduler noise).

Attacks: every case of `tests/connectors/redteam/corpus.py` goes through the guard (tried / refused); the PostgreSQL,
MariaDB and DuckDB cases also run live against canary databases through the real connector path (skipped with
`--no-live` or when a server is down), and the table counts those with any effect on the canary, which must be 0.
The last line is `BENCH {json}`.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gc
import json
import logging
import socket
import statistics
import sys
import time
from pathlib import Path

import sqlglot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors import QueryError, ReadOnlyViolation  # noqa: E402
from connectors.sql_guard import check_read_only  # noqa: E402
from tests.connectors.redteam.corpus import CLASSES, CORPUS, LIVE_DIALECTS  # noqa: E402

QUESTIONS = ROOT / "data" / "spider-dev" / "questions.csv"
DIALECTS = ["postgres", "mysql", "redshift", "snowflake", "bigquery", "tsql", "databricks", "duckdb"]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def latency(gold: list[str], repeat: int) -> dict[str, object]:
    print(
        f"{'dialect':<11} {'queries':>7} {'passed':>6} {'mean_ms':>8} {'p50_ms':>7} {'p95_ms':>7} {'best_p95':>8} "
        f"{'cpu_p95':>7} {'max_ms':>7}"
    )
    all_ms: list[float] = []
    cpu_ms: list[float] = []
    best_ms: list[float] = []
    per_dialect: dict[str, float] = {}
    passed = total = 0
    for dialect in DIALECTS:
        queries = [sqlglot.transpile(q, read="mysql", write=dialect)[0] for q in gold]
        ms: list[list[float]] = [[] for _ in queries]
        cpu: list[float] = []
        ok = 0
        for _ in range(repeat):
            gc.collect()
            for i, sql in enumerate(queries):
                start, start_cpu = time.perf_counter(), time.thread_time()
                try:
                    check_read_only(sql, dialect, timeout=60)
                    ok += 1
                except (ReadOnlyViolation, QueryError):
                    pass
                ms[i].append((time.perf_counter() - start) * 1000)
                cpu.append((time.thread_time() - start_cpu) * 1000)
        flat = [m for per_query in ms for m in per_query]
        best = [min(per_query) for per_query in ms]
        all_ms.extend(flat)
        best_ms.extend(best)
        cpu_ms.extend(cpu)
        per_dialect[dialect] = statistics.fmean(flat)
        passed += ok // repeat
        total += len(queries)
        print(
            f"{dialect:<11} {len(queries):>7} {ok // repeat:>6} {statistics.fmean(flat):>8.3f} {_percentile(flat, 0.5):>7.3f} "
            f"{_percentile(flat, 0.95):>7.3f} {_percentile(best, 0.95):>8.3f} {_percentile(cpu, 0.95):>7.3f} {max(flat):>7.3f}"
        )
    return {
        "guard_mean_ms": round(statistics.fmean(all_ms), 4),
        "guard_p95_ms": round(_percentile(all_ms, 0.95), 4),
        "guard_best_p95_ms": round(_percentile(best_ms, 0.95), 4),
        "guard_cpu_p95_ms": round(_percentile(cpu_ms, 0.95), 4),
        "guard_max_ms": round(max(all_ms), 4),
        "queries_per_dialect": len(gold),
        "gold_checks": total,
        "gold_pass_rate": round(passed / total, 4),
        **{f"{d}_mean_ms": round(v, 4) for d, v in per_dialect.items()},
    }


def attacks(live: bool) -> dict[str, object]:
    refused_ms: list[float] = []
    tried: collections.Counter[str] = collections.Counter()
    refused: collections.Counter[str] = collections.Counter()
    let_through: list[str] = []
    for attack in CORPUS:
        tried[attack.klass] += 1
        start = time.perf_counter()
        try:
            check_read_only(attack.sql, attack.dialect, timeout=10)
            let_through.append(f"{attack.dialect}: {attack.sql}")
        except (ReadOnlyViolation, QueryError):
            refused[attack.klass] += 1
        refused_ms.append((time.perf_counter() - start) * 1000)

    live_tried: collections.Counter[str] = collections.Counter()
    live_effect: collections.Counter[str] = collections.Counter()
    live_ran = 0
    live_dialects: list[str] = []
    if live:
        from tests.connectors.redteam.live import run_duckdb, run_mysql, run_postgres

        runners = {
            "postgres": (lambda a: run_postgres(a, "127.0.0.1", 5432, "postgres"), _reachable(5432)),
            "mysql": (lambda a: run_mysql(a, "127.0.0.1", 3306, "root"), _reachable(3306)),
            "duckdb": (run_duckdb, True),
        }
        for dialect in LIVE_DIALECTS:
            run, available = runners[dialect]
            if not available:
                print(f"(live {dialect} skipped: server not reachable)")
                continue
            live_dialects.append(dialect)
            for outcome in run([a for a in CORPUS if a.dialect == dialect]):
                live_tried[outcome.attack.klass] += 1
                live_ran += not outcome.refused_by
                if outcome.effects:
                    live_effect[outcome.attack.klass] += 1
                    print(f"EFFECT: {outcome.attack.dialect}: {outcome.attack.sql}: {outcome.effects}")

    print()
    print(f"{'attack class':<15} {'tried':>6} {'refused':>8} {'live':>5} {'live_effect':>11}")
    for klass in CLASSES:
        print(f"{klass:<15} {tried[klass]:>6} {refused[klass]:>8} {live_tried[klass]:>5} {live_effect[klass]:>11}")
    print(
        f"{'total':<15} {sum(tried.values()):>6} {sum(refused.values()):>8} {sum(live_tried.values()):>5} "
        f"{sum(live_effect.values()):>11}"
    )
    for sql in let_through:
        print(f"LET THROUGH: {sql}")
    return {
        "refusal_mean_ms": round(statistics.fmean(refused_ms), 4),
        "attacks_tried": sum(tried.values()),
        "attacks_refused": sum(refused.values()),
        "attacks_live": sum(live_tried.values()),
        "attacks_live_ran": live_ran,
        "attacks_with_effect": sum(live_effect.values()),
        "live_dialects": live_dialects,
        "attacks_by_class": {k: {"tried": tried[k], "refused": refused[k], "live": live_tried[k], "with_effect": live_effect[k]} for k in CLASSES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-live", action="store_true", help="skip running the attacks against canary databases")
    args = parser.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    with QUESTIONS.open(newline="") as f:
        gold = [row["sql"] for row in csv.DictReader(f)]
    result = latency(gold, args.repeat)
    result.update(attacks(live=not args.no_live))
    print("BENCH " + json.dumps(result))


if __name__ == "__main__":
    main()
