"""What sending bytes instead of paths costs a batch (grader.batch.work, course_bundle).

    python benchmarks/bench_shipping.py [N]

On a cohort of N (default 200) copies of the demo variants (bench_batch's cohort), per
submission, median over the cohort, CPU time (`time.process_time`):
- parent: `read_submission_file` (the entry read under loading's limits) and pickling the
  job with its bytes, against pickling the old job that held only the path;
- worker: `load_submission` from the bytes, against loading from the path;
and, once per batch or per worker and course version: building the course bundle (its size),
installing it into an empty cache, and the cache lookup every Dask job does. The figures
are to be read against the batch's whole cost per submission (bench_batch: ~0.1-0.3 CPU-s).
"""
from __future__ import annotations

import pickle
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import ASSIGNMENT, DEMO, ROOT, build_cohort  # noqa: E402


@dataclass(frozen=True)
class PathJob:
    """The job as it was before it carried bytes (for the comparison only)."""
    assignment: object
    student: str
    path: str
    with_report: bool = True


def _cpu(fn, repeat: int = 1) -> float:
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - started) / repeat


def main(argv: list[str]) -> int:
    import os

    from grader.batch.course_bundle import CACHE_ENV, CourseRef, cached_course, course_bundle, install_course
    from grader.batch.work import GradeJob
    from grader.course import Course
    from grader.load import load_submission, read_submission_file

    n = int(argv[0]) if argv else 200
    assignment = Course(ROOT).get(ASSIGNMENT)
    module = assignment.module
    with tempfile.TemporaryDirectory(prefix="bench-shipping-") as tmp:
        cohort = Path(tmp) / "cohort"
        build_cohort(cohort, n, DEMO)
        entries = sorted(cohort.iterdir())
        reps = 20
        read, pickled, pickled_path, load_bytes, load_path, sizes = [], [], [], [], [], []
        for entry in entries:
            file = read_submission_file(entry, module)
            job = GradeJob(assignment, entry.stem, file)
            old = PathJob(assignment, entry.stem, str(entry))
            read.append(_cpu(lambda: read_submission_file(entry, module), reps))
            pickled.append(_cpu(lambda: pickle.dumps(job, protocol=5), reps))
            pickled_path.append(_cpu(lambda: pickle.dumps(old, protocol=5), reps))
            load_bytes.append(_cpu(lambda: load_submission(file, module), 3))
            load_path.append(_cpu(lambda: load_submission(entry, module), 3))
            sizes.append(len(pickle.dumps(job, protocol=5)) - len(pickle.dumps(old, protocol=5)))

        def us(values):
            return f"{statistics.median(values) * 1e6:8.1f} us"

        print(f"cohort: {n} submissions of {len(set(e.suffix for e in entries))} kinds, "
              f"median extra job size {statistics.median(sizes) / 1024:.1f} KiB (max {max(sizes) / 1024:.1f})")
        print(f"parent, per submission: read {us(read)}; pickle the job {us(pickled)} "
              f"(a path-only job {us(pickled_path)})")
        extra = statistics.median(read) + statistics.median(pickled) - statistics.median(pickled_path)
        print(f"  extra parent CPU per submission: {extra * 1e6:.1f} us = {extra / 0.1 * 100:.3f}% of 0.1 CPU-s")
        print(f"worker, per submission: load from bytes {us(load_bytes)}; from the path {us(load_path)}")

        bundle_cpu = _cpu(lambda: course_bundle(assignment), 5)
        bundle = course_bundle(assignment)
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        install_cpu = _cpu(lambda: install_course(bundle.hash, bundle.data))
        lookup_cpu = _cpu(lambda: cached_course(bundle.hash), 200)
        ref = CourseRef(bundle.hash, lambda: bundle.data)
        resolve_cpu = _cpu(lambda: ref.assignment(assignment), 200)
        print(f"course bundle of {assignment.id}: {len(bundle.data) / 1024:.0f} KiB gzipped, built in "
              f"{bundle_cpu * 1e3:.1f} ms (once per batch), installed in {install_cpu * 1e3:.1f} ms "
              f"(once per worker machine and version)")
        print(f"  each Dask job's cache lookup: {lookup_cpu * 1e6:.1f} us, with the assignment rebased "
              f"{resolve_cpu * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
