"""Idempotency keys under a race: processes triggering the same keys at the same instant agree on one run per key,
on SQLite and PostgreSQL, for fresh keys and for keys freed by a failed, canceled or expired run or a passed TTL."""

from __future__ import annotations

import time

import sqlalchemy as sa

from runtime import RunStatus, Worker, runs, tasks
from runtime.backend import get_backend
from runtime.triggering import claim_idempotency_key, new_run_id
from tests.runtime import sample_tasks
from tests.runtime.racing import race, trigger_keys


def _run_ids(url: str, task_id: str) -> list[str]:
    backend = get_backend(url)
    ws = backend.workflows
    with backend.sys_engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(ws.c.workflow_uuid).where(ws.c.name == f"taskpack:{task_id}")).all()]


def _register(url: str) -> None:
    with Worker(database_url=url, tasks=[sample_tasks], run_schedules=False):
        pass  # publishes the task definitions; nothing executes after the block


def _agreed(results: list[dict[str, tuple[str, bool]]], keys: list[str]) -> dict[str, str]:
    """The run id per key, asserting every process got that same id and exactly one of them created it."""
    split = [k for k in keys if len({r[k][0] for r in results}) != 1]
    assert not split, f"{len(split)} of {len(keys)} keys got more than one run, e.g. {split[0]!r}"
    creators = {k: sum(not r[k][1] for r in results) for k in keys}
    wrong = {k: n for k, n in creators.items() if n != 1}
    assert not wrong, f"{len(wrong)} keys were not created by exactly one process: {list(wrong.items())[:3]}"
    return {k: results[0][k][0] for k in keys}


def test_two_processes_triggering_the_same_1000_keys_at_once_get_1000_runs(db_url: str, token: str) -> None:
    _register(db_url)
    keys = [f"race-{token}-{i}" for i in range(1000)]
    results = race(trigger_keys, db_url, [("t-echo", k) for k in keys])
    chosen = _agreed(results, keys)
    assert len(set(chosen.values())) == 1000
    assert sorted(_run_ids(db_url, "t-echo")) == sorted(chosen.values())
    assert all(runs.retrieve(chosen[k], database_url=db_url).idempotency_key == k for k in keys[:20])


def test_two_processes_retriggering_freed_keys_at_once_agree_on_one_new_run(db_url: str, token: str) -> None:
    """A key is freed by a failed, canceled or expired run, or by its TTL; the race to re-use it has one winner."""
    failed = [f"failed-{token}-{i}" for i in range(10)]
    canceled = [f"canceled-{token}-{i}" for i in range(40)]
    expired = [f"expired-{token}-{i}" for i in range(40)]
    key_ttl_passed = [f"ttl-{token}-{i}" for i in range(40)]
    with Worker(database_url=db_url, tasks=[sample_tasks], run_schedules=False):
        first_failed = {k: tasks.trigger("t-aborts", {"token": token}, idempotency_key=k).id for k in failed}
        for run_id in first_failed.values():
            assert runs.wait(run_id, timeout=30).status is RunStatus.FAILED
    first = {}
    for key in canceled:
        first[key] = tasks.trigger("t-echo", {}, idempotency_key=key, database_url=db_url).id
        runs.cancel(first[key], database_url=db_url)
    for key in expired:
        first[key] = tasks.trigger("t-echo", {}, idempotency_key=key, ttl=0.3, database_url=db_url).id
    for key in key_ttl_passed:
        first[key] = tasks.trigger("t-echo", {}, idempotency_key=key, idempotency_key_ttl=0.3, database_url=db_url).id
    time.sleep(0.5)
    assert runs.retrieve(first[expired[0]], database_url=db_url).status is RunStatus.EXPIRED
    assert runs.retrieve(first[key_ttl_passed[0]], database_url=db_url).status is RunStatus.QUEUED  # only its key is freed

    echo_keys = canceled + expired + key_ttl_passed
    again = _agreed(race(trigger_keys, db_url, [*(("t-aborts", k) for k in failed), *(("t-echo", k) for k in echo_keys)]), failed + echo_keys)
    again_failed = {k: again.pop(k) for k in failed}

    assert all(again_failed[k] != first_failed[k] for k in failed)
    assert all(again[k] != first[k] for k in echo_keys)
    assert sorted(_run_ids(db_url, "t-aborts")) == sorted([*first_failed.values(), *again_failed.values()])
    assert sorted(_run_ids(db_url, "t-echo")) == sorted([*first.values(), *again.values()])
    assert {runs.retrieve(again[k], database_url=db_url).status for k in echo_keys[::25]} == {RunStatus.QUEUED}
    # and the new runs now hold their keys
    assert tasks.trigger("t-echo", {}, idempotency_key=canceled[0], database_url=db_url).id == again[canceled[0]]


def test_a_key_whose_run_was_never_enqueued_is_completed_by_the_next_trigger(db_url: str, token: str) -> None:
    """A trigger that died between settling the key and enqueueing leaves a key row without a run: the next trigger
    enqueues that same run id instead of counting the key as spent (what let two runs start before)."""
    _register(db_url)
    key = f"orphan-{token}"
    settled, existing = claim_idempotency_key(get_backend(db_url), f"t-echo:{key}", new_run_id(), 60)  # then "crashed"
    assert not existing
    assert _run_ids(db_url, "t-echo") == []
    handle = tasks.trigger("t-echo", {"n": 1}, idempotency_key=key, database_url=db_url)
    assert handle.id == settled and not handle.is_cached
    again = tasks.trigger("t-echo", {"n": 2}, idempotency_key=key, database_url=db_url)
    assert again.id == settled and again.is_cached
    assert _run_ids(db_url, "t-echo") == [settled]
    assert runs.retrieve(settled, database_url=db_url).payload == {"n": 1}


def test_parent_runs_triggering_the_same_keys_at_once_share_one_child_per_key(db_url: str, token: str) -> None:
    """Inside runs the key is settled in a recorded step and the child enqueued as a recorded child: sync and async
    parents racing on the same keys still agree on one child per key, and exactly one of them created it."""
    from tests.runtime import keyed_tasks

    keys = [f"child-{token}-{i}" for i in range(30)]
    with Worker(database_url=db_url, tasks=[sample_tasks, keyed_tasks], concurrency=8, run_schedules=False):
        parents = [tasks.trigger(t, {"keys": keys}) for t in ("t-keyed-parent", "t-keyed-parent-async") * 2]
        outputs = []
        for parent in parents:
            run = runs.wait(parent.id, timeout=60)
            assert run.status is RunStatus.COMPLETED, run.error
            outputs.append({k: tuple(pair) for k, pair in zip(keys, run.output)})
        chosen = _agreed(outputs, keys)
        assert sorted(_run_ids(db_url, "t-echo")) == sorted(chosen.values())
        assert {runs.wait(chosen[k], timeout=30).output["echo"]["key"] for k in keys} == set(keys)
