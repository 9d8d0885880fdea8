"""A worker running the webhook delivery task in its own process: `python -m tests.api.webhook_worker URL EXECUTOR_ID`."""

from __future__ import annotations

import signal
import sys
import threading

from api.webhooks.tasks import delivery
from runtime import Worker
from tests.api import webhook_tasks


def main() -> None:
    url, executor_id = sys.argv[1], sys.argv[2]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(database_url=url, tasks=[delivery, webhook_tasks], concurrency=4, executor_id=executor_id,
                heartbeat_interval=0.3, dead_worker_after=2):
        print("READY", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
