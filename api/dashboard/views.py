"""What the pages show of a run, computed once on the server (the run page's script recomputes the same from each
realtime event): the progress bar, the state timeline, and the run as masked JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import runtime

# introspect-data's stages in order (tasks/introspect_data/task.py sets metadata.stage and metadata.progress)
KNOWN_STAGES: dict[str, list[str]] = {
    "introspect-data": ["connecting", "testing", "introspecting", "profiling", "saving", "done"],
}
PERIODS: dict[str, timedelta] = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STATUSES = [s.value for s in runtime.RunStatus]


def progress(metadata: dict[str, Any]) -> float | None:
    """`metadata.progress` as a fraction (0..1; 0..100 read as percent), or None when the run reports none."""
    value = metadata.get("progress")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    fraction = value / 100 if value > 1 else value
    return max(0.0, min(1.0, float(fraction)))


def timeline(task_id: str, metadata: dict[str, Any], status: str) -> list[dict[str, Any]]:
    """The states a run went through: the analyst agent's `metadata.states` (name, started_at, finished_at, summary),
    else the task's known stages around `metadata.stage`, else the current `stage`/`state` alone."""
    final = status in {s.value for s in runtime.models.FINAL_STATUSES}
    states = metadata.get("states")
    if isinstance(states, list) and states:
        items = []
        for entry in states:
            if not isinstance(entry, dict):
                continue
            done = bool(entry.get("finished_at")) or final
            items.append({"name": str(entry.get("name", "?")), "state": "done" if done else "current",
                          "summary": entry.get("summary"), "started_at": entry.get("started_at")})
        return items
    current = metadata.get("stage") or metadata.get("state")
    if not isinstance(current, str):
        return []
    stages = KNOWN_STAGES.get(task_id)
    if not stages or current not in stages:
        return [{"name": current, "state": "done" if final else "current", "summary": None, "started_at": None}]
    position = stages.index(current)
    items = []
    for index, name in enumerate(stages):
        if index < position or (index == position and (final or name == "done")):
            state = "done"
        elif index == position:
            state = "current"
        else:
            state = "pending"
        items.append({"name": name, "state": state, "summary": None, "started_at": None})
    return items


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def since(period: str | None) -> datetime | None:
    delta = PERIODS.get(period or "")
    return datetime.now(timezone.utc) - delta if delta else None


def duration(run: runtime.Run) -> str:
    if run.started_at is None:
        return ""
    end = run.finished_at or datetime.now(timezone.utc)
    seconds = max(0.0, (end - run.started_at).total_seconds())
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
