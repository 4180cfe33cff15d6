"""The trusted side of grading one submission in a warm batch worker, step by step.

    python benchmarks/bench_trusted.py [--submissions K] [--rounds R] [--against REF]

A batch worker (`grader.batch.work.grade_job` on a warm `GradingSession`) grades the demo
cohort's variants (benchmarks/bench_batch.py's VARIANTS, with full HTML reports) and this
prints, per step, the median CPU milliseconds of the grader's own process per submission
(and the mean, which is what throughput pays: a notebook's record or a failing part's
diagnosis is expensive but rare):

  load               reading and checking the submission (grader.load)
  sandbox start/end  the trusted side of starting and ending the sandboxed worker
  probe relays       sending the student's probe requests and decoding the replies
  reference probes   the reference's side of the checks (its own computation)
  checks, the rest   the check bodies' comparisons and the per-check protocol (pytest's
                     runtest protocol and fixtures, or whatever replaced them)
  diagnosis          replaying failed checks on the known-mistake mutants
  result             assembling the GradingResult, and its to_dict() for the gradebook
  notebook record    the HTML record of a notebook submission
  report             the HTML report with its plots
  other              the rest of grade_job (the difference to its total)

and, apart, "per-check protocol alone": the same number of checks as the assignment's
hidden checks, each with the four fixtures (student, reference, rng, trace) and an empty
body, run through the same warm check session (what the protocol costs with no work).

CPU time is the whole process's (time.process_time: the checks run in a session thread
while the caller waits); the sandboxed processes' CPU is not in it. Steps are exclusive:
the reference probes made inside the checks are not counted again in "checks, the rest".

`--against REF` measures another commit side by side in one run: a temporary git worktree
of REF, and R rounds that alternate between the two trees (each round a fresh worker
process per tree grading K submissions of each variant after a warm-up), so both see the
same load on a busy machine. Medians are over every submission of every round.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "optimizers"  # the demo cohort's (bench_batch's VARIANTS)
STEPS = ["load", "sandbox start", "probe relays", "reference probes", "checks, the rest", "sandbox end",
         "diagnosis", "result", "notebook record", "report", "other"]
TOTAL = "total (grade_job)"
PROTOCOL = "per-check protocol alone"


# --- the worker side (runs in a child process, on the tree given as --child) -------------------

class StepClock:
    """Exclusive CPU time per step: a step's time less that of the steps nested in it."""

    def __init__(self):
        self.stack: list[list] = []  # [name, started, children's time]
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, function, only_inside: str | None = None):
        clock = self

        def timed(*args, **kwargs):
            if only_inside is not None and (not clock.stack or clock.stack[-1][0] != only_inside):
                return function(*args, **kwargs)
            frame = [name, time.process_time(), 0.0]
            clock.stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                clock.stack.pop()
                inclusive = time.process_time() - frame[1]
                clock.spent[name] = clock.spent.get(name, 0.0) + inclusive - frame[2]
                if clock.stack:
                    clock.stack[-1][2] += inclusive
        timed.__wrapped__ = function
        return timed

    def take(self) -> dict[str, float]:
        spent, self.spent = self.spent, {}
        return spent


def instrument(clock: StepClock) -> None:
    """Wrap the steps' entry points (names both the current and older commits have)."""
    import grader.batch.work as work
    import grader.checking as checking
    import grader.grade as grade
    import grader.results as results

    grade.load_submission = clock.wrap("load", grade.load_submission)
    grade.find_misconceptions = clock.wrap("diagnosis", grade.find_misconceptions)
    grade.assemble_result = clock.wrap("result", grade.assemble_result)
    results.GradingResult.to_dict = clock.wrap("result", results.GradingResult.to_dict)
    grade.GradingSession.run_checks = clock.wrap("checks, the rest", grade.GradingSession.run_checks)
    checking.InProcessModule.probe = clock.wrap("reference probes", checking.InProcessModule.probe,
                                                only_inside="checks, the rest")
    work.render_report = clock.wrap("report", work.render_report)
    work.notebook_record = clock.wrap("notebook record", work.notebook_record)
    sandbox_class = grade.Sandbox

    class TimedSandbox(sandbox_class):
        __init__ = clock.wrap("sandbox start", sandbox_class.__init__)
        __enter__ = clock.wrap("sandbox start", sandbox_class.__enter__)
        __exit__ = clock.wrap("sandbox end", sandbox_class.__exit__)
        run_probe = clock.wrap("probe relays", sandbox_class.run_probe)

    grade.Sandbox = TimedSandbox


def protocol_checks(folder: Path, count: int) -> Path:
    """A checks folder of `count` empty checks that take the grader's four fixtures."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["from grader.checking import check", ""]
    for number in range(count):
        lines += [f"@check('f{number % 8}', 1)", f"def test_{number}(student, reference, rng, trace):", "    pass", ""]
    (folder / "test_empty.py").write_text("\n".join(lines), encoding="utf-8")
    return folder


def child(tree: Path, assignment_id: str, submissions: int) -> dict:
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    os.environ.setdefault("MPLBACKEND", "Agg")
    from benchmarks.bench_batch import DEMO, VARIANTS  # noqa: F401 (the tree's own, when it has them)
    from grader.batch.work import GradeJob, grade_job, warm_up
    from grader.checking import CheckSession, StudentProbes
    from grader.course import Course

    warm_up()
    assignment = Course.find(tree).get(assignment_id)
    demo = tree / "demo" / "cohort"
    jobs = [GradeJob(assignment, f"bench_{Path(name).stem}", str(demo / name)) for name in VARIANTS]
    for job in jobs:  # warm: the session's checks collected, the reference compiled, plots cached
        grade_job(job)
    clock = StepClock()
    instrument(clock)
    figures: dict[str, list[float]] = {step: [] for step in [*STEPS, TOTAL]}
    statuses = []
    for _ in range(submissions):
        for job in jobs:
            clock.take()
            started = time.process_time()
            outcome = grade_job(job)
            total = time.process_time() - started
            spent = clock.take()
            spent["other"] = total - sum(spent.values())
            for step in STEPS:
                figures[step].append(1000 * spent.get(step, 0.0))
            figures[TOTAL].append(1000 * total)
            statuses.append((outcome.result["score"], [t["status"] for t in outcome.result["tests"]]))
    count = max(len(tests) for _, tests in statuses)  # the hidden checks (every variant runs them all)
    with tempfile.TemporaryDirectory() as scratch:
        session = CheckSession(protocol_checks(Path(scratch) / "empty_checks", count))
        probes = StudentProbes(lambda *args: None)
        session.run(probes, None, "warm-up")
        figures[PROTOCOL] = []
        for number in range(5 * submissions):
            started = time.process_time()
            records, _ = session.run(probes, None, f"bench-{number}")
            figures[PROTOCOL].append(1000 * (time.process_time() - started))
        session.close()
    return {"figures": figures, "checks": count, "statuses": statuses}


# --- the parent: one tree, or two side by side ---------------------------------------------------

def run_child(tree: Path, assignment: str, submissions: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), "--submissions", str(submissions)]
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    completed = subprocess.run(command, cwd=tree, capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        sys.exit(f"the benchmark's worker on {tree} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description="The trusted side of grading one submission, step by step.")
    parser.add_argument("--submissions", type=int, default=3, help="submissions of each variant per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (a fresh worker process per tree each)")
    parser.add_argument("--against", metavar="REF", help="another commit, measured side by side")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), ASSIGNMENT, args.submissions)))
        return 0
    trees = {"this tree": ROOT}
    scratch = None
    if args.against:
        scratch = Path(tempfile.mkdtemp(prefix="bench-trusted-"))
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(scratch / "tree"),
                        args.against], check=True)
        trees = {args.against: scratch / "tree", "this tree": ROOT}
    try:
        collected = {name: {} for name in trees}
        outcomes: dict[str, list] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                data = run_child(tree, ASSIGNMENT, args.submissions)
                for step, values in data["figures"].items():
                    collected[name].setdefault(step, []).extend(values)
                outcomes[name].extend(data["statuses"])
                checks = data["checks"]
    finally:
        if scratch is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(scratch / "tree")],
                           check=False)
            subprocess.run(["rm", "-rf", str(scratch)], check=False)
    names = list(trees)
    submissions = len(next(iter(outcomes.values())))
    print(f"{ASSIGNMENT}: CPU ms per submission in the grading process (median of {submissions} "
          f"submissions per tree, {args.rounds} alternating rounds; load average {os.getloadavg()[0]:.1f})")
    pair = len(names) == 2
    print(f"  {'':<38}" + "".join(f"{name[:16]:>17}" for name in names) + ("      ratio" if pair else "")
          + "".join(f"{'mean ' + name[:11]:>17}" for name in names))
    for step in [*STEPS, TOTAL, PROTOCOL]:
        medians = [statistics.median(collected[name][step]) for name in names]
        means = [statistics.fmean(collected[name][step]) for name in names]
        label = f"{PROTOCOL} ({checks} checks)" if step == PROTOCOL else step
        ratio = (f"{medians[1] / medians[0]:>11.2f}" if medians[0] > 0.05 else f"{'':>11}") if pair else ""
        print(f"  {label:<38}" + "".join(f"{m:>17.1f}" for m in medians) + ratio + "".join(f"{m:>17.1f}" for m in means))
    if len(names) == 2 and outcomes[names[0]] != outcomes[names[1]]:
        print("  WARNING: the two trees graded the variants differently (scores or test statuses)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
