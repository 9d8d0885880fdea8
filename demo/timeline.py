"""The demo's time: a fixed two-year window and how busy each day of it is.

Everything is dated relative to `REFERENCE_DATE`, never to today, so the same seed always builds the same rows and
a question like "revenue last quarter" has an answer: the window ends on the reference date, the last day of a
quarter (2025-06-30), so "last quarter" is 2025 Q2 and the two years before it are complete.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

#: the demo's "today": the last day with data
REFERENCE_DATE = date(2025, 6, 30)
#: the first day with data: two full years before the reference date
START_DATE = date(2023, 7, 1)
DAYS = (REFERENCE_DATE - START_DATE).days + 1

# Retail seasonality: a quiet start of the year, a summer lull, the holiday peak.
_MONTH = {1: 0.82, 2: 0.78, 3: 0.92, 4: 0.95, 5: 1.0, 6: 0.96, 7: 0.9, 8: 0.93, 9: 1.0, 10: 1.06, 11: 1.45, 12: 1.62}
_WEEKDAY = (1.05, 1.0, 1.0, 1.02, 0.96, 0.88, 1.12)  # Monday .. Sunday: Sunday evening is the busiest
#: how much busier the last day is than the first: the shop grows ~40 % over the window
GROWTH = 0.4
# Share of orders by hour of the day (UTC): a morning bump and an evening peak.
_HOURS = (4, 2, 1, 1, 1, 2, 4, 6, 8, 9, 9, 9, 10, 9, 8, 8, 8, 9, 11, 13, 14, 13, 10, 7)


def day(offset: int) -> date:
    return START_DATE + timedelta(days=offset)


def is_black_friday_week(d: date) -> bool:
    """The Friday after US Thanksgiving through Cyber Monday, widened to the whole week around it."""
    thanksgiving = date(d.year, 11, 1) + timedelta(days=(3 - date(d.year, 11, 1).weekday()) % 7 + 21)
    return thanksgiving - timedelta(days=2) <= d <= thanksgiving + timedelta(days=5)


def busyness(d: date) -> float:
    """Relative order volume of a day: month, weekday, Black Friday week and growth."""
    weight = _MONTH[d.month] * _WEEKDAY[d.weekday()] * (1 + GROWTH * (d - START_DATE).days / DAYS)
    return weight * 1.8 if is_black_friday_week(d) else weight


_WEIGHTS = [busyness(day(i)) for i in range(DAYS)]
_MAX_WEIGHT = max(_WEIGHTS)


def seasonal_day(rng: random.Random, first: int = 0, last: int = DAYS - 1) -> int:
    """A day offset in [first, last], drawn in proportion to `busyness` (rejection sampling)."""
    while True:
        offset = rng.randint(first, last)
        if rng.random() * _MAX_WEIGHT < _WEIGHTS[offset]:
            return offset


def moment(rng: random.Random, offset: int) -> datetime:
    """A time on that day, by the hourly pattern, to the second."""
    hour = rng.choices(range(24), weights=_HOURS)[0]
    return datetime.combine(day(offset), time(hour, rng.randint(0, 59), rng.randint(0, 59)))


__all__ = ["DAYS", "REFERENCE_DATE", "START_DATE", "busyness", "day", "is_black_friday_week", "moment", "seasonal_day"]
