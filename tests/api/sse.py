"""A small Server-Sent Events reader for the tests: a stream read in a thread, events handed over through a queue."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    event: str | None = None
    id: str | None = None
    data: Any = None
    comment: str | None = None


@dataclass
class SSEStream:
    client: httpx.Client
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.events: "queue.Queue[Event | None]" = queue.Queue()
        self.status: int | None = None
        self.content_type: str | None = None
        self.ended = threading.Event()
        self.last_event: Event | None = None  # the last `run` event handed out (what a test failing to see more saw)
        self._opened = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> "SSEStream":
        self._thread.start()
        if not self._opened.wait(30):
            raise TimeoutError("the stream did not open")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True

    def _read(self) -> None:
        try:
            with self.client.stream("GET", self.path, params=self.params, headers=self.headers, timeout=httpx.Timeout(30, read=60)) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type")
                self._opened.set()
                if response.status_code != 200:
                    response.read()
                    self.body = response.text
                    return
                current = Event()
                for line in response.iter_lines():
                    if self._stop:
                        return
                    if line == "":
                        if current.event or current.data is not None:
                            self.events.put(current)
                        current = Event()
                    elif line.startswith(":"):
                        self.events.put(Event(comment=line[1:].strip()))
                    elif line.startswith("event:"):
                        current.event = line[6:].strip()
                    elif line.startswith("id:"):
                        current.id = line[3:].strip()
                    elif line.startswith("data:"):
                        current.data = json.loads(line[5:].strip())
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.ended.set()
            self.events.put(None)

    def next_event(self, timeout: float = 20) -> Event | None:
        """The next `run` event (comments skipped), None when the stream ended; TimeoutError when nothing came.

        `timeout` bounds the whole wait: the comments skipped meanwhile (a `: ping` every 15 s) do not restart it, or a
        stream that never sends the awaited event would keep a test waiting until pytest's own timeout."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._get(deadline, f"no event within {timeout} s")
            if event is None or event.event is not None:
                if event is not None:
                    self.last_event = event
                return event

    def next_comment(self, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            event = self._get(deadline, f"no comment within {timeout} s")
            if event is None:
                raise EOFError("the stream ended")
            if event.comment is not None:
                return event.comment

    def _get(self, deadline: float, what: str) -> Event | None:
        try:
            return self.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(what) from None
