"""Cron schedules: declarative (`@schedules.task`) and imperative (`schedules.create`), timezone-aware.

A worker's scheduler claims each due schedule with a compare-and-set on `next_run_at`, so with any number of workers a
tick triggers exactly one run (and the run's idempotency key makes even a double claim harmless). Missed ticks are
not back-filled: after downtime the schedule fires once and moves on, as Trigger.dev does.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel

from runtime.backend import Backend, get_backend
from runtime.definitions import Task, task as define_task
from runtime.errors import InputError
from runtime.limits import MAX_CRON_CHARS, MAX_ID_CHARS, MAX_KEY_CHARS, MAX_TASK_ID_CHARS, MAX_TIMEZONE_CHARS, check_text
from runtime.store import schedules_table

log = logging.getLogger("taskpack")
UPCOMING = 5


class ScheduleError(InputError):
    """A schedule's cron expression, timezone, task, external id or deduplication key is invalid (or it does not exist)."""


class Schedule(BaseModel):
    id: str
    task_id: str
    cron: str
    timezone: str
    external_id: str | None = None
    deduplication_key: str | None = None
    kind: str
    active: bool
    next_run_at: datetime
    last_run_at: datetime | None = None
    upcoming: list[datetime]


class ScheduledPayload(BaseModel):
    """What a scheduled task receives."""

    type: str
    schedule_id: str
    timestamp: datetime
    last_timestamp: datetime | None = None
    timezone: str
    external_id: str | None = None
    upcoming: list[datetime]


def _zone(name: str) -> ZoneInfo:
    check_text(name, "timezone", max_chars=MAX_TIMEZONE_CHARS, error=ScheduleError)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"timezone: unknown timezone {name!r} (use an IANA name such as 'Europe/Paris')", field="timezone") from None


#: the five fields of a cron expression and what each takes, for an error that names the wrong one
CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day of week", "0-6 or sun-sat, 7 is Sunday too"),
)


def validate_cron(cron: str) -> str:
    """The expression with its spaces normalised; ScheduleError naming the field that is wrong, or saying that no
    date ever matches it (`0 3 31 2 *`: a schedule that never fires, which croniter only finds out when asked for the
    next time)."""
    check_text(cron, "cron", max_chars=MAX_CRON_CHARS, error=ScheduleError)
    cron = " ".join(cron.split())
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"cron: invalid cron expression {cron!r}: expected five fields 'minute hour day month weekday', got {len(fields)}",
            field="cron",
        )
    for position, (name, allowed) in enumerate(CRON_FIELDS):
        alone = " ".join(field if i == position else "*" for i, field in enumerate(fields))
        if not croniter.is_valid(alone):
            raise ScheduleError(f"cron: invalid cron expression {cron!r}: {name} {fields[position]!r} is not valid ({allowed})", field="cron")
    if not croniter.is_valid(cron):
        raise ScheduleError(f"cron: invalid cron expression {cron!r}", field="cron")
    try:
        croniter(cron, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(f"cron: {cron!r} never fires: no date matches it", field="cron") from None
    return cron


def next_times(cron: str, tz: str, after: float, count: int = UPCOMING) -> list[datetime]:
    """The next `count` fire times after `after` (epoch seconds), computed in `tz` so DST shifts are honoured."""
    zone = _zone(tz)
    it = croniter(cron, datetime.fromtimestamp(after, zone))
    return [it.get_next(datetime).astimezone(timezone.utc) for _ in range(count)]


def _row_to_schedule(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        task_id=row.task_id,
        cron=row.cron,
        timezone=row.timezone,
        external_id=row.external_id,
        deduplication_key=row.deduplication_key,
        kind=row.kind,
        active=bool(row.active),
        next_run_at=datetime.fromtimestamp(row.next_run_at, timezone.utc),
        last_run_at=datetime.fromtimestamp(row.last_run_at, timezone.utc) if row.last_run_at else None,
        upcoming=next_times(row.cron, row.timezone, row.next_run_at - 1, UPCOMING),
    )


class Schedules:
    def __init__(self) -> None:
        self.declared: dict[str, tuple[str, str]] = {}  # task id -> (cron, timezone)

    def task(self, *, id: str, cron: str, timezone: str = "UTC", **options: Any) -> Callable[[Callable[..., Any]], Task]:
        """Declare a task that runs on `cron` in `timezone`; workers that load it keep its schedule in the database."""
        cron = validate_cron(cron)
        _zone(timezone)

        def decorate(fn: Callable[..., Any]) -> Task:
            definition = define_task(id=id, **options)(fn)
            self.declared[id] = (cron, timezone)
            return definition

        return decorate

    def create(
        self,
        *,
        task: str | Task,
        cron: str,
        timezone: str = "UTC",
        external_id: str | None = None,
        deduplication_key: str | None = None,
        database_url: str | None = None,
    ) -> Schedule:
        """Create a schedule; with a `deduplication_key` that exists already, update that schedule instead."""
        task_id, cron = _checked_fields(task, cron, timezone, external_id)
        if deduplication_key is not None:
            check_text(deduplication_key, "deduplication_key", max_chars=MAX_KEY_CHARS, error=ScheduleError)
        backend = get_backend(database_url)
        from runtime.triggering import task_info

        task_info(backend, task_id)  # raises UnknownTaskError for a task nobody defined
        return self._upsert(backend, None, task_id, cron, timezone, external_id, deduplication_key, "IMPERATIVE")

    def update(
        self,
        schedule_id: str,
        *,
        task: str | Task,
        cron: str,
        timezone: str = "UTC",
        external_id: str | None = None,
        database_url: str | None = None,
    ) -> Schedule:
        """Change an imperative schedule's task, cron, timezone or external id (Trigger.dev's `schedules.update`);
        its id and deduplication key stay. A declared (`@schedules.task`) schedule belongs to the code: ScheduleError."""
        task_id, cron = _checked_fields(task, cron, timezone, external_id)
        current = self.retrieve(schedule_id, database_url=database_url)
        if current.kind == "DECLARATIVE":
            raise ScheduleError(f"schedule {schedule_id!r} is declared in code (@schedules.task): change it there")
        backend = get_backend(database_url)
        from runtime.triggering import task_info

        task_info(backend, task_id)  # raises UnknownTaskError for a task nobody defined
        return self._upsert(
            backend, schedule_id, task_id, cron, timezone, external_id, current.deduplication_key, current.kind
        )

    def _upsert(
        self,
        backend: Backend,
        schedule_id: str | None,
        task_id: str,
        cron: str,
        tz: str,
        external_id: str | None,
        dedup: str | None,
        kind: str,
    ) -> Schedule:
        now = time.time()
        next_at = next_times(cron, tz, now, 1)[0].timestamp()
        table = schedules_table
        with backend.engine.begin() as conn:
            existing = None
            if dedup is not None:
                existing = conn.execute(sa.select(table).where(table.c.deduplication_key == dedup)).first()
            elif schedule_id is not None:
                existing = conn.execute(sa.select(table).where(table.c.id == schedule_id)).first()
            if existing is None:
                new_id = schedule_id or f"sched_{uuid.uuid4().hex[:16]}"
                conn.execute(
                    sa.insert(table).values(
                        id=new_id, task_id=task_id, cron=cron, timezone=tz, external_id=external_id,
                        deduplication_key=dedup, kind=kind, active=True, next_run_at=next_at, created_at=now,
                    )
                )
                schedule_id = new_id
            else:
                schedule_id = existing.id
                changed = (existing.cron, existing.timezone, existing.task_id) != (cron, tz, task_id)
                values: dict[str, Any] = {"external_id": external_id, "task_id": task_id, "cron": cron, "timezone": tz, "active": True}
                if changed:
                    values["next_run_at"] = next_at
                conn.execute(sa.update(table).where(table.c.id == schedule_id).values(**values))
            row = conn.execute(sa.select(table).where(table.c.id == schedule_id)).first()
        return _row_to_schedule(row)

    def sync_declared(self, backend: Backend, task_ids: set[str]) -> None:
        """Keep the database in step with the `@schedules.task` declarations a worker loaded."""
        for task_id, (cron, tz) in self.declared.items():
            if task_id in task_ids:
                self._upsert(backend, f"sched_decl_{task_id}", task_id, cron, tz, None, None, "DECLARATIVE")

    def list(self, *, task: str | None = None, database_url: str | None = None) -> list[Schedule]:
        if task is not None:
            check_text(task, "task", max_chars=MAX_TASK_ID_CHARS, error=ScheduleError)
        backend = get_backend(database_url)
        query = sa.select(schedules_table).order_by(schedules_table.c.created_at)
        if task is not None:
            query = query.where(schedules_table.c.task_id == task)
        with backend.engine.connect() as conn:
            return [_row_to_schedule(r) for r in conn.execute(query).all()]

    def retrieve(self, schedule_id: str, *, database_url: str | None = None) -> Schedule:
        _check_schedule_id(schedule_id)
        backend = get_backend(database_url)
        with backend.engine.connect() as conn:
            row = conn.execute(sa.select(schedules_table).where(schedules_table.c.id == schedule_id)).first()
        if row is None:
            raise ScheduleError(f"no schedule with id {schedule_id!r}")
        return _row_to_schedule(row)

    def delete(self, schedule_id: str, *, database_url: str | None = None) -> None:
        _check_schedule_id(schedule_id)
        backend = get_backend(database_url)
        with backend.engine.begin() as conn:
            res = conn.execute(sa.delete(schedules_table).where(schedules_table.c.id == schedule_id))
        if res.rowcount == 0:
            raise ScheduleError(f"no schedule with id {schedule_id!r}")

    def tick(self, backend: Backend, known_tasks: set[str], now: float | None = None) -> list[str]:
        """Trigger every due schedule this worker can run; returns the run ids it started."""
        from runtime.triggering import tasks

        now = now or time.time()
        table = schedules_table
        with backend.engine.connect() as conn:
            due = conn.execute(
                sa.select(table).where(table.c.active == sa.true(), table.c.next_run_at <= now, table.c.task_id.in_(known_tasks))
            ).all()
        started = []
        for row in due:
            upcoming = next_times(row.cron, row.timezone, max(now, row.next_run_at), UPCOMING)
            with backend.engine.begin() as conn:
                claimed = conn.execute(
                    sa.update(table)
                    .where(table.c.id == row.id, table.c.next_run_at == row.next_run_at)
                    .values(next_run_at=upcoming[0].timestamp(), last_run_at=row.next_run_at)
                ).rowcount
            if claimed != 1:
                continue
            payload = ScheduledPayload(
                type=row.kind,
                schedule_id=row.id,
                timestamp=datetime.fromtimestamp(row.next_run_at, timezone.utc),
                last_timestamp=datetime.fromtimestamp(row.last_run_at, timezone.utc) if row.last_run_at else None,
                timezone=row.timezone,
                external_id=row.external_id,
                upcoming=upcoming,
            )
            try:
                handle = tasks.trigger(
                    row.task_id,
                    payload.model_dump(mode="json"),
                    idempotency_key=f"schedule:{row.id}:{int(row.next_run_at)}",
                    tags=[f"schedule:{row.id}"],
                    database_url=backend.url,
                )
                started.append(handle.id)
            except Exception as exc:
                log.error("schedule %s could not trigger %s: %s", row.id, row.task_id, exc)
        return started


def _checked_fields(task: str | Task, cron: str, timezone: str, external_id: str | None) -> tuple[str, str]:
    """The task id and the normalised cron of a create or update; ScheduleError naming the first bad field."""
    task_id = task.id if isinstance(task, Task) else task
    check_text(task_id, "task", max_chars=MAX_TASK_ID_CHARS, error=ScheduleError)
    cron = validate_cron(cron)
    _zone(timezone)
    if external_id is not None:
        check_text(external_id, "external_id", max_chars=MAX_ID_CHARS, error=ScheduleError)
    return task_id, cron


def _check_schedule_id(schedule_id: Any) -> None:
    try:
        check_text(schedule_id, "schedule_id", max_chars=MAX_SCHEDULE_ID_CHARS, error=ScheduleError)
    except ScheduleError:
        raise ScheduleError(f"no schedule with id {schedule_id!r}"[:200], field="schedule_id") from None


MAX_SCHEDULE_ID_CHARS = 64  # the schedules table's key column

schedules = Schedules()
