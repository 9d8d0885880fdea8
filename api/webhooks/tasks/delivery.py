"""Delivering one webhook message: a durable runtime task, so retries survive a restart of any process.

Each attempt is one durable step (`attempt-N`): the POST, the attempt's row and the message's new state happen
inside it, so a worker that crashes and replays the run reads the recorded outcome instead of posting again, and
the run's retry waits are DBOS durable sleeps that resume where they were. The schedule travels in the payload
(`retry_delays`), fixed when the event was emitted: a run behaves the same whichever worker picks it up.

Outcomes: a 2xx ends the run COMPLETED; 410 Gone disables the endpoint and ends it FAILED without retrying; an
endpoint deleted or disabled in the meantime ends it at once (the message is `skipped`); anything else (another
status, a redirect, a timeout, a refused address) is retried after the next delay with ±20 % jitter, or after the
receiver's `Retry-After` when that is longer, until the schedule is spent (the message is then `failed`).
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

from runtime import AbortTaskRunError, Queue, RetryConfig, RetryDecision, task
from store import webhooks as registry
from api.webhooks import sender, signing
from api.webhooks.settings import JITTER, MAX_RETRY_AFTER_S

TASK_ID = "webhook-delivery"
QUEUE = Queue(name="webhooks", concurrency_limit=20)


class WebhookAttemptFailed(Exception):
    """An attempt that did not get a 2xx; the run retries it on schedule."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def next_delay(payload: dict[str, Any], attempt: int, retry_after: float | None = None) -> float | None:
    """Seconds to wait after failed attempt `attempt` (1-based), or None when the schedule is spent."""
    delays = payload.get("retry_delays") or []
    if attempt > len(delays):
        return None
    base = float(delays[attempt - 1])
    seed = int.from_bytes(hashlib.sha256(f"{payload.get('message_id')}:{attempt}".encode()).digest()[:8], "big")
    delay = base * (1 + random.Random(seed).uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


def attempt_delivery(payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    """One attempt, recorded; returns the outcome as data (this is the durable step)."""
    message_id = payload["message_id"]
    row = registry.message_row(message_id)
    if row is None:
        return {"result": "skipped", "reason": "the message was deleted with its endpoint"}
    try:
        endpoint = registry.get_endpoint(row.endpoint_id)
    except registry.WebhookNotFoundError:
        return {"result": "skipped", "reason": "the endpoint was deleted"}
    if not endpoint.enabled:
        registry.set_message_state(message_id, "skipped")
        return {"result": "skipped", "reason": f"the endpoint is disabled ({endpoint.disabled_reason or 'by a user'})"}
    body = row.body.encode()
    timestamp = int(time.time())
    headers = signing.headers(registry.endpoint_secret(endpoint.id), message_id, timestamp, body)
    outcome = sender.post(endpoint.url, headers, body)
    if outcome.succeeded:
        state, wait = "succeeded", None
    elif outcome.gone:
        state, wait = "failed", None
        registry.disable_endpoint(endpoint.id, f"the receiver answered 410 Gone to message {message_id}")
    else:
        wait = next_delay(payload, attempt, outcome.retry_after)
        state = "pending" if wait is not None else "failed"
    registry.record_attempt(
        message_id,
        endpoint.id,
        attempt,
        started_at=outcome.started_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        error=outcome.error,
        response=outcome.response,
        outcome=state,  # type: ignore[arg-type]
        next_attempt_at=time.time() + wait if wait is not None else None,
    )
    result = "delivered" if outcome.succeeded else "gone" if outcome.gone else "failed"
    return {"result": result, **outcome.as_dict()}


def _retry_decision(payload: dict[str, Any], exc: BaseException, ctx: Any) -> RetryDecision:
    delay = next_delay(payload, ctx.attempt, getattr(exc, "retry_after", None))
    if delay is None:
        return RetryDecision(skip_retry=True)
    return RetryDecision(retry_delay=delay)


@task(
    id=TASK_ID,
    queue=QUEUE,
    max_duration=120,
    # the real bound is the payload's schedule (catch_error); the trigger sets max_attempts to its length + 1
    retry=RetryConfig(max_attempts=100, randomize=False),
    catch_error=_retry_decision,
    description="Deliver one signed webhook message (Standard Webhooks), retrying on schedule.",
)
def deliver_webhook(payload: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Deliver one signed webhook message (Standard Webhooks), retrying on schedule."""
    outcome = ctx.step(f"attempt-{ctx.attempt}", attempt_delivery, payload, ctx.attempt)
    if outcome["result"] == "delivered":
        return {"messageId": payload["message_id"], "statusCode": outcome["status_code"], "attempt": ctx.attempt}
    if outcome["result"] == "skipped":
        return {"messageId": payload["message_id"], "skipped": outcome["reason"]}
    if outcome["result"] == "gone":
        raise AbortTaskRunError("the receiver answered 410 Gone: the endpoint is disabled")
    raise WebhookAttemptFailed(outcome.get("error") or "delivery failed", outcome.get("retry_after"))
