"""Benchmark: loading a hostile-sized notebook submission (10,000 cells).

    python benchmarks/bench_load.py [--repeats 7]

The notebook is tests/test_load_hostile.py's (Markdown and code cells with IPython magics
and help, no outputs); the test checks what loading it yields, this prints how long it
takes: the median, min and max wall and CPU seconds of `load_submission` in a warm process
(nbformat's validator imported by a first, untimed load), against the 1 s target.  The
figure depends on the machine and on what else runs on it: rerun it rather than trusting a
number in a test.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from test_load_hostile import ten_thousand_cell_notebook  # noqa: E402  (the test's notebook)

from grader.load import load_submission  # noqa: E402

TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        path = Path(folder) / "big.ipynb"
        path.write_text(json.dumps(ten_thousand_cell_notebook()), encoding="utf-8")
        load_submission(path, "optimizers")  # warm: nbformat's validator, the loader's regexes
        wall, cpu = [], []
        for _ in range(args.repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            load_submission(path, "optimizers")
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    median = statistics.median(wall)
    print(f"10,000-cell notebook, {args.repeats} loads: wall median {median:.3f} s (min {min(wall):.3f}, "
          f"max {max(wall):.3f}), CPU median {statistics.median(cpu):.3f} s")
    print(f"target < {TARGET_SECONDS:.1f} s: {'met' if median < TARGET_SECONDS else 'NOT met'} "
          f"(ratio {median / TARGET_SECONDS:.2f})")


if __name__ == "__main__":
    main()
