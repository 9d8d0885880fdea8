"""`metadata`: a run's live, structured progress, readable by anyone while the run executes.

    metadata.set("progress", 0.4); metadata.increment("tables_done"); metadata.append("log", "...")
    metadata.parent.increment("children_done")   # the run that triggered this one
    metadata.root.set("stage", "analyzing")      # the first run of the tree
"""

from __future__ import annotations

from typing import Any

from runtime.context import current_context
from runtime.run_state import MetadataBuffer, states


class _MetadataTarget:
    def __init__(self, which: str) -> None:
        self._which = which

    def _buffer(self) -> MetadataBuffer:
        ctx = current_context(f"metadata{'' if self._which == 'self' else '.' + self._which}")
        if self._which == "self":
            return ctx.state.metadata
        run_id = ctx.parent_id if self._which == "parent" else ctx.root_id
        if run_id is None or run_id == ctx.run_id:
            return ctx.state.metadata  # a run without a parent is its own root, as in Trigger.dev
        return states.get_or_create(ctx.state.metadata.engine, run_id).metadata

    def set(self, key: str, value: Any) -> "_MetadataTarget":
        self._buffer().apply(("set", key, value))
        return self

    def get(self, key: str, default: Any = None) -> Any:
        return self._buffer().get(key, default)

    def delete(self, key: str) -> "_MetadataTarget":
        self._buffer().apply(("del", key))
        return self

    def increment(self, key: str, value: float = 1) -> "_MetadataTarget":
        self._buffer().apply(("inc", key, value))
        return self

    def decrement(self, key: str, value: float = 1) -> "_MetadataTarget":
        self._buffer().apply(("inc", key, -value))
        return self

    def append(self, key: str, value: Any) -> "_MetadataTarget":
        self._buffer().apply(("append", key, value))
        return self

    def remove(self, key: str, value: Any) -> "_MetadataTarget":
        """Remove every occurrence of `value` from the list at `key`."""
        self._buffer().apply(("remove", key, value))
        return self

    def replace(self, document: dict[str, Any]) -> "_MetadataTarget":
        self._buffer().apply(("replace", "", dict(document)))
        return self

    def current(self) -> dict[str, Any]:
        return self._buffer().current()

    def flush(self) -> None:
        """Write pending changes now instead of at the next periodic flush."""
        self._buffer().flush()


class _Metadata(_MetadataTarget):
    def __init__(self) -> None:
        super().__init__("self")
        self.parent = _MetadataTarget("parent")
        self.root = _MetadataTarget("root")


metadata = _Metadata()
