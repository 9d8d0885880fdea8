"""Turning the API's camelCase trigger options into `tasks.trigger` keyword arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.schemas import TriggerOptions


def _duration(value: float | str | None) -> float | str | datetime | None:
    """Trigger.dev's delay may be a date: an ISO 8601 date-time string becomes a datetime (the runtime waits until it)."""
    if isinstance(value, str) and len(value) >= 10 and value[:4].isdigit() and value[4] == "-":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # the runtime names the field and what it expected
    return value


def trigger_kwargs(options: TriggerOptions) -> dict[str, Any]:
    return {
        "idempotency_key": options.idempotency_key,
        "idempotency_key_ttl": _duration(options.idempotency_key_ttl),
        "concurrency_key": options.concurrency_key,
        "delay": _duration(options.delay),
        "ttl": _duration(options.ttl),
        "tags": options.tags,
        "max_attempts": options.max_attempts,
        "max_duration": _duration(options.max_duration),
        "metadata": options.metadata,
    }


# snake_case option names of the runtime -> the API's camelCase, to name fields in errors as the client sent them
CAMEL = {
    "idempotency_key": "idempotencyKey",
    "idempotency_key_ttl": "idempotencyKeyTTL",
    "concurrency_key": "concurrencyKey",
    "max_attempts": "maxAttempts",
    "max_duration": "maxDuration",
}


def api_field(field: str | None, prefix: str = "") -> str | None:
    """`max_attempts` -> `options.maxAttempts`; `payload.x` stays; `items[2].delay` -> `items[2].options.delay`."""
    if field is None:
        return None
    head, _, rest = field.partition(".")
    item = ""
    if head.startswith("items[") and rest:
        item, (head, _, rest) = head + ".", rest.partition(".")
    base = head.split("[", 1)[0]
    if base in ("payload", "task_id", "items"):
        return prefix + item + field.removeprefix(item)
    suffix = head[len(base):]
    name = CAMEL.get(base, base)
    return prefix + item + "options." + name + suffix + (("." + rest) if rest else "")
