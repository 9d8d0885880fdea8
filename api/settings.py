"""The API's settings: which database and environment it serves, its body limit and its rate limit.

Read from the environment by `ApiSettings.from_env()` (what `taskpack serve` does), or passed to `create_app` whole
(what tests and benches do). Defaults follow Trigger.dev's self-hosted ones: a token bucket of 750 requests per key,
refilled by 250 every 10 s; bodies up to 3 MB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from runtime.limits import MAX_PAYLOAD_BYTES

ENV_ENVIRONMENT = "TASKPACK_ENV"
ENV_RATE_BURST = "TASKPACK_API_RATE_LIMIT_BURST"
ENV_RATE_REFILL = "TASKPACK_API_RATE_LIMIT_REFILL"
ENV_RATE_INTERVAL = "TASKPACK_API_RATE_LIMIT_INTERVAL"
ENV_CORS_ORIGINS = "TASKPACK_API_CORS_ORIGINS"


@dataclass(frozen=True)
class ApiSettings:
    database_url: str | None = None
    environment: str = "dev"  # keys of another environment are refused (401)
    max_body_bytes: int = MAX_PAYLOAD_BYTES
    rate_limit_burst: int = 750
    rate_limit_refill: int = 250
    rate_limit_interval_s: float = 10.0
    trigger_concurrency: int | None = None  # triggers at once in this process; None: 1 on SQLite, 16 on PostgreSQL
    realtime_poll_interval_s: float = 0.05  # one poller per process, whatever the number of subscribers
    realtime_ping_interval_s: float = 15.0
    public_token_default_ttl_s: int = 900  # Trigger.dev's 15 minutes
    public_token_max_ttl_s: int = 7 * 86400
    # Browsers on these origins may call /api and /realtime (bearer credentials only: no cookies cross-origin).
    cors_origins: tuple[str, ...] = ("*",)

    @classmethod
    def from_env(cls, database_url: str | None = None, **overrides: object) -> "ApiSettings":
        values: dict[str, object] = {"database_url": database_url}
        if os.environ.get(ENV_ENVIRONMENT):
            values["environment"] = os.environ[ENV_ENVIRONMENT].strip()
        for env, field, kind in (
            (ENV_RATE_BURST, "rate_limit_burst", int),
            (ENV_RATE_REFILL, "rate_limit_refill", int),
            (ENV_RATE_INTERVAL, "rate_limit_interval_s", float),
        ):
            if os.environ.get(env):
                try:
                    values[field] = kind(os.environ[env])
                except ValueError:
                    raise ValueError(f"{env}: expected a number") from None
        if os.environ.get(ENV_CORS_ORIGINS) is not None:
            values["cors_origins"] = tuple(o.strip() for o in os.environ[ENV_CORS_ORIGINS].split(",") if o.strip())
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
