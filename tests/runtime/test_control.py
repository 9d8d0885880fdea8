"""Cancel, idempotency, delay, ttl, listing and replay, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from runtime import RunNotFoundError, RunStatus, TriggerOptionsError, UnknownTaskError, runs, tasks
from tests.runtime.sample_tasks import EVENTS


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_cancel_stops_an_executing_run_and_runs_cleanup(worker, token) -> None:
    handle = tasks.trigger("t-cooperative", {"token": token})
    _wait_for(lambda: "started" in EVENTS[token])
    assert runs.retrieve(handle.id).status is RunStatus.EXECUTING
    started = time.monotonic()
    runs.cancel(handle.id)
    run = runs.wait(handle.id, timeout=10)
    assert run.status is RunStatus.CANCELED
    _wait_for(lambda: ("cleanup", "canceled") in EVENTS[token], timeout=3)
    assert time.monotonic() - started < 3
    assert "on_cancel" in EVENTS[token] and "saw-cancel" in EVENTS[token]


def test_cancel_of_parent_cancels_its_waiting_children(worker, token) -> None:
    handle = tasks.trigger("t-parent", {"token": token})
    _wait_for(lambda: "started" in EVENTS[token + "-child1"] and "started" in EVENTS[token + "-child2"], timeout=15)
    # the children may start before the parent has recorded that it waits for them (a claim takes ~1-2 ms)
    _wait_for(lambda: runs.retrieve(handle.id).status is RunStatus.WAITING, timeout=5)
    children = runs.list(task_id="t-cooperative").data
    assert len(children) == 2 and all(c.parent_id == handle.id for c in children)
    runs.cancel(handle.id)
    assert runs.wait(handle.id, timeout=10).status is RunStatus.CANCELED
    for child in children:
        assert runs.wait(child.id, timeout=10).status is RunStatus.CANCELED
    _wait_for(lambda: "saw-cancel" in EVENTS[token + "-child1"] and "saw-cancel" in EVENTS[token + "-child2"])


def test_cancel_of_a_queued_run_means_it_never_starts(db_url, token) -> None:
    from runtime import Worker
    from tests.runtime import sample_tasks

    with Worker(database_url=db_url, tasks=[sample_tasks]):
        pass  # registers the tasks, then stops: nothing will execute
    handle = tasks.trigger("t-echo", {"q": token}, database_url=db_url)
    assert runs.retrieve(handle.id, database_url=db_url).status is RunStatus.QUEUED
    assert runs.cancel(handle.id, database_url=db_url).status is RunStatus.CANCELED
    with Worker(database_url=db_url, tasks=[sample_tasks]):
        time.sleep(0.5)
        assert runs.retrieve(handle.id).status is RunStatus.CANCELED


def test_trigger_and_wait_inside_a_task_returns_child_results(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-parent-simple", {"n": 21, "token": token}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"child": 42, "child_ok": True, "failed_status": "FAILED", "failed_ok": False}
    assert run.metadata["children_done"] == 1 and run.metadata["root_seen"] is True


def test_same_idempotency_key_returns_the_same_run(worker, token) -> None:
    first = tasks.trigger("t-echo", {"n": 1}, idempotency_key=f"k-{token}")
    second = tasks.trigger("t-echo", {"n": 2}, idempotency_key=f"k-{token}")
    assert second.id == first.id and second.is_cached and not first.is_cached
    runs.wait(first.id, timeout=20)
    third = tasks.trigger("t-echo", {"n": 3}, idempotency_key=f"k-{token}")
    assert third.id == first.id  # a completed run keeps its key
    assert runs.retrieve(first.id).output["echo"] == {"n": 1}


def test_failed_run_frees_its_idempotency_key(worker, token) -> None:
    first = tasks.trigger("t-aborts", {"token": token}, idempotency_key=f"f-{token}")
    assert runs.wait(first.id, timeout=20).status is RunStatus.FAILED
    second = tasks.trigger("t-aborts", {"token": token}, idempotency_key=f"f-{token}")
    assert second.id != first.id and not second.is_cached


def test_idempotency_key_ttl_frees_the_key(worker, token) -> None:
    first = tasks.trigger("t-echo", {}, idempotency_key=f"t-{token}", idempotency_key_ttl=0.5)
    assert tasks.trigger("t-echo", {}, idempotency_key=f"t-{token}", idempotency_key_ttl=0.5).id == first.id
    time.sleep(0.7)
    assert tasks.trigger("t-echo", {}, idempotency_key=f"t-{token}").id != first.id


def test_delay_holds_the_run_until_due(worker) -> None:
    handle = tasks.trigger("t-echo", {"d": 1}, delay="1s")
    run = runs.retrieve(handle.id)
    assert run.status is RunStatus.DELAYED and run.delay_until is not None
    done = runs.wait(handle.id, timeout=20)
    assert done.status is RunStatus.COMPLETED
    assert (done.started_at - done.created_at).total_seconds() >= 0.9


def test_ttl_expires_a_run_that_was_not_started_in_time(db_url) -> None:
    from runtime import Worker
    from tests.runtime import sample_tasks

    with Worker(database_url=db_url, tasks=[sample_tasks]):
        pass
    handle = tasks.trigger("t-echo", {}, ttl=0.5, database_url=db_url)
    time.sleep(0.8)
    assert runs.retrieve(handle.id, database_url=db_url).status is RunStatus.EXPIRED
    with Worker(database_url=db_url, tasks=[sample_tasks], heartbeat_interval=0.2):
        run = runs.wait(handle.id, timeout=10)
        assert run.status is RunStatus.EXPIRED
        assert run.output is None and run.error.type == "RunExpired"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not runs.list(status="EXPIRED").data:
            time.sleep(0.1)
        assert [r.id for r in runs.list(status="EXPIRED").data] == [handle.id]
        assert runs.list(status="QUEUED").data == [] and runs.list(status="CANCELED").data == []


def test_list_filters_by_status_task_and_tag_and_pages(worker, token) -> None:
    ids = [tasks.trigger("t-echo", {"i": i}, tags=[f"batch:{token}", f"i:{i}"]).id for i in range(5)]
    failed = tasks.trigger("t-aborts", {"token": token}, tags=[f"batch:{token}"])
    for run_id in ids + [failed.id]:
        runs.wait(run_id, timeout=20)
    tagged = runs.list(tag=f"batch:{token}").data
    assert {r.id for r in tagged} == set(ids) | {failed.id}
    assert [r.id for r in runs.list(tag="i:3").data] == [ids[3]]
    assert [r.id for r in runs.list(status="FAILED", tag=f"batch:{token}").data] == [failed.id]
    assert {r.id for r in runs.list(status="COMPLETED", task_id="t-echo").data} >= set(ids)
    page1 = runs.list(tag=f"batch:{token}", limit=4)
    page2 = runs.list(tag=f"batch:{token}", limit=4, cursor=page1.next_cursor)
    assert len(page1.data) == 4 and len(page2.data) == 2 and page2.next_cursor is None
    assert {r.id for r in page1.data}.isdisjoint({r.id for r in page2.data})
    created = [r.created_at for r in page1.data + page2.data]
    assert created == sorted(created, reverse=True)


def test_replay_starts_a_new_run_with_the_same_payload(worker) -> None:
    original = runs.wait(tasks.trigger("t-echo", {"x": 1}, tags=["replayme"]).id, timeout=20)
    handle = runs.replay(original.id)
    assert handle.id != original.id
    replayed = runs.wait(handle.id, timeout=20)
    assert replayed.payload == original.payload and replayed.tags == ["replayme"]
    assert replayed.status is RunStatus.COMPLETED


def test_batch_trigger_starts_one_run_per_item(worker) -> None:
    batch = tasks.batch_trigger("t-echo", [{"a": 1}, {"payload": {"a": 2}, "options": {"tags": ["two"]}}])
    results = [runs.wait(h.id, timeout=20) for h in batch.runs]
    assert [r.output["echo"] for r in results] == [{"a": 1}, {"a": 2}]
    assert results[1].tags == ["two"]


def test_trigger_and_wait_from_outside_a_task(worker) -> None:
    result = tasks.trigger_and_wait("t-echo", {"w": 1}, timeout=20)
    assert result.ok and result.output["echo"] == {"w": 1}


def test_bad_trigger_input_gets_a_typed_error_naming_the_option(worker) -> None:
    with pytest.raises(UnknownTaskError, match="no-such-task"):
        tasks.trigger("no-such-task", {})
    with pytest.raises(TriggerOptionsError, match="max_attempts"):
        tasks.trigger("t-echo", {}, max_attempts=0)
    with pytest.raises(ValueError, match="delay"):
        tasks.trigger("t-echo", {}, delay="soon")
    with pytest.raises(TriggerOptionsError, match="tags"):
        tasks.trigger("t-echo", {}, tags=[f"t{i}" for i in range(11)])
    with pytest.raises(RunNotFoundError):
        runs.retrieve("run_does_not_exist")


def test_async_task_triggers_and_waits_for_children_durably(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-async-parent", {"n": 5, "token": token}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.output == {"one": 10, "many": [2, 4], "failed": "FAILED"}
    assert run.metadata["children_done"] == 3
    children = runs.list(task_id="t-child-reports").data
    assert len(children) == 3 and {c.parent_id for c in children} == {run.id}


def test_sync_trigger_inside_an_async_task_says_to_await_the_async_variant(worker) -> None:
    run = runs.wait(tasks.trigger("t-async-parent-wrong-call", {}, max_attempts=1).id, timeout=20)
    assert run.status is RunStatus.FAILED
    assert "trigger_async" in run.error.message


def test_secrets_in_a_payload_are_masked_when_shown_but_kept_for_execution(worker) -> None:
    payload = {"credentials": {"host": "db", "password": "s3cr3t-pw"}, "dsn": "postgresql://u:s3cr3t-pw@db/x"}
    run = runs.wait(tasks.trigger("t-echo", payload).id, timeout=20)
    assert "s3cr3t-pw" not in run.model_dump_json()  # neither payload nor output shows it
    assert run.payload["credentials"] == {"host": "db", "password": "[REDACTED]"}
    replayed = runs.wait(runs.replay(run.id).id, timeout=20)
    assert replayed.status is RunStatus.COMPLETED  # the replay ran with the real payload, not the masked one
