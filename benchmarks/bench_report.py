"""Benchmark: the CPU time of one submission's report in a warm batch worker.

    python benchmarks/bench_report.py [--rounds 5]

The mix is the batch benchmark's cohort (benchmarks/bench_batch.py's VARIANTS from
demo/cohort: correct submissions in three styles, a notebook, common mistakes, a partly done
one), each variant graded for real once per round under a distinct student id, so that
every student gets other hidden-check inputs (their own ill-conditioned quadratics, sparse
data, starts) and per-problem caches miss as they do in a batch. Grading is not timed.

A submission's report is what `grader.batch.work.grade_job` renders: the HTML report and, for
a notebook, its HTML record. The first round warms the process (imports, templates, one
matplotlib backdrop per look) and is not counted; the next rounds are new students to a
warm worker. Printed: the median and mean CPU milliseconds per submission over the mix, per
variant, and the ratio to the budget.

Budget: 20 ms CPU per submission's report (a batch at 20 submissions/s on 2 cores has
0.1 CPU-s per submission for everything, grading included).

Also printed: the median CPU milliseconds of one notebook record (nbconvert's exporter, built
once per process) for each demo notebook in a warm process, against its 25 ms target.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import DEMO, VARIANTS  # noqa: E402  (the same cohort mix)

from grader.course import Course  # noqa: E402
from grader.grade import grade_submission  # noqa: E402
from grader.notebooks import notebook_record_html, submitted_notebook_record  # noqa: E402
from grader.render import plots  # noqa: E402
from grader.render.html import render_report  # noqa: E402

BUDGET_MS = 20.0
RECORD_TARGET_MS = 25.0
RECORD_NOTEBOOKS = ("eva_novak.ipynb", "elif_yilmaz.ipynb")


def render_submission(assignment, path: Path, result) -> tuple[int, int]:
    """What a batch worker renders for one submission: (report bytes, notebook record bytes)."""
    record = (submitted_notebook_record(path, assignment.module) if result.status == "graded" else None) or ""
    links = {"The notebook as submitted": f"../notebooks/{result.student}.html"} if record else None
    return len(render_report(result, assignment, links=links)), len(record)


def record_medians(repeats: int) -> dict[str, float]:
    """Median CPU ms of `notebook_record_html` per demo notebook, after one warm-up call each."""
    medians = {}
    for name in RECORD_NOTEBOOKS:
        notebook_record_html(DEMO / name)
        times = []
        for _ in range(repeats):
            started_cpu = time.process_time()
            notebook_record_html(DEMO / name)
            times.append((time.process_time() - started_cpu) * 1000)
        medians[name] = statistics.median(times)
    return medians


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="students per variant (the first round warms up)")
    parser.add_argument("--record-repeats", type=int, default=30, help="timed records per demo notebook")
    args = parser.parse_args(argv)
    assignment = Course.find().get("optimizers")

    started = time.perf_counter()
    cohort = [(variant, DEMO / variant, grade_submission(assignment, DEMO / variant, student=f"student{r:03d}{i}"))
              for r in range(max(args.rounds, 2)) for i, variant in enumerate(VARIANTS)]
    print(f"graded {len(cohort)} submissions ({len(VARIANTS)} variants x {max(args.rounds, 2)} students) "
          f"in {time.perf_counter() - started:.1f} s (not timed below)")

    cpu_ms: dict[str, list[float]] = {}
    sizes = []
    for index, (variant, path, result) in enumerate(cohort):
        started_cpu = time.process_time()
        sizes.append(render_submission(assignment, path, result))
        elapsed = (time.process_time() - started_cpu) * 1000
        if index == 0:
            print(f"first report in this process (cold): {elapsed:.0f} ms CPU")
        if index >= len(VARIANTS):  # after the warm-up round
            cpu_ms.setdefault(variant, []).append(elapsed)

    for variant, times in cpu_ms.items():
        print(f"  {variant:<20} median {statistics.median(times):6.1f} ms CPU over {len(times)} students")
    every = [t for times in cpu_ms.values() for t in times]
    median, mean = statistics.median(every), statistics.mean(every)
    report_kb = statistics.median(s[0] for s in sizes) / 1000
    print(f"report size median {report_kb:.0f} kB; plot cache {plots.cache_stats()}")
    print(f"RESULT report per submission, warm worker, new students: median {median:.1f} ms CPU "
          f"(mean {mean:.1f}, max {max(every):.1f}) = {median / BUDGET_MS:.2f} x the {BUDGET_MS:.0f} ms budget "
          f"(mean {mean / BUDGET_MS:.2f} x; {'met' if mean <= BUDGET_MS else 'MISSED'})")
    for name, median_ms in record_medians(args.record_repeats).items():
        print(f"RESULT notebook record {name}, warm process: median {median_ms:.1f} ms CPU "
              f"(target {RECORD_TARGET_MS:.0f} ms: {'met' if median_ms <= RECORD_TARGET_MS else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
