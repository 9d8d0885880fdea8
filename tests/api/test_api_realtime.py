"""Realtime over SSE: the run now, then each change, ending once finished; versions as event ids and Last-Event-ID
resume; pings; tag streams; auth by key or `?token=`; one poller for every subscriber."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from tests.api import api_tasks
from api.app import create_app
from api.realtime import TAG_LOOKBACK_MS, RunFeed
from runtime.backend import get_backend
from api.settings import ApiSettings
from tests.api.conftest import Api
from tests.api.live_server import LiveServer
from tests.api.sse import SSEStream


def _trigger(client: httpx.Client, task: str, payload: dict | None = None, tags: list[str] | None = None) -> dict:
    response = client.post(f"/api/v1/tasks/{task}/trigger", json={"payload": payload or {}, "options": {"tags": tags or []}})
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for(stream: SSEStream, predicate, timeout: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = stream.next_event(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            raise AssertionError(f"{stream.path}: no expected event within {timeout} s; last seen: {_seen(stream)}") from None
        assert event is not None, f"{stream.path}: the stream ended before the expected event; last seen: {_seen(stream)}"
        if predicate(event.data):
            return event


def _seen(stream: SSEStream) -> str:
    last = stream.last_event
    if last is None:
        return "no event"
    data = last.data or {}
    return f"id {last.id}, status {data.get('status')}, isFinished {data.get('isFinished')}, metadata {data.get('metadata')}"

def _wait_for_metadata(client: httpx.Client, run_id: str, ready, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while not ready(client.get(f"/api/v1/runs/{run_id}").json()["metadata"]):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _feed_polled_by_the_test(api: Api) -> tuple[RunFeed, asyncio.AbstractEventLoop]:
    """A feed whose poller never starts (the test calls poll_once itself), and a loop for its subscriptions."""
    return RunFeed(api.database_url, poll_interval_s=60), asyncio.new_event_loop()


def _subscribe(feed: RunFeed, loop: asyncio.AbstractEventLoop, **wanted):  # type: ignore[no-untyped-def]
    async def subscribe():  # type: ignore[no-untyped-def]
        return feed.subscribe(**wanted)

    return loop.run_until_complete(subscribe())



def test_run_stream_follows_progress_and_ends_when_finished(api: Api, client: httpx.Client) -> None:
    token = uuid.uuid4().hex
    run = _trigger(client, "api-steps", {"token": token, "steps": 3, "gated": True})
    with SSEStream(client, f"/realtime/v1/runs/{run['id']}") as stream:
        assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
        first = stream.next_event()
        assert first.event == "run" and first.data["id"] == run["id"] and first.id
        assert first.data["status"] in ("QUEUED", "EXECUTING") and first.data["isFinished"] is False
        seen = [first]
        for i in range(3):
            if seen[-1].data["metadata"].get("progress") != pytest.approx((i + 1) / 3):  # the first event may have it
                seen.append(_wait_for(stream, lambda d, i=i: d["metadata"].get("progress") == pytest.approx((i + 1) / 3)))
            api_tasks.gate(f"{token}:{i}").set()
        last = _wait_for(stream, lambda d: d["isFinished"])
        assert last.data["status"] == "COMPLETED" and last.data["finishedAt"] and last.data["output"] == {"done": 3}
        assert stream.next_event(timeout=10) is None  # the server closed the stream after the final event
        assert len({e.id for e in seen + [last]}) == len(seen + [last])
        progress = [e.data["metadata"].get("progress", 0) for e in seen + [last]]
        assert progress == sorted(progress)  # never an older state after a newer one


def test_last_event_id_resumes_without_repeating_the_known_state(api: Api, client: httpx.Client) -> None:
    token = uuid.uuid4().hex
    run = _trigger(client, "api-steps", {"token": token, "steps": 2, "gated": True})
    with SSEStream(client, f"/realtime/v1/runs/{run['id']}") as stream:
        known = _wait_for(stream, lambda d: d["metadata"].get("stage") == "step 1")
    with SSEStream(client, f"/realtime/v1/runs/{run['id']}", headers={"Last-Event-ID": known.id}) as resumed:
        with pytest.raises(TimeoutError):
            resumed.next_event(timeout=1.5)  # nothing new: nothing sent
        api_tasks.gate(f"{token}:0").set()
        event = resumed.next_event()
        assert event.id != known.id and event.data["metadata"]["stage"] == "step 2"
        api_tasks.gate(f"{token}:1").set()
        assert _wait_for(resumed, lambda d: d["isFinished"]).data["status"] == "COMPLETED"
    with SSEStream(client, f"/realtime/v1/runs/{run['id']}", headers={"Last-Event-ID": "stale-0"}) as again:
        event = again.next_event()
        assert event.data["status"] == "COMPLETED" and again.next_event() is None


def test_finished_run_stream_sends_one_event_and_ends(api: Api, client: httpx.Client) -> None:
    run = _trigger(client, "api-echo")
    api.wait_run(client, run["id"])
    with SSEStream(client, f"/realtime/v1/runs/{run['id']}") as stream:
        assert stream.next_event().data["status"] == "COMPLETED"
        assert stream.next_event() is None


def test_tag_stream_sends_every_run_with_the_tag_only(api: Api, client: httpx.Client) -> None:
    tag = f"live-{uuid.uuid4().hex[:8]}"
    before = _trigger(client, "api-echo", tags=[tag])
    api.wait_run(client, before["id"])
    with SSEStream(client, "/realtime/v1/runs", params={"tag": tag}) as stream:
        assert stream.next_event().data["id"] == before["id"]  # the runs as they are first
        runs = [_trigger(client, "api-echo", {"i": i}, tags=[tag])["id"] for i in range(2)]
        untagged = _trigger(client, "api-echo")["id"]
        done: set[str] = set()
        deadline = time.monotonic() + 30
        while done != set(runs) and time.monotonic() < deadline:
            event = stream.next_event(timeout=20)
            assert event is not None and event.data["id"] != untagged and tag in event.data["tags"]
            if event.data["isFinished"]:
                done.add(event.data["id"])
        assert done == set(runs)


def test_public_token_in_the_query_reads_its_run_only(api: Api, client: httpx.Client) -> None:
    mine = _trigger(client, "api-echo")
    other = _trigger(client, "api-echo")
    with api.client() as browser:
        with SSEStream(browser, f"/realtime/v1/runs/{mine['id']}", params={"token": mine["publicAccessToken"]}) as stream:
            assert stream.status == 200 and stream.next_event().data["id"] == mine["id"]
        with SSEStream(browser, f"/realtime/v1/runs/{other['id']}", params={"token": mine["publicAccessToken"]}) as stream:
            assert stream.status == 403
        with SSEStream(browser, f"/realtime/v1/runs/{mine['id']}") as stream:
            assert stream.status == 401
        with SSEStream(browser, "/realtime/v1/runs", params={"tag": "anything", "token": mine["publicAccessToken"]}) as stream:
            assert stream.status == 403


def test_tag_scoped_token_streams_its_tag(api: Api, client: httpx.Client) -> None:
    tag = f"scoped-{uuid.uuid4().hex[:8]}"
    token = client.post("/api/v1/auth/public-token", json={"scopes": {"read": {"tags": [tag]}}}).json()["token"]
    run = _trigger(client, "api-echo", tags=[tag])
    with api.client() as browser:
        with SSEStream(browser, "/realtime/v1/runs", params={"tag": tag, "token": token}) as stream:
            assert stream.status == 200
            assert _wait_for(stream, lambda d: d["id"] == run["id"] and d["isFinished"])
        with SSEStream(browser, f"/realtime/v1/runs/{run['id']}", params={"token": token}) as stream:
            assert stream.status == 200 and stream.next_event().data["id"] == run["id"]


def test_unknown_run_is_a_404_before_streaming(client: httpx.Client) -> None:
    with SSEStream(client, "/realtime/v1/runs/run_000000000000000000000000") as stream:
        assert stream.status == 404


def test_one_poller_serves_every_subscriber(api: Api, client: httpx.Client) -> None:
    token = uuid.uuid4().hex
    run = _trigger(client, "api-steps", {"token": token, "steps": 1, "gated": True})
    feed = api.app.state.run_feed
    streams = [SSEStream(client, f"/realtime/v1/runs/{run['id']}") for _ in range(12)]
    for s in streams:
        s.__enter__()
    try:
        for s in streams:
            assert s.next_event().data["id"] == run["id"]
        assert feed.subscriber_count >= 12
        pollers = [t for t in threading.enumerate() if t.name == "taskpack-realtime"]
        assert len(pollers) == 1
        api_tasks.gate(f"{token}:0").set()
        for s in streams:
            assert _wait_for(s, lambda d: d["isFinished"]).data["status"] == "COMPLETED"
            assert s.next_event() is None
    finally:
        for s in streams:
            s.__exit__()
    assert _subscribers_of(api, run["id"]) == 0  # streams that ended unsubscribed


def test_a_stream_that_subscribes_during_a_poll_is_handed_what_that_poll_read(api: Api, client: httpx.Client) -> None:
    """A stream subscribes, then reads the run's first state. A poll that began before it subscribed (its list of
    subscribers taken) may read the run after that first state was read, with a change in between (here: the run
    finished): the poll stores the new marker, so no later poll sees the run move, and unless this poll hands its event
    to the new stream too, the stream waits forever. A poller thread held up between taking its subscribers and
    reading the markers (a loaded machine) left test_one_poller_serves_every_subscriber waiting for a finished run."""
    token = uuid.uuid4().hex
    run = _trigger(client, "api-steps", {"token": token, "steps": 1, "gated": True})
    _wait_for_metadata(client, run["id"], lambda m: m.get("stage") == "step 1", "the run did not reach its gate")
    feed, loop = _feed_polled_by_the_test(api)

    def subscribe():  # type: ignore[no-untyped-def]
        return _subscribe(feed, loop, run_ids=frozenset([run["id"]]))

    try:
        early = subscribe()
        feed.poll_once([early])  # the run's marker as it waits at the gate
        read_markers = feed._markers_by_id
        first: dict = {}

        def late_joiner_then_markers(backend, run_ids):  # type: ignore[no-untyped-def]
            # between the poll taking its subscribers and reading the markers: a stream subscribes, reads its first
            # state (a snapshot reads markers too: those go straight through), and then the run finishes
            if first:
                return read_markers(backend, run_ids)
            first["sub"] = subscribe()
            first["event"] = feed.snapshot([run["id"]])[run["id"]]
            api_tasks.gate(f"{token}:0").set()
            assert api.wait_run(client, run["id"])["status"] == "COMPLETED"
            return read_markers(backend, run_ids)

        feed._markers_by_id = late_joiner_then_markers  # type: ignore[method-assign]
        feed.poll_once([early])
        feed._markers_by_id = read_markers  # type: ignore[method-assign]
        late, seen = first["sub"], first["event"]
        assert not seen.finished
        for sub in (early, late):
            event = sub.pending.get(run["id"])
            assert event is not None and event.finished and event.data["status"] == "COMPLETED", event
        # and the stream sends it: a state it does not have, read after its first one
        event = late.pending[run["id"]]
        assert event.digest != seen.digest and event.loaded_at > seen.loaded_at
        feed.poll_once([early, late])  # nothing moved since: nothing more
        assert feed._markers[run["id"]][0] == "SUCCESS"
    finally:
        api_tasks.gate(f"{token}:0").set()
        feed.stop()
        loop.close()


def test_a_change_stamped_at_a_time_already_seen_still_reaches_the_stream(api: Api, client: httpx.Client) -> None:
    """Change markers are compared for equality, never for order, and not by time alone: a change of a run's
    attributes that keeps its DBOS status and is stamped with the `updated_at` the poller has already seen (two writes
    in one millisecond; a status row stamped by Python's clock and its next update by SQLite's, a millisecond
    behind) or an earlier one still reaches the stream."""
    run = _trigger(client, "api-holds")
    _wait_for_metadata(client, run["id"], lambda m: m.get("holding"), "the run did not start")
    dbos = get_backend(api.database_url).dbos
    ws = dbos.workflows
    feed, loop = _feed_polled_by_the_test(api)
    try:
        sub = _subscribe(feed, loop, run_ids=frozenset([run["id"]]))
        feed.poll_once([sub])
        assert sub.pending.pop(run["id"]).data["status"] == "EXECUTING"
        with dbos.engine.connect() as conn:
            seen_ms = conn.execute(sa.select(ws.c.updated_at).where(ws.c.workflow_uuid == run["id"])).scalar_one()
        for stamp, tag in ((seen_ms, "same-ms"), (seen_ms - 3, "earlier")):
            dbos.set_attributes(run["id"], {"tags": [tag]})  # the status stays PENDING (EXECUTING)
            with dbos.engine.begin() as conn:
                conn.execute(sa.update(ws).where(ws.c.workflow_uuid == run["id"]).values(updated_at=stamp))
            feed.poll_once([sub])
            event = sub.pending.pop(run["id"], None)
            assert event is not None and event.data["tags"] == [tag], (tag, event)
        feed.poll_once([sub])  # nothing moved since: nothing more
        assert run["id"] not in sub.pending
    finally:
        feed.stop()
        loop.close()
        client.post(f"/api/v1/runs/{run['id']}/cancel")


def _subscribers_of(api: Api, run_id: str, timeout: float = 5) -> int:
    feed = api.app.state.run_feed
    deadline = time.monotonic() + timeout
    while True:
        with feed._lock:
            count = sum(1 for sub in feed._subs if run_id in sub.run_ids)
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_ping_comments_keep_a_quiet_stream_alive_and_a_gone_client_is_dropped(api: Api, client: httpx.Client) -> None:
    app = create_app(ApiSettings(database_url=api.database_url, realtime_ping_interval_s=0.3))
    run = _trigger(client, "api-holds")
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, headers=client.headers) as other:
            with other.stream("GET", f"/realtime/v1/runs/{run['id']}") as response:
                lines = response.iter_lines()
                pings, started = 0, time.monotonic()
                while pings < 2 and time.monotonic() - started < 10:
                    line = next(lines)
                    pings += line == ": ping"
                assert pings == 2
            feed = app.state.run_feed  # the client hung up: the next ping fails and the stream unsubscribes
            deadline = time.monotonic() + 5
            while feed.subscriber_count and time.monotonic() < deadline:
                time.sleep(0.05)
            assert feed.subscriber_count == 0
    finally:
        client.post(f"/api/v1/runs/{run['id']}/cancel")


def test_a_stream_opened_with_a_token_ends_when_the_token_expires(api: Api, client: httpx.Client) -> None:
    run = _trigger(client, "api-holds")
    token = client.post("/api/v1/auth/public-token", json={"scopes": {"read": {"runs": [run["id"]]}}, "expires_in": 2}).json()["token"]
    try:
        with api.client() as browser:
            started = time.monotonic()
            with SSEStream(browser, f"/realtime/v1/runs/{run['id']}", params={"token": token}) as stream:
                assert stream.next_event().data["id"] == run["id"]
                assert stream.ended.wait(15), "the stream outlived its token"
            assert time.monotonic() - started < 15
    finally:
        client.post(f"/api/v1/runs/{run['id']}/cancel")


def test_a_run_of_a_newly_followed_tag_that_finishes_before_the_first_poll_still_reaches_the_stream(
    api: Api, client: httpx.Client
) -> None:
    """A tag stream's first state lists the tag's runs; a poll then reads the tag's unfinished runs and those created
    lately. A run created a while ago, unfinished in that first state and finished before the first poll that reads
    its tag, is neither: unless the poll also reads the runs the first state showed unfinished, the stream never hears
    that it finished."""
    token, tag = uuid.uuid4().hex, f"late-{uuid.uuid4().hex[:8]}"
    run = _trigger(client, "api-steps", {"token": token, "steps": 1, "gated": True}, tags=[tag])
    _wait_for_metadata(client, run["id"], lambda m: m.get("stage") == "step 1", "the run did not reach its gate")
    time.sleep(TAG_LOOKBACK_MS / 1000 + 0.5)  # no longer "created lately" for a poll
    feed, loop = _feed_polled_by_the_test(api)
    try:
        sub = _subscribe(feed, loop, tags=frozenset([tag]))
        first = feed.snapshot([run["id"]])[run["id"]]  # what the stream sends first
        assert not first.finished
        api_tasks.gate(f"{token}:0").set()
        assert api.wait_run(client, run["id"])["status"] == "COMPLETED"
        feed.poll_once([sub])
        event = sub.pending.get(run["id"])
        assert event is not None and event.finished and event.data["status"] == "COMPLETED", event
        assert event.digest != first.digest and event.loaded_at > first.loaded_at
        del sub.pending[run["id"]]
        feed.poll_once([sub])  # read once: nothing moved since, nothing more
        assert run["id"] not in sub.pending
    finally:
        api_tasks.gate(f"{token}:0").set()
        feed.stop()
        loop.close()


def test_an_older_run_beyond_the_first_state_that_finishes_before_the_first_poll_still_reaches_the_stream(
    api: Api, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tag stream's first state lists the tag's latest runs only (here one). A run older than those, unfinished as the
    stream begins and finished before the first poll that reads its tag, is neither unfinished nor created lately
    there: the stream must still hear that it finished. The feed's first poll is held until the run has finished."""
    from api import realtime

    monkeypatch.setattr(realtime, "MAX_TAG_INITIAL", 1)
    token, tag = uuid.uuid4().hex, f"older-{uuid.uuid4().hex[:8]}"
    older = _trigger(client, "api-steps", {"token": token, "steps": 1, "gated": True}, tags=[tag])
    _wait_for_metadata(client, older["id"], lambda m: m.get("stage") == "step 1", "the run did not reach its gate")
    time.sleep(TAG_LOOKBACK_MS / 1000 + 0.5)  # no longer "created lately" for a poll
    newer = _trigger(client, "api-echo", tags=[tag])
    api.wait_run(client, newer["id"])
    feed: RunFeed = api.app.state.run_feed
    held, release = threading.Event(), threading.Event()
    poll = feed.poll_once

    def held_poll(subs):  # type: ignore[no-untyped-def]
        held.set()
        release.wait(30)
        poll(subs)

    monkeypatch.setattr(feed, "poll_once", held_poll)
    try:
        with SSEStream(client, "/realtime/v1/runs", params={"tag": tag}) as stream:
            assert stream.next_event().data["id"] == newer["id"]  # the first state: the latest run only
            assert held.wait(10), "the feed did not start a poll for the stream"
            api_tasks.gate(f"{token}:0").set()
            assert api.wait_run(client, older["id"])["status"] == "COMPLETED"  # finished before the poll reads the tag
            release.set()
            event = _wait_for(stream, lambda data: data["id"] == older["id"] and data["isFinished"])
            assert event.data["status"] == "COMPLETED"
    finally:
        release.set()
        api_tasks.gate(f"{token}:0").set()
