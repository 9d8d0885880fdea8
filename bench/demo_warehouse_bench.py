"""The demo warehouse: how long building it, introspecting it and profiling every table take.

Run as a script: `python bench/demo_warehouse_bench.py [--repeat 3]` (prints a table, last line `BENCH {json}`).

Each step runs --repeat times into a temporary directory and reports its median and its fastest run: the build
(generate ~100k rows in Python, write them into a new DuckDB file, comment, checkpoint, rename), `introspect()`
through the DuckDB connector (four catalog statements), and `profile()` of every table and view (two statements each).
The machine is shared, so the fastest run is the closest to the work's own cost and the median to what a user sees.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from connectors import connect
from demo import build_demo_warehouse, demo_credentials


def timed(work: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "demo.duckdb"
        build_times, stats = timed(lambda: build_demo_warehouse(path), args.repeat)
        with connect(demo_credentials(path)) as conn:
            conn.test_connection()  # opening the file is not part of introspect()
            introspect_times, catalog = timed(conn.introspect, args.repeat)
            names = [table.name for _, _, table in catalog.iter_tables()]
            profile_times, _ = timed(lambda: [conn.profile(name) for name in names], args.repeat)
    rows = [
        ("build", build_times, f"{stats.total_rows:,} rows in {len(stats.tables)} tables + {len(stats.views)} views"),
        ("introspect", introspect_times, f"{catalog.table_count} relations, {catalog.round_trips} statements"),
        ("profile all", profile_times, f"{len(names)} tables and views"),
    ]
    print(f"{'step':<12} {'median s':>9} {'fastest s':>9}  what")
    print("-" * 72)
    for step, times, what in rows:
        print(f"{step:<12} {statistics.median(times):>9.3f} {min(times):>9.3f}  {what}")
    result = {
        "demo_rows": stats.total_rows,
        "demo_build_s": round(statistics.median(build_times), 3),
        "demo_build_fastest_s": round(min(build_times), 3),
        "demo_introspect_s": round(statistics.median(introspect_times), 4),
        "demo_profile_all_s": round(statistics.median(profile_times), 3),
        "demo_s": round(statistics.median(build_times) + statistics.median(introspect_times), 3),
    }
    print("BENCH " + json.dumps(result))


if __name__ == "__main__":
    main()
