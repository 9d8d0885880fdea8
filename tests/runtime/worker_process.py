"""A worker in its own process, for the crash tests: `python -m tests.runtime.worker_process URL [CONCURRENCY [EXECUTOR_ID [GRACE_S]]]`."""

from __future__ import annotations

import os
import signal
import sys
import threading

from runtime import Worker
from tests.runtime import sample_tasks


def main() -> None:
    url = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    executor_id = (sys.argv[3] if len(sys.argv) > 3 else None) or None
    grace = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(database_url=url, tasks=[sample_tasks], concurrency=concurrency, executor_id=executor_id, heartbeat_interval=0.3, dead_worker_after=2, shutdown_timeout=grace) as worker:
        print(f"READY {worker.executor_id}", flush=True)
        stop.wait()
    if worker.handed_back:  # as `taskpack worker` does: the abandoned attempts' threads must not keep the process
        os._exit(0)


if __name__ == "__main__":
    main()
