"""The batch's output folder, rebuilt from the gradebook at the end of every run (so it is
complete after a resumed or partial run):

    OUT_DIR/grades.csv              student, score, max_score, one column per part, raw_score,
                                    late_penalty, lms_late (the LMS's marker: yes, no or empty
                                    when it does not say), submitted_at (the time the LMS gave),
                                    status, error, adjustments (the final grades:
                                    grader.batch.final_grades; no score, not 0, when not graded),
                                    not_attempted (the parts left as the stub, separated by ";")
    OUT_DIR/grades-canvas.csv, grades-moodle.csv, feedback/   for the LMS (grader.batch.lms_exports)
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
from pathlib import Path

from grader.batch.final_grades import FinalGrade, final_grades
from grader.batch.gradebook import Gradebook
from grader.batch.layout import CSV_NAME, NOTEBOOKS_DIR, REPORTS_DIR, RESULTS_DIR, number, report_path, result_path
from grader.atomic import write_atomic
from grader.course import Assignment
from grader.ids import file_name
from grader.untrusted import csv_row

def csv_columns(assignment: Assignment) -> list[str]:
    return ["student", "score", "max_score", *assignment.functions, "raw_score", "late_penalty",
            "lms_late", "submitted_at", "status", "error", "adjustments", "not_attempted"]


def grades_csv(grades: list[FinalGrade], assignment: Assignment) -> str:
    """The final grades as CSV text: one row per student, scores as plain numbers (after
    overrides and the late penalty; `raw_score` is the checks' own). A submission that could
    not be graded, or a roster student with no submission, has EMPTY score cells, status
    "error" or "missing" and the reason: an empty cell is never mistaken for a 0. A part not
    attempted (the untouched stub) scores 0 and is named in `not_attempted`. No cell starts a
    formula (`csv_row`)."""
    buffer = io.StringIO()
    # CRLF rows (RFC 4180): the csv module then quotes a cell holding a lone CR as well as
    # one holding LF, so no id or reason splits a row for any reader
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_row(csv_columns(assignment)))
    for grade in grades:
        writer.writerow(csv_row([grade.student, number(grade.score), number(grade.max_score),
                                 *(number(part.score) for part in grade.parts),
                                 number(grade.raw_score), number(grade.penalty) if grade.penalty else "",
                                 {True: "yes", False: "no", None: ""}[grade.lms_late], grade.submitted_at,
                                 grade.status, grade.reason, "; ".join(grade.notes()),
                                 ";".join(part.function for part in grade.parts if not part.attempted)]))
    return buffer.getvalue()


#: Reports are rendered with an empty pair of these near the top (templates/report.html.j2);
#: the outputs put the student's adjustments between them. The first pair is used: it comes
#: before anything from the submission, and text from a submission is escaped anyway.
ADJUSTMENTS_START, ADJUSTMENTS_END = b"<!-- grader:adjustments -->", b"<!-- /grader:adjustments -->"


def adjustments_html(grade: FinalGrade) -> str:
    """The box a report shows above everything else when its grade was adjusted."""
    if not grade.adjusted and not grade.late_note:
        return ""
    from html import escape

    if grade.score is not None and grade.adjusted:
        raw = f" (the checks gave {number(grade.raw_score)})" if grade.raw_score is not None else ""
        head = f"<p><strong>Final score: {number(grade.score)} / {number(grade.max_score)}</strong>{raw}</p>"
    else:
        head = ""
    items = "".join(f"<li>{escape(line)}</li>" for line in grade.notes())
    return f'<div class="notice adjustments" role="note">{head}<ul>{items}</ul></div>'


def show_adjustments(report: Path, grade: FinalGrade) -> None:
    """Put the grade's adjustments into its report (only when they changed)."""
    try:
        html = report.read_bytes()
    except OSError:
        return
    start = html.find(ADJUSTMENTS_START)
    end = html.find(ADJUSTMENTS_END, start)
    if start < 0 or end < 0:
        return
    new = adjustments_html(grade).encode("utf-8")
    if html[start + len(ADJUSTMENTS_START):end] != new:
        write_atomic(report, html[:start + len(ADJUSTMENTS_START)] + new + html[end:])


def write_outputs(gradebook: Gradebook, assignment: Assignment, out: Path, students: list[str]) -> list[str]:
    """Rebuild the CSV, the per-student JSON files and the dashboard for `students` from the
    gradebook; remove files of students outside it. A student's JSON file that cannot be
    written does not stop the others, the CSV or the dashboard: returns such problems, one
    line each (the student's row in the CSV and the dashboard is still there)."""
    problems = []
    gradebook.limit_to(students)
    grades = list(final_grades(gradebook, assignment, students))
    write_atomic(out / CSV_NAME, grades_csv(grades, assignment))
    for result in gradebook.results():
        try:
            write_atomic(result_path(out, result.student), json.dumps(result.to_dict(), indent=2) + "\n")
        except (OSError, ValueError) as exc:
            problems.append(f"no {RESULTS_DIR}/ file for {result.student!r}: {exc}")
    for grade in grades:
        if grade.status != "missing":
            try:
                show_adjustments(report_path(out, grade.student), grade)
            except (OSError, ValueError) as exc:
                problems.append(f"the report of {grade.student!r} does not show its adjustments: {exc}")
    from grader.batch.lms_exports import write_lms_exports

    problems.extend(write_lms_exports(gradebook, assignment, out, grades))
    keep = {file_name(student, "") for student in students}
    for folder, suffix in ((RESULTS_DIR, ".json"), (REPORTS_DIR, ".html"), (NOTEBOOKS_DIR, ".html")):
        for stale in (out / folder).glob(f"*{suffix}") if (out / folder).is_dir() else ():
            if stale.name[: -len(suffix)] not in keep:
                stale.unlink()
    from grader.batch.dashboard import write_dashboard

    write_dashboard(gradebook, assignment, out, grades)
    gradebook.limit_to(None)
    return problems
