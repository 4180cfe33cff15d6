"""Cold `grader grade` of one submission from the shell: median wall time.

    python benchmarks/bench_grade.py [RUNS] [ASSIGNMENT] [SUBMISSION]

Target (issue 3): median under 1.0 s on a 2-core machine. Each run is a fresh interpreter
(`python -m grader grade ... --json`), so imports, sandbox start-up, the checks and the
diagnosis are all counted.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    assignment = sys.argv[2] if len(sys.argv) > 2 else "optimizers"
    submission = sys.argv[3] if len(sys.argv) > 3 else str(ROOT / "solutions" / assignment / f"{assignment}.py")
    command = [sys.executable, "-m", "grader", "grade", assignment, submission, "--json"]
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False)  # warm the disk cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if completed.returncode not in (0, 1):
            sys.exit(f"grader grade failed ({completed.returncode}): {completed.stderr.strip()}")
    median = statistics.median(times)
    print(f"grader grade {assignment} (cold, {runs} runs): median {median:.3f} s, "
          f"min {min(times):.3f} s, max {max(times):.3f} s; "
          f"target {TARGET_SECONDS:.1f} s -> ratio {median / TARGET_SECONDS:.2f}")


if __name__ == "__main__":
    main()
