"""A worker process for the crash-safety tests:
`python -m tests.runtime.crash_worker URL CONCURRENCY GRACE_SECONDS [EXECUTOR_ID]`.

SIGTERM stops it the way `taskpack worker` stops: the Worker leaves its block and gives its runs GRACE seconds to
finish (`shutdown_timeout`) before the process exits; it prints STOPPED with the time the stop took.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from runtime import Worker
from tests.runtime import crash_tasks

HEARTBEAT_INTERVAL = 0.5
DEAD_WORKER_AFTER = 4.0  # generous: two workers on a loaded 2-core machine must not declare each other dead


def main() -> None:
    url, concurrency, grace = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    executor_id = sys.argv[4] if len(sys.argv) > 4 else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(
        database_url=url,
        tasks=[crash_tasks],
        concurrency=concurrency,
        executor_id=executor_id,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        dead_worker_after=DEAD_WORKER_AFTER,
        shutdown_timeout=grace,
        run_schedules=False,
    ) as worker:
        print(f"READY {worker.executor_id}", flush=True)
        stop.wait()
        began = time.monotonic()
    print(f"STOPPED {time.monotonic() - began:.2f}", flush=True)


if __name__ == "__main__":
    main()
