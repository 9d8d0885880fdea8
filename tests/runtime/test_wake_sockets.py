"""Queue wake-ups across processes on SQLite (runtime/wake_sockets.py): what a sender and a listener do with the
socket directory, including the cases that must not wake anyone (a directory another user could write to) and the
ones that must clean up (a socket a killed worker left). The end-to-end case, a worker process started by a trigger
from this one, is in test_queue_wakeups.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from runtime import wake_sockets

pytestmark = pytest.mark.skipif(not wake_sockets.supported(), reason="Unix datagram sockets only (not on Windows)")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "runtime.sqlite")
    yield path
    directory = wake_sockets.wake_dir(path)
    if directory.is_dir() and not directory.is_symlink():
        for entry in directory.iterdir():
            entry.unlink()
        directory.rmdir()


class Received:
    def __init__(self) -> None:
        self.batches: list[list[str] | None] = []
        self.arrived = threading.Event()

    def __call__(self, queues: list[str] | None) -> None:
        self.batches.append(queues)
        self.arrived.set()


def _announce_from_another_process(database: str, queues: list[str] | None) -> int:
    """A trigger's announcement as the CLI or the API sends it: from a process without this one's listeners."""
    code = "import sys, json; from runtime import wake_sockets; print(wake_sockets.announce(sys.argv[1], json.loads(sys.argv[2])))"
    import json

    out = subprocess.run(
        [sys.executable, "-c", code, database, json.dumps(queues)], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    return int(out.stdout.strip())


def test_a_listener_receives_the_queues_another_process_announces(database: str) -> None:
    received = Received()
    listener = wake_sockets.SocketListener(database, received)
    assert listener.start()
    try:
        assert _announce_from_another_process(database, ["introspection", "default"]) == 1
        assert received.arrived.wait(5)
        assert received.batches == [["introspection", "default"]]
        received.arrived.clear()
        assert _announce_from_another_process(database, None) == 1  # every queue
        assert received.arrived.wait(5)
        assert received.batches[-1] is None
    finally:
        listener.stop()


def test_announcing_in_the_listeners_own_process_skips_it_its_triggers_wake_it_directly(database: str) -> None:
    received = Received()
    listener = wake_sockets.SocketListener(database, received)
    assert listener.start()
    try:
        assert wake_sockets.announce(database, ["default"]) == 0
        assert not received.arrived.wait(0.3)
    finally:
        listener.stop()


def test_a_stopped_listener_removes_its_socket_and_nobody_is_told_afterwards(database: str) -> None:
    listener = wake_sockets.SocketListener(database, Received())
    assert listener.start()
    assert listener.path is not None and os.path.exists(listener.path)
    listener.stop()
    assert not os.path.exists(listener.path)
    assert _announce_from_another_process(database, ["default"]) == 0


def test_a_socket_left_by_a_killed_worker_is_removed_by_the_next_sender(database: str) -> None:
    directory = wake_sockets.wake_dir(database)
    directory.mkdir(mode=0o700)
    stale = str(directory / f"999999-deadbeef{wake_sockets.SOCKET_SUFFIX}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(stale)
    sock.close()  # closed without unlinking: what SIGKILL leaves behind
    assert os.path.exists(stale)
    assert wake_sockets.announce(database, ["default"]) == 0
    assert not os.path.exists(stale)


def test_a_directory_others_may_write_to_is_never_used_by_a_sender_or_a_listener(database: str) -> None:
    directory = wake_sockets.wake_dir(database)
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o777)  # anyone could plant a socket there and collect or fake announcements
    listener = wake_sockets.SocketListener(database, Received())
    assert listener.start() is False
    assert not list(directory.iterdir())
    planted = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    planted.bind(str(directory / f"1-planted{wake_sockets.SOCKET_SUFFIX}"))
    planted.settimeout(0.2)
    try:
        assert wake_sockets.announce(database, ["default"]) == 0
        with pytest.raises(socket.timeout):
            planted.recv(100)
    finally:
        planted.close()


def test_a_link_in_place_of_the_directory_is_not_followed(database: str, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    wake_sockets.wake_dir(database).symlink_to(target)
    listener = wake_sockets.SocketListener(database, Received())
    assert listener.start() is False
    assert not list(target.iterdir())


def test_the_directory_is_the_same_for_any_spelling_of_the_file_and_differs_between_files(tmp_path: Path) -> None:
    a = tmp_path / "a.sqlite"
    assert wake_sockets.wake_dir(str(a)) == wake_sockets.wake_dir(str(tmp_path / "." / "x" / ".." / "a.sqlite"))
    assert wake_sockets.wake_dir(str(a)) != wake_sockets.wake_dir(str(tmp_path / "b.sqlite"))
    assert len(str(wake_sockets.wake_dir(str(tmp_path / ("long" * 40) / "a.sqlite")))) + 30 <= 108


def test_messages_name_the_queues_and_too_many_names_mean_every_queue() -> None:
    assert wake_sockets.decode(wake_sockets.encode(["a", "b-keyed"])) == ["a", "b-keyed"]
    assert wake_sockets.encode(None) == wake_sockets.EVERY_QUEUE
    assert wake_sockets.decode(wake_sockets.encode([f"queue-{i}" for i in range(1000)])) is None
    assert wake_sockets.decode(b"\xff\xfe") is None  # unreadable: poll everything rather than nothing


def test_a_failing_callback_does_not_stop_the_listener(database: str) -> None:
    calls: list[list[str] | None] = []
    arrived = threading.Event()

    def flaky(queues: list[str] | None) -> None:
        calls.append(queues)
        arrived.set()
        if len(calls) == 1:
            raise RuntimeError("boom")

    listener = wake_sockets.SocketListener(database, flaky)
    assert listener.start()
    try:
        for queue in ("first", "second"):
            arrived.clear()
            assert _announce_from_another_process(database, [queue]) == 1
            assert arrived.wait(5)
        assert calls == [["first"], ["second"]]
    finally:
        listener.stop()


def test_stopping_a_listener_does_not_wait_out_its_receive_timeout(database: str) -> None:
    import time

    received = Received()
    listener = wake_sockets.SocketListener(database, received)
    assert listener.start()
    time.sleep(0.05)  # the thread is in its receive
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 0.3
    assert received.batches == []  # the nudge is not a wake-up


def _peer(directory: Path, name: str) -> socket.socket:
    """A worker's socket as another process binds it (not one of this process's listeners, which announce skips)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(directory / f"{name}{wake_sockets.SOCKET_SUFFIX}"))
    sock.settimeout(5)
    return sock


@pytest.fixture
def counted(database: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """The database's socket directory, made, and the listings senders take of it from now on."""
    directory = wake_sockets.wake_dir(database)
    directory.mkdir(mode=0o700)
    listings: list[str] = []
    scandir = os.scandir
    monkeypatch.setattr(wake_sockets.os, "scandir", lambda path: listings.append(str(path)) or scandir(path))
    return directory, listings


def test_a_sender_lists_the_directory_again_only_when_it_changed_and_never_misses_a_new_worker(
    database: str, counted: tuple[Path, list[str]]
) -> None:
    """Triggers list the socket directory once and then only stat it: a worker binding its socket changes the
    directory's time, so the next trigger lists it again and tells the new worker too."""
    directory, listings = counted
    first = _peer(directory, "1-first")
    time.sleep(wake_sockets.RACY_LISTING_S + 0.05)  # the directory's last change is not recent: its listing is kept
    try:
        assert wake_sockets.announce(database, ["a"]) == 1 and first.recv(100) == b"a"
        assert wake_sockets.announce(database, ["b"]) == 1 and first.recv(100) == b"b"
        assert len(listings) == 1  # the second trigger only stat'ed the directory
        second = _peer(directory, "2-second")  # a worker starting now
        try:
            assert wake_sockets.announce(database, ["c"]) == 2
            assert first.recv(100) == b"c" and second.recv(100) == b"c"
            assert len(listings) == 2
        finally:
            second.close()
    finally:
        first.close()


def test_a_listing_taken_right_after_the_directory_changed_is_not_kept(database: str, counted: tuple[Path, list[str]]) -> None:
    """File times move in coarse ticks: a socket bound in the same tick as a listing taken just after an earlier
    change would leave the time unchanged, so such a listing is taken again next time rather than trusted."""
    directory, listings = counted
    first = _peer(directory, "1-first")
    try:
        assert wake_sockets.announce(database, ["a"]) == 1  # within RACY_LISTING_S of the bind
        assert wake_sockets.announce(database, ["b"]) == 1
        assert len(listings) == 2
    finally:
        first.close()
