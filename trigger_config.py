"""Project-wide defaults for analyst-taskpack, read by the runtime, the CLI and the dev worker.

Mirrors Trigger.dev's `trigger.config.ts`: where tasks live, how they retry, how long they may run, and which
database executes them. `TASKPACK_DATABASE_URL` overrides `database_url` (so one checkout can run on the embedded
SQLite default or on a shared PostgreSQL without editing this file).
"""

from runtime.config import ProjectConfig
from runtime.retry import RetryConfig

config = ProjectConfig(
    project="analyst-taskpack",
    # Folders whose modules define tasks; the dev worker watches them and reloads on change.
    # (api/webhooks/tasks: the webhook delivery task, so every worker delivers webhooks)
    dirs=["tasks", "api/webhooks/tasks"],
    # Trigger.dev's defaults: 3 attempts, factor 2, 1 s -> 60 s, randomized.
    retry=RetryConfig(max_attempts=3, factor=2.0, min_timeout=1.0, max_timeout=60.0, randomize=True),
    # Seconds an attempt may run before it is stopped and the run ends TIMED_OUT.
    max_duration=3600,
    # None = the embedded default: a SQLite file under .taskpack/ in the project root.
    database_url=None,
    # Runs queued for a code version no worker runs any more (TASKPACK_VERSION, else a hash of the task modules):
    # "adopt" = a worker of the new version takes them (nothing of them ran yet); "strict" = they wait, shown
    # PENDING_VERSION. A started run only ever resumes on its own version, or ends CRASHED once its version has had
    # no worker for version_grace_period seconds.
    version_adoption="adopt",
    version_grace_period=300,
    # SQLite only: "NORMAL" = a commit survives the process being killed, a power loss may take back the last ones
    # (as Redis' everysec fsync); "FULL" = every commit is flushed to the disk first, ~25-40 % fewer runs per second.
    sqlite_synchronous="NORMAL",
)

# Seconds between webhook delivery attempts after the first (immediate) one: Standard Webhooks' example schedule,
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, each with ±20 % jitter. TASKPACK_WEBHOOK_RETRY_DELAYS
# (comma-separated seconds) overrides it.
webhook_retry_delays = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
