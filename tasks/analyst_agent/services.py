"""What the states use that cannot be carried in a step result: the connector, the catalog, the model client.

Built once per attempt (`AttemptServices.open`), closed by the task's cleanup hook however the attempt ended. The
connector's `cancel` is registered with `ctx.on_cancel`, so a cancel or `max_duration` stops the statement running on
the warehouse, and the model client gets the attempt's cancel event, so a call in flight returns within 50 ms.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from connectors import Catalog, Connector, TableProfile
from runtime import TaskContext, logger
from tasks.analyst_agent.interfaces import AgentOptions
from tasks.analyst_agent.llm import Endpoint, ModelClient, resolve_endpoint
from tasks.analyst_agent.llm.usage import ModelUsage
from tasks.analyst_agent.tools.env import ToolEnv

#: attempts in progress in this process, so the cleanup hook can close them even after an abandoned (timed out) thread
_open: dict[tuple[str, int], "AttemptServices"] = {}
_open_lock = threading.Lock()

EndpointFactory = Callable[[], Endpoint]


@dataclass
class AttemptServices:
    ctx: Any
    options: AgentOptions
    endpoint_factory: EndpointFactory = resolve_endpoint
    connector: Connector | None = None
    catalog: Catalog | None = None
    profiles: list[TableProfile] = field(default_factory=list)
    _endpoint: Endpoint | None = None
    _env: ToolEnv | None = None

    @classmethod
    def open(cls, ctx: TaskContext, options: AgentOptions) -> "AttemptServices":
        services = cls(ctx=ctx, options=options, endpoint_factory=_endpoint_factory)
        with _open_lock:
            _open[(ctx.run_id, ctx.attempt)] = services
        return services

    # -- the model ---------------------------------------------------------------------------------------------------
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            endpoint = self.endpoint_factory()
            if self.options.model:
                endpoint = Endpoint(endpoint.base_url, endpoint.api_key, self.options.model, endpoint.local,
                                    endpoint.structured_output)
            self.ctx.redact(endpoint.api_key)
            self._endpoint = endpoint
        return self._endpoint

    def model(self, usage: ModelUsage) -> ModelClient:
        """A client whose usage lands in `usage` (the step's own, merged into the run's memory when it ends)."""
        return ModelClient(self.endpoint(), usage=usage, cancel_event=self.ctx.cancel_event,
                           timeout=self.options.max_seconds_per_model_call)

    # -- the warehouse -----------------------------------------------------------------------------------------------
    def tool_env(self, data_source_id: str, chat_id: str | None) -> ToolEnv:
        if self._env is None:
            assert self.connector is not None, "initializing opens the connector first"
            self._env = ToolEnv.for_context(
                self.ctx, self.connector, data_source_id=data_source_id, catalog=self.catalog, chat_id=chat_id,
                max_rows=self.options.max_rows, timeout_s=self.options.sql_timeout,
            )
        return self._env

    def close(self) -> None:
        if self.connector is not None and not self.connector.closed:
            self.connector.close()


def _endpoint_factory() -> Endpoint:
    return resolve_endpoint()


def close_attempt(payload: Any, ctx: TaskContext) -> None:
    """Cleanup after every attempt: close its connector (which also stops a statement still running)."""
    with _open_lock:
        services = _open.pop((ctx.run_id, ctx.attempt), None)
    if services is not None:
        services.close()
        logger.debug("analyst attempt closed", attempt=ctx.attempt)


def open_attempts() -> int:
    """Attempts in this process whose cleanup has not run yet (tests check it drops to 0)."""
    with _open_lock:
        return len(_open)
