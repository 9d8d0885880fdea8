"""A worker for the analyst agent in its own process, for the crash test: `python -m
tests.tasks.analyst_agent.agent_worker URL [EXECUTOR_ID]`. It reaches the model through the OPENAI_* variables."""

from __future__ import annotations

import signal
import sys
import threading

from runtime import Worker
from tasks.analyst_agent import task as agent_module


def main() -> None:
    url = sys.argv[1]
    executor_id = sys.argv[2] if len(sys.argv) > 2 else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Worker(database_url=url, tasks=[agent_module], concurrency=2, executor_id=executor_id,
                heartbeat_interval=0.3, dead_worker_after=2) as worker:
        print(f"READY {worker.executor_id}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
