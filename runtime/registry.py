"""The process-wide registry of task definitions: which tasks this process knows, by id.

Kept apart from `runtime.definitions` (which declares tasks and gives them their trigger methods, and so sits above
triggering) so that triggering, reading and executing runs can look a definition up without importing the layer
that triggers.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol, TypeVar

from pydantic import BaseModel


D = TypeVar("D", bound="TaskDefinition")


class TaskDefinition(Protocol):
    """What the registry and its readers need of a definition (runtime.definitions.Task is the one implementation)."""

    id: str
    fn: Callable[..., Any]
    schema: type[BaseModel] | None

    @property
    def payload_schema(self) -> dict[str, Any] | None: ...

    def describe(self) -> dict[str, Any]: ...


_registry: dict[str, TaskDefinition] = {}
_registry_lock = threading.Lock()


class TaskDefinitionError(ValueError):
    """A task was declared with settings that cannot work (duplicate id, bad machine, wrong signature)."""


def register(definition: D) -> D:
    """Add a definition; the same function declared again (a module reloaded) replaces it, another one is refused."""
    with _registry_lock:
        existing = _registry.get(definition.id)
        if existing is not None and existing.fn.__qualname__ != definition.fn.__qualname__:
            raise TaskDefinitionError(
                f"task id {definition.id!r} is already used by {existing.fn.__module__}.{existing.fn.__qualname__}"
            )
        _registry[definition.id] = definition
    return definition


def get_task(task_id: str) -> TaskDefinition | None:
    return _registry.get(task_id)


def all_tasks() -> list[TaskDefinition]:
    return list(_registry.values())
