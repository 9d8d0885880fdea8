"""Realtime run updates over Server-Sent Events: `GET /realtime/v1/runs/{id}` and `GET /realtime/v1/runs?tag=T`.

Each stream starts with the run as it is (an event `run` whose data is the whole run, as `GET /api/v1/runs/{id}`
returns it), then sends it again each time its status, metadata or tags change, and ends once the run has finished
(the last event has `isFinished: true` and `finishedAt`). A tag stream sends every run with the tag and never ends.
A comment line `: ping` every 15 s keeps proxies from closing a quiet stream.

Event ids are versions, `<last change in ms>-<digest of the run>`: a client reconnecting with `Last-Event-ID` is
not sent the state it already has (a run stream skips its first event when nothing changed; a tag stream skips the
runs that have not changed since that moment).

One poller thread per process (`RunFeed`) serves every subscriber: each poll reads small change markers (status,
update time, attributes and version from the runs table, the version of the run metadata) by primary
key, for the runs that streams follow and, for tag streams, the runs with the tag that are unfinished or new (indexed reads: a finished run never changes);
only runs whose markers moved are loaded whole, once, and handed to every subscriber that wants them. A slow subscriber gets the latest state of each run (older ones are dropped, never
queued without bound).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

import runtime
from api.auth import Principal
from api.auth.dependencies import StreamReader
from api.errors import ApiError
from api.routes.runs import readable_run
from api.schemas import run_json
from runtime.backend import Backend, get_backend
from runtime.store import run_metadata

log = logging.getLogger("taskpack.api")
router = APIRouter(prefix="/realtime/v1", tags=["realtime"])
TAG_LOOKBACK_MS = 3000  # commits carry their writer's clock: look back this far so a late commit is not missed
RECHECK_EVERY_S = 1.0  # statuses that change with time alone (a delay passing, a ttl expiring)
TIME_DRIVEN = {"DELAYED", "QUEUED"}
MAX_TAG_INITIAL = 100


@dataclass(frozen=True)
class RunEvent:
    run_id: str
    version: str
    changed_ms: int
    finished: bool
    data: dict[str, Any]
    loaded_at: float = 0.0  # monotonic time just before the run was read: its state is at least this recent

    @property
    def digest(self) -> str:
        return digest_of(self.version)


def version_of(data: dict[str, Any], changed_ms: int) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()[:12]
    return f"{changed_ms}-{digest}"


def digest_of(version: str | None) -> str:
    """The part of a version that says what the client saw (the change time may move with nothing visible)."""
    return str(version).rsplit("-", 1)[-1]


def changed_ms_of(version: str | None) -> int | None:
    try:
        return int(str(version).split("-", 1)[0])
    except ValueError:
        return None


@dataclass(eq=False)
class Subscription:
    loop: asyncio.AbstractEventLoop
    run_ids: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    pending: dict[str, RunEvent] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wants(self, event: RunEvent) -> bool:
        return event.run_id in self.run_ids or not self.tags.isdisjoint(event.data.get("tags") or [])

    def offer(self, event: RunEvent) -> None:
        """Called from the poller thread: keep the newest event per run, wake the stream."""
        with self.lock:
            self.pending[event.run_id] = event
        self.loop.call_soon_threadsafe(self.wake.set)

    async def next(self) -> list[RunEvent]:
        await self.wake.wait()
        self.wake.clear()
        with self.lock:
            events, self.pending = list(self.pending.values()), {}
        return sorted(events, key=lambda e: e.changed_ms)


class RunFeed:
    """The one poller of this process. `subscribe` / `unsubscribe` from any thread; `start` / `stop` with the app."""

    def __init__(self, database_url: str | None, poll_interval_s: float) -> None:
        self.database_url = database_url
        self.poll_interval_s = poll_interval_s
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._joined = 0  # subscriptions made so far (under `_lock`): a poll hands what it read to those joined meanwhile
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._markers: dict[str, tuple[Any, ...]] = {}
        self._statuses: dict[str, Any] = {}  # last status sent per run: DELAYED/QUEUED ones are re-read now and then
        self._tag_live: set[str] = set()  # runs of followed tags seen at the last poll
        # unfinished runs a stream's first state showed (`snapshot`): the next poll reads them whatever it finds, so a
        # run of a newly followed tag that finishes before that poll is still heard of (under `_lock`)
        self._first_shown: set[str] = set()
        self._last_scan_ms: int | None = None
        self._last_recheck = 0.0
        self.polls = 0  # for tests and the bench: the poller's work does not grow with subscribers

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="taskpack-realtime", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.closed = True
            sub.loop.call_soon_threadsafe(sub.wake.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def subscribe(self, *, run_ids: frozenset[str] = frozenset(), tags: frozenset[str] = frozenset()) -> Subscription:
        sub = Subscription(loop=asyncio.get_running_loop(), run_ids=run_ids, tags=tags)
        with self._lock:
            self._subs.add(sub)
            self._joined += 1
        self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    # -- reading runs --------------------------------------------------------------------------------------------
    def _backend(self) -> Backend:
        return get_backend(self.database_url)

    def _markers_by_id(self, backend: Backend, run_ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """(status, updated_at ms, metadata version, metadata updated_at, attributes and version) of each run: two
        primary-key reads. Compared for equality, never for order: a change stamped at or before a time already seen
        (two clocks, one millisecond) still moves the marker."""
        found: dict[str, tuple[Any, ...]] = {
            run_id: (status, changed_ms, 0, 0, attrs)
            for run_id, (status, changed_ms, attrs) in runtime.runs.change_markers(run_ids, database_url=self.database_url).items()
        }
        with backend.engine.connect() as conn:
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start:start + 500]
                query = sa.select(run_metadata.c.run_id, run_metadata.c.version, run_metadata.c.updated_at).where(run_metadata.c.run_id.in_(chunk))
                for run_id, version, updated in conn.execute(query):
                    if run_id in found:
                        status, wf_ms, _, _, attrs = found[run_id]
                        found[run_id] = (status, wf_ms, int(version or 0), int((updated or 0) * 1000), attrs)
        return found

    def _tag_candidates(self, backend: Backend, tags: set[str], created_since_ms: int) -> set[str]:
        """Runs a tag stream may need to hear about: those with the tag not finished yet, and those with the tag created
        since the last poll (a run may start and finish between two polls)."""
        return runtime.runs.tagged_unfinished_or_new(sorted(tags), created_since_ms / 1000, database_url=self.database_url)

    def remember_unfinished(self, tags: frozenset[str]) -> None:
        """The tags' runs unfinished now, read by the next poll whatever their state then. A tag stream's first state
        lists the tag's latest MAX_TAG_INITIAL runs; an older run, unfinished as the stream began and finished before
        the first poll that reads its tag, is neither unfinished nor created lately there: the stream would never hear
        that it finished."""
        unfinished = runtime.runs.tagged_unfinished_or_new(sorted(tags), time.time(), database_url=self.database_url)
        with self._lock:
            self._first_shown.update(unfinished)

    def snapshot(self, run_ids: list[str]) -> dict[str, RunEvent]:
        """Each run as an event, now (the first event of a stream); unknown ids are left out."""
        backend = self._backend()
        markers = self._markers_by_id(backend, run_ids)
        events = {}
        for run_id in run_ids:
            if run_id in markers:
                event = self._load(run_id, markers[run_id])
                if event is not None:
                    events[run_id] = event
        with self._lock:
            self._first_shown.update(run_id for run_id, event in events.items() if not event.finished)
        return events

    def _load(self, run_id: str, marker: tuple[Any, ...]) -> RunEvent | None:
        loaded_at = time.monotonic()
        try:
            run = runtime.runs.retrieve(run_id, database_url=self.database_url)
        except runtime.RunNotFoundError:
            return None
        data = run_json(run)
        changed = max(int(marker[1]), int(marker[3]))
        return RunEvent(run_id, version_of(data, changed), changed, run.is_final, data, loaded_at)

    # -- the poller ----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                subs = list(self._subs)
            if not subs:
                self._markers.clear()
                self._statuses.clear()
                self._tag_live = set()
                self._last_scan_ms = None
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            started = time.monotonic()
            try:
                self.poll_once(subs)
            except Exception:  # a database hiccup must not end realtime for the whole process
                log.exception("realtime poll failed; retrying")
                self._stop.wait(1.0)
            self._stop.wait(max(0.0, self.poll_interval_s - (time.monotonic() - started)))

    def poll_once(self, subs: list[Subscription]) -> None:
        """One poll. `subs`, the subscribers when it began, say which runs and tags it reads; what it loads goes to the
        subscribers there are once it has been loaded. A stream subscribes, then reads its first state: one that joined
        while this poll ran may have read the run before this poll did (a change in between), and the marker stored
        here hides that change from every later poll, so it must be handed this poll's event. One that joins after
        the load reads its first state after it: nothing is lost by leaving it out."""
        self.polls += 1
        backend = self._backend()
        run_ids = set().union(*(s.run_ids for s in subs))
        tags = set().union(*(s.tags for s in subs))
        now_ms = int(time.time() * 1000)
        with self._lock:
            shown, self._first_shown = self._first_shown, set()
        # A tag stream's first state lists the tag's latest runs; one of them unfinished then, of a tag no poll read
        # before, that finishes before this poll is neither unfinished nor new here, and would never be heard of.
        candidates = set(run_ids) | shown
        if tags:
            since = (self._last_scan_ms or now_ms) - TAG_LOOKBACK_MS
            found = self._tag_candidates(backend, tags, since)
            # and the runs that were unfinished at the last poll: the poll where they finish, they leave `live`
            candidates |= found | self._tag_live
            self._tag_live = found
            self._last_scan_ms = now_ms
        markers = self._markers_by_id(backend, sorted(candidates)) if candidates else {}
        recheck = time.monotonic() - self._last_recheck >= RECHECK_EVERY_S
        if recheck:
            self._last_recheck = time.monotonic()
        changed = [
            rid for rid, m in markers.items()
            if self._markers.get(rid) != m or (recheck and rid in run_ids and self._statuses.get(rid) in TIME_DRIVEN)
        ]
        targets: list[Subscription] = []
        joined = -1
        for run_id in changed:
            event = self._load(run_id, markers[run_id])
            self._markers[run_id] = markers[run_id]
            if event is None:
                continue
            self._statuses[run_id] = event.data.get("status")
            with self._lock:  # after the load: a stream that joined during it may have read an older state
                if self._joined != joined:
                    targets, joined = list(self._subs), self._joined
            for sub in targets:
                if sub.wants(event):
                    sub.offer(event)
        if len(self._markers) > 10_000:  # forget runs nobody follows by id any more
            self._markers = {k: v for k, v in self._markers.items() if k in run_ids}
            self._statuses = {k: v for k, v in self._statuses.items() if k in run_ids}


# -- the SSE endpoints -------------------------------------------------------------------------------------------------
def sse_event(event: RunEvent) -> str:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"event: run\nid: {event.version}\ndata: {data}\n\n"


def _last_event_id(request: Request) -> str | None:
    value = request.headers.get("last-event-id")
    return value.strip()[:100] if value else None


def _feed(request: Request) -> RunFeed:
    return request.app.state.run_feed


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _follow(
    request: Request,
    sub: Subscription,
    first: list[RunEvent],
    *,
    end_when_final: bool,
    known: list[RunEvent] = (),  # type: ignore[assignment]
    until: float | None = None,
) -> AsyncIterator[str]:
    """The stream: `first` events, then changes; `known` are states the client has already (Last-Event-ID). It ends
    at `until` (a public token's expiry): the client must come back with a fresh token."""
    feed = _feed(request)
    ping = request.app.state.settings.realtime_ping_interval_s
    sent: dict[str, RunEvent] = {e.run_id: e for e in known}
    try:
        yield "retry: 1000\n\n"
        for event in first:
            sent[event.run_id] = event
            yield sse_event(event)
            if end_when_final and event.finished:
                return
        while not sub.closed:
            left = None if until is None else until - time.time()
            if left is not None and left <= 0:
                return
            try:
                events = await asyncio.wait_for(sub.next(), timeout=ping if left is None else min(ping, left))
            except asyncio.TimeoutError:
                if until is None or time.time() < until:
                    yield ": ping\n\n"
                continue
            for event in events:
                previous = sent.get(event.run_id)
                # the same state again (its change time moved, nothing visible did), or a state read before the one
                # the client has (the poller read it before this stream's first snapshot): nothing to send
                if previous is not None and (event.digest == previous.digest or event.loaded_at < previous.loaded_at):
                    continue
                sent[event.run_id] = event
                yield sse_event(event)
                if end_when_final and event.finished:
                    return
    finally:
        feed.unsubscribe(sub)


@router.get("/runs/{run_id}", summary="Server-Sent Events for one run", response_class=StreamingResponse)
async def stream_run(run_id: str, request: Request, principal: Principal = StreamReader) -> StreamingResponse:
    """`text/event-stream`: the run now, then on each change of status, metadata or tags; ends once it finished."""
    run = await asyncio.to_thread(readable_run, request, principal, run_id)
    feed = _feed(request)
    sub = feed.subscribe(run_ids=frozenset([run.id]))  # before the snapshot: no change can fall in between
    try:
        first = (await asyncio.to_thread(feed.snapshot, [run.id])).get(run.id)
    except BaseException:
        feed.unsubscribe(sub)
        raise
    if first is None:
        feed.unsubscribe(sub)
        raise runtime.RunNotFoundError(run_id)
    resume = _last_event_id(request)
    if resume is not None and digest_of(resume) == first.digest and not first.finished:
        stream = _follow(request, sub, [], end_when_final=True, known=[first], until=principal.expires_at)  # known state
    else:
        stream = _follow(request, sub, [first], end_when_final=True, until=principal.expires_at)
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/runs", summary="Server-Sent Events for every run with a tag", response_class=StreamingResponse)
async def stream_tag(
    request: Request,
    tag: list[str] = Query(..., description="one or more tags; runs having any of them"),
    principal: Principal = StreamReader,
) -> StreamingResponse:
    """`text/event-stream`: the latest runs with the tag now (up to 100), then every change of a run with the tag."""
    wanted = [t for t in tag if t]
    if not wanted:
        raise ApiError(422, "invalid_request", "tag: name at least one tag", metadata={"field": "tag"})
    for t in wanted:
        if not principal.can_read_tag(t):
            raise ApiError(403, "forbidden", "this public access token may not read this tag")
    feed = _feed(request)
    sub = feed.subscribe(tags=frozenset(wanted))
    try:
        await asyncio.to_thread(feed.remember_unfinished, frozenset(wanted))  # before the first state is read
        listed = await asyncio.to_thread(
            runtime.runs.list, tag=wanted, limit=MAX_TAG_INITIAL, database_url=request.app.state.settings.database_url
        )
        snap = await asyncio.to_thread(feed.snapshot, [r.id for r in reversed(listed.data)])
    except BaseException:
        feed.unsubscribe(sub)
        raise
    since = changed_ms_of(_last_event_id(request))
    ordered = sorted(snap.values(), key=lambda e: e.changed_ms)
    initial = [e for e in ordered if since is None or e.changed_ms > since]
    known = [e for e in ordered if since is not None and e.changed_ms <= since]
    stream = _follow(request, sub, initial, end_when_final=False, known=known, until=principal.expires_at)
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
