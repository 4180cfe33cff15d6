"""What runs in a batch worker process (a local pool process or a Dask worker): grade one
submission and render its report, returning plain data to the parent.

A job carries everything that cannot be assumed on the worker's machine: the submission as
bytes (`grader.load.SubmissionFile`, read by the parent under loading's size limits; a
worker never opens the cohort), and, on Dask, a `CourseRef` naming the course version by
its hash (`grader.batch.course_bundle`: fetched through the Dask connection into a private
cache the first time a machine needs that version). A local pool's job has no CourseRef and
reads the course where it is. The parent alone writes the gradebook and the output folder,
so a worker never writes anything of ours but its course cache. Reports are rendered here,
where the result still holds its trajectories for the plots (the stored JSON does not), and
travel back as bytes.

`grade_job` never raises: a grader bug while grading one submission becomes an error result
flagged `crashed`, which the gradebook stores as "not current" so the next run retries it.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grader.batch.course_bundle import CourseRef
from grader.course import Assignment
from grader.ids import url_name
from grader.load import SubmissionFile
from grader.untrusted import unicode_text
from grader.results import GradingResult

#: (assignment, submission, student) -> GradingResult; grader.grade.grade_submission by default.
GradeFunction = Callable[[Assignment, SubmissionFile, str], GradingResult]

# Grading is not thread-safe (the check runner sets process-wide warning filters and the
# probes' state); a Dask worker may run tasks on several threads.
_GRADING_LOCK = threading.Lock()


@dataclass(frozen=True)
class GradeJob:
    assignment: Assignment
    student: str
    submission: SubmissionFile  # read_submission_file(path, module, defer_errors=True) by the parent
    with_report: bool = True
    grade_fn: GradeFunction | None = None  # injectable for tests; None = the real grading
    functions: tuple[str, ...] | None = None  # only these parts' checks (None: all); the real grading only
    course: CourseRef | None = None  # where the course comes from; None: at assignment.course_root


@dataclass
class GradeOutcome:
    student: str
    result: dict  # GradingResult.to_dict()
    crashed: bool = False  # grading itself failed (not the student's code): retry next run
    report_html: bytes | None = None
    notebook_html: bytes | None = None  # the record of a notebook submission, linked from the report
    report_problem: str = ""  # why there is no report, when asked for one
    grade_seconds: float = 0.0  # wall-clock time of grading in the worker
    report_seconds: float = 0.0  # wall-clock time of rendering the report
    cpu_seconds: float = 0.0  # CPU time of the worker for this job (see _cpu_seconds)
    worker: str = ""  # host:pid, for the log and the benchmark
    worker_peak_rss_kb: int = 0  # this worker process's peak resident memory so far


def warm_up() -> None:
    """Pool initializer: pay the imports once per worker, not once per submission, and draw
    the commonest plot backdrops (the quadratic's and every declared surface's of the course)
    before the first report."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import grader.grade  # noqa: F401  (numpy, the checks' runner, the sandbox)
    import grader.render.html  # noqa: F401  (jinja2)
    from grader.course import Course, CourseError
    from grader.figures import FiguresError
    from grader.render.plots import warm_up as warm_up_plots

    figures: dict = {}
    try:
        for assignment in Course.find().assignments():
            figures.update(assignment.figures)
    except (CourseError, FiguresError, OSError):
        pass  # a job meets the same problem and reports it; warming up is only an optimisation
    warm_up_plots(figures)
    # Everything imported and cached so far lives as long as the worker: out of the garbage
    # collector's reach, a full collection (every few dozen submissions) no longer walks
    # those ~100,000 objects each time (~3 ms a submission on average).
    gc.freeze()


def _cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for. The sandboxed
    processes themselves are mostly missing from it (bubblewrap's PID namespace is killed,
    not waited for), so this is the trusted side's cost."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def grade_job(job: GradeJob) -> GradeOutcome:
    with _GRADING_LOCK:
        cpu_started = _cpu_seconds()
        started = time.monotonic()
        assignment = job.assignment
        try:
            if job.course is not None:  # this machine's copy of the course
                assignment = job.course.assignment(job.assignment)
            if job.grade_fn is not None:
                result = job.grade_fn(assignment, job.submission, job.student)
            else:
                result = _real_grade(assignment, job.submission, job.student, job.functions)
            crashed = False
        except Exception as exc:  # a grader bug (or no course here): keep the cohort going, say what happened
            result = crash_result(job.assignment, job.student,
                                  f"internal error while grading: {type(exc).__name__}: {exc}",
                                  time.monotonic() - started)
            crashed = True
        if result.error:  # name the entry as the instructor sees it, not by the parent's full path
            parent = unicode_text(str(Path(job.submission.origin).parent)) + os.sep
            result = dataclasses.replace(result, error=unicode_text(result.error).replace(parent, ""))
        outcome = GradeOutcome(job.student, result.to_dict(), crashed=crashed,
                               grade_seconds=time.monotonic() - started)
        if job.with_report:
            rendering = time.monotonic()
            outcome.notebook_html = notebook_record(job, result)
            links = {"The notebook as submitted": notebook_link(job.student)} if outcome.notebook_html else None
            outcome.report_html, outcome.report_problem = render_report(result, assignment, links)
            outcome.report_seconds = time.monotonic() - rendering
        outcome.cpu_seconds = _cpu_seconds() - cpu_started
    outcome.worker = f"{os.uname().nodename}:{os.getpid()}"
    outcome.worker_peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return outcome


#: One GradingSession per assignment (and course folder) in this worker process: its checks
#: stay collected and its reference compiled from one submission to the next.
_SESSIONS: dict[tuple[str, str], object] = {}


def _real_grade(assignment: Assignment, submission: SubmissionFile, student: str,
                functions: tuple[str, ...] | None = None) -> GradingResult:
    from grader.grade import GradingSession, grade_submission

    key = (assignment.id, str(assignment.hidden_checks))  # a course version: its own folder
    if key not in _SESSIONS:
        _SESSIONS[key] = GradingSession(assignment)
    return grade_submission(assignment, submission, student=student, session=_SESSIONS[key], functions=functions)


def notebook_record(job: GradeJob, result: GradingResult) -> bytes | None:
    """The HTML record of a graded notebook submission, or None (not a notebook, or it
    cannot be exported: the report then simply has no link). Never raises: a notebook that
    makes the exporter fail in any way must not cost its student the grade."""
    if result.status != "graded":
        return None
    try:
        from grader.notebooks import submitted_notebook_record

        record = submitted_notebook_record(job.submission, job.assignment.module)
        return record.encode("utf-8") if record is not None else None
    except Exception:  # ImportError, ValueError, or whatever a hostile notebook provokes
        return None


def notebook_link(student: str) -> str:
    """Where a report (in reports/) finds its student's notebook record (in notebooks/)."""
    from grader.batch.layout import NOTEBOOKS_DIR

    return f"../{NOTEBOOKS_DIR}/{url_name(student, '.html')}"


def render_report(result: GradingResult, assignment: Assignment, links: dict | None = None) -> tuple[bytes | None, str]:
    """(the HTML report's bytes, "") or (None, why not)."""
    try:
        from grader.render.html import render_report as render_html
    except ImportError as exc:
        return None, f"HTML reports are not available ({exc})"
    try:
        return render_html(result, assignment, links=links).encode("utf-8"), ""
    except Exception as exc:  # one report failing must not lose the grade
        return None, f"report failed: {type(exc).__name__}: {exc}"


def crash_result(assignment: Assignment, student: str, reason: str, seconds: float = 0.0) -> GradingResult:
    """An error result for a submission whose grading could not finish (not a grade)."""
    from grader.grade import error_result

    return error_result(assignment, student, reason, time.monotonic() - seconds)
