"""Find the submissions of a cohort: every entry of the cohort folder is one student.

An entry is a module file, a notebook, a folder or a zip; its name without the extension is
the student id (`grader.ids.student_id`: valid Unicode, NFC, whatever bytes the name holds).
Hidden entries (".name") and the clutter that archive tools leave behind (`__MACOSX`,
`__pycache__`) are skipped. Entries are not judged here: an unreadable one is still a
student, and grading turns it into an error result with its reason, so it shows up in the
gradebook instead of stopping the cohort. An id that cannot be used is not a reason to stop
either: entries that give the same id (`alice.py` and `alice.zip`, or a name written
composed and decomposed) or the same output file stem come back with a `problem`, and the
batch lists them as not graded with it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.ids import entry_name, stem_clashes, student_id

SKIPPED_NAMES = {"__MACOSX", "__pycache__"}


class CohortError(UsageError):
    """A cohort folder that cannot be graded as given; str() is one line."""


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path
    problem: str = ""  # why this entry's id cannot be used; "" for a usable one


def discover_cohort(cohort: Path) -> list[Entry]:
    """The cohort's entries sorted by student id, one per id. Raises CohortError for a
    missing or empty folder. Ids shared by several entries, or whose output file stems
    clash, come back once each with a `problem` (they are not graded; the rest are)."""
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
        by_student.setdefault(student_id(cohort / name), []).append(name)
    if not by_student:
        raise CohortError(f"{cohort} holds no submissions")
    problems = {student: (f"{len(names)} entries give this student id ({', '.join(entry_name(n) for n in names)}); "
                          f"keep one entry per student")
                for student, names in by_student.items() if len(names) > 1}
    for students in stem_clashes(by_student).values():
        for student in students:
            problems.setdefault(student, "this id and another's would share output files "
                                         f"({', '.join(repr(s) for s in students if s != student)}); rename one entry")
    return [Entry(student, cohort / names[0], problems.get(student, ""))
            for student, names in sorted(by_student.items())]
