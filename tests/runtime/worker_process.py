"""A worker in its own process, for the crash tests: `python -m tests.runtime.worker_process URL`."""

from __future__ import annotations

import signal
import sys
import threading

from runtime import Worker
from tests.runtime import sample_tasks


def main() -> None:
    url = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    executor_id = sys.argv[3] if len(sys.argv) > 3 else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(database_url=url, tasks=[sample_tasks], concurrency=concurrency, executor_id=executor_id, heartbeat_interval=0.3, dead_worker_after=2) as worker:
        print(f"READY {worker.executor_id}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
