"""The batch's output folder, rebuilt from the gradebook at the end of every run (so it is
complete after a resumed or partial run):

    OUT_DIR/grades.csv              student, score, max_score, one column per part, status, error
    OUT_DIR/results/<stem>.json     the Gradescope-style result (GradingResult.to_dict())
    OUT_DIR/reports/<stem>.html     the student's feedback report (written as grading goes)
    OUT_DIR/notebooks/<stem>.html   a notebook submission as submitted (linked from its report)
    OUT_DIR/index.html              the dashboard (grader.batch.dashboard)

<stem> is `grader.ids.file_stem(student)`: the id itself for a plain one (`alice`), else a
short ASCII slug and hash, safe on every common file system. The CSV's text cells go
through `grader.untrusted.csv_cell`, so an id or reason starting with `=`, `+`, `-` or `@`
is never a live formula.

Every file is written atomically (a temporary file in the same folder, then os.replace), so
a reader or a killed run never sees half a file. The temporary file is private (0600) while
it is written; the finished file gets the usual mode for a new file under the process's
umask (0644 under umask 022, 0664 under 002), so a course group can read the outputs when
the umask lets it. Folders are created under the umask too. Files of students no longer in
the cohort are removed from results/, reports/ and notebooks/.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from grader.batch.gradebook import Gradebook
from grader.course import Assignment
from grader.ids import file_name
from grader.untrusted import csv_row

CSV_NAME = "grades.csv"
RESULTS_DIR = "results"
REPORTS_DIR = "reports"
NOTEBOOKS_DIR = "notebooks"
DASHBOARD_NAME = "index.html"


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `path` whole or not at all; private while written, then 0666 minus the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def report_path(out: Path, student: str) -> Path:
    return out / REPORTS_DIR / file_name(student, ".html")


def notebook_record_path(out: Path, student: str) -> Path:
    return out / NOTEBOOKS_DIR / file_name(student, ".html")


def result_path(out: Path, student: str) -> Path:
    return out / RESULTS_DIR / file_name(student, ".json")


def csv_columns(assignment: Assignment) -> list[str]:
    return ["student", "score", "max_score", *assignment.functions, "status", "error"]


def grades_csv(gradebook: Gradebook, assignment: Assignment) -> str:
    """The gradebook as CSV text: one row per student, scores as plain numbers; a submission
    that could not be graded has score 0, status "error" and its reason. No cell starts a
    formula (`csv_row`)."""
    buffer = io.StringIO()
    # CRLF rows (RFC 4180): the csv module then quotes a cell holding a lone CR as well as
    # one holding LF, so no id or reason splits a row for any reader
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_row(csv_columns(assignment)))
    for result in gradebook.results():
        by_part = {part.function: part.score for part in result.parts}
        writer.writerow(csv_row([result.student, _number(result.score), _number(result.max_score),
                                 *(_number(by_part.get(function, 0.0)) for function in assignment.functions),
                                 result.status, result.error or ""]))
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def write_outputs(gradebook: Gradebook, assignment: Assignment, out: Path, students: list[str]) -> list[str]:
    """Rebuild the CSV, the per-student JSON files and the dashboard for `students` from the
    gradebook; remove files of students outside it. A student's JSON file that cannot be
    written does not stop the others, the CSV or the dashboard: returns such problems, one
    line each (the student's row in the CSV and the dashboard is still there)."""
    problems = []
    gradebook.limit_to(students)
    write_atomic(out / CSV_NAME, grades_csv(gradebook, assignment))
    for result in gradebook.results():
        try:
            write_atomic(result_path(out, result.student), json.dumps(result.to_dict(), indent=2) + "\n")
        except (OSError, ValueError) as exc:
            problems.append(f"no {RESULTS_DIR}/ file for {result.student!r}: {exc}")
    keep = {file_name(student, "") for student in students}
    for folder, suffix in ((RESULTS_DIR, ".json"), (REPORTS_DIR, ".html"), (NOTEBOOKS_DIR, ".html")):
        for stale in (out / folder).glob(f"*{suffix}") if (out / folder).is_dir() else ():
            if stale.name[: -len(suffix)] not in keep:
                stale.unlink()
    from grader.batch.dashboard import write_dashboard

    write_dashboard(gradebook, assignment, out)
    gradebook.limit_to(None)
    return problems
