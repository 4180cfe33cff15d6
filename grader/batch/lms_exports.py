"""What goes back to the learning-management system, next to grades.csv:

    OUT_DIR/grades-canvas.csv   for Canvas: Grades > Import
    OUT_DIR/grades-moodle.csv   for Moodle: Grades > Import > CSV file
    OUT_DIR/feedback/           one file per student for the LMS's bulk feedback upload

Every row comes from the final grades (grader.batch.final_grades: overrides and the late
penalty applied). A student with no score (could not be graded, or no submission) has an
EMPTY score cell and the reason in the note column, never a 0: both importers leave an empty
cell alone (Canvas's `GradebookImporter#no_score?`; Moodle's CSV import reads "" or "-" as no
grade). Who is who comes from the roster (`--roster`, stored in the gradebook) and, for
entries the roster could not place, from what the download said (the Canvas user id).

**grades-canvas.csv** follows Canvas's gradebook export, which its import reads back
(instructure/canvas-lms, app/models/gradebook_importer.rb; the Canvas guide "How do I import
grades in the Gradebook?"): the header `Student, ID, SIS User ID, SIS Login ID, Section`,
then one column per assignment, then `Grader Notes`. Canvas matches an assignment column by
"Title (assignment id)", else by the title alone, and makes a NEW assignment of a column it
cannot match; so the column is `[lms] canvas_assignment` from assignment.toml when set (copy
it from a Canvas gradebook export, e.g. "Optimisers (48213)"), else the assignment's title. The second row is Canvas's `Points Possible` row, with
`(read only)` under Grader Notes: Canvas does not import a column marked so, so the notes
never become an assignment. Canvas finds a student by ID (its user id: the roster's `lms_id`,
or the id in the downloaded file's name), then SIS User ID (`sis_id`), then name.

**grades-moodle.csv** has `Full name, Email address, ID number` (the roster's email and
`sis_id`), the assignment's title with the score, `Feedback` (the adjustments a student
should read: overrides' comments, lateness) and `Grader notes` (the reason there is no
score). On import, map "Email address" (or "ID number") to the user field, the score column
to the assignment's grade item and, if wanted, Feedback to its feedback; unmapped columns are
ignored.

**feedback/** holds each student's report (with its adjustments) under the name the LMS's
bulk upload matches: for Canvas the downloaded file's name with `feedback.html` as the
original name (`<name>_<userid>_<attachmentid>_feedback.html`: "Re-Upload Submissions" reads
the user id and attachment id from it); for Moodle `<Full Name>_<participant id>_
assignsubmission_file_feedback.html` ("Upload multiple feedback files in a zip" reads the
participant id and plugin from it); otherwise the student's safe file name (`grader.ids.file_name`). Zip the folder's files to
upload them. A student without a report gets a short page with their score or the reason.
"""
from __future__ import annotations

import csv
import io
import os
from html import escape
from pathlib import Path

from grader.batch.final_grades import FinalGrade
from grader.batch.gradebook import Gradebook
from grader.batch.layout import number, report_path
from grader.atomic import write_atomic
from grader.course import Assignment
from grader.ids import file_name
from grader.untrusted import csv_row

CANVAS_CSV = "grades-canvas.csv"
MOODLE_CSV = "grades-moodle.csv"
FEEDBACK_DIR = "feedback"
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_NOTES = "Grader Notes"
MOODLE_HEADER = ["Full name", "Email address", "ID number"]


def _people(gradebook: Gradebook) -> tuple[dict[str, tuple], dict[str, dict]]:
    roster = {row[0]: row for row in gradebook.roster_rows()}  # id -> (id, name, email, lms_id, sis_id, section)
    return roster, gradebook.sources()


def _note(grade: FinalGrade) -> str:
    return "; ".join(([grade.reason] if grade.reason else []) + grade.notes())


def canvas_csv(grades: list[FinalGrade], assignment: Assignment, roster: dict, sources: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # CRLF: a CR in a name is quoted too
    writer.writerow(csv_row([*CANVAS_HEADER, assignment.canvas_assignment or assignment.title, CANVAS_NOTES]))
    writer.writerow(["    Points Possible", "", "", "", "", number(assignment.max_score), "(read only)"])
    for grade in grades:
        person = roster.get(grade.student)
        source = sources.get(grade.student, {})
        canvas_id = (person[3] if person and person[3] else
                     source.get("lms_user", "") if source.get("lms") == "canvas" else "")
        name = person[1] if person else source.get("lms_name") or grade.student
        writer.writerow(csv_row([name, canvas_id, person[4] if person else "", "", person[5] if person else "",
                                 number(grade.score), _note(grade)]))
    return buffer.getvalue()


def moodle_csv(grades: list[FinalGrade], assignment: Assignment, roster: dict, sources: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # CRLF: a CR in a name is quoted too
    writer.writerow([*MOODLE_HEADER, assignment.title, "Feedback", "Grader notes"])
    for grade in grades:
        person = roster.get(grade.student)
        source = sources.get(grade.student, {})
        name = person[1] if person else source.get("lms_name") or grade.student
        writer.writerow(csv_row([name, person[2] if person else "", person[4] if person else "",
                                 number(grade.score), "; ".join(grade.notes()) if grade.score is not None else "",
                                 grade.reason]))
    return buffer.getvalue()


#: Longer feedback names (a long Moodle full name) fall back to the student's file name:
#: most file systems allow 255 bytes.
MAX_FEEDBACK_NAME_BYTES = 200


def feedback_name(grade: FinalGrade, source: dict | None) -> str:
    name = (source or {}).get("feedback_name", "")
    if (name and "/" not in name and "\0" not in name and not name.startswith(".")
            and len(name.encode("utf-8", "surrogateescape")) <= MAX_FEEDBACK_NAME_BYTES):
        return name
    return file_name(grade.student, ".html")


def feedback_page(grade: FinalGrade, assignment: Assignment) -> str:
    """The feedback of a student without a report: the score or the reason, and the notes."""
    line = (f"Score: {number(grade.score)} / {number(grade.max_score)}" if grade.score is not None
            else f"Not graded: {grade.reason}")
    notes = "".join(f"<li>{escape(note)}</li>" for note in grade.notes())
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(assignment.title)}</title>'
            f"</head><body><h1>{escape(assignment.title)}</h1><p>Feedback for <strong>{escape(grade.student)}"
            f"</strong></p><p>{escape(line)}</p>" + (f"<ul>{notes}</ul>" if notes else "") + "</body></html>\n")


def write_lms_exports(gradebook: Gradebook, assignment: Assignment, out: Path, grades: list[FinalGrade]) -> list[str]:
    """Write the two LMS gradebooks and feedback/; returns problems with single students'
    feedback files, one line each (they never stop the others)."""
    roster, sources = _people(gradebook)
    write_atomic(out / CANVAS_CSV, canvas_csv(grades, assignment, roster, sources))
    write_atomic(out / MOODLE_CSV, moodle_csv(grades, assignment, roster, sources))
    folder = out / FEEDBACK_DIR
    folder.mkdir(exist_ok=True)
    written, problems = set(), []
    for grade in grades:
        if grade.status == "missing":
            continue
        name = feedback_name(grade, sources.get(grade.student))
        try:
            _place_feedback(folder / name, report_path(out, grade.student), grade, assignment)
            written.add(name)
        except (OSError, ValueError) as exc:
            problems.append(f"no {FEEDBACK_DIR}/ file for {grade.student!r}: {exc}")
    for stale in folder.iterdir():
        if stale.is_file() and not stale.name.startswith(".") and stale.name not in written:
            stale.unlink()
    return problems


def _place_feedback(target: Path, report: Path, grade: FinalGrade, assignment: Assignment) -> None:
    """The report itself as `target`: a hard link (no second copy; a rewritten report is a
    new file, so a link to the old one is replaced), else a copy; a page of its own for a
    student without a report."""
    if not report.is_file():
        data = feedback_page(grade, assignment).encode("utf-8")
        if not target.is_file() or target.read_bytes() != data:
            write_atomic(target, data)
        return
    if target.exists() and os.path.samefile(target, report):
        return
    temporary = target.with_name(f".{target.name}.link")
    try:
        temporary.unlink(missing_ok=True)
        os.link(report, temporary)
        os.replace(temporary, target)
    except OSError:  # no hard links here: copy
        temporary.unlink(missing_ok=True)
        write_atomic(target, report.read_bytes())
