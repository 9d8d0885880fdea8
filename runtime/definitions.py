"""Declaring tasks: `@task`, `@schema_task`, and the trigger methods a task carries (the registry is runtime.registry)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from runtime.config import load_config
from runtime.handles import BatchHandle, RunHandle
from runtime.models import TaskRunResult
from runtime.queues import DEFAULT_QUEUE, Queue
from runtime.registry import TaskDefinitionError, all_tasks, get_task, register
from runtime.retry import RetryConfig
from runtime.triggering import tasks

__all__ = ["Task", "TaskDefinitionError", "all_tasks", "describe_validation_error", "get_task", "register", "schema_task", "task"]

Machine = Literal["micro", "small-1x", "small-2x", "medium-1x", "medium-2x", "large-1x", "large-2x"]
MACHINES: tuple[str, ...] = ("micro", "small-1x", "small-2x", "medium-1x", "medium-2x", "large-1x", "large-2x")

F = TypeVar("F", bound=Callable[..., Any])


class Task:
    """A task definition: the function, its limits and hooks. Triggering goes through the methods below."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        id: str,
        schema: type[BaseModel] | None = None,
        max_duration: float | None = None,
        retry: RetryConfig | None = None,
        queue: Queue | None = None,
        machine: str = "small-1x",
        cleanup: Callable[..., Any] | None = None,
        on_start: Callable[..., Any] | None = None,
        on_success: Callable[..., Any] | None = None,
        on_failure: Callable[..., Any] | None = None,
        catch_error: Callable[..., Any] | None = None,
        description: str | None = None,
    ) -> None:
        if not id or not isinstance(id, str):
            raise TaskDefinitionError("a task needs a non-empty string id")
        if machine not in MACHINES:
            raise TaskDefinitionError(f"task {id!r}: unknown machine {machine!r}; one of {', '.join(MACHINES)}")
        if max_duration is not None and max_duration <= 0:
            raise TaskDefinitionError(f"task {id!r}: max_duration must be positive seconds")
        params = list(inspect.signature(fn).parameters)
        if len(params) not in (1, 2):
            raise TaskDefinitionError(f"task {id!r}: run function must take (payload) or (payload, ctx)")
        cfg = load_config()
        self.fn = fn
        self.id = id
        self.schema = schema
        self.max_duration = float(max_duration if max_duration is not None else cfg.max_duration)
        self.retry = retry or cfg.retry
        self.queue = queue or Queue(name=DEFAULT_QUEUE)
        self.machine = machine
        self.cleanup = cleanup
        self.on_start = on_start
        self.on_success = on_success
        self.on_failure = on_failure
        self.catch_error = catch_error
        self.description = description or (inspect.getdoc(fn) or "").split("\n\n")[0] or None
        self.is_async = inspect.iscoroutinefunction(fn)
        self.takes_ctx = len(params) == 2
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    # -- payload -----------------------------------------------------------------------------------------------------
    def parse_payload(self, payload: Any) -> Any:
        """The payload the run function receives: validated into `schema` for schema tasks (raises ValidationError)."""
        if self.schema is None:
            return payload
        if isinstance(payload, self.schema):
            return payload
        return self.schema.model_validate(payload)

    # -- triggering (see runtime.triggering) --------------------------------------------------------------------------
    def trigger(self, payload: Any = None, **options: Any) -> RunHandle:
        return tasks.trigger(self.id, payload, **options)

    def batch_trigger(self, items: list[Any], **options: Any) -> BatchHandle:
        return tasks.batch_trigger(self.id, items, **options)

    def trigger_and_wait(self, payload: Any = None, *, timeout: float | None = None, **options: Any) -> TaskRunResult:
        return tasks.trigger_and_wait(self.id, payload, timeout=timeout, **options)

    def batch_trigger_and_wait(self, items: list[Any], *, timeout: float | None = None, **options: Any) -> list[TaskRunResult]:
        return tasks.batch_trigger_and_wait(self.id, items, timeout=timeout, **options)

    async def trigger_async(self, payload: Any = None, **options: Any) -> RunHandle:
        return await tasks.trigger_async(self.id, payload, **options)

    async def trigger_and_wait_async(self, payload: Any = None, *, timeout: float | None = None, **options: Any) -> TaskRunResult:
        return await tasks.trigger_and_wait_async(self.id, payload, timeout=timeout, **options)

    async def batch_trigger_and_wait_async(self, items: list[Any], *, timeout: float | None = None, **options: Any) -> list[TaskRunResult]:
        return await tasks.batch_trigger_and_wait_async(self.id, items, timeout=timeout, **options)

    @property
    def payload_schema(self) -> dict[str, Any] | None:
        """The payload's JSON Schema for schema tasks (published, so other processes can check payloads)."""
        if self.schema is None:
            return None
        if not hasattr(self, "_payload_schema"):
            from runtime.payload_schema import json_schema_of

            self._payload_schema = json_schema_of(self.schema)
        return self._payload_schema

    def describe(self) -> dict[str, Any]:
        """The definition as stored for other processes (the CLI, the HTTP API) that trigger without importing it."""
        return {
            "id": self.id,
            "queue": self.queue.name,
            "concurrency_limit": self.queue.concurrency_limit,
            "concurrency_key_from": self.queue.concurrency_key_from,
            "max_duration": self.max_duration,
            "retry": self.retry.model_dump(),
            "machine": self.machine,
            "is_async": self.is_async,
            "has_schema": self.schema is not None,
            "payload_schema": self.payload_schema,
            "description": self.description,
        }

    def __repr__(self) -> str:
        return f"Task(id={self.id!r}, queue={self.queue.name!r})"


def task(
    *,
    id: str,
    max_duration: float | None = None,
    retry: RetryConfig | None = None,
    queue: Queue | None = None,
    machine: str = "small-1x",
    cleanup: Callable[..., Any] | None = None,
    on_start: Callable[..., Any] | None = None,
    on_success: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    catch_error: Callable[..., Any] | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], Task]:
    """Declare a task. The function is `run(payload, ctx)`, sync or async."""

    def decorate(fn: Callable[..., Any]) -> Task:
        return register(
            Task(
                fn,
                id=id,
                max_duration=max_duration,
                retry=retry,
                queue=queue,
                machine=machine,
                cleanup=cleanup,
                on_start=on_start,
                on_success=on_success,
                on_failure=on_failure,
                catch_error=catch_error,
                description=description,
            )
        )

    return decorate


def schema_task(*, id: str, schema: type[BaseModel], **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Declare a task whose payload is validated into `schema` before the first attempt.

    Invalid input fails the run at once (one attempt, the error names the field) and is never retried.
    """
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TaskDefinitionError(f"schema_task {id!r}: schema must be a pydantic model class")

    def decorate(fn: Callable[..., Any]) -> Task:
        return register(Task(fn, id=id, schema=schema, **options))

    return decorate


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{field}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)
