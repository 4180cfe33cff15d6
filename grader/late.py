"""The late policy of an assignment, from the `[late]` table of its `assignment.toml`:

    [late]
    deadline = 2026-03-14T23:59:00+01:00   # a TOML date-time with its offset (Z for UTC)
    grace_minutes = 15                     # optional: late only after deadline + grace
    penalty_per_day = 10                   # optional: percent of the maximum score per started day
    cutoff = 2026-03-17T23:59:00+01:00     # optional: after it, no credit at all

`assess(policy, submitted_at, lms_late)` says how late a submission is and what it costs:

- With a submission time (a Gradescope export's `created_at`), the lateness is measured:
  every started day (24 h) after deadline + grace costs `penalty_per_day` percent of the
  maximum score, at most 100 %; after `cutoff` the submission gets no credit.
- With only the LMS's own late marker (a Canvas download says `LATE` but not by how much),
  the submission is one day late: the smallest penalty a late submission can get, and the
  reason says so. The cut-off cannot be judged without a time and is not applied.
- With neither (a plain folder, a Moodle download), nothing is known and nothing is taken;
  the outputs say that no submission time was available.

The penalty is applied by the batch's outputs on top of the checks' score and any override
(grader.batch.final_grades), never to the stored result, and it never takes a score below 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from grader.errors import UsageError

DAY = timedelta(days=1)


class LatePolicyError(UsageError, ValueError):
    """An invalid `[late]` table; str() is one line naming the field."""


@dataclass(frozen=True)
class LatePolicy:
    deadline: datetime
    grace: timedelta = timedelta(0)
    penalty_per_day: float = 0.0  # percent of the maximum score per started day late
    cutoff: datetime | None = None

    def describe(self) -> str:
        parts = [f"deadline {self.deadline.isoformat(timespec='minutes')}"]
        if self.grace:
            parts.append(f"{self.grace.total_seconds() / 60:g} minutes' grace")
        if self.penalty_per_day:
            parts.append(f"{self.penalty_per_day:g}% of the maximum per started day late")
        if self.cutoff:
            parts.append(f"no credit after {self.cutoff.isoformat(timespec='minutes')}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Lateness:
    late: bool
    days: int  # started days late after the grace period (0 when on time)
    fraction: float  # share of the maximum score taken, 0..1
    cut_off: bool  # after the cut-off: no credit
    reason: str  # one line for the instructor and the student


def _when(value, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise LatePolicyError(f"[late] {field}: not a date-time ({value!r})") from None
    if not isinstance(value, datetime):
        raise LatePolicyError(f"[late] {field}: expected a date-time such as 2026-03-14T23:59:00+01:00")
    if value.tzinfo is None:
        raise LatePolicyError(f"[late] {field}: give the time zone offset (e.g. +01:00 or Z); "
                              f"a deadline without one is ambiguous")
    return value


def policy_from_toml(table) -> LatePolicy:
    """The policy of a `[late]` table; raises LatePolicyError for a bad one."""
    if not isinstance(table, dict):
        raise LatePolicyError("[late] must be a table")
    unknown = set(table) - {"deadline", "grace_minutes", "penalty_per_day", "cutoff"}
    if unknown:
        raise LatePolicyError(f"[late] unknown field {sorted(unknown)[0]!r} (known: deadline, grace_minutes, "
                              f"penalty_per_day, cutoff)")
    if "deadline" not in table:
        raise LatePolicyError("[late] needs a deadline")
    deadline = _when(table["deadline"], "deadline")
    numbers = {}
    for field in ("grace_minutes", "penalty_per_day"):
        value = table.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise LatePolicyError(f"[late] {field}: expected a number >= 0, got {value!r}")
        numbers[field] = float(value)
    if numbers["penalty_per_day"] > 100:
        raise LatePolicyError("[late] penalty_per_day: a percentage, at most 100")
    cutoff = _when(table["cutoff"], "cutoff") if "cutoff" in table else None
    if cutoff is not None and cutoff < deadline:
        raise LatePolicyError("[late] cutoff is before the deadline")
    return LatePolicy(deadline, timedelta(minutes=numbers["grace_minutes"]), numbers["penalty_per_day"], cutoff)


def assess(policy: LatePolicy, submitted_at: datetime | None, lms_late: bool | None) -> Lateness | None:
    """How late a submission is under `policy`; None when neither a time nor a marker says."""
    if submitted_at is not None:
        shown = submitted_at.isoformat(timespec="minutes")
        if policy.cutoff is not None and submitted_at > policy.cutoff:
            return Lateness(True, math.ceil((submitted_at - policy.deadline - policy.grace) / DAY), 1.0, True,
                            f"submitted {shown}, after the cut-off: no credit")
        late_by = submitted_at - (policy.deadline + policy.grace)
        if late_by <= timedelta(0):
            return Lateness(False, 0, 0.0, False, f"submitted {shown}, on time")
        days = math.ceil(late_by / DAY)
        fraction = min(1.0, days * policy.penalty_per_day / 100)
        return Lateness(True, days, fraction, False,
                        f"submitted {shown}, {days} day{'s' * (days != 1)} late"
                        + (f": -{100 * fraction:g}% of the maximum" if fraction else ""))
    if lms_late:
        fraction = min(1.0, policy.penalty_per_day / 100)
        return Lateness(True, 1, fraction, False,
                        "marked late by the LMS, which gives no submission time: counted as 1 day late"
                        + (f" (-{100 * fraction:g}% of the maximum)" if fraction else ""))
    if lms_late is False:
        return Lateness(False, 0, 0.0, False, "on time (by the LMS)")
    return None
