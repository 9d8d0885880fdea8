"""A worker in its own process polling its queues every POLL seconds: `python -m tests.runtime.queue_wake_worker URL POLL`."""

from __future__ import annotations

import signal
import sys
import threading

from runtime import Worker
from tests.runtime import queue_wake_tasks


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(database_url=sys.argv[1], tasks=[queue_wake_tasks], concurrency=4, queue_polling_interval=float(sys.argv[2])):
        print("READY", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
