"""One cron schedule per data source, kept by the runtime's scheduler.

The schedule runs `introspect-data-scheduled` with the source's id as `external_id` (that task reads the registry)
and as `deduplication_key`, so scheduling a source again replaces its schedule instead of adding a second one. The
task must be known to the process that creates the schedule (imported, or registered by a worker): the CLI imports
`tasks.introspect_data.task`; the store never imports tasks.
"""

from __future__ import annotations

from runtime import Schedule, ScheduleError, schedules

SCHEDULED_TASK = "introspect-data-scheduled"


def schedule(source_id: str, *, cron: str, timezone: str = "UTC", database_url: str | None = None) -> Schedule:
    """Create the source's schedule, or replace its cron and timezone. Raises ScheduleError for a bad cron or zone."""
    return schedules.create(
        task=SCHEDULED_TASK, cron=cron, timezone=timezone, external_id=source_id, deduplication_key=source_id, database_url=database_url
    )


def schedule_of(source_id: str, *, database_url: str | None = None) -> Schedule | None:
    return next((s for s in schedules.list(database_url=database_url) if s.deduplication_key == source_id), None)


def unschedule(source_id: str, *, database_url: str | None = None) -> Schedule | None:
    """Delete the source's schedule; returns it, or None when the source had none."""
    found = schedule_of(source_id, database_url=database_url)
    if found is None:
        return None
    try:
        schedules.delete(found.id, database_url=database_url)
    except ScheduleError:  # deleted by another process meanwhile: the outcome we wanted
        pass
    return found
