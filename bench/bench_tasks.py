"""Tasks the runtime benchmark executes."""

import time

from runtime import RetryConfig, task

ONE = RetryConfig(max_attempts=1)


@task(id="bench-noop", retry=ONE)
def noop(payload):
    return None


@task(id="bench-clock", retry=ONE)
def clock(payload):
    return time.time()


@task(id="bench-sleep100", retry=ONE)
def sleep100(payload):
    time.sleep(0.1)
    return None
