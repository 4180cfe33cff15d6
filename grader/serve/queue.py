"""The grading queue: a thread of the service process that claims queued submissions from
the database (grader.serve.db), grades them on the batch's runners (a local pool of warm
worker processes, or Dask with --scheduler: grader.batch.runner) and stores each grading.

A job runs `grade_in_worker` in a worker process: `grade_submission` with the worker's
`GradingSession` (checks collected once, warm sandbox pool), the same code path and result
as `grader grade`; then the report exactly as `grader grade --report` renders it, with the
notebook record linked as "notebook" (next to the report's own URL). The worker writes
nothing: the report's bytes come back and this process stores them (files first, then the
database row). A job carries the upload's bytes (`grader.load.SubmissionFile`, read here)
and, on Dask, the course by its hash (`DaskRunner.ship`, once per assignment for the life of
the queue, as a worker's GradingSession keeps the checks it collected), so a Dask worker
needs neither DATA_DIR nor the course on its file system (`grader.batch.course_bundle`).

Leases: every claim carries this process's owner id and an expiry, renewed while the job
runs. A worker process that dies breaks the local pool: its jobs go back to the queue and
the pool is restarted; a submission that broke the grader `MAX_ATTEMPTS` times is stored as
an error ("the grader crashed grading it"), never retried forever.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from grader.batch.course_bundle import CourseRef
from grader.course import Assignment, Course
from grader.load import SubmissionFile, read_submission_file
from grader.serve.db import Claim, Database
from grader.serve.storage import report_name, report_path, upload_path, write_durably

log = logging.getLogger("grader.serve")

LEASE_SECONDS = 60.0  # PostgreSQL: how long a silent process keeps its claims
RENEW_EVERY = 15.0
EXPIRED_SCAN_EVERY = 10.0
POLL_SECONDS = 1.0  # how often to look for work queued by another process
MAX_ATTEMPTS = 3
NOTEBOOK_LINK = "notebook"  # the record's URL, relative to the report's

_GRADING_LOCK = threading.Lock()  # grading is not thread-safe (a Dask worker has threads)
_SESSIONS: dict[tuple[str, str], object] = {}


@dataclass(frozen=True)
class Job:
    assignment: Assignment
    student: str
    submission: SubmissionFile  # the upload, read by the service process
    course: CourseRef | None = None  # on Dask: the course by hash; None: at assignment.course_root


@dataclass
class Outcome:
    result: dict  # GradingResult.to_dict(): what `grader grade --json` prints
    report_html: bytes | None
    notebook_html: bytes | None


def grade_in_worker(job: Job) -> Outcome:
    """Runs in a worker process: grade, then render the report (as `grader grade --report`)."""
    from grader.grade import GradingSession, grade_submission
    from grader.render.html import render_report

    with _GRADING_LOCK:
        assignment = job.course.assignment(job.assignment) if job.course is not None else job.assignment
        key = (assignment.id, str(assignment.hidden_checks))
        if key not in _SESSIONS:
            _SESSIONS[key] = GradingSession(assignment)
        result = grade_submission(assignment, job.submission, student=job.student, session=_SESSIONS[key])
        if result.error:  # our storage path is not the student's business
            path = job.submission.origin
            result = dataclasses.replace(result, error=result.error.replace(path, "your upload").replace(
                os.path.basename(path), "your upload"))
        notebook = None
        if result.status == "graded":
            from grader.notebooks import submitted_notebook_record
            try:
                notebook = submitted_notebook_record(job.submission, job.assignment.module)
            except ValueError:  # the exporter cannot show it: the report simply has no link
                notebook = None
        links = {"The notebook as submitted": NOTEBOOK_LINK} if notebook else None
        try:
            report = render_report(result, assignment, links=links).encode("utf-8")
        except Exception:  # a renderer bug must not lose the grade
            log.exception("report failed")
            report = None
        return Outcome(result.to_dict(), report, notebook.encode("utf-8") if notebook else None)


class GradingQueue:
    """Claims, grades and stores, in one background thread. `runner` is a
    grader.batch.runner LocalRunner or DaskRunner; `exclusive` says this process is the
    database's only user (SQLite), so whatever is `grading` at start was left by a dead
    predecessor and goes straight back to the queue."""

    def __init__(self, database: Database, course: Course, data_dir: Path, runner, *, exclusive: bool,
                 job_fn=grade_in_worker):
        self.database, self.course, self.data_dir, self.runner = database, course, Path(data_dir), runner
        self.exclusive, self.job_fn = exclusive, job_fn
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._assignments: dict[str, Assignment] = {}
        self._courses: dict[str, CourseRef | None] = {}  # what the runner's ship() gave, per assignment
        self.graded = 0  # stored gradings of this process

    def start(self) -> None:
        if self.exclusive:
            recovered = self.database.release_leases()
        else:
            recovered = self.database.requeue_expired()
        if recovered:
            log.warning("requeued %d submission(s) a previous run was grading", recovered)
        self._thread = threading.Thread(target=self._run, name="grading-queue", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; jobs in flight are given back to the queue (graded at next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _assignment(self, assignment_id: str) -> Assignment:
        if assignment_id not in self._assignments:
            self._assignments[assignment_id] = self.course.get(assignment_id)
        return self._assignments[assignment_id]

    def _run(self) -> None:
        in_flight: dict[Future, Claim] = {}
        executor = self.runner.start()
        self._last_renew = self._last_scan = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    executor = self._step(executor, in_flight)
                except Exception:  # e.g. the database locked or unreachable for a while: keep going
                    log.exception("grading queue: retrying in %g s", POLL_SECONDS)
                    self._stop.wait(POLL_SECONDS)
        finally:
            for claim in in_flight.values():
                try:
                    self.database.release(claim, self.owner)
                except Exception:  # its lease runs out instead (or the next start requeues it)
                    pass
            self.runner.close(cancel=True)

    def _step(self, executor, in_flight: dict[Future, Claim]):
        """One round: requeue expired leases, renew ours, claim what fits, settle what
        finished. Returns the executor (a new one when the local pool broke)."""
        now = time.monotonic()
        if not self.exclusive and now - self._last_scan > EXPIRED_SCAN_EVERY:
            self._last_scan = now
            self.database.requeue_expired()
        if now - self._last_renew > RENEW_EVERY:
            self._last_renew = now
            self.database.renew(self.owner, [c.id for c in in_flight.values()], LEASE_SECONDS)
        free = self.runner.capacity - len(in_flight)
        broken = False
        if free > 0:
            for claim in self.database.claim(self.owner, free, LEASE_SECONDS):
                try:
                    job = self._job(claim)
                except Exception as exc:  # the course cannot be sent (no secret?): as a failed grading
                    self._retry_or_fail(claim, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                    continue
                try:
                    future = executor.submit(self.job_fn, job)
                except (BrokenProcessPool, RuntimeError, OSError):
                    self.database.release(claim, self.owner)
                    broken = True
                    continue
                in_flight[future] = claim
        if in_flight:
            done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                broken |= self._settle(in_flight[future], future)
                del in_flight[future]  # only once stored: a failed store is retried next round
        else:
            self._wake.wait(POLL_SECONDS)
        self._wake.clear()
        if broken:
            for future in wait(list(in_flight)).done:  # the rest of a broken pool fails too
                self._settle(in_flight[future], future)
                del in_flight[future]
            executor = self.runner.restart()
        return executor

    def _job(self, claim: Claim) -> Job:
        assignment = self._assignment(claim.assignment)
        if assignment.id not in self._courses:
            self._courses[assignment.id] = self.runner.ship(assignment)
        upload = upload_path(self.data_dir, claim.id, claim.kind).resolve()
        return Job(assignment, claim.student, read_submission_file(upload, assignment.module, defer_errors=True),
                   self._courses[assignment.id])

    def _settle(self, claim: Claim, future: Future) -> bool:
        """Store a finished job; True if the local pool broke under it."""
        try:
            outcome = future.result()
        except BrokenProcessPool:
            self._retry_or_fail(claim, "the grading worker process died (killed by a signal or out of memory)")
            return True
        except Exception as exc:
            self._retry_or_fail(claim, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            return False
        self._store(claim, outcome)
        return False

    def _retry_or_fail(self, claim: Claim, reason: str) -> None:
        if claim.attempts < MAX_ATTEMPTS:
            log.warning("grading %s failed (%s); queued again", claim.id, reason)
            self.database.release(claim, self.owner)
            return
        from grader.grade import error_result

        result = error_result(self._assignment(claim.assignment), claim.student,
                              f"the grader crashed grading this submission {claim.attempts} times: {reason}",
                              time.monotonic())
        self.database.complete(claim, self.owner, result.to_dict(), None, None)

    def _store(self, claim: Claim, outcome: Outcome) -> None:
        notebook = report = None
        if outcome.notebook_html is not None:
            notebook = report_name(claim.id, claim.round, notebook=True)
            write_durably(report_path(self.data_dir, notebook), outcome.notebook_html)
        if outcome.report_html is not None:
            report = report_name(claim.id, claim.round)
            write_durably(report_path(self.data_dir, report), outcome.report_html)
        if self.database.complete(claim, self.owner, outcome.result, report, notebook):
            self.graded += 1
        else:
            log.warning("grading of %s dropped: its lease had passed to another process", claim.id)
