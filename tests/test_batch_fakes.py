"""A stand-in grading function for the batch tests (no sandbox, milliseconds a submission),
importable by worker processes, plus a helper to write fake cohorts.

A fake submission is a text file of `key=value` lines:
    <function>=<score>                   that part's score (missing parts score 0)
    miss=<function>:<misconception id>   a recognised mistake on that part
    sleep=<seconds>                      grading takes this long
    broken=<reason>                      the submission cannot be graded (status error)
    die=1                                the worker process dies (os._exit)
    raise=1                              the grading function itself raises (a grader bug)
A folder entry is read through the file loading chooses; a .zip through its first member.
"""
from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

from grader.load import SubmissionFile, read_submission_file
from grader.results import GradingResult, PartResult
from grader import results as model


def _read(submission) -> str:
    """The fake's text from the job's SubmissionFile: the file, a folder's chosen file, a
    zip's first member."""
    if submission.kind == "zip":
        with zipfile.ZipFile(io.BytesIO(submission.data)) as zf:
            return zf.read(zf.namelist()[0]).decode()
    return submission.data.decode()


def fake_grade(assignment, submission, student) -> GradingResult:
    """As `GradeJob.grade_fn` (a SubmissionFile), or called on a path by a test."""
    if not isinstance(submission, SubmissionFile):
        submission = read_submission_file(submission, assignment.module, defer_errors=True)
    if submission.kind == "unreadable":  # as the real grading: an error result with loading's reason
        parts = [PartResult(p.function, 0.0, p.points) for p in assignment.parts]
        return GradingResult(assignment.id, student, "error", 0.0, assignment.max_score, 0.01, parts, [],
                             error=submission.problem)
    fields: dict[str, list[str]] = {}
    for line in _read(submission).splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            fields.setdefault(key.strip(), []).append(value.strip())
    if "sleep" in fields:
        time.sleep(float(fields["sleep"][0]))
    if "die" in fields:
        os._exit(3)
    if "raise" in fields:
        raise RuntimeError("fake grader bug")
    if "broken" in fields:
        parts = [PartResult(p.function, 0.0, p.points) for p in assignment.parts]
        return GradingResult(assignment.id, student, "error", 0.0, assignment.max_score, 0.01, parts, [],
                             error=fields["broken"][0])
    misses: dict[str, list[str]] = {}
    for item in fields.get("miss", []):
        function, mid = item.split(":")
        misses.setdefault(function, []).append(mid)
    parts, tests = [], []
    for part in assignment.parts:
        score = min(float(fields.get(part.function, ["0"])[0]), part.points)
        parts.append(PartResult(part.function, score, part.points, misses.get(part.function, [])))
        tests.append(model.TestResult(f"{part.function}: all of it", part.function, score, part.points,
                                "passed" if score == part.points else "failed",
                                output="" if score == part.points else "expected <b>more</b>"))
    return GradingResult(assignment.id, student, "graded", sum(p.score for p in parts), assignment.max_score,
                         0.01 + float(fields.get("sleep", ["0"])[0]), parts, tests,
                         hints={mid: f"hint for {mid}" for ms in misses.values() for mid in ms})


def write_fake(folder: Path, name: str, **fields) -> Path:
    """Write folder/name holding `fields` as key=value lines ("miss" may be a list)."""
    lines = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={item}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path
