"""Per-submission cost of the sandbox alone, with and without the warm pool.

    python benchmarks/bench_sandbox.py [RUNS] [SUBMISSION]

One "submission" here is what grading asks of the sandbox: start it, import the student
module, and run the probe calls the optimizers hidden checks make (recorded once from a real
grade of SUBMISSION, default demo/cohort/amara_okafor.py: ~50 calls in ~13 student-function
groups), then close it.  Printed: median wall and CPU seconds per submission for a fresh
bubblewrap worker per submission and for workers forked by one SandboxPool, the pool both
ways (the optimistic default: one process for all functions while nothing changes; and
`Limits(isolate_functions=True)`: a process per function) in alternating blocks, and the
ratios.
CPU counts this process and the whole sandbox process tree (read from /proc just before
close, so a killed tree's time is not lost); with the pool, the pool process's time per
submission, its start-up spread over the runs.  The checks' own work (reference probes,
comparisons, pytest) is not included: see bench_grade.py and bench_batch.py for that.

Measured 2026-11-25 on the 2-core machine (other jobs running, load ~2): fresh worker
332 ms wall / 264 ms CPU, warm pool 151 ms / 129 ms per submission (2.2x / 2.05x).  Of the
pool's 129 ms, ~60 ms is the probes' own work (all calls in one fork), the rest mostly the
13 forks (~2.5 ms CPU each for fork + exit of a NumPy process on this VM, plus copy-on-write
faults while the probe runs) that keep student functions apart.
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.course import Course  # noqa: E402
from grader.grade import grade_submission  # noqa: E402
from grader.sandbox import Limits, Sandbox, SandboxPool, isolation_available  # noqa: E402
from grader.sandbox.processes import descendants  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
#: Submissions per measured block of the pooled ways.
BLOCK = 5


def record_probe_calls(submission: Path) -> list[tuple]:
    """The run_probe arguments (name, kwargs, timeout, group[, reply limit]) of each call one
    grade of `submission` makes. Recorded whatever their number: a spy with a fixed
    signature failed every call once the reply limit was added, and recorded none."""
    calls: list[tuple] = []
    original = Sandbox.run_probe

    def spy(self, *args, **options):  # options: how to run it (isolated=), not what to run
        calls.append(args)
        return original(self, *args, **options)

    Sandbox.run_probe = spy
    try:
        grade_submission(Course(ROOT).get("optimizers"), submission, diagnose=False)
    finally:
        Sandbox.run_probe = original
    return calls


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants, with the children each has reaped."""
    total = 0
    for member in {pid} | descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_submission(source: str, probes: Path, calls: list[tuple], pool: SandboxPool | None,
                   limits: Limits = Limits()) -> tuple[float, float, float]:
    """(wall, CPU here, CPU of the sandbox tree) of one submission."""
    started, cpu_here = time.perf_counter(), own_cpu()
    sandbox = Sandbox(source, "optimizers", probes, limits, pool=pool)
    try:
        assert sandbox.import_error is None, sandbox.import_error
        for call in calls:
            outcome = sandbox.run_probe(*call)
            assert outcome.status == "ok", outcome
        tree = None if pool is not None else tree_cpu(sandbox._workers[0].proc.pid)
    finally:
        sandbox.close()
    return time.perf_counter() - started, own_cpu() - cpu_here, tree


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    submission = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "demo" / "cohort" / "amara_okafor.py"
    if isolation_available() != "bubblewrap":
        sys.exit("bubblewrap does not work here: the pool serves bubblewrap only")
    probes = ROOT / "assignments" / "optimizers" / "probes.py"
    source = submission.read_text(encoding="utf-8")
    calls = record_probe_calls(submission)
    if not calls:
        sys.exit(f"grading {submission} made no probe call through Sandbox.run_probe: this benchmark needs updating")
    groups = sum(1 for i, call in enumerate(calls) if i == 0 or call[3] != calls[i - 1][3])
    print(f"{submission.name}: {len(calls)} probe calls in {groups} group runs per submission, {runs} runs each")

    fresh = [one_submission(source, probes, calls, None) for _ in range(runs)]
    fresh_wall = statistics.median(w for w, _, _ in fresh)
    fresh_cpu = statistics.median(here + tree for _, here, tree in fresh)

    # The pool, both ways (grader.sandbox.Limits.isolate_functions), in alternating blocks of
    # BLOCK submissions (the machine's load drifts; /proc counts CPU in clock ticks).
    ways = {"isolated": Limits(isolate_functions=True), "optimistic": Limits()}
    pool = SandboxPool()
    startup = {}
    for way, limits in ways.items():  # starts each way's pool process: reported apart
        before = pool_cpu(pool, limits)
        one_submission(source, probes, calls, pool, limits)
        startup[way] = pool_cpu(pool, limits) - before
    blocks: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    for _ in range(max(1, runs // BLOCK)):
        for way, limits in ways.items():
            wall, here, tree = time.perf_counter(), own_cpu(), pool_cpu(pool, limits)
            for _ in range(BLOCK):
                one_submission(source, probes, calls, pool, limits)
            blocks[way].append(((time.perf_counter() - wall) / BLOCK,
                                (own_cpu() - here + pool_cpu(pool, limits) - tree) / BLOCK))
    pool.close()

    print(f"fresh bubblewrap worker (optimistic): median {fresh_wall * 1000:6.1f} ms wall, "
          f"{fresh_cpu * 1000:6.1f} ms CPU")
    medians = {}
    for way, measured in blocks.items():
        wall, cpu = statistics.median(w for w, _ in measured), statistics.median(c for _, c in measured)
        medians[way] = (wall, cpu)
        print(f"warm pool, {way:10s}: median {wall * 1000:6.1f} ms wall, {cpu * 1000:6.1f} ms CPU, "
              f"{2 / cpu:5.1f} sandbox submissions/s on 2 cores by CPU (pool start: {startup[way] * 1000:.0f} ms CPU)")
    (iso_wall, iso_cpu), (opt_wall, opt_cpu) = medians["isolated"], medians["optimistic"]
    print(f"ratio isolated / optimistic: {iso_wall / opt_wall:.2f}x wall, {iso_cpu / opt_cpu:.2f}x CPU")
    print(f"ratio fresh / pool (optimistic): {fresh_wall / opt_wall:.2f}x wall, {fresh_cpu / opt_cpu:.2f}x CPU")


def pool_cpu(pool: SandboxPool, limits: Limits) -> float:
    """CPU seconds so far of the pool process serving `limits` (0 before it exists)."""
    process = next((p for p in pool._processes if p.limits == limits and p.proc is not None), None)
    return tree_cpu(process.proc.pid) if process is not None else 0.0

if __name__ == "__main__":
    main()
