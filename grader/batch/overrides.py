"""`grader override ID STUDENT --out OUT --part FUNCTION --score S --comment TEXT` (and
`--remove`): an instructor's score for one part of one student's batch result.

An override is kept in the gradebook (its `overrides` table) with who (`--by`, else the
GRADER_USER environment variable, else the login name) and when; it never touches the stored
result. Every output applies it on top (grader.batch.final_grades): grades.csv and the LMS
files, the report (an "adjusted" box above everything else), the dashboard (marked *).
Regrades and `--force` replace results, not overrides, so an override stays until removed;
giving a part a new override replaces the old one (the history keeps both). After each
change the output folder is rebuilt from the gradebook, under the batch's lock.
"""
from __future__ import annotations

import getpass
import math
import os
from pathlib import Path

from grader.batch.cohort import CohortError
from grader.batch.command import exclusive, open_gradebook
from grader.batch.gradebook import FILENAME
from grader.batch.outputs import write_outputs
from grader.course import Assignment
from grader.untrusted import terminal_line


def current_author() -> str:
    try:
        return os.environ.get("GRADER_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        return f"uid {os.getuid()}"


def override_command(assignment: Assignment, student: str, out: Path, part: str, *, score: float | None = None,
                     comment: str | None = None, remove: bool = False, author: str | None = None) -> int:
    """Add (or with `remove`, remove) the override of `part` for `student` in the batch
    output `out`, then rebuild the outputs. Raises CohortError (a UsageError) for bad input."""
    out = Path(out)
    if not (out / FILENAME).is_file():
        raise CohortError(f"--out {out}: no gradebook there (run `grader batch {assignment.id} ... --out {out}` first)")
    if part not in assignment.functions:
        raise CohortError(f"--part {part}: not a part of {assignment.id} (parts: {', '.join(assignment.functions)})")
    author = author or current_author()
    if not remove:
        points = assignment.points_for(part)
        if score is None or not math.isfinite(score) or not 0 <= score <= points:
            raise CohortError(f"--score must be a number from 0 to {points:g} (the points of {part}), got {score}")
        if not comment or not comment.strip():
            raise CohortError("--comment is required: say why (students and other graders see it)")
    with exclusive(out), open_gradebook(out, assignment) as gradebook:
        if gradebook.result(student) is None:
            raise CohortError(f"no result for student '{terminal_line(student)}' in {out} (see grades.csv for the ids)")
        if remove:
            if not gradebook.remove_override(student, part, author):
                raise CohortError(f"no override of {part} for '{terminal_line(student)}' to remove")
            message = f"removed the override of {part} for {terminal_line(student)}"
        else:
            gradebook.add_override(student, part, float(score), comment.strip(), author)
            message = f"{terminal_line(student)}: {part} set to {score:g} / {assignment.points_for(part):g} by {terminal_line(author)}"
        students = sorted(gradebook.sources()) or [row.student for row in gradebook.rows()]
        write_outputs(gradebook, assignment, out, students)
    print(message)
    print(f"outputs rebuilt in {out}")
    return 0
