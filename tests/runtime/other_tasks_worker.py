"""A worker that defines other tasks than tests/runtime/sample_tasks.py, in its own process (a fresh DBOS registry):
`python -m tests.runtime.other_tasks_worker URL GRACE_PERIOD_S`. For the TaskNotRegistered test."""

from __future__ import annotations

import signal
import sys
import threading

from runtime import Worker
from tests.runtime import secret_tasks


def main() -> None:
    url, grace = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(
        database_url=url, tasks=[secret_tasks], concurrency=2, heartbeat_interval=0.2, dead_worker_after=1, version_grace_period=grace, run_schedules=False
    ) as worker:
        print(f"READY {worker.executor_id} {worker.version}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
