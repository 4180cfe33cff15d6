"""Grade one submission: load -> sandbox -> checks -> result model -> diagnosis.

`grade_submission` never raises for a student's mistake: an unusable submission gives a
result with status "error" and a one-line reason; a broken function costs its own tests.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Collection, Sequence
import time
from pathlib import Path

from grader.checking import (PUBLIC_EXPECTED, BakedReference, CheckRecord, CheckSession, GraderPlugin, InProcessModule,
                             StudentProbes, load_module_from, run_checks)
from grader.course import Assignment
from grader.diagnosis import NO_FINDINGS, Findings, find_misconceptions
from grader.ids import clean_id, student_id
from grader.untrusted import unicode_text
from grader.load import Submission, SubmissionError, SubmissionFile, load_submission
from grader.results import GradingResult, PartResult, TestResult
from grader.sandbox import Limits, Sandbox, SandboxError, SandboxPool, pool_from_environment
from grader.unsandboxed import UNSANDBOXED_NOTE, UnsandboxedProbes, sandbox_available

#: Wall-clock time all probes of ONE student function's checks may take together, in probe
#: timeouts; past it that function's remaining checks time out without running.  A function
#: that hangs thus costs only its own checks, never another function's time (a global
#: budget let one endless function starve the checks after it), and a submission takes at
#: most about functions x this x the probe timeout.
FUNCTION_BUDGET_TIMEOUTS = 4.0
#: Once a probe of a function timed out, its later probes get this fraction of the timeout
#: (plenty for a correct probe, which takes milliseconds; a hanging one costs less).
RETRY_TIMEOUT_FRACTION = 0.2
#: What a self-check says when the sandbox ran without bubblewrap (grading results keep the
#: sandbox's own warning, which says exactly which protection applied, for the instructor).
SELF_CHECK_SANDBOX_NOTE = ("Your code ran with a lighter sandbox (bubblewrap is not installed here), "
                           "which is fine for checking your own code.")


#: A student's reply to a probe may take this many times the reference's answer to it (plus
#: the printed output it may carry and a MiB); a larger one is refused unread.
REPLY_FACTOR = 16
#: ... and before the reference has answered that probe at all: at most this many bytes.
REPLY_UNKNOWN_BYTES = 16 << 20


def reply_allowance(limits: Limits) -> tuple[int, int, int]:
    """`StudentProbes.reply_allowance` for a sandbox with `limits`: (floor, factor, unknown)."""
    floor = limits.output_bytes + (1 << 20)
    return floor, REPLY_FACTOR, max(floor, REPLY_UNKNOWN_BYTES)


def trusted_probes(assignment: Assignment):
    """The assignment's probe drivers, imported here in the trusted process."""
    return load_module_from(assignment.probes_path, f"_grader_probes_{assignment.id}")


def reference_module(assignment: Assignment) -> InProcessModule:
    return InProcessModule(assignment.reference_path, trusted_probes(assignment), assignment.module)


class GradingSession:
    """What a process that grades many submissions of one assignment keeps between them
    (a batch worker): the checks collected once (a `CheckSession` per checks folder), the
    reference compiled once, and a warm sandbox pool (`grader.sandbox.pool`: a sandboxed
    Python with NumPy imported that forks a fresh worker per submission, instead of a new
    bubblewrap and interpreter each time). Grading with a session gives the same result as
    without; it only skips the set-up. Use from one long-lived thread (the pool's processes
    end with the thread that started them); close() when done."""

    def __init__(self, assignment: Assignment):
        self.assignment = assignment
        self._checks: dict[Path, CheckSession] = {}
        self._reference: InProcessModule | None = None
        self.sandbox_pool = SandboxPool()

    def run_checks(self, checks_dir: Path, plugin: GraderPlugin) -> list[CheckRecord]:
        """Like `grader.checking.run_checks`, on the session's collected checks; the
        plugin's state (probes, reference, seeds, functions) is what they run with."""
        if checks_dir not in self._checks:
            self._checks[checks_dir] = CheckSession(checks_dir)
        records, errors = self._checks[checks_dir].run(plugin.student_probes, plugin.reference_probes,
                                                        plugin.seed_material, plugin.per_student_seed,
                                                        plugin.only_functions)
        plugin.records, plugin.collection_errors = records, errors
        return records

    def reference(self) -> InProcessModule:
        if self._reference is None:
            self._reference = reference_module(self.assignment)
        return self._reference

    def close(self) -> None:
        for checks in self._checks.values():
            checks.close()
        self._checks.clear()
        self.sandbox_pool.close()


def seed_material(assignment: Assignment, student: str) -> str:
    """Per-student seed (the `rng` fixture adds the check's name): another student gets other
    inputs, the same student always the same ones. The submission's content is deliberately
    not part of it: a student who resubmits with a comment added must not re-roll the draw
    (the checks cover the same cases for every draw, but values near a tolerance need not).
    A batch still regrades an edited file: its fingerprint is the entry's content hash."""
    return hashlib.sha256(f"{assignment.secret()}|{assignment.id}|{student}".encode()).hexdigest()


def grade_submission(assignment: Assignment, path: str | Path | SubmissionFile, student: str | None = None, *,
                     public_only: bool = False, limits: Limits | None = None,
                     diagnose: bool = True, functions: Collection[str] | None = None,
                     session: GradingSession | None = None) -> GradingResult:
    """Grade the submission at `path` (or read already: a `grader.load.SubmissionFile`, as
    a batch job carries it; give `student` then). `functions` limits the checks to those student
    functions (a self-check of one function); the other parts then show no tests.
    `session` (of this assignment) keeps set-up between calls; the result is the same."""
    started = time.monotonic()
    student = clean_id(student) if student else student_id(path)  # valid Unicode, NFC (grader.ids)
    try:
        submission = load_submission(path, assignment.module)
    except SubmissionError as exc:
        return error_result(assignment, student, str(exc), started, public_only, detail=exc.detail)
    result = grade_loaded(assignment, submission, student, public_only=public_only, limits=limits,
                          diagnose=diagnose, functions=functions, session=session)
    return dataclasses.replace(result, execution_time=time.monotonic() - started)


def grade_loaded(assignment: Assignment, submission: Submission, student: str, *, public_only: bool = False,
                 limits: Limits | None = None, diagnose: bool = True,
                 functions: Collection[str] | None = None, session: GradingSession | None = None) -> GradingResult:
    if session is not None and session.assignment.id != assignment.id:
        raise ValueError(f"a grading session of {session.assignment.id} cannot grade {assignment.id}")
    if public_only or not assignment.has_solutions:
        checks_dir = assignment.public_checks
        reference = BakedReference(checks_dir / PUBLIC_EXPECTED)
        public_only = True
    else:
        checks_dir = assignment.hidden_checks
        reference = session.reference() if session else reference_module(assignment)
    limits = limits or Limits()
    # a batch's session has its warm pool; else GRADER_SANDBOX_POOL=1 asks for this thread's
    pool = session.sandbox_pool if session else pool_from_environment()
    seed = "public" if public_only else seed_material(assignment, student)
    if public_only and not sandbox_available():  # a learner's own machine without os.fork (Windows)
        probes = StudentProbes(UnsandboxedProbes(submission.source, assignment.module, trusted_probes(assignment)))
        plugin = GraderPlugin(probes, reference, seed, per_student_seed=False, only_functions=functions)
        records = run_checks(checks_dir, plugin)
        isolation, warnings = "none", [UNSANDBOXED_NOTE]
    else:
        with Sandbox(submission.source, assignment.module, assignment.probes_path, limits, pool=pool) as sandbox:
            def checked(selected: Collection[str] | None, isolated: bool) -> tuple[list[CheckRecord], GraderPlugin]:
                probes = StudentProbes(functools.partial(sandbox.run_probe, isolated=isolated),
                                       probe_timeout=limits.probe_timeout,
                                       function_budget=FUNCTION_BUDGET_TIMEOUTS * limits.probe_timeout,
                                       retry_timeout=RETRY_TIMEOUT_FRACTION * limits.probe_timeout,
                                       reply_allowance=reply_allowance(limits))
                plugin = GraderPlugin(probes, reference, seed, per_student_seed=not public_only,
                                      only_functions=selected)
                return (session.run_checks(checks_dir, plugin) if session else run_checks(checks_dir, plugin)), plugin

            records, plugin = checked(functions, isolated=False)
            again = functions_to_rerun(records, plugin.student_probes)
            if again:  # the isolated way for those functions (see functions_to_rerun)
                sandbox.forget_replies(again)
                rerun, _ = checked(again, isolated=True)
                records = with_records_replaced(records, rerun)
            isolation = sandbox.isolation
            warnings = [sandbox.warning] if getattr(sandbox, "warning", "") else []
        if public_only and warnings:  # a learner cannot act on the sandbox's details: one sentence
            warnings = [SELF_CHECK_SANDBOX_NOTE]
    broken = next((r.internal_error for r in records if r.internal_error.startswith(SandboxError.__name__)), None)
    if broken:  # the grader's own fault: never a 0 for the student, and say so once
        return error_result(assignment, student, f"the grader's sandbox failed: {broken}", time.monotonic(),
                            public_only)
    if plugin.collection_errors:
        warnings += [f"internal: {e}" for e in plugin.collection_errors]
    findings = find_misconceptions(assignment, records, public_only=public_only) if diagnose else NO_FINDINGS
    return assemble_result(assignment, student, records, findings, public_only=public_only,
                           content_hash=submission.content_hash, isolation=isolation, warnings=warnings)


def functions_to_rerun(records: list[CheckRecord], probes: StudentProbes) -> set[str]:
    """The student functions whose checks must run again, the isolated way: those that did
    not pass every check although some of their probes ran in a process that had served
    another function's probes before (`StudentProbes.shared`).

    The sandbox is optimistic (see `grader.sandbox.Sandbox.run_probe`): one process serves
    the functions one after another while every probe ends normally and nothing visible
    changes between them. A function whose checks all passed there keeps that result: had
    another function's leftover changed its answers, those answers are still its own code's
    work in its own submission's process (code in the function itself could have done the same),
    and they were right. A function that failed, raised, hung or crashed there may have
    been harmed by another function's leftover, and the promise is that one function's
    mistakes cost only its own points: its checks run again, each of its probes in a
    process that served only that function since the module's import (what
    `Limits(isolate_functions=True)` does for every function), and those records replace
    the first ones. The decision rests on facts reported from inside the sandbox, which the
    student can forge; a forgery changes only which of that submission's functions run
    again (a function that did not pass may keep its worse first result, or one that could
    have stayed may run twice), never another submission's grading or this process."""
    return {r.function for r in records if r.status != "passed"} & probes.shared


def with_records_replaced(records: list[CheckRecord], rerun: list[CheckRecord]) -> list[CheckRecord]:
    """`records` with those of the functions in `rerun` replaced by `rerun`'s, in place of
    the first ones (checks keep their order)."""
    again = {r.nodeid: r for r in rerun}
    return [again.get(r.nodeid, r) for r in records]


def check_points(assignment: Assignment, records: list[CheckRecord], *, public_only: bool = False) -> dict[str, float]:
    """Each check's points (by nodeid). A part's points are written once, in
    assignment.toml, and split among its hidden checks in proportion to their weights
    (`@check(function, weight)`); a public check (a self-check) counts as one test."""
    if public_only:
        return {r.nodeid: 1.0 for r in records}
    totals: dict[str, float] = {}
    for r in records:
        totals[r.function] = totals.get(r.function, 0.0) + r.weight
    part_points = {part.function: part.points for part in assignment.parts}
    return {r.nodeid: part_points.get(r.function, 0.0) * r.weight / totals[r.function] for r in records}


def assemble_result(assignment: Assignment, student: str, records: list[CheckRecord],
                    findings: Findings = NO_FINDINGS, *, public_only: bool = False, content_hash: str = "",
                    isolation: str = "", warnings: Sequence[str] = ()) -> GradingResult:
    """The result, built once from the checks' records and diagnosis's findings about them
    (keyed by the record's nodeid and the part's function: nothing is paired by position).
    A test's output holds the student's text (exception messages, printed output, reprs), so
    it is made valid Unicode here (`unicode_text`): a lone surrogate sent back by student code
    would make every output that encodes it fail."""
    points = check_points(assignment, records, public_only=public_only)
    tests = [TestResult(name=r.title, function=r.function, score=points[r.nodeid] if r.status == "passed" else 0.0,
                        max_score=points[r.nodeid], status=r.status, visibility=r.visibility,
                        output=unicode_text(r.output), duration=r.duration, traces=list(r.traces),
                        not_implemented=r.not_implemented,
                        misconceptions=list(findings.checks.get(r.nodeid, ()))) for r in records]
    parts = []
    for part in assignment.parts:
        own = [t for t in tests if t.function == part.function]
        max_score = sum(t.max_score for t in own) if public_only and own else part.points
        misconceptions, feedback = findings.parts.get(part.function, ((), ""))
        parts.append(PartResult(function=part.function, score=sum(t.score for t in own), max_score=max_score,
                                misconceptions=list(misconceptions), feedback=feedback,
                                attempted=not own or not all(t.not_implemented for t in own)))
    return GradingResult(
        assignment=assignment.id, student=student, status="graded",
        score=sum(p.score for p in parts), max_score=sum(p.max_score for p in parts),
        parts=parts, tests=tests, public_only=public_only, content_hash=content_hash, isolation=isolation,
        warnings=[*warnings, *findings.warnings], hints=dict(findings.hints),
    )


def error_result(assignment: Assignment, student: str, reason: str, started: float,
                 public_only: bool = False, detail: str = "") -> GradingResult:
    """The result of a submission that could not be graded: `reason` in one line, `detail`
    (a syntax error's line with a caret) when there is one."""
    parts = [PartResult(function=p.function, score=0.0, max_score=p.points) for p in assignment.parts]
    return GradingResult(assignment=assignment.id, student=student, status="error", score=0.0,
                         max_score=assignment.max_score, execution_time=time.monotonic() - started,
                         parts=parts, tests=[], error=unicode_text(reason), public_only=public_only,
                         error_detail=unicode_text(detail))
