"""Relative periods ("last quarter", "this year") turned into dates before the model sees the question.

A 1.5B model does date arithmetic badly, and a question asked of a warehouse whose data stops in the past (the demo,
a stale copy) means the data's last quarter, not the calendar's. So the agent fixes an `as_of` day and writes the
periods out; the prompt carries them as facts and the SQL uses them as literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    name: str
    start: date
    end: date  # inclusive

    def line(self) -> str:
        """The period as the filter to write: half-open, so timestamps on its last day count."""
        return f"{self.name}: >= '{self.start.isoformat()}' and < '{(self.end + timedelta(days=1)).isoformat()}'"


@dataclass(frozen=True)
class DateContext:
    as_of: date
    reason: str
    data_ends: date | None = None

    def periods(self) -> list[Period]:
        today = self.as_of
        q = (today.month - 1) // 3
        this_q = date(today.year, 3 * q + 1, 1)
        last_q = _add_months(this_q, -3)
        this_m = date(today.year, today.month, 1)
        last_m = _add_months(this_m, -1)
        return [
            Period("last quarter", last_q, this_q - timedelta(days=1)),
            Period("this quarter (so far)", this_q, today - timedelta(days=1) if today > this_q else this_q),
            Period("last month", last_m, this_m - timedelta(days=1)),
            Period("last year", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
            Period("this year (so far)", date(today.year, 1, 1), max(date(today.year, 1, 1), today - timedelta(days=1))),
        ]

    def prompt_text(self) -> str:
        lines = [f"Today is {self.as_of.isoformat()} ({self.reason})."]
        lines += ["Date filters:"] + [f"- {p.line()}" for p in self.periods()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, str | None]:
        return {"as_of": self.as_of.isoformat(), "reason": self.reason,
                "data_ends": self.data_ends.isoformat() if self.data_ends else None}


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def date_context(today: date, *, given: date | None = None, data_ends: date | None = None) -> DateContext:
    """`given` when the payload sets it; else the day after the data ends when that is before today; else today."""
    if given is not None:
        return DateContext(given, "set for this run", data_ends)
    if data_ends is not None and data_ends < today - timedelta(days=1):
        return DateContext(data_ends + timedelta(days=1), f"the data ends on {data_ends.isoformat()}", data_ends)
    return DateContext(today, "the current date", data_ends)
