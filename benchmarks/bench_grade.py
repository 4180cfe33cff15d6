"""Cold `grader grade` of one submission from the shell, against a bare `python -c "import numpy"`.

    python benchmarks/bench_grade.py [RUNS] [ASSIGNMENT] [SUBMISSION] [--compare REV]

Each run is a fresh interpreter: `python -m grader grade ASSIGNMENT SUBMISSION --json` with
PYTHONPATH set to the tree under test (what the `grader` command runs, minus the console
script's two lines), so imports, sandbox start-up, the checks and the diagnosis are all
counted; the baseline is `python -c "import numpy"`, the least any grading in Python can
cost. The commands are interleaved (numpy, grade, numpy, grade, ...; with `--compare REV`,
REV's grade as well, REV checked out in a temporary git worktree), so every command sees
the same load; one warm-up run of each first (disk cache, bytecode). Printed per command:
the median wall time over RUNS (default 9) with min and max, the median CPU seconds of the
process and everything it started (the sandbox included, from a cgroup per run:
`side_by_side.run_measured`), and
the ratios of the medians to numpy's: wall (the target's) and CPU (which leaves out the time
spent waiting for a core, which a busy machine adds to the wall time).

Target (issue 18): the median of `grader grade` at most 5x the median of the bare numpy
import, measured side by side in one run (issue 3's absolute 1.0 s no longer says much on a
shared machine). SUBMISSION defaults to the reference solution (every check passes: no
diagnosis); a student's file (e.g. demo/cohort/hana_sato.py) adds the diagnosis.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import checkout, median, run_measured, short_commit, tree_environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold `grader grade` against a bare numpy import.")
    parser.add_argument("runs", type=int, nargs="?", default=9, help="runs of each command (default 9)")
    parser.add_argument("assignment", nargs="?", default="optimizers")
    parser.add_argument("submission", nargs="?", help="default: the assignment's reference solution")
    parser.add_argument("--compare", metavar="REV", help="also time git revision REV's `grader grade`")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("RUNS is at least 1")
    submission = Path(args.submission or ROOT / "solutions" / args.assignment / f"{args.assignment}.py").resolve()
    if not submission.exists():
        parser.error(f"no such submission: {submission}")
    grade = ["-m", "grader", "grade", args.assignment, str(submission), "--json"]
    with checkout(ROOT, args.compare) as old:
        commands = [("python -c 'import numpy'", ["-c", "import numpy"], ROOT)]
        if old is not None:
            commands.append((f"grader grade, REV {args.compare} ({short_commit(old)})", grade, old))
        commands.append((f"grader grade, this tree ({short_commit(ROOT)})", grade, ROOT))
        times: dict[str, list] = {label: [] for label, _, _ in commands}
        for run in range(args.runs + 1):  # run 0 warms the disk cache and writes bytecode
            for label, arguments, tree in commands:
                measured = run_measured([sys.executable, *arguments], env=tree_environment(tree), cwd=tree)
                if measured.returncode not in (0, 1):
                    sys.exit(f"{label} failed (exit {measured.returncode}): {measured.stderr.strip()[-2000:]}")
                if run:
                    times[label].append(measured)
    sources = {m.cpu_source for ms in times.values() for m in ms}
    print(f"{args.assignment}, {submission.name}, {args.runs} interleaved runs of each, cold processes; CPU from "
          + ("a cgroup per run" if sources == {"cgroup"} else "rusage: NO cgroup, so the sandbox's time is MISSING"))
    numpy_median = median(m.wall for m in times[commands[0][0]])
    numpy_cpu = median(m.cpu for m in times[commands[0][0]])
    for label, _, _ in commands:
        walls = [m.wall for m in times[label]]
        line = (f"  {label:<48} median {median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}), "
                f"CPU {median(m.cpu for m in times[label]):.3f} s")
        if label != commands[0][0]:
            ratio = median(walls) / numpy_median
            line += (f"; {ratio:.1f}x numpy -> target <= {TARGET_RATIO:g}x {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
                     f" (CPU {median(m.cpu for m in times[label]) / numpy_cpu:.1f}x numpy's)")
        print(line)
    if old is not None:
        new_label, old_label = commands[2][0], commands[1][0]
        paired = [n.wall / o.wall for n, o in zip(times[new_label], times[old_label])]
        print(f"  this tree / REV: {median(m.wall for m in times[new_label]) / median(m.wall for m in times[old_label]):.2f}x "
              f"wall (run by run median {median(paired):.2f}x), "
              f"{median(m.cpu for m in times[new_label]) / median(m.cpu for m in times[old_label]):.2f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
