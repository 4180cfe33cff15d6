"""Run an audit: make the mutants, drop the equivalent ones, grade the rest and every
catalogued mutant as submissions under N student ids, and collect plain records.

Both heavy phases run on the batch machinery (`grader.batch.runner.run_jobs`: a local
pool of warm workers, or a Dask cluster with `scheduler`): the equivalence runs as one
sandbox per mutant, the grading as the real `grade_job` of `grader batch` (a
`GradingSession` per worker: checks collected once, the reference compiled once, a warm
sandbox pool; diagnosis on, so a record says which catalogue entries named the mistake).
Dask workers need not see the course or the output folder: jobs carry the mutants' text,
and the course bundle (`grader.batch.course_bundle`, one for both phases) carries the probe
set too.

Grading costs about as much per mutant and id as a student's submission, which is why the
equivalence filter comes first and is one sandbox per mutant, and why a mutant is graded
only on the parts its mistake can reach (`parts_to_grade`). Every remaining mutant is
graded under EVERY id: a mutant that passes under the first id may fail under another, and
that is exactly the unfairness the audit exists to find.

The student ids are `audit-01` ... `audit-NN`, the same for every mutant, so "caught for
audit-03 only" means the same drawn inputs (up to what the seeding mixes in) across mutants.
"""
from __future__ import annotations

import ast
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from grader.audit.equivalence import (SHIPPED_PROBE_SET, SHIPPED_PROBES, EquivalenceJob, EquivalenceOutcome,
                                     build_probe_set, equivalence_job)
from grader.audit.mutate import GeneratedMutant, generate_mutants, spread
from grader.batch.course_bundle import CourseRef
from grader.batch.work import GradeJob, GradeOutcome, grade_job
from grader.course import Assignment
from grader.load import SubmissionFile, read_submission_file

#: Seeds of the equivalence probe set (the hidden checks' inputs under this many seeds).
PROBE_SEEDS = 8
MUTANTS_DIR = "mutants"


@dataclass
class AuditedMutant:
    """One mutant and everything the audit learnt about it (plain data, JSON as it is)."""

    key: str  # generated: "<function>.<operator>.<n>"; catalogued: "catalogue.<file stem>"
    function: str  # the function it changes (a catalogued mutant: the first it rewrites)
    operator: str  # the operator, or "catalogue"
    description: str
    line: int
    path: str  # its module text, as graded
    mistaken: str = ""  # a generated mutant's code at the edit
    catalogue_id: str = ""  # a catalogued mutant's misconception id
    equivalence: dict | None = None  # EquivalenceOutcome.to_dict() (generated mutants)
    grades: dict[str, dict] = field(default_factory=dict)  # student id -> grade summary

    @property
    def equivalent(self) -> bool:
        return bool(self.equivalence) and self.equivalence["status"] == "equivalent"


@dataclass
class AuditRun:
    assignment: str
    max_score: float
    parts: dict[str, float]  # function -> points, in handout order
    students: list[str]
    probe_calls: int
    mutants: list[AuditedMutant]
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> wall-clock seconds


def student_ids(seeds: int) -> list[str]:
    width = max(2, len(str(seeds)))
    return [f"audit-{number:0{width}d}" for number in range(1, seeds + 1)]


def catalogue_mutants(assignment: Assignment, folder: Path) -> list[AuditedMutant]:
    """Every catalogued mutant as a whole module (the reference with the mutant file
    appended, as diagnosis builds it), written to `folder`. Raises CatalogueError."""
    from grader.diagnosis import load_catalogue

    reference = assignment.reference_path.read_text(encoding="utf-8")
    audited = []
    for mutant in load_catalogue(assignment):
        key = f"catalogue.{mutant.path.stem}"
        path = folder / f"{key}.py"
        text = mutant.path.read_text(encoding="utf-8")
        path.write_text(f"{reference}\n\n# --- mutant {mutant.path.name} ---\n{text}", encoding="utf-8")
        docstring = (ast.get_docstring(ast.parse(text)) or mutant.id).strip().splitlines()[0]
        audited.append(AuditedMutant(key=key, function=(mutant.rewrites or mutant.functions)[0], operator="catalogue",
                                     description=docstring, line=0, path=str(path),
                                     catalogue_id=mutant.id))
    return audited


def grade_summary(result: dict, graded: tuple[str, ...] | None = None) -> dict:
    """What the audit keeps of a graded result: score, status, part scores, the
    misconceptions diagnosis named, the checks that lost points (by title), and the error
    of an ungraded one. Parts outside
    `graded` (None: all) were not checked again and score their full points (see
    `parts_to_grade`)."""
    parts = {p["function"]: (p["score"] if graded is None or p["function"] in graded else p["max_score"])
             for p in result.get("parts", [])}
    return {
        "status": result.get("status"),
        "score": sum(parts.values()) if result.get("status") == "graded" else result.get("score", 0.0),
        "max_score": result.get("max_score", 0.0),
        "parts": parts,
        "graded_parts": list(graded) if graded is not None else None,
        "misconceptions": sorted({m for p in result.get("parts", []) for m in p.get("misconceptions", [])}),
        "failed_tests": sorted(t["name"] for t in result.get("tests", [])
                               if t.get("score", 0.0) < t.get("max_score", 0.0)),
        "error": result.get("error") or "",
    }


def parts_to_grade(mutant: AuditedMutant, assignment: Assignment) -> tuple[str, ...] | None:
    """The parts whose checks a mutant is graded on: its own function and every function
    whose checks' probe calls gave a different answer on the equivalence probe set (None:
    all parts, for a catalogued mutant or one that hung or broke there). A part none of
    whose probe calls changed under PROBE_SEEDS seeds of its checks' inputs and their randomised
    neighbours gets the same answers as the reference, so grading it again would cost as
    much as the rest of the grading and tell nothing."""
    outcome = mutant.equivalence or {}
    if outcome.get("status") not in ("differs", "raises"):
        return None
    affected = {mutant.function, *outcome.get("functions", [])}
    return tuple(f for f in assignment.functions if f in affected)


@dataclass(frozen=True)
class MutantGradeJob:
    """One mutant graded under one student id. `student` is a label for the runner's
    crash records; the grade itself uses `student_id`."""

    assignment: Assignment
    student: str
    submission: SubmissionFile  # the mutant's module, read here
    student_id: str
    functions: tuple[str, ...] | None = None  # the parts to grade (None: all)
    course: CourseRef | None = None  # on Dask: the course by hash (grader.batch.course_bundle)


def mutant_grade_job(job: MutantGradeJob) -> GradeOutcome:
    """`grader batch`'s own job (no report) on the mutant's module, under `student_id`."""
    outcome = grade_job(GradeJob(job.assignment, job.student_id, job.submission, with_report=False,
                                 functions=job.functions, course=job.course))
    outcome.student = job.student
    return outcome


def run_audit(assignment: Assignment, out: Path, *, seeds: int = 8, workers: int | None = None,
              scheduler: str | None = None, functions: list[str] | None = None, max_mutants: int | None = None,
              probe_seeds: int = PROBE_SEEDS, stream: TextIO | None = None,
              runner_factory: Callable | None = None) -> AuditRun:
    """The audit's records (see the module docstring). `functions` limits the generated
    mutants (and the catalogued ones) to those functions; `max_mutants` takes at most that
    many generated mutants, spread over functions and operators."""
    stream = stream or sys.stdout
    runner_factory = runner_factory or _runner_factory(workers, scheduler)
    folder = out / MUTANTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [f for f in assignment.functions if functions is None or f in functions]
    timings: dict[str, float] = {}

    started = time.monotonic()
    reference = assignment.reference_path.read_text(encoding="utf-8")
    generated = spread(generate_mutants(reference, chosen, origin=str(assignment.reference_path)), max_mutants)
    audited = [_written(mutant, folder) for mutant in generated]
    catalogued = [m for m in catalogue_mutants(assignment, folder) if functions is None or m.function in functions]
    timings["generate"] = time.monotonic() - started
    print(f"audit {assignment.id}: {len(generated)} generated mutants of {len(chosen)} function"
          f"{'s' * (len(chosen) != 1)}, {len(catalogued)} catalogued", file=stream, flush=True)

    started = time.monotonic()
    probe_set = build_probe_set(assignment, probe_seeds, out / "probe_set")
    print(f"equivalence: {len(probe_set.calls)} probe calls ({probe_seeds} seeds of the hidden checks and the "
          f"public checks)", file=stream, flush=True)
    by_key = {m.key: m for m in audited}
    saved = out / "probe_set" / "probe_set.npz"
    # for Dask workers that cannot see `out`: the probe set travels in the course bundle
    shipped = {SHIPPED_PROBE_SET: saved.read_bytes(), SHIPPED_PROBES: probe_set.probes_path.read_bytes()}

    def equivalence_jobs(course):
        return [EquivalenceJob(assignment, m.key, Path(m.path).read_text(encoding="utf-8"), str(saved), m.function,
                               course) for m in audited]

    tick = _ticker("equivalence", len(audited), stream)

    def settle_equivalence(outcome: GradeOutcome) -> None:
        if outcome.crashed:  # the job itself failed: keep the mutant, graded like any other
            by_key[outcome.student].equivalence = EquivalenceOutcome(
                outcome.student, "unknown", detail=outcome.result.get("error", "")).to_dict()
        else:
            by_key[outcome.student].equivalence = outcome.result
        tick()

    if audited:
        _run(runner_factory, assignment, equivalence_jobs, settle_equivalence, equivalence_job, shipped)
    timings["equivalence"] = time.monotonic() - started
    equivalent = sum(m.equivalent for m in audited)
    print(f"equivalence: {equivalent} of {len(audited)} generated mutants are equivalent to the reference",
          file=stream, flush=True)

    started = time.monotonic()
    ids = student_ids(seeds)
    to_grade = [m for m in audited if not m.equivalent] + catalogued
    labels = {}
    grade_plan = []
    for mutant in to_grade:
        parts = parts_to_grade(mutant, assignment)
        for student in ids:
            label = f"{mutant.key} as {student}"
            labels[label] = (mutant, student, parts)
            grade_plan.append((label, mutant, student, parts))

    def grade_jobs(course):  # read as submitted: each job holds its mutant's bytes
        for label, mutant, student, parts in grade_plan:
            submission = read_submission_file(Path(mutant.path).resolve(), assignment.module, defer_errors=True)
            yield MutantGradeJob(assignment, label, submission, student, parts, course)

    tick = _ticker("grading", len(grade_plan), stream)

    def settle_grade(outcome: GradeOutcome) -> None:
        mutant, student, parts = labels[outcome.student]
        mutant.grades[student] = grade_summary(outcome.result, parts)
        tick()

    if grade_plan:
        _run(runner_factory, assignment, grade_jobs, settle_grade, mutant_grade_job, shipped)  # the same bundle
    timings["grading"] = time.monotonic() - started
    return AuditRun(assignment=assignment.id, max_score=assignment.max_score,
                    parts={p.function: p.points for p in assignment.parts}, students=ids,
                    probe_calls=len(probe_set.calls), mutants=audited + catalogued, seconds=timings)


def _written(mutant: GeneratedMutant, folder: Path) -> AuditedMutant:
    path = folder / f"{mutant.key}.py"
    path.write_text(mutant.source, encoding="utf-8")
    return AuditedMutant(key=mutant.key, function=mutant.function, operator=mutant.operator,
                         description=mutant.description, line=mutant.line, path=str(path),
                         mistaken=mutant.mistaken)


def _runner_factory(workers: int | None, scheduler: str | None) -> Callable:
    from grader.batch.runner import DaskRunner, LocalRunner

    # a fresh runner per phase: run_jobs closes the runner it was given (a Dask client too)
    return (lambda: DaskRunner(scheduler)) if scheduler else (lambda: LocalRunner(workers))


def _run(runner_factory: Callable, assignment: Assignment, make_jobs: Callable, on_outcome: Callable,
         job_fn: Callable, extra: dict[str, bytes] | None = None) -> None:
    """One phase on a fresh runner: the course (and `extra`) shipped to it first, then
    `make_jobs(course_ref)`'s jobs (course_ref None on the local pool)."""
    from grader.batch.runner import run_jobs

    runner = runner_factory()
    try:
        course = runner.ship(assignment, extra)
    except BaseException:
        runner.close(cancel=True)
        raise
    run_jobs(runner, make_jobs(course), on_outcome, job_fn=job_fn)


def _ticker(phase: str, total: int, stream: TextIO) -> Callable[[], None]:
    """A progress line at every tenth of `total` (never a line per job: thousands of them)."""
    done = [0]
    step = max(1, total // 10)

    def tick() -> None:
        done[0] += 1
        if done[0] % step == 0 or done[0] == total:
            print(f"{phase}: {done[0]}/{total}", file=stream, flush=True)
    return tick
