"""An assignment's submission policy: the `[service]` table of its `assignment.toml`.

```toml
[service]
deadline = 2026-03-01T23:59:00Z   # TOML date-time (with offset, or UTC if none); none: no deadline
late_penalty = 0.10               # fraction of the score taken per started day late (0: late is only marked)
cutoff = 2026-03-08T23:59:00Z     # no submission accepted after this (none: always open)
max_upload_mb = 10                # larger uploads get 413
rate_limit = 10                   # submissions per student per hour (all assignments); 0: unlimited
counts = "latest"                 # which submission counts in grades.csv: "latest" or "best"
url = "https://grader.example.org" # the service's public URL: `grader release` writes it to the
                                   # bundle's submit.toml for `grader submit` / grader.submit()
```

Defaults, as an instructor would pick them: no deadline, no penalty, no cut-off, 10 MB
(a notebook with its plots), 10 submissions an hour, and the **latest** submission counts:
"best" would reward resubmitting the same mistake until a per-student input happens to let
it through, which the fair-grading design works against. A late submission is always graded
and shown with how late it was; the penalty applies only to the counted score in
`grades.csv` (the result itself stays exactly what `grader grade` gives).
"""
from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass

from grader.course import Assignment, CourseError

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class Policy:
    deadline: float | None = None  # epoch seconds
    late_penalty: float = 0.0
    cutoff: float | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    rate_limit: int = 10  # per RATE_WINDOW
    rate_window: float = HOUR
    counts: str = "latest"

    def late_seconds(self, when: float) -> float:
        return max(0.0, when - self.deadline) if self.deadline is not None else 0.0

    def closed(self, when: float) -> bool:
        return self.cutoff is not None and when > self.cutoff

    def penalised(self, score: float, late_seconds: float) -> float:
        """The counted score of a submission `late_seconds` late."""
        if late_seconds <= 0 or self.late_penalty <= 0:
            return score
        days = math.ceil(late_seconds / DAY)
        return max(0.0, score * (1.0 - self.late_penalty * days))


def load_policy(assignment: Assignment) -> Policy:
    """The policy of `assignment`; raises CourseError (one line) for a bad `[service]` table."""
    path = assignment.directory / "assignment.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("service", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(table, dict):
        raise CourseError(f"{path}: [service] must be a table")
    known = {"deadline", "late_penalty", "cutoff", "max_upload_mb", "rate_limit", "counts", "url"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise CourseError(f"{path}: unknown [service] key '{unknown[0]}' (known: {', '.join(sorted(known))})")
    try:
        policy = Policy(
            deadline=_when(table.get("deadline")),
            late_penalty=float(table.get("late_penalty", 0.0)),
            cutoff=_when(table.get("cutoff")),
            max_upload_bytes=int(float(table.get("max_upload_mb", 10)) * 1024 * 1024),
            rate_limit=int(table.get("rate_limit", 10)),
            counts=str(table.get("counts", "latest")),
        )
    except (TypeError, ValueError) as exc:
        raise CourseError(f"{path}: invalid [service] value ({exc})") from None
    if policy.counts not in ("latest", "best"):
        raise CourseError(f"{path}: [service] counts must be \"latest\" or \"best\", not {policy.counts!r}")
    if not 0.0 <= policy.late_penalty <= 1.0 or policy.max_upload_bytes <= 0 or policy.rate_limit < 0:
        raise CourseError(f"{path}: [service] late_penalty must be in [0, 1], max_upload_mb > 0, rate_limit >= 0")
    return policy


def _when(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, 23, 59, 59, tzinfo=dt.timezone.utc).timestamp()
    raise ValueError(f"{value!r} is not a TOML date-time")
