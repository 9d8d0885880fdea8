"""`run_with_deadline`: the last line behind server-side timeouts and cancels of HTTP-based warehouse drivers."""

from __future__ import annotations

import threading
import time

import pytest

from connectors.deadline import Abandoned, run_with_deadline


def test_returns_the_result_and_reraises_the_error_of_the_call() -> None:
    never = threading.Event()
    assert run_with_deadline(lambda: 42, deadline_s=1, cancel_requested=never) == 42

    def boom() -> None:
        raise KeyError("driver failure")

    with pytest.raises(KeyError, match="driver failure"):
        run_with_deadline(boom, deadline_s=1, cancel_requested=never)


def test_gives_up_at_the_deadline_without_waiting_for_the_call() -> None:
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(Abandoned) as info:
        run_with_deadline(lambda: release.wait(10), deadline_s=0.2, cancel_requested=threading.Event())
    assert info.value.canceled is False
    assert 0.2 <= time.monotonic() - start < 1.0
    release.set()


def test_gives_up_a_grace_period_after_cancel_unless_the_call_ends_first() -> None:
    cancel = threading.Event()
    release = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Abandoned) as info:
        run_with_deadline(lambda: release.wait(10), deadline_s=30, cancel_requested=cancel, cancel_grace_s=0.2)
    assert info.value.canceled is True
    assert 0.3 <= time.monotonic() - start < 1.5
    release.set()

    # a call that ends within the grace (the server confirmed the cancel) reports its own outcome
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()

    def stops_when_canceled() -> str:
        cancel.wait(5)
        time.sleep(0.05)
        return "server said: canceled"

    assert run_with_deadline(stops_when_canceled, deadline_s=30, cancel_requested=cancel, cancel_grace_s=1) == "server said: canceled"
