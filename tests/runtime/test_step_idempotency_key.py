"""`ctx.idempotency_key(step)`: one key per (run, step), the same on every attempt; the crash tests
(test_crash_safety.py) prove it survives recovery in another process."""

from __future__ import annotations

import pytest

from runtime.context import TaskContext


def context(run_id: str, attempt: int = 1) -> TaskContext:
    return TaskContext(
        run_id=run_id, task_id="t", payload={}, attempt=attempt, max_attempts=3, max_duration=60, tags=[], queue=None,
        machine="small", parent_id=None, root_id=None, created_at=None, state=None,
    )


def test_key_depends_on_run_and_step_only() -> None:
    ctx = context("run_a")
    key = ctx.idempotency_key("charge")
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert context("run_a", attempt=3).idempotency_key("charge") == key  # a retry sends the same key
    ctx._new_attempt(2)
    assert ctx.idempotency_key("charge") == key
    assert ctx.idempotency_key("refund") != key
    assert context("run_b").idempotency_key("charge") != key


def test_no_collision_by_moving_a_separator_between_run_and_step() -> None:
    # "a:b" + "c" and "a" + "b:c" (or any join) must not give the same key
    assert context("run:x").idempotency_key("y") != context("run").idempotency_key("x:y")
    assert context("run\0x").idempotency_key("y") != context("run").idempotency_key("x\0y")
    assert context('run", "x').idempotency_key("y") != context("run").idempotency_key('x", "y')


@pytest.mark.parametrize("bad", ["", None, 7, b"step"])
def test_a_step_name_that_is_not_a_non_empty_string_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="step must be a non-empty string"):
        context("run_a").idempotency_key(bad)  # type: ignore[arg-type]


def test_a_lone_surrogate_in_the_step_name_still_gives_a_key() -> None:
    assert len(context("run_a").idempotency_key("\ud800")) == 64
