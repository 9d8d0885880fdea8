"""Queue concurrency limits, concurrency keys, run metadata and logs, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from runtime import RunStatus, TriggerOptionsError, runs, tasks
from runtime.run_state import METADATA_LIMIT_BYTES
from tests.runtime.sample_tasks import EVENTS


def _overlaps(spans: list[tuple[float, float]]) -> bool:
    spans = sorted(spans)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_concurrency_limit_one_never_overlaps(worker, token) -> None:
    handles = [tasks.trigger("t-limited", {"token": token, "seconds": 0.15}) for _ in range(6)]
    for h in handles:
        assert runs.wait(h.id, timeout=30).status is RunStatus.COMPLETED
    spans = [(start, end) for _, start, end in EVENTS[token]]
    assert len(spans) == 6
    assert not _overlaps(spans)


def _assert_one_lane_per_key(handles: list, token: str) -> None:
    """All runs completed; runs of one key never overlapped; the first runs of two keys ran side by side (one slot
    per key, not one for the whole queue)."""
    for h in handles:
        assert runs.wait(h.id, timeout=30).status is RunStatus.COMPLETED
    by_key: dict[str, list[tuple[float, float]]] = {}
    for key, start, end in EVENTS[token]:
        by_key.setdefault(key, []).append((start, end))
    assert not _overlaps(by_key["chat-a"]) and not _overlaps(by_key["chat-b"])
    assert _overlaps(by_key["chat-a"][:1] + by_key["chat-b"][:1])


def test_concurrency_key_gives_each_key_its_own_slots(worker, token) -> None:
    handles = [
        tasks.trigger("t-limited", {"token": token, "key": key, "seconds": 0.4}, concurrency_key=key)
        for key in ("chat-a", "chat-b", "chat-a", "chat-b")
    ]
    _assert_one_lane_per_key(handles, token)
    assert runs.retrieve(handles[0].id).concurrency_key == "chat-a"


def test_a_queue_takes_the_concurrency_key_from_the_payload_when_the_trigger_gives_none(worker, token) -> None:
    """`Queue(concurrency_key_from="key")`: a caller that passes no concurrency_key (an HTTP client) still gets one
    lane per key; an explicit key wins; a payload without the field takes the shared lane; a key too long is refused."""
    handles = [tasks.trigger("t-keyed-from", {"token": token, "key": key, "seconds": 0.4}) for key in ("chat-a", "chat-b", "chat-a", "chat-b")]
    _assert_one_lane_per_key(handles, token)
    assert [runs.retrieve(h.id).concurrency_key for h in handles] == ["chat-a", "chat-b", "chat-a", "chat-b"]
    explicit = tasks.trigger("t-keyed-from", {"token": token, "key": "chat-a", "seconds": 0}, concurrency_key="other")
    keyless = tasks.trigger("t-keyed-from", {"token": token, "seconds": 0})
    assert runs.retrieve(explicit.id).concurrency_key == "other" and runs.retrieve(keyless.id).concurrency_key is None
    for h in (explicit, keyless):
        assert runs.wait(h.id, timeout=30).status is RunStatus.COMPLETED
    before = len(runs.list(task_id="t-keyed-from").data)
    with pytest.raises(TriggerOptionsError, match="payload.key"):
        tasks.trigger("t-keyed-from", {"token": token, "key": "k" * 300})
    assert len(runs.list(task_id="t-keyed-from").data) == before  # refused before anything was stored


def test_metadata_is_readable_while_the_run_executes(worker, token) -> None:
    handle = tasks.trigger("t-progress", {"token": token, "steps": 6, "pause": 0.25}, metadata={"source": "test"})
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = runs.retrieve(handle.id)
        if run.status is RunStatus.EXECUTING and run.metadata.get("progress"):
            seen.append(run.metadata["progress"])
        if run.is_final:
            break
        time.sleep(0.05)
    assert any(0 < p < 1 for p in seen), seen  # progress observed mid-run, not only at the end
    final = runs.retrieve(handle.id)
    assert final.metadata["progress"] == 1.0
    assert final.metadata["done"] == 6
    assert final.metadata["seen"] == [1, 2, 3, 4, 5]  # append, then remove(0)
    assert final.metadata["source"] == "test"  # metadata given at trigger is kept


def test_logs_are_stored_with_secrets_redacted(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-progress", {"token": token, "steps": 2, "pause": 0}).id, timeout=20)
    logs = [entry for entry in runs.logs(run.id) if entry.message == "step done"]
    assert [entry.fields["step"] for entry in logs] == [0, 1]
    text = repr([entry.model_dump() for entry in runs.logs(run.id)])
    assert "sk-live-123456" not in text and "hunter2" not in text
    assert logs[0].fields["api_key"] == "[REDACTED]"
    assert "app:[REDACTED]@db" in logs[0].fields["dsn"]


def test_metadata_over_256kb_gets_a_clear_error(worker) -> None:
    run = runs.wait(tasks.trigger("t-big-metadata", {}).id, timeout=20)
    assert run.output.startswith("MetadataTooLargeError")
    assert str(METADATA_LIMIT_BYTES) in run.output
    assert "blob" not in run.metadata
