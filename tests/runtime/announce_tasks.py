"""Tasks for test_child_wakeup.py's cross-process case: the child is defined here and executed by a worker in another
process (`python -m tests.runtime.announce_tasks URL`); the parent (announce_parent.py) waits for it elsewhere."""

from __future__ import annotations

import signal
import sys
import threading
import time

from runtime import Queue, Worker, task


@task(id="announce-child", queue=Queue(name="announce-children", concurrency_limit=4))
def announce_child(payload: dict, ctx) -> float:  # type: ignore[no-untyped-def]
    ctx.cancel_event.wait(payload["seconds"])
    return time.time()  # when it finished, as the child saw it


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(database_url=sys.argv[1], tasks=[sys.modules[__name__]], concurrency=4, run_schedules=False) as worker:
        print(f"READY {worker.executor_id}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
