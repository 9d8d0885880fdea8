"""HTTP API load benchmark (issue 12): triggers over HTTP under concurrency, idempotency, realtime latency.

    python bench/api_load.py                 # SQLite (embedded default); --pg for a fresh PostgreSQL database

1. 1,000 `POST /api/v1/tasks/bench-noop/trigger` from 50 concurrent clients; a third of them repeat an idempotency
   key another request uses (in random order, so repeats race their originals). Then every run is waited for.
   Goals: 0 lost (a key whose run never finished or vanished), 0 duplicated (one key, several runs; or more runs
   in the database than distinct keys), all terminal. Reports requests/s and latency percentiles.
2. Realtime: a task sets metadata 200 times (`metadata.set` + `metadata.flush()`, 100 ms apart) with the time it
   did so; a client on `GET /realtime/v1/runs/{id}` notes when each value arrives. p50/p95 of the difference.
   Then 30 updates left to the worker's periodic flush (every `metadata_flush_interval`, 0.5 s by default, 0.6 s
   apart), which is what a task that never calls flush sees.

The server is a separate process (`taskpack serve` as the CLI builds it: API + embedded worker, 16 runs at once),
so the clients' CPU is not the server's GIL. The rate limit is raised for the bench (one key sends 1,000 requests
in seconds; the default bucket is 750). Last line: `BENCH {json}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime import metadata, task  # noqa: E402

N_REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "1000"))
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "50"))
N_REALTIME = int(os.environ.get("BENCH_REALTIME_UPDATES", "200"))
N_REALTIME_PERIODIC = int(os.environ.get("BENCH_REALTIME_PERIODIC_UPDATES", "30"))
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


@task(id="bench-noop")
def bench_noop(payload: Any, ctx) -> None:
    return None


@task(id="bench-realtime")
def bench_realtime(payload: dict, ctx) -> int:
    """Sets metadata `n` times, each value carrying the wall-clock time it was set."""
    time.sleep(1.0)  # let the client's stream open and settle
    for i in range(payload["n"]):
        metadata.set("update", {"i": i, "at": time.time()})
        if payload["flush"]:
            metadata.flush()
        time.sleep(payload["gap"])
    time.sleep(0.5)
    return payload["n"]


# -- the server process ---------------------------------------------------------------------------------------------
def serve(url: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings
    from runtime import Worker

    settings = ApiSettings(database_url=url, rate_limit_burst=100_000, rate_limit_refill=100_000, rate_limit_interval_s=1)
    app = create_app(settings, worker_factory=lambda: Worker(database_url=url, tasks=["bench.api_load"], concurrency=16))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- part 1: triggers -----------------------------------------------------------------------------------------------
def plan_requests(n: int) -> list[str]:
    """n idempotency keys, a third of them repeats of another request's key, shuffled."""
    unique = n - n // 3
    keys = [f"k{i}" for i in range(unique)]
    keys += [random.choice(keys[:unique]) for _ in range(n - unique)]
    random.shuffle(keys)
    return keys


async def trigger_load(base: str, key: str, tag: str) -> dict[str, Any]:
    import httpx

    keys = plan_requests(N_REQUESTS)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for k in keys:
        queue.put_nowait(k)
    results: list[tuple[str, str | None, float, int]] = []
    headers = {"Authorization": f"Bearer {key}"}

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            try:
                k = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            body = {"payload": {"k": k}, "options": {"idempotencyKey": f"{tag}:{k}", "tags": [tag]}}
            try:
                response = await client.post("/api/v1/tasks/bench-noop/trigger", json=body)
                run_id = response.json().get("id") if response.status_code == 200 else None
                status = response.status_code
            except httpx.HTTPError:
                run_id, status = None, 0
            results.append((k, run_id, time.perf_counter() - started, status))

    # One pool of 50 connections shared by 50 concurrent clients (a client object per coroutine would spend seconds
    # of CPU building 50 TLS contexts, which is the bench measuring httpx, not the API). Connections opened first.
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        await asyncio.gather(*[client.get("/api/v1/runs", params={"limit": 1}) for _ in range(CLIENTS)])
        started = time.perf_counter()
        await asyncio.gather(*[client_loop(client) for _ in range(CLIENTS)])
        elapsed = time.perf_counter() - started
    return {"results": results, "elapsed": elapsed, "distinct_keys": len(set(keys))}


def wait_all(base: str, key: str, tag: str, expected: int, timeout: float = 600) -> list[dict[str, Any]]:
    """Every run with the bench's tag, once all of them (at least `expected`) are finished."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        while True:
            runs, cursor = [], None
            while True:
                params = {"tag": tag, "limit": 100, **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/v1/runs", params=params).json()
                runs += page["data"]
                cursor = page.get("nextCursor")
                if not cursor:
                    break
            if (len(runs) >= expected and all(r["isFinished"] for r in runs)) or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


# -- part 2: realtime -----------------------------------------------------------------------------------------------
def realtime_latencies(base: str, key: str, n: int, gap: float, flush: bool) -> list[float]:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(60, read=120)) as client:
        run_id = client.post("/api/v1/tasks/bench-realtime/trigger", json={"payload": {"n": n, "gap": gap, "flush": flush}}).json()["id"]
        seen: dict[int, float] = {}
        with client.stream("GET", f"/realtime/v1/runs/{run_id}") as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                arrived = time.time()
                run = json.loads(line[5:])
                update = (run.get("metadata") or {}).get("update")
                if update and update["i"] not in seen:
                    seen[update["i"]] = (arrived - update["at"]) * 1000
                if run.get("isFinished"):
                    break
    return list(seen.values())


def main() -> None:
    import argparse

    import httpx

    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", action="store_true", help="a fresh PostgreSQL database instead of a SQLite file")
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    tmp = Path(tempfile.mkdtemp(prefix="api-bench-"))
    os.environ["TASKPACK_PROJECT_ROOT"] = str(tmp)
    if not os.environ.get("TASKPACK_SECRET_KEY"):
        from cryptography.fernet import Fernet

        os.environ["TASKPACK_SECRET_KEY"] = Fernet.generate_key().decode()
    drop = None
    if args.pg:
        import sqlalchemy as sa

        name = f"tp_apibench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(f"{PG.replace('postgresql://', 'postgresql+psycopg://')}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = f"{PG}/{name}"

        def drop() -> None:
            from runtime.backend import reset_backends

            reset_backends()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        url = f"sqlite:///{tmp / 'taskpack.sqlite'}"
    from store import api_keys

    key = api_keys.create_key("dev", "bench", database_url=url).key
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", url, str(port)], cwd=ROOT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API server did not start")
            time.sleep(0.2)
        tag = f"bench-{uuid.uuid4().hex[:8]}"
        load = asyncio.run(trigger_load(base, key, tag))
        results = load["results"]
        by_key: dict[str, set[str]] = {}
        for k, run_id, _, _ in results:
            if run_id:
                by_key.setdefault(k, set()).add(run_id)
        failed_requests = sum(1 for r in results if r[3] != 200)
        waited = time.perf_counter()
        runs = wait_all(base, key, tag, load["distinct_keys"])
        wait_s = time.perf_counter() - waited
        finished = {r["id"] for r in runs if r["isFinished"]}
        completed = sum(1 for r in runs if r["status"] == "COMPLETED")
        returned = {rid for ids in by_key.values() for rid in ids}
        lost = (load["distinct_keys"] - len(by_key)) + len(returned - finished)
        duplicated = sum(len(ids) - 1 for ids in by_key.values()) + max(0, len(runs) - load["distinct_keys"])
        latencies = [r[2] * 1000 for r in results]
        rps = len(results) / load["elapsed"]

        rt = realtime_latencies(base, key, N_REALTIME, 0.1, True)
        rt_periodic = realtime_latencies(base, key, N_REALTIME_PERIODIC, 0.6, False)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if drop is not None:
            drop()

    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"\nHTTP API load, {backend}, server = API + embedded worker (16 runs at once) in one process, 2 shared cores\n")
    print(f"{'measure':<52} {'value':>12}")
    print("-" * 65)
    rows = [
        ("trigger requests (50 concurrent clients)", f"{len(results)}"),
        ("  distinct idempotency keys (others repeat one)", f"{load['distinct_keys']}"),
        ("  non-200 answers", f"{failed_requests}"),
        ("  requests/s", f"{rps:.0f}"),
        ("  latency p50 ms", f"{percentile(latencies, 50):.1f}"),
        ("  latency p95 ms", f"{percentile(latencies, 95):.1f}"),
        ("  latency max ms", f"{max(latencies):.1f}"),
        ("runs in the database with the bench tag", f"{len(runs)}"),
        ("  finished / COMPLETED", f"{len(finished)} / {completed}"),
        ("  time to finish them all after the last trigger, s", f"{wait_s:.1f}"),
        ("  lost", f"{lost}"),
        ("  duplicated", f"{duplicated}"),
        (f"realtime: metadata.set+flush -> SSE event ({len(rt)} of {N_REALTIME})", ""),
        ("  p50 ms", f"{statistics.median(rt):.0f}" if rt else "-"),
        ("  p95 ms", f"{percentile(rt, 95):.0f}" if rt else "-"),
        (f"realtime: metadata.set, periodic flush ({len(rt_periodic)} of {N_REALTIME_PERIODIC})", ""),
        ("  p50 ms", f"{statistics.median(rt_periodic):.0f}" if rt_periodic else "-"),
        ("  p95 ms", f"{percentile(rt_periodic, 95):.0f}" if rt_periodic else "-"),
    ]
    for name, value in rows:
        print(f"{name:<52} {value:>12}")
    print()
    print("BENCH " + json.dumps({
        "lost": lost,
        "duplicated": duplicated,
        "all_terminal": len(finished) == len(runs) and len(runs) >= load["distinct_keys"],
        "requests_per_s": round(rps, 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "realtime_p50_ms": round(statistics.median(rt), 1) if rt else None,
        "realtime_p95_ms": round(percentile(rt, 95), 1) if rt else None,
        "realtime_periodic_flush_p95_ms": round(percentile(rt_periodic, 95), 1) if rt_periodic else None,
        "database": backend,
    }))


if __name__ == "__main__":
    main()
