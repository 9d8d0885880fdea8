"""The warehouse connector of one attempt, for `introspect-data` and its profiling children alike.

The runtime abandons a sync attempt that is canceled or times out (Python cannot stop a thread), but its connector
must still stop its statement on the server and close. So every attempt's connector is opened here: its secrets are
registered with the run's redaction, a cancel or timeout reaches the server through `ctx.on_cancel(conn.cancel)`, and
the `close_connector` cleanup hook closes it after the attempt, however the attempt ended.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import SecretStr

import connectors
from connectors import Connector, ConnectorError, Credentials
from runtime import AbortTaskRunError, RetryDecision, TaskContext, logger
from store import DataSource, StoreError, sources

# Connectors of attempts executing in this process, by (run id, attempt), so the cleanup hook can close them even when
# the attempt's thread was abandoned after a timeout or cancel (closing its connection stops it where nothing else can).
_open_connectors: dict[tuple[str, int], Connector] = {}
_open_lock = threading.Lock()


def open_connector(creds: Credentials, ctx: TaskContext) -> Connector:
    """A lazy connector for this attempt (nothing touches the network before its first call), closed by the hook."""
    register_secrets(creds, ctx)
    conn = connectors.connect(creds)
    with _open_lock:
        _open_connectors[(ctx.run_id, ctx.attempt)] = conn
    ctx.on_cancel(conn.cancel)  # a cancel or timeout stops the statement on the server, not just our wait for it
    return conn


def close_connector(payload: Any, ctx: TaskContext) -> None:
    """Cleanup after every attempt: close the attempt's connector (idempotent; cancels a statement still running)."""
    with _open_lock:
        conn = _open_connectors.pop((ctx.run_id, ctx.attempt), None)
    if conn is not None and not conn.closed:
        conn.close()
        logger.info("connector closed", source_type=conn.source_type, attempt=ctx.attempt)


def open_connector_count() -> int:
    """Connectors of attempts in this process not closed by their cleanup hook yet (tests check it drops to 0)."""
    with _open_lock:
        return len(_open_connectors)


def retry_only_transient(payload: Any, error: BaseException, ctx: TaskContext) -> RetryDecision | None:
    """A connector error that retrying cannot fix (auth, not found, permission) fails the run at once."""
    if isinstance(error, ConnectorError) and not error.retryable:
        return RetryDecision(skip_retry=True)
    return None


def register_secrets(creds: Any, ctx: TaskContext) -> None:
    """Every secret field of the credentials is scrubbed from anything the run stores (logs, errors, metadata)."""
    for name in type(creds).model_fields:
        value = getattr(creds, name)
        if isinstance(value, SecretStr):
            ctx.redact(value)


def registered_source(data_source_id: str) -> DataSource:
    """The registered source, its credentials decrypted here, inside the worker (a payload carries only the id).

    Retrying cannot bring back a missing source, a lost key or a registration that no longer validates, so each of
    those aborts the run at once.
    """
    try:
        source = sources.find_source_by_id(data_source_id)
    except StoreError as exc:
        raise AbortTaskRunError(exc.message) from None
    if source is None:
        raise AbortTaskRunError(
            f"no credentials in the payload and no data source registered with id {data_source_id!r}"
        )
    return source
