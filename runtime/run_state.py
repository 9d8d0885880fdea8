"""Per-run buffers of metadata operations and log lines, flushed to the database in batches.

Metadata is stored as a log of operations merged into the stored document inside a transaction, so a child run
updating `metadata.parent` and the parent updating its own metadata never overwrite each other. The worker flushes
every `metadata_flush_interval` (this is how the UI sees progress live) and at the end of every attempt.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

import sqlalchemy as sa

from runtime import tracing
from runtime.errors import MetadataTooLargeError
from runtime.redaction import redact
from runtime.store import run_logs, run_metadata

METADATA_LIMIT_BYTES = 256 * 1024


def apply_op(doc: dict[str, Any], op: tuple[Any, ...]) -> None:
    kind, key = op[0], op[1]
    if kind == "set":
        doc[key] = op[2]
    elif kind == "del":
        doc.pop(key, None)
    elif kind == "inc":
        current = doc.get(key, 0)
        if not isinstance(current, (int, float)) or isinstance(current, bool):
            raise TypeError(f"metadata {key!r} is {type(current).__name__}, cannot increment")
        doc[key] = current + op[2]
    elif kind == "append":
        current = doc.get(key)
        if current is None:
            doc[key] = [op[2]]
        elif isinstance(current, list):
            current.append(op[2])
        else:
            doc[key] = [current, op[2]]
    elif kind == "remove":
        current = doc.get(key)
        if isinstance(current, list):
            doc[key] = [v for v in current if v != op[2]]
    elif kind == "replace":
        doc.clear()
        doc.update(op[2])
    else:  # pragma: no cover - ops are built by this module
        raise ValueError(kind)


def _encoded_size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, default=str, separators=(",", ":")).encode())


def _entry_size(key: str, value: Any) -> int:
    """The bytes `"key":value` takes in the document's JSON (`_encoded_size`: ASCII, so characters are bytes)."""
    return len(json.dumps({key: value}, default=str, separators=(",", ":"))) - 2


def _document_size(entries: dict[str, int]) -> int:
    """`_encoded_size` of a document from its entries' sizes: the braces and a comma between entries."""
    return 2 + sum(entries.values()) + max(0, len(entries) - 1)


_MISSING = object()


class MetadataBuffer:
    def __init__(self, engine: sa.Engine, run_id: str, initial: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.run_id = run_id
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # the periodic flusher and the end of an attempt never interleave
        self._view: dict[str, Any] = copy.deepcopy(initial or {})
        self._initial = copy.deepcopy(initial or {})
        self._ops: list[tuple[Any, ...]] = []
        self._loaded = initial is not None
        self._sizes: dict[str, int] | None = None  # each key's entry size in the view's JSON, once measured

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(run_metadata.c.data).where(run_metadata.c.run_id == self.run_id)).first()
        if row is not None:
            self._view = json.loads(row[0])
            self._sizes = None
        self._loaded = True

    def apply(self, op: tuple[Any, ...]) -> None:
        """Apply one operation to this process's view, refused whole (MetadataTooLargeError) when the document would
        outgrow METADATA_LIMIT_BYTES. Only the key it touches is copied and measured again: a copy and an encoding of
        the whole document per operation were ~2 ms of an introspection's ~27 `metadata.set` calls."""
        op = (op[0], op[1], redact(op[2], str(op[1])) if len(op) > 2 else None)
        with self._lock:
            self._ensure_loaded()
            if op[0] == "replace":
                trial = copy.deepcopy(self._view)
                apply_op(trial, op)
                sizes = {key: _entry_size(key, value) for key, value in trial.items()}
                self._check_size(sizes)
                self._view, self._sizes = trial, sizes
            else:
                key, view = op[1], self._view
                sizes = self._sizes if self._sizes is not None else {k: _entry_size(k, v) for k, v in view.items()}
                scratch = {key: copy.copy(view[key])} if key in view else {}  # an append must not touch the view's list
                apply_op(scratch, op)
                value = scratch.get(key, _MISSING)
                trial_sizes = dict(sizes)
                if value is _MISSING:
                    trial_sizes.pop(key, None)
                else:
                    trial_sizes[key] = _entry_size(key, value)
                self._check_size(trial_sizes)
                if value is _MISSING:
                    view.pop(key, None)
                else:
                    view[key] = value
                self._sizes = trial_sizes
            self._ops.append(op)

    @staticmethod
    def _check_size(sizes: dict[str, int]) -> None:
        size = _document_size(sizes)
        if size > METADATA_LIMIT_BYTES:
            raise MetadataTooLargeError(size, METADATA_LIMIT_BYTES)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            self._ensure_loaded()
            return copy.deepcopy(self._view.get(key, default))

    def current(self) -> dict[str, Any]:
        with self._lock:
            self._ensure_loaded()
            return copy.deepcopy(self._view)

    @property
    def dirty(self) -> bool:
        return bool(self._ops)

    def flush(self) -> None:
        """Merge pending operations into the stored document in one transaction."""
        with self._flush_lock:
            for attempt in range(5):
                try:
                    self._flush_once()
                    return
                except sa.exc.OperationalError:
                    # SQLite: another process committed between our read and write; re-read and merge again.
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))

    def _flush_once(self) -> None:
        with self._lock:
            ops, self._ops = self._ops, []
        if not ops:
            return
        try:
            with self.engine.begin() as conn:
                query = sa.select(run_metadata.c.data, run_metadata.c.version).where(run_metadata.c.run_id == self.run_id)
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                row = conn.execute(query).first()
                doc = json.loads(row[0]) if row is not None else copy.deepcopy(self._initial)
                for op in ops:
                    try:
                        apply_op(doc, op)
                    except TypeError:
                        pass  # another writer changed the type since; its value wins
                data = json.dumps(doc, default=str, separators=(",", ":"))
                now = time.time()
                if row is None:
                    conn.execute(sa.insert(run_metadata).values(run_id=self.run_id, data=data, version=1, updated_at=now))
                else:
                    conn.execute(
                        sa.update(run_metadata)
                        .where(run_metadata.c.run_id == self.run_id)
                        .values(data=data, version=row[1] + 1, updated_at=now)
                    )
        except Exception:
            with self._lock:
                self._ops = ops + self._ops  # keep them for the next flush
            raise
        with self._lock:
            view = doc
            for op in self._ops:
                try:
                    apply_op(view, op)
                except TypeError:
                    pass
            self._view, self._sizes = view, None


class LogBuffer:
    def __init__(self, engine: sa.Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []

    def add(self, level: str, message: str, fields: dict[str, Any], attempt: int | None) -> None:
        """One line of the run's log; while tracing is on it names the trace and span it was written in (the
        runtime's own lines too: "attempt failed, retrying" can be found from its trace), a field of that name wins."""
        ids = tracing.log_ids()
        if ids:
            fields = {**ids, **fields} if fields else ids
        row = {
            "run_id": self.run_id,
            "attempt": attempt,
            "level": level,
            "message": message,
            "fields": fields or None,
            "created_at": time.time(),
        }
        with self._lock:
            self._rows.append(row)

    @property
    def dirty(self) -> bool:
        return bool(self._rows)

    def flush(self) -> None:
        with self._flush_lock:
            self._flush_once()

    def _flush_once(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(run_logs), rows)
        except Exception:
            with self._lock:
                self._rows = rows + self._rows
            raise


class RunState:
    """The buffers of one run executing (or being updated) in this process."""

    def __init__(self, engine: sa.Engine, run_id: str, initial_metadata: dict[str, Any] | None) -> None:
        self.run_id = run_id
        self.metadata = MetadataBuffer(engine, run_id, initial_metadata)
        self.logs = LogBuffer(engine, run_id)

    def flush(self) -> None:
        self.metadata.flush()
        self.logs.flush()


class StateRegistry:
    """Every RunState alive in this process, for the periodic flusher and for `metadata.parent` lookups."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, RunState] = {}

    def add(self, state: RunState) -> None:
        with self._lock:
            self._states[state.run_id] = state

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._states.pop(run_id, None)

    def get(self, run_id: str) -> RunState | None:
        with self._lock:
            return self._states.get(run_id)

    def get_or_create(self, engine: sa.Engine, run_id: str) -> RunState:
        with self._lock:
            state = self._states.get(run_id)
            if state is None:
                state = RunState(engine, run_id, None)
                self._states[run_id] = state
            return state

    def flush_all(self) -> None:
        with self._lock:
            states = list(self._states.values())
        for state in states:
            try:
                state.flush()
            except Exception:
                pass


states = StateRegistry()
