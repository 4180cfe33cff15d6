"""The grade a student gets, as every output shows it: the checks' result, then the
instructors' overrides, then the late policy. A separate layer: nothing here edits a result
(the gradebook keeps the checks' own), so a regrade replaces the result and the overrides
and lateness apply again on top of the new one.

Rules:
- An override replaces one part's score (`grader override`); the total is the sum of the
  parts.
- A submission that could not be graded has no score (an empty cell in every CSV, with the
  reason), never a silent 0, unless an instructor overrode some of its parts: then the score
  is those parts (the others count 0) and the note says it was graded by hand.
- A roster student with no submission has no score either ("no submission").
- The late penalty (grader.late) is a share of the maximum score taken from the total after
  overrides, never below 0; the raw score (the checks') and the penalty are both kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from grader.course import Assignment
from grader.late import Lateness, assess
from grader.results import GradingResult


@dataclass(frozen=True)
class Override:
    student: str
    function: str
    score: float
    comment: str
    author: str
    created_at: str

    def describe(self, raw: float | None) -> str:
        before = f"{raw:g} -> " if raw is not None else ""
        return f"{self.function}: {before}{self.score:g} by {self.author} on {self.created_at[:10]}: {self.comment}"


@dataclass(frozen=True)
class PartGrade:
    function: str
    max_score: float
    raw: float | None  # the checks' score (None: not graded)
    score: float | None  # after any override
    override: Override | None = None
    attempted: bool = True  # False: every check of the part met the untouched stub


@dataclass(frozen=True)
class FinalGrade:
    student: str
    status: str  # "graded", "error" (could not be graded) or "missing" (no submission)
    max_score: float
    raw_score: float | None  # the checks' total (None: not graded)
    score: float | None  # the score to post; None: nothing to post (see reason)
    reason: str  # why there is no score, or "" when there is one
    parts: list[PartGrade] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    lateness: Lateness | None = None
    penalty: float = 0.0  # points taken for lateness
    late_note: str = ""  # what is known of the timing when no policy applies or nothing is known
    reason_graded_by_hand: str = ""  # why the checks could not grade a hand-graded submission
    lms_late: bool | None = None  # the LMS's own late marker, kept whether or not a policy applies
    submitted_at: str = ""  # the submission time the LMS gave (ISO 8601), "" unknown

    @property
    def adjusted(self) -> bool:
        return bool(self.overrides) or self.penalty > 0 or (self.lateness is not None and self.lateness.late)

    def notes(self) -> list[str]:
        """One line per adjustment, for reports, CSVs and the dashboard."""
        lines = [f"override {o.describe(p.raw)}" for p in self.parts for o in [p.override] if o]
        if self.status == "error" and self.overrides:
            lines.append(f"could not be graded automatically ({self.reason_graded_by_hand}); "
                         f"the score counts the overridden parts only")
        if self.lateness is not None and self.lateness.late:
            lines.append(f"late: {self.lateness.reason}" + (f" (-{self.penalty:g} points)" if self.penalty else ""))
        elif self.late_note:
            lines.append(self.late_note)
        return lines


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def final_grade(assignment: Assignment, result: GradingResult | None, overrides: list[Override],
                source: dict | None, student: str | None = None) -> FinalGrade:
    """The grade of one student: `result` from the gradebook (None: no submission),
    `overrides` in force for them, `source` what the download said (gradebook.sources())."""
    student = result.student if result is not None else student
    by_function = {o.function: o for o in overrides}
    if result is None:
        parts = [PartGrade(p.function, p.points, None, None) for p in assignment.parts]
        return FinalGrade(student, "missing", assignment.max_score, None, None, "no submission", parts)
    timing = {"lms_late": (source or {}).get("late"), "submitted_at": (source or {}).get("submitted_at", "")}
    graded = result.status == "graded"
    raw_parts = {p.function: p.score for p in result.parts} if graded else {}
    stubs = {p.function for p in result.parts if not p.attempted} if graded else set()
    parts = []
    for part in assignment.parts:
        raw = raw_parts.get(part.function, 0.0) if graded else None
        override = by_function.get(part.function)
        parts.append(PartGrade(part.function, part.points, raw, override.score if override else raw, override,
                               attempted=part.function not in stubs or override is not None))
    used = [p.override for p in parts if p.override]
    if not graded and not used:
        return FinalGrade(student, "error", assignment.max_score, None, None,
                          result.error or "could not be graded", parts, late_note=_timing_note(assignment, source),
                          **timing)
    total = sum(p.score or 0.0 for p in parts)
    lateness = None
    if assignment.late is not None and source is not None:
        lateness = assess(assignment.late, _parse_time(source.get("submitted_at", "")), source.get("late"))
    penalty = min(total, round(lateness.fraction * assignment.max_score, 6)) if lateness else 0.0
    return FinalGrade(student, result.status, assignment.max_score, result.score if graded else None,
                      total - penalty, "", parts, used, lateness, penalty,
                      late_note=_timing_note(assignment, source) if lateness is None else "",
                      reason_graded_by_hand="" if graded else (result.error or "could not be graded"), **timing)


def _timing_note(assignment: Assignment, source: dict | None) -> str:
    if assignment.late is None:
        return ""
    return "no submission time or late marker from the LMS: the late policy was not applied"


def overrides_by_student(rows: list[tuple]) -> dict[str, list[Override]]:
    """Gradebook.overrides() rows grouped by student (the active ones: the latest per part)."""
    found: dict[str, dict[str, Override]] = {}
    for student, function, score, comment, author, created_at, *_ in rows:
        found.setdefault(student, {})[function] = Override(student, function, score, comment, author, created_at)
    return {student: list(by_part.values()) for student, by_part in found.items()}


def final_grades(gradebook, assignment: Assignment, students: list[str]):
    """FinalGrade of every student in `students` with a stored result (in gradebook order),
    then of every stored roster student with no entry ("missing")."""
    overrides = overrides_by_student(gradebook.overrides())
    sources = gradebook.sources()
    present = set(students)
    for result in gradebook.results():
        yield final_grade(assignment, result, overrides.get(result.student, []), sources.get(result.student))
    for row in gradebook.roster_rows():
        if row[0] not in present:
            yield final_grade(assignment, None, [], None, student=row[0])
