"""A 3-step task whose steps write a side effect to a real table, for the crash-safety tests.

Each step upserts one row keyed by `ctx.idempotency_key(step)` and counts its executions there: the row count proves
the key is stable (a key that changed on recovery would add a row), the counter shows which steps ran twice.
Half the step's time passes before the write and half after, so a kill can land on either side of it: after the
write and before DBOS records the step is the at-least-once window the README documents.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from runtime import RetryConfig, task

_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()
metadata = sa.MetaData()
effects = sa.Table(
    "crash_effects",
    metadata,
    sa.Column("idem_key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("step", sa.String(20), nullable=False),
    sa.Column("executions", sa.Integer, nullable=False),
)


def effects_engine(url: str) -> sa.Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
            engine = sa.create_engine(url, connect_args=connect_args, pool_size=20, max_overflow=20)
            metadata.create_all(engine)
            _engines[url] = engine
        return engine


def apply_effect(url: str, key: str, run_id: str, step: str, seconds: float) -> str:
    time.sleep(seconds / 2)
    upsert = (
        "INSERT INTO crash_effects (idem_key, run_id, step, executions) VALUES (:k, :r, :s, 1) "
        "ON CONFLICT (idem_key) DO UPDATE SET executions = crash_effects.executions + 1"
    )
    with effects_engine(url).begin() as conn:
        conn.execute(sa.text(upsert), {"k": key, "r": run_id, "s": step})
    time.sleep(seconds / 2)
    return f"{step} applied"


@task(id="t-crash-three-effects", max_duration=600, retry=RetryConfig(max_attempts=3, min_timeout=0.2, max_timeout=1))
def three_effects(payload: dict, ctx) -> list[str]:
    done = []
    for step in ("one", "two", "three"):
        key = ctx.idempotency_key(step)
        done.append(ctx.step(step, apply_effect, payload["effects"], key, ctx.run_id, step, float(payload["seconds"])))
    return done
