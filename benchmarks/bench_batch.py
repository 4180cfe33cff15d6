"""Batch grading throughput: a synthetic cohort of N submissions, graded with full HTML reports.

    python benchmarks/bench_batch.py N [--workers W] [--no-reports] [--stand-in] [--keep]

The cohort is N copies of a few realistic variants from the demo cohort (correct in three
styles, a notebook, four common mistakes, a partly done one), each made distinct by a
comment so no two submissions share a content hash. Prints submissions per second, seconds
per submission, where the time goes in a worker (grading vs the report), and the peak
resident memory of a worker process (ru_maxrss) and of the largest sandbox it ran.

`--stand-in` replaces grading by copying one real result (graded once, up front), to measure
what the batch machinery itself costs per submission (cohort scan, hashing, process pool,
gradebook transactions, reports without plots, CSV, JSON files, dashboard) at large N.

Targets (issue 6), on the 2-core reference machine: >= 20 submissions/s at N = 500, < 300 MB
per worker, and flat throughput from N = 50 to N = 2000.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "cohort"
VARIANTS = ["amara_okafor.py", "ben_carter.py", "chen_wei.py", "eva_novak.ipynb",
            "hana_sato.py", "nadia_rahman.py", "priya_nair.py", "sam_taylor.py"]
TARGET_RATE = 20.0
TARGET_WORKER_MB = 300.0


STAND_IN_RESULT = "stand-in-result.json"


def stand_in_grade(assignment, path, student):
    """A copy of the result stored next to the cohort (see --stand-in), renamed."""
    from grader.results import GradingResult

    data = json.loads((Path(path).parent.parent / STAND_IN_RESULT).read_text())
    data["student"] = student
    return GradingResult.from_dict(data)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def build_cohort(folder: Path, n: int) -> None:
    """n submissions cycling through VARIANTS, each with a distinguishing comment."""
    folder.mkdir(parents=True)
    for i in range(n):
        variant = DEMO / VARIANTS[i % len(VARIANTS)]
        text = variant.read_text(encoding="utf-8")
        name = f"student{i:05d}{variant.suffix}"
        if variant.suffix == ".ipynb":
            notebook = json.loads(text)
            notebook["cells"][-1]["source"].append(f"\n# submission {i}")
            text = json.dumps(notebook, indent=1)
        else:
            text += f"\n# submission {i}\n"
        (folder / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Batch grading throughput on a synthetic cohort.")
    parser.add_argument("n", type=int, help="number of submissions")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the cores)")
    parser.add_argument("--no-reports", action="store_true", help="skip the HTML reports")
    parser.add_argument("--stand-in", action="store_true",
                        help="copy one real result instead of grading: the batch machinery's own cost")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args(argv)

    from grader.batch import run_batch
    from grader.course import Course

    assignment = Course.find(ROOT).get("optimizers")
    scratch = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        build_cohort(scratch / "cohort", args.n)
        grade_fn = None
        if args.stand_in:
            from grader.grade import grade_submission

            real = grade_submission(assignment, DEMO / VARIANTS[4], student="template")
            (scratch / STAND_IN_RESULT).write_text(json.dumps(real.to_dict()))
            grade_fn = stand_in_grade
        log = io.StringIO()
        parent_cpu = _own_cpu()
        machine_busy = _machine_busy_seconds()
        started = time.perf_counter()
        summary = run_batch(assignment, scratch / "cohort", scratch / "out", workers=args.workers,
                            reports=not args.no_reports, grade_fn=grade_fn, stream=log, progress_bar=False)
        total = time.perf_counter() - started
        parent_cpu = _own_cpu() - parent_cpu
        machine_busy = _machine_busy_seconds() - machine_busy
        if len(summary.graded) != args.n:
            sys.exit(f"only {len(summary.graded)} of {args.n} submissions were graded:\n{log.getvalue()}")
        reports = len(list((scratch / "out" / "reports").glob("*.html")))
        workers = len(summary.workers)
        rate = args.n / total
        per_worker_mb = summary.worker_peak_rss_kb / 1024
        print(f"N = {args.n}, {workers} workers, {'stand-in results, ' if args.stand_in else ''}"
              f"{'with' if not args.no_reports else 'without'} HTML reports "
              f"({reports} written), {os.cpu_count()} cores")
        print(f"  total {total:.1f} s (grading {summary.seconds:.1f} s, outputs and dashboard "
              f"{total - summary.seconds:.1f} s)")
        print(f"  throughput {rate:.2f} submissions/s; {total / args.n:.3f} s per submission (wall)")
        print(f"  in a worker, per submission: grading {summary.grade_seconds / args.n:.3f} s, "
              f"report {summary.report_seconds / args.n:.3f} s")
        trusted = (summary.cpu_seconds + parent_cpu) / args.n
        cores = os.cpu_count() or 1
        print(f"  CPU per submission outside the sandboxes {trusted:.3f} s (workers "
              f"{summary.cpu_seconds / args.n:.3f} s, this process {parent_cpu / args.n:.3f} s)")
        print(f"  whole machine busy {machine_busy / args.n:.3f} CPU-s per submission (includes the sandboxes, and "
              f"anything else running: load average now {os.getloadavg()[0]:.1f}); on {cores} idle cores that "
              f"allows at most {cores * args.n / machine_busy:.1f} submissions/s")
        print(f"  peak memory of a worker process {per_worker_mb:.0f} MB (ru_maxrss)")
        print(f"  targets: >= {TARGET_RATE:g} submissions/s -> {'met' if rate >= TARGET_RATE else 'NOT met'}; "
              f"< {TARGET_WORKER_MB:g} MB per worker -> {'met' if per_worker_mb < TARGET_WORKER_MB else 'NOT met'}")
        if args.keep:
            print(f"  kept {scratch}")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
