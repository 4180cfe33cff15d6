"""The probe drivers' work per submission: median reference-side probe seconds and steps.

    python benchmarks/bench_checks.py [SUBMISSIONS] [ASSIGNMENT ...]

Batch grading has 0.1 CPU-s per submission for everything (20 submissions/s on 2 cores), and
the hidden checks' probe drivers run twice per submission: on the student's side in the
sandbox and on the reference's in the trusted process, with the same arguments and the same
work. This measures the reference side in-process, as `grade_submission` runs it: the
hidden checks of each assignment, with the reference standing in for the student too, for
SUBMISSIONS different per-student seeds (every seed draws other inputs). It prints per
assignment the median over submissions of the seconds spent in `reference.probe` (the
driver plus InProcessModule's fresh module and kwargs copy), the number of reference probe
calls, the optimiser steps those calls ran (rows of every returned trajectory or history,
less the start row), and the slowest probe names.

Target: the reference side <= 25 ms per optimizers submission (median), sigmoid_neuron
similarly cheap.

Figures on the 2-core machine, 2026-11-25 (median of 21 submissions, reference side, same
load for both; the machine was shared, so compare ratios rather than absolute times):
  before (commit 1fdd337):  optimizers      127.4 ms, 90 probe calls, 5408 steps
                            sigmoid_neuron   19.8 ms, 63 probe calls,  902 steps
  after:                    optimizers       17.1 ms, 53 probe calls, 1648 steps
                            sigmoid_neuron    6.4 ms, 32 probe calls,  171 steps
(The reference's faked runs of composite checks now run only when the student's plain run
failed, hence fewer reference probe calls; the student's side makes the same 53 / 32 calls as
before, now over the same shorter runs.)
"""
from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.checking import GraderPlugin, StudentProbes, run_checks  # noqa: E402
from grader.course import Course  # noqa: E402
from grader.grade import reference_module  # noqa: E402
from grader.sandbox import ProbeOutcome  # noqa: E402

TARGET_SECONDS = {"optimizers": 0.025}


def steps_in(answer) -> int:
    """Optimiser steps behind one probe answer: rows of a trajectory or history, less row 0."""
    if not isinstance(answer, dict):
        return 0
    for key in ("theta", "history"):
        rows = answer.get(key)
        if isinstance(rows, np.ndarray) and rows.ndim >= 1:
            return max(len(rows) - 1, 0)
    return 0


class Timer:
    """Times every probe call of one reference module by name. It replaces the module's
    `probe` on the instance only, so the checks still see the InProcessModule they get in
    grading (grader.composites treats an in-process reference differently)."""

    def __init__(self, module):
        self.module = module
        self.inner = module.probe
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls = 0
        self.steps = 0

    def __enter__(self):
        self.module.probe = self.probe
        return self

    def __exit__(self, *exc_info):
        del self.module.probe

    def probe(self, name: str, **kwargs):
        started = time.perf_counter()
        answer = self.inner(name, **kwargs)
        self.seconds[name] += time.perf_counter() - started
        self.calls += 1
        self.steps += steps_in(answer)
        return answer


def measure(assignment, submissions: int) -> dict:
    """Per-submission reference-side figures over `submissions` seeds."""
    reference = reference_module(assignment)
    student = reference_module(assignment)  # a second instance, so that only the reference side is timed
    run = lambda name, kwargs, timeout, group: ProbeOutcome("ok", value=student.probe(name, **kwargs))  # noqa: E731
    totals, calls, steps, failed = [], [], [], 0
    by_name: dict[str, list[float]] = defaultdict(list)
    run_checks(assignment.hidden_checks, GraderPlugin(StudentProbes(run), reference, "warm-up"))
    for number in range(submissions):
        with Timer(reference) as timed:
            records = run_checks(assignment.hidden_checks,
                                 GraderPlugin(StudentProbes(run), reference, f"bench-{number}"))
        failed += sum(record.status != "passed" for record in records)
        totals.append(sum(timed.seconds.values()))
        calls.append(timed.calls)
        steps.append(timed.steps)
        for name, seconds in timed.seconds.items():
            by_name[name].append(seconds)
    return {"median": statistics.median(totals), "calls": statistics.median(calls),
            "steps": statistics.median(steps), "failed": failed,
            "by_name": {name: statistics.median(values) for name, values in by_name.items()}}


def main() -> None:
    submissions = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    course = Course(ROOT)
    ids = sys.argv[2:] or ["optimizers", "sigmoid_neuron"]
    for assignment_id in ids:
        figures = measure(course.get(assignment_id), submissions)
        target = TARGET_SECONDS.get(assignment_id)
        verdict = f"; target {target * 1000:.0f} ms" if target else ""
        print(f"{assignment_id}: reference-side probes median {figures['median'] * 1000:.1f} ms per submission "
              f"({submissions} submissions), {figures['calls']:.0f} probe calls, {figures['steps']:.0f} optimiser "
              f"steps{verdict}")
        slowest = sorted(figures["by_name"].items(), key=lambda item: -item[1])[:6]
        print("  by probe: " + ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in slowest))
        if figures["failed"]:
            print(f"  WARNING: {figures['failed']} checks did not pass with the reference as the student")


if __name__ == "__main__":
    main()
