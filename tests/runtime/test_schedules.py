"""Cron schedules: next fire times in the schedule's timezone, and a due schedule triggering exactly one run."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from runtime import RunStatus, ScheduleError, UnknownTaskError, runs, schedules
from runtime.backend import get_backend
from runtime.schedules import next_times, validate_cron
from runtime.store import schedules_table


def test_next_times_follow_the_timezone_across_dst() -> None:
    # Paris switches to summer time on 2026-03-29: 03:00 local is 02:00 UTC before, 01:00 UTC after.
    after = datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc).timestamp()
    times = next_times("0 3 * * *", "Europe/Paris", after, 4)
    assert [t.strftime("%m-%d %H:%M") for t in times] == ["03-28 02:00", "03-29 01:00", "03-30 01:00", "03-31 01:00"]
    ny = next_times("30 9 * * 1", "America/New_York", after, 1)[0]
    assert ny.strftime("%a %H:%M") == "Mon 13:30"  # 09:30 EDT


def test_invalid_cron_and_timezone_are_refused() -> None:
    with pytest.raises(ScheduleError, match="cron"):
        schedules.create(task="t-echo", cron="every day")
    with pytest.raises(ScheduleError, match="timezone"):
        schedules.create(task="t-echo", cron="0 3 * * *", timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("61 3 * * *", "minute '61' is not valid (0-59)"),
        ("0 24 * * *", "hour '24' is not valid (0-23)"),
        ("0 3 0 * *", "day of month '0' is not valid (1-31)"),
        ("0 3 * 13 *", "month '13' is not valid"),
        ("0 3 * * mon-xyz", "day of week 'mon-xyz' is not valid"),
        ("0 3 * *", "expected five fields 'minute hour day month weekday', got 4"),
        ("0 3 31 2 *", "'0 3 31 2 *' never fires: no date matches it"),
        ("0 3 30 2 *", "never fires"),
    ],
)
def test_a_cron_that_cannot_fire_is_refused_naming_what_is_wrong(cron: str, says: str) -> None:
    """February 31st used to pass the check and then fail inside croniter (a traceback from `sources schedule`)."""
    with pytest.raises(ScheduleError) as caught:
        validate_cron(cron)
    assert says in str(caught.value) and caught.value.field == "cron"


def test_a_cron_that_fires_rarely_is_accepted() -> None:
    assert validate_cron(" 0  3 29 2 * ") == "0 3 29 2 *"  # leap days
    assert next_times("0 3 29 2 *", "UTC", datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp(), 1)[0].year == 2028
    assert validate_cron("0 3 * * 7") == "0 3 * * 7"  # Sunday, as 0


def test_imperative_schedule_fires_once_per_tick_with_its_payload(worker) -> None:
    with pytest.raises(UnknownTaskError):
        schedules.create(task="nope", cron="* * * * *")
    sched = schedules.create(task="t-echo", cron="*/5 * * * *", timezone="Asia/Tokyo", external_id="user-7", deduplication_key="dedupe-1")
    again = schedules.create(task="t-echo", cron="*/10 * * * *", timezone="Asia/Tokyo", external_id="user-7", deduplication_key="dedupe-1")
    assert again.id == sched.id and again.cron == "*/10 * * * *"  # same dedup key updates, never duplicates
    assert len(sched.upcoming) == 5
    backend = get_backend()
    due = time.time() - 1
    with backend.engine.begin() as conn:
        conn.execute(sa.update(schedules_table).where(schedules_table.c.id == sched.id).values(next_run_at=due))
    started = schedules.tick(backend, {"t-echo"})
    assert schedules.tick(backend, {"t-echo"}) == []  # the claim moved next_run_at: no second run for this tick
    assert len(started) == 1
    run = runs.wait(started[0], timeout=20)
    assert run.status is RunStatus.COMPLETED
    payload = run.output["echo"]
    assert payload["schedule_id"] == sched.id and payload["external_id"] == "user-7"
    assert payload["timezone"] == "Asia/Tokyo" and payload["type"] == "IMPERATIVE"
    assert abs(datetime.fromisoformat(payload["timestamp"]).timestamp() - due) < 0.01
    assert len(payload["upcoming"]) == 5
    assert schedules.retrieve(sched.id).next_run_at.timestamp() > time.time()
    schedules.delete(sched.id)
    assert all(s.id != sched.id for s in schedules.list())


def test_declarative_schedule_is_registered_by_the_worker(worker) -> None:
    listed = {s.task_id: s for s in schedules.list()}
    nightly = listed["t-nightly"]
    assert nightly.kind == "DECLARATIVE" and nightly.timezone == "Europe/Paris"
    local = nightly.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (3, 0)


def test_worker_scheduler_loop_triggers_due_schedules(worker) -> None:
    sched = schedules.create(task="t-echo", cron="0 0 1 1 *")
    with get_backend().engine.begin() as conn:
        conn.execute(sa.update(schedules_table).where(schedules_table.c.id == sched.id).values(next_run_at=time.time() - 5))
    deadline = time.monotonic() + 10
    found = []
    while time.monotonic() < deadline and not found:
        found = runs.list(tag=f"schedule:{sched.id}").data
        time.sleep(0.1)
    assert len(found) == 1


def test_update_changes_an_imperative_schedule_in_place_and_refuses_what_it_must(worker) -> None:
    sched = schedules.create(task="t-echo", cron="0 3 * * *", external_id="user-1", deduplication_key="upd-1")
    updated = schedules.update(sched.id, task="t-echo", cron="30 4 * * *", timezone="Europe/Paris", external_id="user-2")
    assert updated.id == sched.id and updated.deduplication_key == "upd-1"  # same schedule, same key
    assert (updated.cron, updated.timezone, updated.external_id) == ("30 4 * * *", "Europe/Paris", "user-2")
    assert updated.upcoming[0].astimezone(timezone.utc).minute == 30
    assert schedules.retrieve(sched.id).cron == "30 4 * * *" and len([s for s in schedules.list() if s.deduplication_key == "upd-1"]) == 1
    with pytest.raises(ScheduleError, match="cron"):
        schedules.update(sched.id, task="t-echo", cron="every day")
    with pytest.raises(UnknownTaskError):
        schedules.update(sched.id, task="nope", cron="0 3 * * *")
    with pytest.raises(ScheduleError, match="no schedule"):
        schedules.update("sched_does_not_exist", task="t-echo", cron="0 3 * * *")
    assert schedules.retrieve(sched.id).cron == "30 4 * * *"  # the refused updates changed nothing
    declared = next(s for s in schedules.list() if s.kind == "DECLARATIVE")
    with pytest.raises(ScheduleError, match="declared in code"):
        schedules.update(declared.id, task="t-echo", cron="0 3 * * *")
    schedules.delete(sched.id)
