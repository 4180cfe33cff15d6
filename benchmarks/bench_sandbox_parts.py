"""Where the sandbox's time per submission goes, part by part (the warm pool, optimistic).

    python benchmarks/bench_sandbox_parts.py [RUNS]

Grades nothing: a trivial probes module (`noop` returns 0) and a module of one line, so that
each row adds one part of what a submission costs the sandbox, and the differences between
rows are the parts' prices:

1. a submission's worker forked by the pool, the student's module imported, the worker and
   everything of it cleared away (no probe);
2. plus one probe (the probe's own process, forked from the worker);
3. plus 52 more probes of the same function (53 round trips through the worker, about what the
   optimizers hidden checks make);
4. the same 53 probes over 13 functions (a fingerprint comparison at each change of function);
5. for scale, demo/cohort/amara_okafor.py's real probe calls (as bench_sandbox.py measures them).

CPU is this process's and the pool process tree's (bench_sandbox.py's way), per submission,
median of blocks of 5, the rows interleaved so that the machine's load drifts evenly.
"""
from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sandbox import ROOT, one_submission, own_cpu, record_probe_calls, tree_cpu  # noqa: E402

from grader.sandbox import Limits, SandboxPool, isolation_available  # noqa: E402

BLOCK = 5
NOOP_PROBES = '''
def noop(mod):
    """Nothing: the round trip alone."""
    return 0
'''
FUNCTIONS = 13

def rows(noop_probes: Path, real_probes: Path, real_source: str, real_calls: list) -> dict[str, tuple]:
    call = ("noop", {}, 3.0, "f0")
    spread = [("noop", {}, 3.0, f"f{i * FUNCTIONS // 53}") for i in range(53)]
    return {
        "1. worker forked, module imported, cleared": ("x = 1\n", noop_probes, []),
        "2. + one probe": ("x = 1\n", noop_probes, [call]),
        "3. + 52 more probes, one function": ("x = 1\n", noop_probes, [call] * 53),
        f"4. the 53 probes over {FUNCTIONS} functions": ("x = 1\n", noop_probes, spread),
        "5. amara_okafor.py's real probes": (real_source, real_probes, real_calls),
    }

def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if isolation_available() != "bubblewrap":
        sys.exit("bubblewrap does not work here: the pool serves bubblewrap only")
    folder = Path(tempfile.mkdtemp(prefix="bench-parts-"))
    noop = folder / "probes.py"
    noop.write_text(NOOP_PROBES)
    submission = ROOT / "demo" / "cohort" / "amara_okafor.py"
    real_calls = record_probe_calls(submission)
    table = rows(noop, ROOT / "assignments" / "optimizers" / "probes.py", submission.read_text(), real_calls)
    limits = Limits()
    pool = SandboxPool()
    for source, probes, calls in table.values():  # start each probes module's pool process
        one_submission(source, probes, calls, pool, limits)
    measured: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(max(1, runs // BLOCK)):
        for name, (source, probes, calls) in table.items():
            here, tree = own_cpu(), pool_cpu_of(pool, probes)
            for _ in range(BLOCK):
                one_submission(source, probes, calls, pool, limits)
            measured[name].append((own_cpu() - here + pool_cpu_of(pool, probes) - tree) / BLOCK)
    pool.close()
    print(f"sandbox CPU per submission, warm pool, optimistic; median of {max(1, runs // BLOCK)} blocks of {BLOCK}")
    previous = None
    for name, values in measured.items():
        cpu = statistics.median(values) * 1000
        step = "" if previous is None or name.startswith("5.") else f"  (+{cpu - previous:5.1f} ms)"
        print(f"  {name:46s} {cpu:6.1f} ms{step}")
        if not name.startswith("4."):
            previous = cpu

def pool_cpu_of(pool: SandboxPool, probes: Path) -> float:
    """CPU so far of the pool process serving `probes` (the pool keys its processes by probes)."""

    process = next((p for p in pool._processes if p.proc is not None and p.key and
                    p.key[0] == hashlib.sha256(probes.read_bytes()).hexdigest()), None)
    return tree_cpu(process.proc.pid) if process is not None else 0.0

if __name__ == "__main__":
    main()
