"""The `introspect-data` task measured against the bare connector, profiling fan-out across worker processes, and the
demo warehouse (issue 9).

    python bench/introspect_task_bench.py [--repeat 5] [--profile-repeat 3] [--drop]   # a table, last line `BENCH {json}`

`--profile-repeat 0` skips part 2 (its rows read n/a, `profile_2_vs_1_workers` is null).

1. Structure only, PostgreSQL schema `structure` (2,000 tables x 20 columns, a primary key each, 1,999 foreign keys):
   the task (trigger -> COMPLETED on an in-process worker, SQLite runtime database: connect, connection test, bulk
   introspection, snapshot saved with its diff against the previous one, pruning) against the bare connector
   (`connect()` + `introspect()` + `close()`) in the same process. One warm-up each, then they alternate and each
   reports its median, so a busy machine slows both alike. Goal: task <= 1.2x the connector. Rows below it split the
   task's time (its own clock inside the function, the runtime's share around it) and time the serialisation any
   snapshot save needs once (the catalog's databases as JSON and their digest): connector + serialisation, over the
   connector, is the floor the ratio cannot go under while a save serialises the catalog.
2. Profiling, PostgreSQL schema `rows` (200 tables x 50,000 rows, 6 columns): one introspect-data run with
   profile=true, `profile_chunk_size` 25 (the default) and `profile_concurrency` 2 (8 child runs), on a fresh
   PostgreSQL runtime database, with 1 and then 2 worker processes of concurrency 1 (each profiles one chunk at a
   time).
   Time from trigger to COMPLETED; the runs alternate (1, 2, 1, 2, ...) and each side reports its median. Goal:
   2 workers >= 1.6x faster.
3. The demo warehouse, when the `demo` package and the DuckDB connector are importable: build it, then introspect it
   with profiles through the task (SQLite runtime database, in-process worker). Otherwise `demo_s` is null.

The database `cpg_task_bench` is built on the first run (a minute or two) and reused afterwards; `--drop` removes it
at the end. The 2-core machine is shared: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
BENCH_DB = "cpg_task_bench"
STRUCTURE_TABLES = 2000
ROW_TABLES = 200
ROWS_PER_TABLE = 50_000
CHUNK_SIZE = 25  # the payload default
PROFILE_CONCURRENCY = 2
#: seconds between a worker's queue polls: None is the project default (0.25 s). A run is picked up by a wake-up, not
#: a poll (runtime/dbos_adapter.py), so the in-process worker of parts 1 and 3 polls as a deployed one does; it used
#: to poll every 0.05 s, and those polls took the GIL from the task it measured (~15 ms of a snapshot save). The
#: profiling worker processes poll every 0.2 s: each poll is a few statements, CPU the profiling statements on this
#: 2-core machine need, while a child picked up 0.2 s later costs under 1 % of a profiling run.
POLL = None
PROFILE_WORKER_POLL = 0.2


def pg_credentials(database: str = BENCH_DB) -> dict[str, Any]:
    return {"type": "postgres", "host": PG_HOST, "port": PG_PORT, "database": database, "username": PG_USER,
            "ssl_mode": "disable"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- fixtures ----------------------------------------------------------------------------------------------------------
def _pg(dbname: str) -> Any:
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def _structure_ddl() -> list[str]:
    from bench.introspection_bench import _schema_ddl

    return _schema_ddl("structure", STRUCTURE_TABLES, 0)


def ensure_fixtures() -> None:
    with _pg("postgres") as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone() is None:
            admin.execute(f"CREATE DATABASE {BENCH_DB}")
    with _pg(BENCH_DB) as conn:
        counts = dict(conn.execute(
            "SELECT n.nspname, count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname IN ('structure', 'rows') GROUP BY n.nspname"
        ).fetchall())
        if counts.get("structure") != STRUCTURE_TABLES:
            log(f"building {BENCH_DB}.structure: {STRUCTURE_TABLES} tables x 20 columns ...")
            started = time.perf_counter()
            conn.execute("DROP SCHEMA IF EXISTS structure CASCADE")
            for script in _structure_ddl():
                conn.execute(script.encode())
            log(f"  built in {time.perf_counter() - started:.1f} s")
        if counts.get("rows") != ROW_TABLES:
            log(f"building {BENCH_DB}.rows: {ROW_TABLES} tables x {ROWS_PER_TABLE:,} rows ...")
            started = time.perf_counter()
            conn.execute("DROP SCHEMA IF EXISTS rows CASCADE")
            conn.execute("CREATE SCHEMA rows")
            conn.execute(
                "CREATE UNLOGGED TABLE rows.template AS SELECT g AS id, (g * 7) % 1000 AS grp,"
                " 'label ' || (g % 5000) AS label, round(((g % 997) * 0.37)::numeric, 2) AS amount,"
                " date '2024-01-01' + (g % 700) AS day, g % 3 = 0 AS flag"
                f" FROM generate_series(1, {ROWS_PER_TABLE}) g"
            )
            for i in range(1, ROW_TABLES + 1):
                conn.execute(f"CREATE UNLOGGED TABLE rows.r{i:03d} AS TABLE rows.template")
                conn.execute(f"ALTER TABLE rows.r{i:03d} ADD PRIMARY KEY (id)")
                conn.execute(f"ANALYZE rows.r{i:03d}")
            conn.execute("DROP TABLE rows.template")
            log(f"  built in {time.perf_counter() - started:.1f} s")


def drop_fixtures() -> None:
    with _pg("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


# -- part 1: structure only --------------------------------------------------------------------------------------------
def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def part_structure(url: str, repeat: int) -> dict[str, Any]:
    """Runs in its own process (one Worker per process): the connector and the task, alternating."""
    import connectors
    from runtime import RunStatus, Worker, runs, tasks
    from store.catalog_bodies import EncodedCatalog
    from tasks.introspect_data import task as introspect_module

    creds = pg_credentials()
    filters = {"include_schemas": ["structure"]}

    catalogs: list[Any] = []

    def connector() -> None:
        with connectors.connect(connectors.parse_credentials(creds)) as conn:
            catalog = conn.introspect(connectors.CatalogFilters.model_validate(filters))
        assert catalog.table_count == STRUCTURE_TABLES, catalog.table_count
        catalogs[:] = [catalog]

    outputs: list[dict[str, Any]] = []

    def task() -> None:
        handle = tasks.trigger("introspect-data", {"data_source_id": "bench-structure", "credentials": creds, "filters": filters})
        run = runs.wait(handle.id, timeout=600)
        assert run.status is RunStatus.COMPLETED, run.error
        outputs.append(run.output)

    conn_s: list[float] = []
    task_s: list[float] = []
    encode_s: list[float] = []
    with Worker(database_url=url, tasks=[introspect_module], concurrency=2, queue_polling_interval=POLL):
        connector(), task()  # warm-up: connections opened, catalog caches warm, the first snapshot saved
        for _ in range(repeat):
            conn_s.append(_timed(connector))
            task_s.append(_timed(task))
            encode_s.append(_timed(lambda: EncodedCatalog(catalogs[0]).digest))
    last = outputs[-1]
    assert last["tables"] == STRUCTURE_TABLES and last["columns"] == STRUCTURE_TABLES * 20, last
    return {"connector_s": conn_s, "task_s": task_s, "encode_s": encode_s,
            "task_duration_ms": [o["duration_ms"] for o in outputs[1:]]}


# -- part 2: profiling across worker processes -------------------------------------------------------------------------
def worker_main(url: str, concurrency: int) -> None:
    from runtime import Worker
    from tasks.introspect_data import task as introspect_module

    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    with Worker(database_url=url, tasks=[introspect_module], concurrency=concurrency, queue_polling_interval=PROFILE_WORKER_POLL):
        print("READY", flush=True)
        while not stop["flag"]:
            time.sleep(0.1)


def _start_worker(url: str, concurrency: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", url, str(concurrency)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if line.startswith("READY"):
            return proc
        if not line:
            raise RuntimeError("a worker process died before it was ready")


def _runtime_database() -> tuple[str, Callable[[], None]]:
    name = f"tp_bench_{uuid.uuid4().hex[:8]}"
    with _pg("postgres") as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with _pg("postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}", drop


def _cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """user + system CPU seconds of one process (and, asked, of its children that have exited), from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if reaped_children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_seconds() -> float:
    """CPU seconds of the PostgreSQL server on this machine (the warehouse and the runtime database): every live server
    process, plus the backends that have exited (a closed connection's backend; counted in its postmaster's
    children's time). What the profiling statements cost the server, next to what the workers cost."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            parent = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]
            parent_is_server = (Path(f"/proc/{parent}/comm").read_text().strip() in ("postgres", "postmaster"))
        except OSError:
            continue
        total += _cpu_seconds(int(entry.name), reaped_children=not parent_is_server)
    return total


_SPIN = "import time\nstarted = time.perf_counter()\nx = 0\nfor i in range(6_000_000):\n    x += i\nprint(time.perf_counter() - started)"


def cpu_headroom() -> float:
    """How much faster two CPU-bound processes get through twice the work than one does through it, on this machine
    now: 2.0 on two idle cores, less when other work shares them. The profiling speedup cannot exceed it; it is printed
    beside that speedup, measured in the same rounds, so a low speedup on a busy machine can be told from a slow
    fan-out. (Pure Python loops: no database, no I/O.)"""

    def spin(count: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True) for _ in range(count)]
        return max(float(p.communicate()[0]) for p in procs)

    one = spin(1)
    return 2 * one / spin(2)


def warm_rows() -> None:
    """Read every profiled table once, so the first timed run does not pay for reading them from disk."""
    with _pg(BENCH_DB) as conn:
        for i in range(1, ROW_TABLES + 1):
            conn.execute(f"SELECT count(*) FROM rows.r{i:03d}").fetchone()


def profile_with_workers(workers: int) -> dict[str, Any]:
    """One profiling run of the 200 tables with `workers` worker processes (concurrency 1 each), timed from trigger
    to COMPLETED, on a fresh PostgreSQL runtime database. Also: CPU seconds of the worker processes and of the
    PostgreSQL server during the run, and how many child runs each worker process executed."""
    from runtime import RunStatus, runs, tasks
    from runtime.backend import reset_backends

    url, drop = _runtime_database()
    procs: list[subprocess.Popen[str]] = []
    try:
        procs = [_start_worker(url, 1) for _ in range(workers)]
        payload = {
            "data_source_id": "bench-rows", "credentials": pg_credentials(), "filters": {"include_schemas": ["rows"]},
            "profile": True, "max_tables_to_profile": ROW_TABLES, "profile_chunk_size": CHUNK_SIZE,
            "profile_concurrency": PROFILE_CONCURRENCY,
        }
        worker_cpu0 = sum(_cpu_seconds(p.pid) for p in procs)
        pg_cpu0 = _postgres_cpu_seconds()
        started = time.perf_counter()
        handle = tasks.trigger("introspect-data", payload, database_url=url)
        run = runs.wait(handle.id, timeout=1800, database_url=url)
        elapsed = time.perf_counter() - started
        worker_cpu = sum(_cpu_seconds(p.pid) for p in procs) - worker_cpu0
        pg_cpu = _postgres_cpu_seconds() - pg_cpu0
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["profiled_tables"] == ROW_TABLES and run.output["profile_failures"] == 0, run.output
        assert run.output["profile_runs"] == ROW_TABLES // CHUNK_SIZE, run.output
        children = runs.list(task_id="introspect-data-profile", limit=100, database_url=url).data
        per_worker: dict[str, int] = {}
        for child in children:
            per_worker[child.executor_id or "?"] = per_worker.get(child.executor_id or "?", 0) + 1
        return {"seconds": elapsed, "worker_cpu_s": worker_cpu, "postgres_cpu_s": pg_cpu,
                "children_per_worker": sorted(per_worker.values(), reverse=True)}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        reset_backends()
        drop()


# -- part 3: the demo warehouse ----------------------------------------------------------------------------------------
def part_demo(url: str, workdir: str) -> dict[str, Any]:
    """Build the demo warehouse and introspect it with profiles; None fields when the demo is not in this tree."""
    try:
        from demo import build_demo_warehouse, demo_credentials
    except ImportError as exc:
        return {"available": False, "reason": f"demo not importable: {exc}"}
    from runtime import RunStatus, Worker, runs, tasks
    from tasks.introspect_data import task as introspect_module

    with Worker(database_url=url, tasks=[introspect_module], concurrency=2, queue_polling_interval=POLL):
        started = time.perf_counter()
        stats = build_demo_warehouse(Path(workdir) / "demo.duckdb")
        built = time.perf_counter() - started
        handle = tasks.trigger("introspect-data", {"data_source_id": "demo", "credentials": demo_credentials(stats.path),
                                                   "profile": True})
        run = runs.wait(handle.id, timeout=600)
        total = time.perf_counter() - started
    if run.status is not RunStatus.COMPLETED:
        return {"available": False, "reason": f"introspection ended {run.status.value}: {run.error}"}
    return {"available": True, "build_s": built, "total_s": total, "rows": stats.total_rows,
            "tables": run.output["tables"], "views": run.output["views"], "profiled": run.output["profiled_tables"]}


# -- driver ------------------------------------------------------------------------------------------------------------
def _subprocess(part: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--part", part, *args], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"part {part} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of the task and of the connector (median)")
    parser.add_argument("--profile-repeat", type=int, default=3, help="profiling runs per worker count (median); 0 skips profiling")
    parser.add_argument("--drop", action="store_true", help=f"drop the {BENCH_DB} database at the end")
    args = parser.parse_args()

    ensure_fixtures()
    loads = [load()]
    with tempfile.TemporaryDirectory() as tmp:
        log("structure: task vs connector ...")
        structure = _subprocess("structure", f"sqlite:///{tmp}/structure.sqlite", str(args.repeat))
        loads.append(load())
        one: list[dict[str, Any]] = []
        two: list[dict[str, Any]] = []
        if args.profile_repeat > 0:
            warm_rows()
        headroom: list[float] = []
        for i in range(args.profile_repeat):
            log(f"profiling {ROW_TABLES} tables, round {i + 1}: 1 worker, then 2 ...")
            one.append(profile_with_workers(1))
            two.append(profile_with_workers(2))
            headroom.append(cpu_headroom())
            loads.append(load())
        one_s, two_s = [r["seconds"] for r in one], [r["seconds"] for r in two]
        log("demo warehouse ...")
        demo = _subprocess("demo", f"sqlite:///{tmp}/demo.sqlite", tmp)
        loads.append(load())
    if args.drop:
        drop_fixtures()

    connector_s = statistics.median(structure["connector_s"])
    task_s = statistics.median(structure["task_s"])
    ratio = task_s / connector_s
    in_task_s = statistics.median(structure["task_duration_ms"]) / 1000
    encode_s = statistics.median(structure["encode_s"])
    profiled = bool(one)  # --profile-repeat 0 skips the profiling part (its rows say so, its BENCH value is null)
    speedup = statistics.median(one_s) / statistics.median(two_s) if profiled else None

    def cpu(side: list[dict[str, Any]]) -> str:
        workers = statistics.median(r["worker_cpu_s"] for r in side)
        server = statistics.median(r["postgres_cpu_s"] for r in side)
        spread = "/".join(str(n) for n in side[-1]["children_per_worker"])
        return f"CPU median: workers {workers:.1f} s, PostgreSQL {server:.1f} s; child runs per worker {spread}"

    def profiling_rows() -> list[tuple[str, str, str]]:
        if not profiled:
            skipped = "skipped: --profile-repeat 0"
            return [(f"profile {ROW_TABLES} x {ROWS_PER_TABLE // 1000}k rows, 1 vs 2 worker processes", "n/a", skipped)]
        return [
            (f"profile {ROW_TABLES} x {ROWS_PER_TABLE // 1000}k rows, 1 worker process, median", f"{statistics.median(one_s):.1f} s",
             "runs " + ", ".join(f"{x:.1f}" for x in one_s) + f"; chunks of {CHUNK_SIZE}, concurrency {PROFILE_CONCURRENCY}; "
             + cpu(one)),
            (f"profile {ROW_TABLES} x {ROWS_PER_TABLE // 1000}k rows, 2 worker processes, median", f"{statistics.median(two_s):.1f} s",
             "runs " + ", ".join(f"{x:.1f}" for x in two_s) + "; " + cpu(two)),
            ("1 worker / 2 workers", f"{speedup:.2f}x", "goal >= 1.6x"),
            ("CPU headroom: 2 busy processes / 1, median", f"{statistics.median(headroom):.2f}x",
             "runs " + ", ".join(f"{x:.2f}" for x in headroom) + "; 2.00 on idle cores: the most any 2-process speedup can reach now"),
        ]
    demo_s = demo["total_s"] if demo.get("available") else None
    rows = [
        (f"connector introspect(), {STRUCTURE_TABLES} tables, median", f"{connector_s:.3f} s",
         "runs " + ", ".join(f"{x:.3f}" for x in structure["connector_s"])),
        ("introspect-data task, trigger -> COMPLETED, median", f"{task_s:.3f} s",
         "runs " + ", ".join(f"{x:.3f}" for x in structure["task_s"])),
        ("task / connector", f"{ratio:.2f}x", "goal <= 1.2x"),
        ("  of the task: in the task function, median", f"{in_task_s:.3f} s",
         "connect, connection test and role, introspect(), snapshot saved, diff, pruning"),
        ("  of the task: runtime around it (the rest), median", f"{task_s - in_task_s:.3f} s",
         "trigger, queue wake-up and claim, run start, freeing the catalog as the function returns, outcome recorded, runs.wait noticing it"),
        ("  snapshot serialisation of the same catalog, median", f"{encode_s:.3f} s",
         "EncodedCatalog: the databases as JSON (orjson, from the models' dicts) + its BLAKE3 digest, what any save must do once"),
        ("  floor: (connector + serialisation) / connector", f"{(connector_s + encode_s) / connector_s:.2f}x",
         "the ratio with no runtime and no other task work at all"),
        *profiling_rows(),
        ("demo build + introspect (with profiles)",
         f"{demo_s:.2f} s" if demo_s is not None else "n/a",
         f"build {demo['build_s']:.2f} s, {demo['rows']:,} rows, {demo['tables']} tables + {demo['views']} views, "
         f"{demo['profiled']} profiled" if demo.get("available") else demo.get("reason", "")),
        ("load average (1, 5, 15 min) at each step", "", " | ".join(loads)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>10}  note")
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value:>10}  {note}")
    print("BENCH " + json.dumps({
        "task_vs_connector": round(ratio, 3),
        "profile_2_vs_1_workers": round(speedup, 3) if speedup is not None else None,
        "demo_s": round(demo_s, 3) if demo_s is not None else None,
    }))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--part":
        part = sys.argv[2]
        if part == "structure":
            result = part_structure(sys.argv[3], int(sys.argv[4]))
        elif part == "demo":
            result = part_demo(sys.argv[3], sys.argv[4])
        else:
            raise SystemExit(f"unknown part {part!r}")
        print("RESULT " + json.dumps(result), flush=True)
    elif len(sys.argv) >= 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], int(sys.argv[3]))
    else:
        main()
