"""What tracing costs on the hot path: off (the OTEL_* variables unset) and on (an SDK provider that records every
span and exports none, so the figure is the spans' own cost, not a network's).

Run as a script: `python bench/tracing_bench.py [--calls 200000] [--runs 300]` with no OTEL_* variable set.

For each hook the runtime and the connectors call per step, per log line and per query, the table gives the time per
call (best of 5 rounds, minus an empty loop) with tracing off and with it on, and the bytes the off path allocates
over all its calls (tracemalloc): the off path hands out shared constants, so that stays a constant few bytes of
measuring overhead however many calls are made. It also says whether anything
of OpenTelemetry was imported while off. With `--runs N` it also runs N three-step runs on a fresh SQLite database
(concurrency 8) untraced and traced, alternating, twice each, and gives the best runs/s of each: what tracing costs a whole run, database
included. The last line is `BENCH {json}`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if any(name.startswith("OTEL_") for name in os.environ):
    sys.exit("unset every OTEL_* variable first: this bench measures the off path, then turns tracing on itself")

from connectors.tracing import traced_query  # noqa: E402
from runtime import RetryConfig, task, tracing  # noqa: E402


@task(id="bench-three-steps", retry=RetryConfig(max_attempts=1))
def three_steps(payload: Any, ctx: Any) -> int:
    return sum(ctx.step(f"s{i}", lambda i=i: i) for i in range(3))


class _FakeConnector:
    source_type = "duckdb"
    dialect = "duckdb"


def _query(self: Any, sql: str) -> Any:
    return None


_traced = traced_query(_query)
_connector = _FakeConnector()
SQL = "SELECT n, label FROM probe WHERE label <> 'x' AND n > 2"


def _step() -> None:
    with tracing.step_span("step"):
        pass


def _log_ids() -> None:
    tracing.log_ids()


def _connector_query() -> None:
    _traced(_connector, SQL)


def _bare_query() -> None:
    _query(_connector, SQL)


def _empty() -> None:
    pass


HOOKS: dict[str, Callable[[], None]] = {
    "ctx.step span (per step)": _step,
    "log trace ids (per log line)": _log_ids,
    "connector query span (per query)": _connector_query,
}


def _per_call_ns(fn: Callable[[], None], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter_ns() - started)
    return best / calls


def _allocated_bytes(fn: Callable[[], None], calls: int) -> int:
    fn()  # warm: first-call caches are not per-call cost
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(calls):
        fn()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename") if stat.size_diff > 0 and "tracemalloc" not in str(stat.traceback))


def _runs_per_second(runs_count: int, directory: Path) -> float:
    from runtime import RunStatus, Worker, runs, tasks
    from runtime.backend import reset_backends

    url = f"sqlite:///{directory / 'taskpack.sqlite'}"
    try:
        with Worker(database_url=url, tasks=[sys.modules[__name__]], concurrency=8):
            started = time.perf_counter()
            handles = [tasks.trigger("bench-three-steps") for _ in range(runs_count)]
            for handle in handles:
                assert runs.wait(handle.id, timeout=300).status is RunStatus.COMPLETED
            return runs_count / (time.perf_counter() - started)
    finally:
        reset_backends()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=0, help="also time this many three-step runs, untraced and traced (twice each, alternated)")
    args = parser.parse_args()
    calls = args.calls


    assert not tracing.enabled()
    empty = _per_call_ns(_empty, calls)
    off = {name: max(0.0, _per_call_ns(fn, calls) - empty) for name, fn in HOOKS.items()}
    bare_query = max(0.0, _per_call_ns(_bare_query, calls) - empty)
    off_alloc = {name: _allocated_bytes(fn, calls) for name, fn in HOOKS.items()}
    imported_while_off = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()  # records every span; no processor, so nothing is exported
    trace.set_tracer_provider(provider)
    tracing.use_tracer_provider(provider)
    on_calls = max(1000, calls // 20)
    on = {name: max(0.0, _per_call_ns(fn, on_calls) - empty) for name, fn in HOOKS.items()}
    tracing.disable()
    runs_off = runs_on = None
    if args.runs:  # alternated, best of two each: the machine's load drifts less between neighbours
        rates: dict[bool, list[float]] = {False: [], True: []}
        for traced in (False, True, False, True):
            if traced:
                tracing.use_tracer_provider(provider)
            with tempfile.TemporaryDirectory() as directory:
                rates[traced].append(_runs_per_second(args.runs, Path(directory)))
            tracing.disable()
        runs_off, runs_on = max(rates[False]), max(rates[True])

    print(f"{'hook':<36} {'off ns/call':>12} {'off bytes':>10} {'on ns/call':>12}")
    for name in HOOKS:
        print(f"{name:<36} {off[name]:>12.1f} {off_alloc[name]:>10} {on[name]:>12.1f}")
    print(f"{'(bare query function, for scale)':<36} {bare_query:>12.1f}")
    print(f"opentelemetry modules imported while off: {len(imported_while_off)}")
    if args.runs:
        print(f"{args.runs} three-step runs (SQLite, concurrency 8): untraced {runs_off:.1f} runs/s, traced {runs_on:.1f} runs/s")
    print("BENCH " + json.dumps({
        "bench": "tracing",
        "calls": calls,
        "off_ns_per_call": {k: round(v, 1) for k, v in off.items()},
        "off_bytes_allocated": off_alloc,
        "on_ns_per_call": {k: round(v, 1) for k, v in on.items()},
        "otel_modules_imported_while_off": len(imported_while_off),
        "runs": args.runs,
        "runs_per_s_untraced": round(runs_off, 1) if runs_off else None,
        "runs_per_s_traced": round(runs_on, 1) if runs_on else None,
        "load": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
