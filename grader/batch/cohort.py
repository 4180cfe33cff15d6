"""Find the submissions of a cohort: every entry of the cohort folder is one student.

An entry is a module file, a notebook, a folder or a zip; its name without the extension is
the student id (`grader.load.student_id_for`). Hidden entries (".name") and the clutter that
archive tools leave behind (`__MACOSX`, `__pycache__`) are skipped. Entries are not judged
here: an unreadable one is still a student, and grading turns it into an error result with
its reason, so it shows up in the gradebook instead of stopping the cohort.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader.cli import UsageError
from grader.load import student_id_for

SKIPPED_NAMES = {"__MACOSX", "__pycache__"}


class CohortError(UsageError):
    """A cohort folder that cannot be graded as given; str() is one line."""


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path


def discover_cohort(cohort: Path) -> list[Entry]:
    """The cohort's entries sorted by student id. Raises CohortError for a missing or empty
    folder, or when two entries give the same student id (e.g. alice.py and alice.zip)."""
    cohort = Path(cohort)
    if not cohort.is_dir():
        what = "not a folder" if cohort.exists() else "no such folder"
        raise CohortError(f"{cohort}: {what}; give the folder that holds one entry per student")
    by_student: dict[str, list[str]] = {}
    try:
        names = sorted(os.listdir(cohort))
    except OSError as exc:
        raise CohortError(f"cannot read cohort folder {cohort}: {exc.strerror}") from None
    for name in names:
        if name.startswith(".") or name in SKIPPED_NAMES:
            continue
        by_student.setdefault(student_id_for(cohort / name), []).append(name)
    clashes = {student: names for student, names in by_student.items() if len(names) > 1}
    if clashes:
        student, names = sorted(clashes.items())[0]
        more = f" (and {len(clashes) - 1} more clashes)" if len(clashes) > 1 else ""
        raise CohortError(f"duplicate student id '{student}' in {cohort}: {', '.join(names)}; "
                          f"keep one entry per student{more}")
    if not by_student:
        raise CohortError(f"{cohort} holds no submissions")
    return [Entry(student, cohort / names[0]) for student, names in sorted(by_student.items())]

