"""The webhook retry schedule: `TASKPACK_WEBHOOK_RETRY_DELAYS` (comma-separated seconds), else
`webhook_retry_delays` in trigger_config.py, else the Standard Webhooks example schedule.

The first attempt is immediate; each delay is the wait before the next attempt, so N delays give N + 1 attempts.
Each wait gets ±20 % jitter (seeded by the message and the attempt, so a replayed delivery waits the same), and a
receiver's `Retry-After` (429, 502, 503, 504) lengthens it up to a day.
"""

from __future__ import annotations

import os
import sys

from runtime.config import load_config

ENV_RETRY_DELAYS = "TASKPACK_WEBHOOK_RETRY_DELAYS"
# Standard Webhooks' example: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_DELAY_S = 7 * 86400.0
MAX_RETRIES = 99  # a run has at most 100 attempts (runtime.limits)
JITTER = 0.2
MAX_RETRY_AFTER_S = 86400.0


class WebhookSettingsError(ValueError):
    """The retry schedule cannot be read; the message names where it came from."""


def parse_delays(text: str, *, origin: str = ENV_RETRY_DELAYS) -> tuple[float, ...]:
    items = [part.strip() for part in text.split(",")]
    if items == [""]:
        return ()
    delays: list[float] = []
    for index, item in enumerate(items):
        try:
            value = float(item)
        except ValueError:
            raise WebhookSettingsError(f"{origin}: item {index + 1} is not a number of seconds") from None
        if not 0 <= value <= MAX_DELAY_S or value != value:
            raise WebhookSettingsError(f"{origin}: item {index + 1} must be between 0 and {MAX_DELAY_S:g} seconds")
        delays.append(value)
    if len(delays) > MAX_RETRIES:
        raise WebhookSettingsError(f"{origin}: at most {MAX_RETRIES} retries")
    return tuple(delays)


def retry_delays() -> tuple[float, ...]:
    """The schedule in force: the environment, then trigger_config.py, then the default."""
    env = os.environ.get(ENV_RETRY_DELAYS)
    if env is not None and env.strip():
        return parse_delays(env)
    load_config()  # imports trigger_config.py when the project has one
    configured = getattr(sys.modules.get("trigger_config"), "webhook_retry_delays", None)
    if configured is None:
        return DEFAULT_RETRY_DELAYS
    if not isinstance(configured, (list, tuple)):
        raise WebhookSettingsError("trigger_config.webhook_retry_delays: a list of seconds")
    return parse_delays(",".join(str(v) for v in configured), origin="trigger_config.webhook_retry_delays")
