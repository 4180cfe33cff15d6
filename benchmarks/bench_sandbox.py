"""Per-submission cost of the sandbox alone, with and without the warm pool.

    python benchmarks/bench_sandbox.py [RUNS] [SUBMISSION]

One "submission" here is what grading asks of the sandbox: start it, import the student
module, and run the probe calls the optimizers hidden checks make (recorded once from a real
grade of SUBMISSION, default demo/cohort/amara_okafor.py: ~50 calls in ~13 student-function
groups), then close it.  Printed: median wall and CPU seconds per submission for a fresh
bubblewrap worker per submission and for workers forked by one SandboxPool, and the ratios.
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


def record_probe_calls(submission: Path) -> list[tuple]:
    """The run_probe arguments (name, kwargs, timeout, group[, reply limit]) of each call one
    grade of `submission` makes. Recorded whatever their number: a spy with a fixed
    signature failed every call once the reply limit was added, and recorded none."""
    calls: list[tuple] = []
    original = Sandbox.run_probe

    def spy(self, *args):
        calls.append(args)
        return original(self, *args)

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


def one_submission(source: str, probes: Path, calls: list[tuple], pool: SandboxPool | None) -> tuple[float, float, float]:
    """(wall, CPU here, CPU of the sandbox tree) of one submission."""
    started, cpu_here = time.perf_counter(), own_cpu()
    sandbox = Sandbox(source, "optimizers", probes, Limits(), pool=pool)
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

    pool = SandboxPool()
    one_submission(source, probes, calls, pool)  # starts the pool process: reported apart
    bwrap = pool._processes[0].proc.pid
    pool_cpu_before = startup_cpu = tree_cpu(bwrap)
    pooled = []
    for _ in range(runs):
        wall, here, _ = one_submission(source, probes, calls, pool)
        pool_cpu = tree_cpu(bwrap)
        pooled.append((wall, here + pool_cpu - pool_cpu_before))
        pool_cpu_before = pool_cpu
    pool.close()
    pooled_wall = statistics.median(w for w, _ in pooled)
    pooled_cpu = statistics.median(c for _, c in pooled)

    print(f"fresh bubblewrap worker: median {fresh_wall * 1000:6.1f} ms wall, {fresh_cpu * 1000:6.1f} ms CPU")
    print(f"warm pool              : median {pooled_wall * 1000:6.1f} ms wall, {pooled_cpu * 1000:6.1f} ms CPU "
          f"(the pool's start and first submission: {startup_cpu * 1000:.0f} ms CPU, once per pool)")
    print(f"ratio fresh / pool     : {fresh_wall / pooled_wall:.2f}x wall, {fresh_cpu / pooled_cpu:.2f}x CPU")
    print(f"sandbox submissions/s on 2 cores by CPU: {2 / fresh_cpu:.1f} fresh, {2 / pooled_cpu:.1f} pooled")


if __name__ == "__main__":
    main()
