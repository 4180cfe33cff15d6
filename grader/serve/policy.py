"""An assignment's submission-service settings: the `[service]` table of its
`assignment.toml`. Deadlines, grace, late penalties and the cut-off are the course's one late
policy, the `[late]` table (grader.late), applied exactly as `grader batch` applies it.

```toml
[service]
max_upload_mb = 10                  # larger uploads get 413
rate_limit = 10                     # submissions per student per hour (all assignments); 0: unlimited
counts = "latest"                   # which submission counts in grades.csv: "latest" or "best"
url = "https://grader.example.org"  # the service's public URL: `grader release` writes it to the
                                    # bundle's submit.toml for `grader submit` / grader.submit()
```

Defaults, as an instructor would pick them: 10 MB (a notebook with its plots), 10
submissions an hour, and the **latest** submission counts: "best" would reward resubmitting
the same mistake until a per-student input happens to let it through, which the
fair-grading design works against.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass

from grader.course import Assignment, CourseError

HOUR = 3600.0


@dataclass(frozen=True)
class Policy:
    max_upload_bytes: int = 10 * 1024 * 1024
    rate_limit: int = 10  # per rate_window
    rate_window: float = HOUR
    counts: str = "latest"


def load_policy(assignment: Assignment) -> Policy:
    """The policy of `assignment`; raises CourseError (one line) for a bad `[service]` table."""
    path = assignment.directory / "assignment.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("service", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(table, dict):
        raise CourseError(f"{path}: [service] must be a table")
    known = {"max_upload_mb", "rate_limit", "counts", "url"}
    unknown = sorted(set(table) - known)
    if unknown:
        hint = " (deadlines and penalties go in [late])" if unknown[0] in ("deadline", "cutoff", "late_penalty") else ""
        raise CourseError(f"{path}: unknown [service] key '{unknown[0]}' (known: {', '.join(sorted(known))}){hint}")
    try:
        policy = Policy(max_upload_bytes=int(float(table.get("max_upload_mb", 10)) * 1024 * 1024),
                        rate_limit=int(table.get("rate_limit", 10)), counts=str(table.get("counts", "latest")))
    except (TypeError, ValueError) as exc:
        raise CourseError(f"{path}: invalid [service] value ({exc})") from None
    if policy.counts not in ("latest", "best"):
        raise CourseError(f"{path}: [service] counts must be \"latest\" or \"best\", not {policy.counts!r}")
    if policy.max_upload_bytes <= 0 or policy.rate_limit < 0:
        raise CourseError(f"{path}: [service] needs max_upload_mb > 0 and rate_limit >= 0")
    return policy
