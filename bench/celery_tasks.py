"""The Celery side of bench/runtime_bench.py: a no-op task and a clock task on the local Redis (bench-only: the
`bench` extra installs Celery; nothing in the project imports this module).

The broker and result database come from BENCH_CELERY_REDIS (default redis://127.0.0.1:6379/13), the queue name from
BENCH_CELERY_QUEUE, so a bench run has a queue of its own.
"""

from __future__ import annotations

import os
import time

from celery import Celery

REDIS = os.environ.get("BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/13")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "taskpack-bench")

app = Celery("taskpack_bench", broker=REDIS, backend=REDIS)
app.conf.update(
    task_default_queue=QUEUE,
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop(i: int) -> None:
    return None


@app.task(name="bench.clock")
def clock(i: int) -> float:
    return time.time()
