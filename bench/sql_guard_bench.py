"""How long the SQL guard takes per query (it runs before every query a connector sends).

Run as a script: `python bench/sql_guard_bench.py`. For each dialect, every spider-dev gold query is transpiled from
MySQL with sqlglot once (not timed), then checked `--repeat` times; the table shows the per-query latency
distribution, the last line is `BENCH {json}`.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import time
from pathlib import Path

import sqlglot

from connectors.sql_guard import check_read_only

QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "spider-dev" / "questions.csv"
DIALECTS = ["postgres", "mysql", "redshift", "snowflake", "bigquery", "tsql", "databricks"]
REFUSED = [
    ("postgres", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
    ("postgres", "select 1; drop table x"),
    ("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"),
    ("mysql", "SELECT * FROM t INTO OUTFILE '/tmp/x'"),
    ("tsql", "EXEC xp_cmdshell 'dir'"),
    ("snowflake", "SELECT SYSTEM$CANCEL_ALL_QUERIES(1)"),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    with QUESTIONS.open(newline="") as f:
        gold = [row["sql"] for row in csv.DictReader(f)]

    print(f"{'dialect':<11} {'queries':>7} {'mean_ms':>8} {'p50_ms':>7} {'p95_ms':>7} {'max_ms':>7}")
    all_ms: list[float] = []
    per_dialect: dict[str, float] = {}
    for dialect in DIALECTS:
        queries = [sqlglot.transpile(q, read="mysql", write=dialect)[0] for q in gold]
        ms: list[float] = []
        for _ in range(args.repeat):
            for sql in queries:
                start = time.perf_counter()
                check_read_only(sql, dialect, timeout=60)
                ms.append((time.perf_counter() - start) * 1000)
        all_ms.extend(ms)
        per_dialect[dialect] = statistics.fmean(ms)
        print(
            f"{dialect:<11} {len(queries):>7} {statistics.fmean(ms):>8.3f} {_percentile(ms, 0.5):>7.3f} "
            f"{_percentile(ms, 0.95):>7.3f} {max(ms):>7.3f}"
        )

    refused_ms: list[float] = []
    for _ in range(args.repeat * 50):
        for dialect, sql in REFUSED:
            start = time.perf_counter()
            try:
                check_read_only(sql, dialect, timeout=60)
            except Exception:
                pass
            refused_ms.append((time.perf_counter() - start) * 1000)
    print(
        f"{'refusals':<11} {len(REFUSED):>7} {statistics.fmean(refused_ms):>8.3f} {_percentile(refused_ms, 0.5):>7.3f} "
        f"{_percentile(refused_ms, 0.95):>7.3f} {max(refused_ms):>7.3f}"
    )
    result = {
        "guard_mean_ms": round(statistics.fmean(all_ms), 4),
        "guard_p95_ms": round(_percentile(all_ms, 0.95), 4),
        "guard_max_ms": round(max(all_ms), 4),
        "refusal_mean_ms": round(statistics.fmean(refused_ms), 4),
        "queries_per_dialect": len(gold),
        **{f"{d}_mean_ms": round(v, 4) for d, v in per_dialect.items()},
    }
    print("BENCH " + json.dumps(result))


if __name__ == "__main__":
    main()
