"""Queue wake-ups across processes on SQLite: a datagram from the process that enqueued a run to each worker.

On PostgreSQL a trigger's NOTIFY wakes workers in other processes (runtime/wakeups.py). SQLite has no such channel,
so a worker of the embedded default noticed a run triggered by the CLI or the API only at its next queue poll, and
the poll had to be frequent: every 20 ms, each queue of each task (and its keyed twin) ran a dequeue transaction,
~57 % of a core for a worker with nothing to do. Now each worker on a SQLite file binds a Unix datagram socket in a
directory named after that file, and every enqueue outside the worker's own process sends the queue names to each
socket there (a few microseconds, never blocking). The worker polls those queues at once, and the polls themselves
can be rare (`queue_polling_interval`): they only cover what no trigger announces (a delay running out, a slot freed
by another worker under a queue-wide limit, a lost datagram).

A datagram is only a hint, as a NOTIFY is: one lost (a full socket buffer, a worker starting up) costs a polling
interval, never a run. The directory lives in the temporary directory, per user (mode 0700, owner checked), named by
a digest of the database file's real path, so the socket paths stay short whatever the file's path. A socket left by
a killed worker refuses the next datagram and is removed by its sender. Where Unix datagram sockets do not exist
(Windows), or the directory cannot be trusted, there are no wake-ups: polls alone, as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import stat
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

log = logging.getLogger("taskpack")

#: the message that means "poll every queue" (a list of queue names too long for one datagram)
EVERY_QUEUE = b"*"
MAX_MESSAGE = 4096
SOCKET_SUFFIX = ".sock"
#: socket paths are limited (108 bytes on Linux, 104 on macOS): a longer temporary directory falls back to /tmp
MAX_SOCKET_PATH = 100

_own_sockets: set[str] = set()  # this process's listeners: its triggers wake them directly (runtime.dbos_adapter)
#: each directory's socket paths, kept with the directory's (inode, modification time) when they were listed: binding
#: or removing a socket changes that time, so a sender stats the directory (its trust check does anyway) and lists it
#: again only when it changed. Listing it on every trigger was ~0.7 ms of one: each entry read lets go of the GIL,
#: and a worker thread finishing a run in this process takes it meanwhile.
_listings: dict[str, tuple[tuple[int, int], list[str]]] = {}
#: a listing taken this soon after the directory changed is not kept: file times move in coarse ticks (a few ms on
#: some filesystems), so a socket bound in the same tick just after the listing would leave the time as it was
RACY_LISTING_S = 0.1
_sender: list[socket.socket] = []
_sender_lock = threading.Lock()


def supported() -> bool:
    return hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")


@lru_cache(maxsize=64)
def wake_dir(database_path: str) -> Path:
    """The directory where the workers of this SQLite file keep their sockets (the same for every process).

    Kept per path: every trigger asks (a realpath and a hash were ~7 % of a trigger's CPU)."""
    digest = hashlib.sha256(os.path.realpath(database_path).encode()).hexdigest()[:20]
    name = f"taskpack-wake-{os.getuid()}-{digest}"
    base = Path(tempfile.gettempdir())
    if len(str(base / name)) + 30 > MAX_SOCKET_PATH and Path("/tmp").is_dir():
        base = Path("/tmp")
    return base / name


def _trusted(directory: Path) -> bool:
    """A real directory (not a link) owned by this user and closed to others: nobody else can bind sockets there."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return False
    return _private_directory(info)


def _private_directory(info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077 == 0


def _sockets_in(directory: Path, info: os.stat_result) -> list[str]:
    """The socket paths in `directory`, whose lstat is `info`: listed again only when the directory changed."""
    key, stamp = str(directory), (info.st_ino, info.st_mtime_ns)
    kept = _listings.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    paths = [e.path for e in os.scandir(directory) if e.name.endswith(SOCKET_SUFFIX)]
    if time.time() - info.st_mtime_ns / 1e9 > RACY_LISTING_S:
        _listings[key] = (stamp, paths)
    else:
        _listings.pop(key, None)
    return paths


def encode(queues: list[str] | None) -> bytes:
    if queues is None:
        return EVERY_QUEUE
    message = "\n".join(queues).encode()
    return message if len(message) <= MAX_MESSAGE else EVERY_QUEUE


def decode(message: bytes) -> list[str] | None:
    """The queues a datagram names; None for every queue (also for one this version cannot read)."""
    if message == EVERY_QUEUE:
        return None
    try:
        return [name for name in message.decode().split("\n") if name]
    except UnicodeDecodeError:
        return None


def announce(database_path: str, queues: list[str] | None) -> int:
    """Send `queues` (None: every queue) to the workers of this file in other processes; returns how many were told.

    Never raises and never blocks: a worker that misses it finds the run at its next poll."""
    if not supported() or not database_path:
        return 0
    directory = wake_dir(database_path)
    try:
        info = os.lstat(directory)
        if not _private_directory(info):
            return 0
        entries = [path for path in _sockets_in(directory, info) if path not in _own_sockets]
    except OSError:
        return 0
    if not entries:
        return 0
    message = encode(queues)
    told = 0
    with _sender_lock:
        try:
            if not _sender:
                sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sender.setblocking(False)
                _sender.append(sender)
            sender = _sender[0]
        except OSError:
            return 0
        for path in entries:
            try:
                sender.sendto(message, path)
                told += 1
            except ConnectionRefusedError:  # nobody reads it any more: a worker killed without its clean-up
                _remove_quietly(path)
            except OSError:  # gone meanwhile, or its buffer is full (that worker has wake-ups pending anyway)
                pass
    return told


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class SocketListener:
    """Receives the datagrams for one worker and calls `on_ready(queues)` for each (None: poll every queue)."""

    def __init__(self, database_path: str, on_ready: Callable[[list[str] | None], None]) -> None:
        self._database_path = database_path
        self._on_ready = on_ready
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.path: str | None = None

    def start(self) -> bool:
        """Bind the socket and start receiving; False (and polls alone) where that is not possible here."""
        if not supported() or not self._database_path:
            return False
        directory = wake_dir(self._database_path)
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            if not _trusted(directory):
                log.warning("queue wake-ups off: %s is not a private directory of this user; workers poll instead", directory)
                return False
            path = str(directory / f"{os.getpid()}-{secrets.token_hex(4)}{SOCKET_SUFFIX}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
        except OSError as exc:
            log.warning("queue wake-ups off (%s); workers poll instead", exc)
            return False
        sock.settimeout(0.5)  # how often the thread looks at the stop flag
        self._socket, self.path = sock, path
        _own_sockets.add(path)
        self._thread = threading.Thread(target=self._run, name="taskpack-wake-socket", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            if self.path is not None:  # an empty datagram ends the thread's wait at once (else up to its 0.5 s timeout)
                try:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as nudge:
                        nudge.sendto(b"", self.path)
                except OSError:
                    pass
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        if self.path is not None:
            _own_sockets.discard(self.path)
            _remove_quietly(self.path)

    def _run(self) -> None:
        assert self._socket is not None
        while not self._stop.is_set():
            try:
                message = self._socket.recv(MAX_MESSAGE + 1)
            except socket.timeout:
                continue
            except OSError:  # closed by stop()
                return
            if not message:  # stop()'s nudge
                continue
            try:
                self._on_ready(decode(message))
            except Exception:  # a wake-up is a hint; the next poll covers whatever it would have started
                log.exception("queue wake-up failed")
