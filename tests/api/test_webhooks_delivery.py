"""Webhook delivery end to end, on SQLite and PostgreSQL: a real worker, the real emitter, a real receiver on loopback,
and signatures verified by the `standardwebhooks` package."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from api.webhooks.emitter import EventEmitter
from api.webhooks.ssrf import ALLOW_PRIVATE_ENV
from api.webhooks.settings import ENV_RETRY_DELAYS
from api.webhooks.tasks import delivery
from runtime import RunStatus, Worker, runs, tasks
from runtime.backend import reset_backends
from store import webhooks as registry
from tests.api import webhook_tasks
from tests.api.webhook_fixtures import Receiver, start_worker, stop_worker
from tests.runtime.conftest import fresh_database, make_database
from tests.secret_scan import database_bytes, needles

ALL_EVENTS = ["run.started", "run.completed", "run.failed", "run.canceled"]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    monkeypatch.setenv(ENV_RETRY_DELAYS, "0.5,0.5,0.5")
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(Path(__file__).resolve().parents[2]))
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def worker(db: str) -> Iterator[Worker]:
    with Worker(database_url=db, tasks=[delivery, webhook_tasks], concurrency=4, heartbeat_interval=0.5) as w:
        yield w


@pytest.fixture
def emitter(db: str, worker: Worker) -> Iterator[EventEmitter]:
    e = EventEmitter(database_url=db, interval=0.1)
    e.poll_once()  # sets the watermark: from now on
    with e:
        yield e


def verified(endpoint_secret: str, received) -> dict:  # type: ignore[no-untyped-def]
    """The body, once the standardwebhooks package accepted its signature (raises otherwise)."""
    return Webhook(endpoint_secret).verify(received.body, received.headers)


def test_fails_twice_then_succeeds_same_webhook_id_three_times(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    receiver.answers = [500, 503, 200]
    endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    run = tasks.trigger("wh-ok", {"n": 1}, database_url=db)
    assert runs.wait(run.id, timeout=60, database_url=db).status is RunStatus.COMPLETED
    got = receiver.wait_for(3)
    time.sleep(1.5)  # nothing more comes after the 2xx
    assert len(receiver.requests) == 3
    ids = {r.headers["webhook-id"] for r in got}
    assert len(ids) == 1 and ids.pop().startswith("msg_")
    bodies = [verified(endpoint.secret, r) for r in got]
    assert all(b == bodies[0] for b in bodies)  # the same bytes every time, a fresh timestamp each
    assert bodies[0]["type"] == "run.completed"
    assert bodies[0]["data"]["id"] == run.id and bodies[0]["data"]["status"] == "COMPLETED"
    assert bodies[0]["data"]["taskIdentifier"] == "wh-ok"
    assert bodies[0]["data"]["output"]["password"] == "[REDACTED]"
    assert all(r.headers["content-type"] == "application/json" for r in got)

    deadline = time.monotonic() + 30
    page = registry.list_messages(endpoint.id, database_url=db)
    while page.data[0].status != "succeeded" and time.monotonic() < deadline:  # recorded just after the response
        time.sleep(0.1)
        page = registry.list_messages(endpoint.id, database_url=db)
    assert len(page.data) == 1
    message = page.data[0]
    assert message.status == "succeeded" and message.attempts == 3 and message.run_id == run.id
    assert [a.status_code for a in message.attempt_log] == [500, 503, 200]
    assert message.attempt_log[0].error == "HTTP 500"
    delivery_run = runs.wait(message.delivery_run_id, timeout=30, database_url=db)
    assert delivery_run.status is RunStatus.COMPLETED and delivery_run.attempts == 3
    # three signed attempts later, the secret is still nowhere in the database (steps, logs, messages) in clear
    stored = database_bytes(db)
    assert not any(n in stored for n in needles(endpoint.secret) + needles(endpoint.secret.removeprefix("whsec_")))


def test_schedule_spent_marks_the_message_failed(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    receiver.answers = [500]
    endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    tasks.trigger("wh-ok", None, database_url=db)
    receiver.wait_for(4)  # the first attempt and the three retries of "0.5,0.5,0.5"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = registry.list_messages(endpoint.id, database_url=db).data[0]
        if message.status == "failed":
            break
        time.sleep(0.1)
    assert message.status == "failed" and message.attempts == 4
    time.sleep(1.5)
    assert len(receiver.requests) == 4
    assert runs.retrieve(message.delivery_run_id, database_url=db).status is RunStatus.FAILED
    assert registry.get_endpoint(endpoint.id, database_url=db).enabled  # only 410 disables


def test_410_disables_the_endpoint(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    receiver.answers = [410]
    endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    tasks.trigger("wh-ok", None, database_url=db)
    receiver.wait_for(1)
    deadline = time.monotonic() + 30
    while registry.get_endpoint(endpoint.id, database_url=db).enabled and time.monotonic() < deadline:
        time.sleep(0.1)
    disabled = registry.get_endpoint(endpoint.id, database_url=db)
    assert not disabled.enabled and "410" in (disabled.disabled_reason or "")
    message = registry.list_messages(endpoint.id, database_url=db).data[0]
    assert message.status == "failed" and message.attempts == 1 and message.attempt_log[0].status_code == 410
    assert runs.wait(message.delivery_run_id, timeout=30, database_url=db).status is RunStatus.FAILED
    # later runs send nothing to a disabled endpoint
    later = tasks.trigger("wh-ok", None, database_url=db)
    runs.wait(later.id, timeout=30, database_url=db)
    time.sleep(1.5)
    assert len(receiver.requests) == 1


def test_every_event_once_and_never_about_deliveries(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    endpoint = registry.create_endpoint(receiver.url, ALL_EVENTS, database_url=db)
    ok = tasks.trigger("wh-ok", None, database_url=db)
    failed = tasks.trigger("wh-fails", None, database_url=db)
    slow = tasks.trigger("wh-slow", None, database_url=db)
    # cancel once its run.started went out: DBOS forgets a canceled run's start time, so a run started and canceled
    # between two polls of the emitter gives run.canceled alone
    receiver.wait_for(1, what=lambda r: r.json["type"] == "run.started" and r.json["data"]["id"] == slow.id)
    runs.cancel(slow.id, database_url=db)
    for handle in (ok, failed, slow):
        runs.wait(handle.id, timeout=60, database_url=db)
    got = receiver.wait_for(6)
    time.sleep(2.0)  # the deliveries' own runs start and complete: they must not produce events
    events = sorted((verified(endpoint.secret, r)["data"]["id"], verified(endpoint.secret, r)["type"]) for r in receiver.requests)
    assert events == sorted(
        [(ok.id, "run.started"), (ok.id, "run.completed"), (failed.id, "run.started"), (failed.id, "run.failed"),
         (slow.id, "run.started"), (slow.id, "run.canceled")]
    ), events
    assert len({r.headers["webhook-id"] for r in got}) == 6
    failed_body = next(json.loads(r.body) for r in receiver.requests if json.loads(r.body)["type"] == "run.failed")
    assert failed_body["data"]["status"] == "FAILED" and "planned failure" in failed_body["data"]["error"]["message"]


def test_only_subscribed_events_and_only_runs_after_the_endpoint(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    before = tasks.trigger("wh-ok", None, database_url=db)
    runs.wait(before.id, timeout=30, database_url=db)
    time.sleep(0.3)
    endpoint = registry.create_endpoint(receiver.url, ["run.failed"], database_url=db)
    ok = tasks.trigger("wh-ok", None, database_url=db)
    failed = tasks.trigger("wh-fails", None, database_url=db)
    runs.wait(ok.id, timeout=30, database_url=db)
    runs.wait(failed.id, timeout=30, database_url=db)
    got = receiver.wait_for(1)
    time.sleep(1.5)
    assert len(receiver.requests) == 1
    body = verified(endpoint.secret, got[0])
    assert body["type"] == "run.failed" and body["data"]["id"] == failed.id


def test_two_emitters_on_one_database_send_each_event_once(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    """Several API processes watch the same runs: the message's unique key makes each event go out once."""
    registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    with EventEmitter(database_url=db, interval=0.05):
        handles = [tasks.trigger("wh-ok", {"i": i}, database_url=db) for i in range(5)]
        for handle in handles:
            runs.wait(handle.id, timeout=30, database_url=db)
        receiver.wait_for(5)
        time.sleep(1.5)
    assert len(receiver.requests) == 5
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 5


def test_events_of_runs_that_ended_while_no_emitter_ran_are_sent_on_start(db: str, receiver: Receiver, worker: Worker) -> None:
    first = EventEmitter(database_url=db)
    first.poll_once()  # the watermark exists: this database has had an emitter
    registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    handle = tasks.trigger("wh-ok", None, database_url=db)
    runs.wait(handle.id, timeout=30, database_url=db)
    assert receiver.requests == []
    with EventEmitter(database_url=db, interval=0.1):  # the API process starts again
        got = receiver.wait_for(1)
    assert got[0].json["data"]["id"] == handle.id


def test_a_redirect_is_not_followed(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    target = Receiver()
    try:
        receiver.answers = [(302, {"location": target.url})]
        registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
        tasks.trigger("wh-ok", None, database_url=db)
        receiver.wait_for(2)  # the first attempt and a retry: a 3xx is a failure
        assert target.requests == []
    finally:
        target.close()


def test_an_endpoint_whose_address_became_private_is_not_called(
    db: str, receiver: Receiver, emitter: EventEmitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The address is checked again before every attempt, not only at registration."""
    endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    tasks.trigger("wh-ok", None, database_url=db)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = registry.list_messages(endpoint.id, database_url=db).data
        if page and page[0].attempt_log:
            break
        time.sleep(0.1)
    assert "loopback" in (page[0].attempt_log[0].error or "")
    assert receiver.requests == []


def test_the_secret_is_stored_encrypted_and_never_listed(db: str) -> None:
    created = registry.create_endpoint("http://127.0.0.1:9/x", ["run.completed"], database_url=db)
    assert created.secret.startswith("whsec_")
    listed = registry.list_endpoints(database_url=db)
    assert "secret" not in listed[0].model_dump() and created.secret not in repr(listed) + repr(created)
    assert registry.endpoint_secret(created.id, database_url=db) == created.secret
    stored = database_bytes(db)
    raw = created.secret.removeprefix("whsec_")
    assert not any(n in stored for n in needles(created.secret) + needles(raw))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_worker_restart_mid_retry_still_delivers(kind: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker is SIGKILLed while the delivery waits for its retry; a new worker on the same slot delivers it."""
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    monkeypatch.setenv(ENV_RETRY_DELAYS, "4")
    url, drop = make_database(kind, tmp_path)
    first = second = None
    receiver.answers = [500, 200]
    try:
        env = {ALLOW_PRIVATE_ENV: "1", ENV_RETRY_DELAYS: "4"}
        first = start_worker(url, "webhook-restart-1", env)
        endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=url)
        emitter = EventEmitter(database_url=url, interval=0.1)
        emitter.poll_once()
        with emitter:
            handle = tasks.trigger("wh-ok", None, database_url=url)
            runs.wait(handle.id, timeout=60, database_url=url)
            receiver.wait_for(1)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the first attempt is recorded: its step is durable
                page = registry.list_messages(endpoint.id, database_url=url).data
                if page and page[0].next_attempt_at is not None:
                    break
                time.sleep(0.05)
            time.sleep(0.3)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        time.sleep(3)  # its executor id is free once it has been silent for dead_worker_after (2 s)
        second = start_worker(url, "webhook-restart-1", env)
        got = receiver.wait_for(2, timeout=90)
        assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
        assert Webhook(endpoint.secret).verify(got[1].body, got[1].headers)["data"]["id"] == handle.id
        message = registry.list_messages(endpoint.id, database_url=url).data[0]
        deadline = time.monotonic() + 30
        while message.status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.1)
            message = registry.list_messages(endpoint.id, database_url=url).data[0]
        assert message.status == "succeeded" and [a.status_code for a in message.attempt_log] == [500, 200]
        time.sleep(1.0)
        assert len(receiver.requests) == 2  # the recorded first attempt was not posted again on recovery
    finally:
        stop_worker(first)
        stop_worker(second)
        reset_backends()
        drop()


def _resolving(mapping: dict[str, str]):  # type: ignore[no-untyped-def]
    import socket as socket_module

    real = socket_module.getaddrinfo

    def fake(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host in mapping:
            return [(socket_module.AF_INET, socket_module.SOCK_STREAM, 6, "", (mapping[host], port))]
        return real(host, port, *args, **kwargs)

    return fake


def test_a_host_name_is_pinned_to_the_address_checked_and_keeps_its_host_header(
    db: str, receiver: Receiver, emitter: EventEmitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.webhooks import ssrf

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", _resolving({"hooks.test": "127.0.0.1"}))
    port = receiver.server.server_address[1]
    endpoint = registry.create_endpoint(f"http://hooks.test:{port}/hooks", ["run.completed"], database_url=db)
    tasks.trigger("wh-ok", None, database_url=db)
    got = receiver.wait_for(1)
    assert got[0].headers["host"] == f"hooks.test:{port}" and got[0].path == "/hooks"
    verified(endpoint.secret, got[0])


def test_dns_rebinding_to_an_internal_address_after_registration_is_refused(
    db: str, receiver: Receiver, emitter: EventEmitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered while the name pointed at a public address; by delivery time it points at loopback."""
    from api.webhooks import ssrf

    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    monkeypatch.setattr(ssrf.socket, "getaddrinfo", _resolving({"rebind.test": "93.184.216.34"}))
    checked = ssrf.check_url(f"http://rebind.test:{receiver.server.server_address[1]}/hooks")
    endpoint = registry.create_endpoint(checked.url, ["run.completed"], database_url=db)
    monkeypatch.setattr(ssrf.socket, "getaddrinfo", _resolving({"rebind.test": "127.0.0.1"}))
    tasks.trigger("wh-ok", None, database_url=db)
    deadline = time.monotonic() + 30
    page: list = []
    while time.monotonic() < deadline:
        page = registry.list_messages(endpoint.id, database_url=db).data
        if page and page[0].attempt_log:
            break
        time.sleep(0.1)
    assert "loopback" in (page[0].attempt_log[0].error or "") and receiver.requests == []


def test_runs_changed_since_pages_in_change_order(db: str, worker: Worker) -> None:
    """The runtime read the emitter relies on: every run whose state moved, oldest change first, paged without gaps."""
    start = time.time() - 1.5  # SQLite keeps change times to the second
    handles = [tasks.trigger("wh-ok", {"i": i}, database_url=db) for i in range(5)]
    for handle in handles:
        runs.wait(handle.id, timeout=30, database_url=db)
    seen: list[str] = []
    since, after_id = start, None
    for _ in range(20):
        page = runs.changed_since(since, after_id=after_id, limit=2, database_url=db)
        seen += [r.id for r in page.data]
        assert len(page.data) <= 2
        if page.next is None:
            break
        since, after_id = page.next
    assert sorted(seen) == sorted(h.id for h in handles) and len(seen) == len(set(seen))
    assert all(r.status is RunStatus.COMPLETED for r in runs.changed_since(start, database_url=db).data)
    assert runs.changed_since(time.time() + 5, database_url=db).data == []
    with pytest.raises(ValueError):
        runs.changed_since(start, limit=0, database_url=db)


def test_a_message_whose_delivery_was_never_triggered_is_sent_by_the_next_poll(
    db: str, receiver: Receiver, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API process stopped between inserting a message and triggering its delivery: nothing is lost."""
    from api.webhooks import emitter as emitter_module

    monkeypatch.setattr(emitter_module, "REDISPATCH_AFTER_S", 0.0)
    endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    body = json.dumps({"type": "run.completed", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "run_orphan"}})
    message_id = registry.add_message(endpoint.id, "run.completed", "run_orphan", body, database_url=db)
    assert message_id is not None
    assert registry.add_message(endpoint.id, "run.completed", "run_orphan", body, database_url=db) is None  # once
    time.sleep(0.05)
    e = EventEmitter(database_url=db)
    e.poll_once()  # first start: sets the watermark
    e.poll_once()
    got = receiver.wait_for(1)
    assert got[0].headers["webhook-id"] == message_id and verified(endpoint.secret, got[0])["data"]["id"] == "run_orphan"
    e.poll_once()  # dispatched once: its delivery run is recorded now
    time.sleep(1.0)
    assert len(receiver.requests) == 1


def test_retry_after_of_a_429_is_honoured(db: str, receiver: Receiver, emitter: EventEmitter) -> None:
    """The schedule says 0.5 s; the receiver asks for 3 s: the next attempt waits 3 s."""
    receiver.answers = [(429, {"retry-after": "3"}), 200]
    endpoint = registry.create_endpoint(receiver.url, ["run.completed"], database_url=db)
    tasks.trigger("wh-ok", None, database_url=db)
    got = receiver.wait_for(2)
    assert got[1].at - got[0].at >= 2.9
    deadline = time.monotonic() + 30
    message = registry.list_messages(endpoint.id, database_url=db).data[0]
    while message.status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
        message = registry.list_messages(endpoint.id, database_url=db).data[0]
    assert [a.status_code for a in message.attempt_log] == [429, 200]
