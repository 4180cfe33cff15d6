"""`grader batch` and `grader demo`: discover the cohort, decide what needs grading, run it,
record every outcome in the gradebook as it arrives, then rebuild the output folder."""
from __future__ import annotations

import fcntl
import importlib.util
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from grader.batch.cohort import CohortError, Entry
from grader.batch.sources import CohortSource, read_source, remove_scratch
from grader.batch.fingerprint import checks_hash, entry_hash
from grader.batch.gradebook import FILENAME as GRADEBOOK_FILE, Gradebook, GradebookError
from grader.batch.layout import DASHBOARD_NAME, notebook_record_path, report_path
from grader.atomic import write_atomic
from grader.batch.outputs import write_outputs
from grader.batch.progress import Progress
from grader.batch.runner import DaskRunner, LocalRunner, run_jobs
from grader.batch.work import GradeFunction, GradeJob, GradeOutcome, crash_result
from grader.course import Assignment, Course, CourseError
from grader.ids import clean_id, entry_name, terminal_id
from grader.load import read_submission_file
from grader.results import GradingResult
from grader.roster import Roster, RosterStudent, read_roster
from grader.untrusted import terminal_line

LOCK_NAME = ".lock"
DEMO_DIR = "demo"
DEMO_CONFIG = "demo.toml"


@dataclass
class BatchSummary:
    out: Path
    total: int  # students in the cohort
    graded: list[str] = field(default_factory=list)  # graded in this run
    skipped: list[str] = field(default_factory=list)  # unchanged since their stored result, or not in --only
    only: bool = False  # a --only run: the skipped were not selected
    failed: list[str] = field(default_factory=list)  # graded in this run with status error
    seconds: float = 0.0  # wall-clock time of the grading phase
    worker_peak_rss_kb: int = 0  # the largest peak resident memory of a worker process
    grade_seconds: float = 0.0  # summed over submissions, in the workers
    report_seconds: float = 0.0  # summed over submissions, in the workers
    cpu_seconds: float = 0.0  # summed over submissions: the workers' CPU outside the sandboxes
    workers: set[str] = field(default_factory=set)  # host:pid of every worker that returned a job
    report_failures: int = 0  # reports the renderer failed to write

    @property
    def dashboard(self) -> Path:
        return self.out / DASHBOARD_NAME


def run_batch(assignment: Assignment, cohort: Path, out: Path, *, workers: int | None = None,
              scheduler: str | None = None, force: bool = False, only: list[str] | None = None,
              reports: bool = True, grade_fn: GradeFunction | None = None,
              stream: TextIO | None = None, progress_bar: bool | None = None,
              roster: Path | None = None) -> BatchSummary:
    """Grade the cohort into `out`. `cohort` is a folder of entries or an LMS download
    (`grader.batch.sources`); `roster` a roster CSV mapping LMS entries to student ids.
    Unchanged submissions (same entry hash, same checks hash) are skipped unless `force`;
    students in `only` are regraded whatever their hashes, and no one else is. Raises
    CohortError (a UsageError) for bad input."""
    stream = stream or sys.stdout
    the_roster = read_roster(roster) if roster is not None else stored_roster(Path(out), assignment)
    # files of a zipped download are copied here while the batch runs: private, then removed
    scratch = Path(tempfile.mkdtemp(prefix="grader-lms-"))
    try:
        source = read_source(Path(cohort), assignment.module, the_roster, scratch)
        return _run_source(assignment, cohort, source, out, the_roster, workers=workers, scheduler=scheduler,
                           force=force, only=only, reports=reports, grade_fn=grade_fn, stream=stream,
                           progress_bar=progress_bar)
    finally:
        remove_scratch(scratch)


def _run_source(assignment: Assignment, cohort: Path, source: CohortSource, out: Path, roster: Roster | None, *,
                workers, scheduler, force, only, reports, grade_fn, stream, progress_bar) -> BatchSummary:
    entries = source.entries
    students = [entry.student for entry in entries]
    only = [clean_id(s) for s in only] if only else only
    unknown = [s for s in only or () if s not in students]
    if unknown:
        raise CohortError(f"no student '{unknown[0]}' in {cohort} (--only takes a student id: "
                          f"an entry's name without its extension, or its roster id)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CohortError(f"--out {out} exists and is not a folder")
    if Path(cohort).is_dir() and out.resolve().is_relative_to(Path(cohort).resolve()):
        raise CohortError(f"--out {out} is inside the cohort folder {cohort}; every entry there is a student, "
                          f"so put the output folder elsewhere")
    with_reports = reports and importlib.util.find_spec("grader.render.html") is not None
    with exclusive(out), open_gradebook(out, assignment) as gradebook:
        checks = checks_hash(assignment)
        todo, skipped = plan(gradebook, entries, checks, out, force=force, only=only, reports=with_reports)
        summary = BatchSummary(out=out, total=len(entries), skipped=skipped, only=bool(only))
        gradebook.record_sources(source, roster)
        runner = DaskRunner(scheduler) if scheduler else LocalRunner(workers)
        _print_source(stream, source, roster)
        _print_plan(stream, assignment, cohort, gradebook, students, todo, summary, runner)
        if reports and not with_reports:
            print("warning: HTML reports are not available in this installation (grader.render.html); "
                  "skipping them", file=stream)
        started = time.monotonic()
        with Progress(len(todo), stream, progress_bar) as progress:
            recorder = Recorder(assignment, gradebook, out, checks, todo, summary, progress, with_reports)
            for entry in todo:  # ids that cannot be used: listed with their reason, not graded
                if entry.problem:
                    recorder.record(unusable_outcome(assignment, entry))
            usable = [entry for entry in todo if not entry.problem]
            if usable:
                try:
                    course = runner.ship(assignment)
                except BaseException:
                    runner.close(cancel=True)
                    raise
                # read as each job is submitted (a job holds its submission's bytes)
                jobs = (GradeJob(assignment, entry.student,
                                 read_submission_file(entry.path.resolve(), assignment.module, defer_errors=True),
                                 with_reports, grade_fn, course=course) for entry in usable)
                run_jobs(runner, jobs, recorder.record)
            else:
                runner.close()
        summary.seconds = time.monotonic() - started
        for problem in write_outputs(gradebook, assignment, out, sorted(students)):
            print(f"warning: {terminal_line(problem)}", file=stream)
    _print_summary(stream, summary)
    return summary


@contextmanager
def exclusive(out: Path):
    """Hold OUT_DIR/.lock for the run: a second batch into the same folder stops with a
    one-line error instead of grading everything twice. The kernel drops the lock when the
    process ends, however it ends."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_NAME, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CohortError(f"another batch is writing to {out} right now; wait for it or use another --out") from None
        yield


def stored_roster(out: Path, assignment: Assignment) -> Roster | None:
    """The roster an earlier run of this output folder was given, so that a run without
    `--roster` keeps the same student ids (None when there is none)."""
    if not (out / GRADEBOOK_FILE).is_file():
        return None
    with open_gradebook(out, assignment) as gradebook:
        rows = gradebook.roster_rows()
    return Roster(out / GRADEBOOK_FILE, [RosterStudent(*row) for row in rows]) if rows else None


def open_gradebook(out: Path, assignment: Assignment) -> Gradebook:
    try:
        return Gradebook(out, assignment.id)
    except GradebookError as exc:
        raise CohortError(str(exc)) from None


def _print_summary(stream: TextIO, summary: BatchSummary) -> None:
    if summary.report_failures > 3:
        print(f"warning: {summary.report_failures} reports could not be written", file=stream)
    failed = len(summary.failed)
    print(f"graded {len(summary.graded)}" + (f" in {summary.seconds:.1f} s" if summary.graded else "")
          + (f", {len(summary.skipped)} {_skipped_label(summary)}"
             + ("" if summary.only else " (use --force to regrade)") if summary.skipped else "")
          + (f"; {failed} could not be graded (see the dashboard)" if failed else ""), file=stream)


def plan(gradebook: Gradebook, entries: list[Entry], checks: str, out: Path, *, force: bool = False,
         only: list[str] | None = None, reports: bool = True) -> tuple[list[PlannedEntry], list[str]]:
    """(entries to grade with their content hashes, students skipped as unchanged)."""
    todo, skipped = [], []
    for entry in entries:
        content = entry_hash(entry.path)
        if only:
            wanted = entry.student in only
        else:
            wanted = (force or not gradebook.is_current(entry.student, content, checks)
                      or (reports and _report_wanted(gradebook, out, entry.student)))
        if wanted:
            todo.append(PlannedEntry(entry.student, entry.path, entry.problem, content_hash=content,
                                     label=getattr(entry, "label", "")))
        else:
            skipped.append(entry.student)
    return todo, skipped


def _skipped_label(summary: BatchSummary) -> str:
    return "not selected by --only" if summary.only else "unchanged"


def _print_plan(stream, assignment, cohort, gradebook, students, todo, summary, runner) -> None:
    gone = gradebook.students_outside(students)
    if gone:
        shown = ", ".join(terminal_id(s) for s in gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        print(f"note: {len(gone)} student{'s' * (len(gone) != 1)} in the gradebook "
              f"{'are' if len(gone) != 1 else 'is'} no longer in {cohort} and left out of the outputs: {shown}",
              file=stream)
    print(f"{assignment.id}: {len(students)} submissions in {cohort}; grading {len(todo)}"
          + (f" on {runner.describe()}" if todo else "")
          + (f" ({len(summary.skipped)} {_skipped_label(summary)})" if summary.skipped else ""),
          file=stream, flush=True)


@dataclass(frozen=True)
class PlannedEntry(Entry):
    content_hash: str = ""
    label: str = ""  # the entry as the instructor knows it (an LMS file name)


#: How many names a note lists before "and N more".
NAMES_SHOWN = 8


def _listed(items: list[str]) -> str:
    shown = ", ".join(terminal_line(item) for item in items[:NAMES_SHOWN])
    return shown + (f" and {len(items) - NAMES_SHOWN} more" if len(items) > NAMES_SHOWN else "")


def _print_source(stream, source: CohortSource, roster: Roster | None) -> None:
    """What the download held, and every entry the roster could not place (one line each:
    the instructor fixes the roster or the id from it)."""
    if roster is not None:
        stored = roster.path.name == GRADEBOOK_FILE
        print(f"roster: {len(roster.students)} students from "
              + (f"{roster.path.parent}'s gradebook (the roster of an earlier run; give --roster to change it)"
                 if stored else terminal_line(str(roster.path))), file=stream)
    if source.kind != "folder":
        superseded = sum(len(e.superseded) for e in source.entries)
        late = sum(bool(e.late) for e in source.entries)
        print(f"{source.label}: {len(source.entries)} students"
              + (f", {late} marked late" if late else "")
              + (f", {superseded} older or extra files not graded (the latest counts)" if superseded else ""),
              file=stream)
    if source.ignored:
        print(f"note: {len(source.ignored)} files ignored: "
              + _listed([f"{name} ({why})" for name, why in source.ignored]), file=stream)
    if source.unmapped:
        print(f"note: {len(source.unmapped)} entr{'ies' if len(source.unmapped) != 1 else 'y'} could not be "
              f"mapped to a student of {roster.path if roster else 'the roster'}; graded under the id shown:",
              file=stream)
        for item in source.unmapped:
            print(f"  {terminal_line(item.label)} -> {terminal_line(item.student)}: {terminal_line(item.reason)}",
                  file=stream)
    if source.missing:
        print(f"note: {len(source.missing)} roster student{'s' * (len(source.missing) != 1)} handed nothing in: "
              + _listed([s.id for s in source.missing]), file=stream)


class Recorder:
    """Receives every outcome in this process as it arrives: writes the report, then the
    gradebook rows (so a committed row always has its report), then counts and shows it."""

    def __init__(self, assignment: Assignment, gradebook: Gradebook, out: Path, checks: str,
                 todo: list[PlannedEntry], summary: BatchSummary, progress: Progress, with_reports: bool):
        self.assignment, self.gradebook, self.out, self.checks = assignment, gradebook, out, checks
        self.planned = {entry.student: entry for entry in todo}
        self.summary, self.progress, self.with_reports = summary, progress, with_reports

    def record(self, outcome: GradeOutcome) -> None:
        """Record one outcome. Nothing about one student stops the batch: if its report or
        notebook record cannot be written, its report is "failed" with the reason; if its
        result cannot be stored, an error row with the reason takes its place."""
        summary = self.summary
        entry = self.planned[outcome.student]
        try:
            result = GradingResult.from_dict(outcome.result)
            report = self._write_files(outcome)
            self.gradebook.record(result, entry=entry.label or entry_name(entry.path), content_hash=entry.content_hash,
                                  checks_hash="" if outcome.crashed else self.checks, report=report)
        except Exception as exc:  # a grader bug or an unwritable output for this one student
            result = self._record_failure(outcome, entry, f"could not record the result: {type(exc).__name__}: {exc}")
        summary.graded.append(outcome.student)
        if result.status == "error":
            summary.failed.append(outcome.student)
        summary.grade_seconds += outcome.grade_seconds
        summary.report_seconds += outcome.report_seconds
        summary.cpu_seconds += outcome.cpu_seconds
        if outcome.worker:
            summary.workers.add(outcome.worker)
        summary.worker_peak_rss_kb = max(summary.worker_peak_rss_kb, outcome.worker_peak_rss_kb)
        self.progress.advance(result.student, result.status, result.score, result.max_score,
                              result.execution_time, result.error)

    def _write_files(self, outcome: GradeOutcome) -> str:
        """Write the notebook record and the report; returns the gradebook's `report` state."""
        summary = self.summary
        problem = outcome.report_problem
        try:
            if outcome.notebook_html is not None:  # before the report that links to it
                write_atomic(notebook_record_path(self.out, outcome.student), outcome.notebook_html)
            if outcome.report_html is not None:
                write_atomic(report_path(self.out, outcome.student), outcome.report_html)
                return "written"
        except OSError as exc:
            problem = f"cannot write it: {exc.strerror or exc}"
        if self.with_reports and problem:
            if summary.report_failures < 3:
                self.progress.note(f"warning: no report for {terminal_id(outcome.student)}: {problem}")
            summary.report_failures += 1
            return f"failed: {problem}"
        return "unavailable"

    def _record_failure(self, outcome: GradeOutcome, entry: PlannedEntry, reason: str) -> GradingResult:
        """Store an error row with `reason` for the student of `outcome` (retried next run).
        A report already written for the result that could not be stored is removed, so no
        page shows a grade the gradebook does not hold."""
        for written in (report_path(self.out, outcome.student), notebook_record_path(self.out, outcome.student)):
            try:
                written.unlink(missing_ok=True)
            except OSError:
                pass
        result = crash_result(self.assignment, outcome.student, reason)
        self.gradebook.record(result, entry=entry.label or entry_name(entry.path), content_hash=entry.content_hash,
                              checks_hash="", report="unavailable")
        return result


def unusable_outcome(assignment: Assignment, entry: Entry) -> GradeOutcome:
    """The outcome of an entry whose id cannot be used: not graded, with the reason (and
    retried on the next run, by which time the instructor may have renamed it)."""
    return GradeOutcome(entry.student, crash_result(assignment, entry.student, entry.problem).to_dict(),
                        crashed=True)


def _report_wanted(gradebook: Gradebook, out: Path, student: str) -> bool:
    """A current result whose report should exist but does not: it was deleted from the
    output folder, or the renderer was not installed when it was graded. Regrading rebuilds
    it with its plots (the stored result has no trajectories). A report the renderer failed
    on is not retried until the submission is regraded anyway."""
    state = gradebook.report_state(student)
    return state in ("written", "unavailable") and not report_path(out, student).is_file()


def batch_command(assignment: Assignment, cohort: Path, out: Path, workers: int | None = None,
                  scheduler: str | None = None, force: bool = False, only: list[str] | None = None,
                  roster: Path | None = None) -> int:
    """The CLI's `grader batch`; prints the dashboard's path last. Exit 0 when the batch ran
    (students whose submissions could not be graded are in the gradebook, not an exit code)."""
    if workers is not None and workers < 1:
        raise CohortError(f"--workers must be at least 1, got {workers}")
    summary = run_batch(assignment, cohort, out, workers=workers, scheduler=scheduler, force=force, only=only,
                        roster=roster)
    print(f"dashboard: {summary.dashboard}")
    return 0


def demo_cohort(course: Course) -> tuple[Assignment, Path]:
    """The bundled sample cohort and its assignment, from demo/demo.toml in the course."""
    config_path = course.root / DEMO_DIR / DEMO_CONFIG
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        assignment_id, cohort = str(config["assignment"]), str(config.get("cohort", "cohort"))
    except FileNotFoundError:
        raise CourseError(f"this course has no demo ({config_path} is missing)") from None
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise CourseError(f"{config_path}: invalid demo configuration ({exc})") from None
    return course.get(assignment_id), config_path.parent / cohort


def demo_command(course: Course, out: Path | None = None, workers: int | None = None) -> int:
    """The CLI's `grader demo`: batch-grade the sample cohort into `out` (default: a fresh
    temporary folder) and print the dashboard's path as the last line."""
    assignment, cohort = demo_cohort(course)
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="grader-demo-"))
    summary = run_batch(assignment, cohort, out, workers=workers)
    print(f"dashboard: {summary.dashboard}")
    return 0
