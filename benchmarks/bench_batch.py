"""Batch grading throughput: a synthetic cohort of N submissions, graded with full HTML reports.

    python benchmarks/bench_batch.py N [N ...] [--workers W] [--rounds K] [--compare REV]
                                       [--floor-sample S] [--no-reports] [--stand-in] [--keep]

The cohort is N copies of a few realistic variants from the demo cohort (correct in three
styles, a notebook, four common mistakes, a partly done one), each made distinct by a
comment so no two submissions share a content hash. It is built once, from this tree's
demo/cohort, and every round grades the same files (`grader.batch.run_batch`, optimizers).

Each round is a fresh process (`python bench_batch.py _round ...`) with PYTHONPATH set to the
tree under test, measured with everything it starts (`side_by_side.run_measured`: the
workers, the multiprocessing fork server, every sandbox), so the CPU seconds per submission
count the grader and the sandboxes, and nothing else running on the machine. Printed per
tree: submissions/s (the batch's wall time; median over the rounds, with the spread), CPU-s
per submission (all processes of the round, from a cgroup of its own, less the round's own
set-up before the batch; without a cgroup, e.g. not root, rusage misses most of the
sandboxes' time and the line says so),
of which the trusted side (the workers outside their sandboxes, and the batch's parent
process), the whole machine's busy time per submission (includes everyone else's work:
only meaningful on an idle machine), and the peak resident memory of a worker process
(ru_maxrss, the largest over the rounds). Every round's grades (each student's score, parts'
scores and status, from grades.csv) must agree across rounds and trees; a difference is
printed in capitals. Several N (e.g. `500 2000`) are measured in the same rounds, and the
ratios of the largest to the smallest show whether throughput, CPU and memory stay flat.

`--compare REV` checks REV (e.g. the commit before a change) out into a temporary git
worktree and grades the same cohort with both trees, rounds alternating (REV, this tree,
REV, this tree, ...: `--rounds K` each, default 3) so both see the same load; it prints the
ratios this tree / REV. On a busy machine quote the ratios and the CPU-s, not the rates.

The floor (`--floor-sample S`, default 24 submissions of the cohort, 0 to skip): the CPU
seconds of the student's own computation and of the reference's own computation per
submission, i.e. what grading can never go below. For S submissions of the cohort, every
hidden check of the tree is called directly (no pytest, no sandbox, no report) with an
in-process student and reference (`grader.checking.InProcessModule`), and only the probe
drivers' calls are timed (`time.process_time`), not the fresh module or the copy of the
arguments each call gets, nor the comparisons. Seeds are drawn per (submission, check) by
this benchmark, not grading's: other inputs, the same work. This runs the demo cohort's
made-up students in this process: never point it at real submissions.

`--stand-in` replaces grading by copying one real result (graded once, up front, outside
the measured batch), to measure what the batch machinery itself costs per submission (cohort
scan, hashing, process pool, gradebook transactions, reports without plots, CSV, JSON files,
dashboard) at large N.

Targets (issues 6 and 18), on the 2-core reference machine: >= 20 submissions/s at N = 500
(0.1 CPU-s per submission), < 300 MB per worker, and flat throughput from N = 500 to N = 2000.
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import importlib.util
import inspect
import io
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import checkout, median, run_measured, short_commit, spread, tree_environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "cohort"  # where VARIANTS are (benchmarks/bench_trusted.py uses both)
ASSIGNMENT = "optimizers"
VARIANTS = ["amara_okafor.py", "ben_carter.py", "chen_wei.py", "eva_novak.ipynb",
            "hana_sato.py", "nadia_rahman.py", "priya_nair.py", "sam_taylor.py"]
TARGET_RATE = 20.0
TARGET_CPU = 0.1
TARGET_WORKER_MB = 300.0
STAND_IN_RESULT = "stand-in-result.json"
#: A student probe running longer than this in the floor measurement is stopped (none of
#: the variants should come near it).
FLOOR_PROBE_SECONDS = 10.0


# --- the cohort ---------------------------------------------------------------------------

def build_cohort(folder: Path, n: int, demo: Path) -> None:
    """n submissions cycling through VARIANTS of the demo cohort folder `demo` (any tree's
    demo/cohort), each with a distinguishing comment."""
    missing = [name for name in VARIANTS if not (demo / name).is_file()]
    if missing:
        sys.exit(f"{demo}: no {', '.join(missing)} (the cohort's variants); use a tree with the demo cohort")
    folder.mkdir(parents=True)
    for i in range(n):
        variant = demo / VARIANTS[i % len(VARIANTS)]
        text = variant.read_text(encoding="utf-8")
        name = f"student{i:05d}{variant.suffix}"
        if variant.suffix == ".ipynb":
            notebook = json.loads(text)
            notebook["cells"][-1]["source"].append(f"\n# submission {i}")
            text = json.dumps(notebook, indent=1)
        else:
            text += f"\n# submission {i}\n"
        (folder / name).write_text(text, encoding="utf-8")


def demo_differences(new: Path, old: Path) -> list[str]:
    """The variants whose bytes differ between two trees' demo cohorts."""
    return [name for name in VARIANTS
            if not (old / name).is_file() or (old / name).read_bytes() != (new / name).read_bytes()]


# --- inside one round's process (PYTHONPATH = the tree under test) -------------------------

def stand_in_grade(assignment, submission, student):
    """A copy of the result stored next to the cohort (see --stand-in), renamed. `submission`
    is the job's SubmissionFile (its origin is the entry's path), or a path in a tree from
    before jobs carried bytes (--compare)."""
    from grader.results import GradingResult

    origin = getattr(submission, "origin", submission)
    data = json.loads((Path(origin).parent.parent / STAND_IN_RESULT).read_text())
    data["student"] = student
    return GradingResult.from_dict(data)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_grader(tree: Path) -> None:
    import grader

    if not Path(grader.__file__).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"grader was imported from {grader.__file__}, not from {tree}")


def drive_round(tree: Path, cohort: Path, out: Path, workers: int | None, reports: bool, stand_in: bool) -> dict:
    """One batch of the cohort with this process's grader (the tree's): its figures."""
    _own_grader(tree)
    from grader.batch import run_batch
    from grader.course import Course

    assignment = Course(tree).get(ASSIGNMENT)
    grade_fn = None
    if stand_in:
        from grader.grade import grade_submission

        real = grade_submission(assignment, tree / "demo" / "cohort" / VARIANTS[4], student="template")
        (cohort.parent / STAND_IN_RESULT).write_text(json.dumps(real.to_dict()))
        grade_fn = stand_in_grade
    log = io.StringIO()
    set_up_cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    parent_cpu = _cpu(resource.RUSAGE_SELF)
    machine_busy = _machine_busy_seconds()
    started = time.perf_counter()
    summary = run_batch(assignment, cohort, out, workers=workers, reports=reports, grade_fn=grade_fn,
                        stream=log, progress_bar=False)
    total = time.perf_counter() - started
    n = sum(1 for _ in cohort.iterdir())
    if len(summary.graded) != n:
        sys.exit(f"only {len(summary.graded)} of {n} submissions were graded:\n{log.getvalue()}")
    return {
        "n": n, "seconds": total, "grading_seconds": summary.seconds,
        "grade_seconds": getattr(summary, "grade_seconds", 0.0),
        "report_seconds": getattr(summary, "report_seconds", 0.0),
        "worker_cpu": getattr(summary, "cpu_seconds", 0.0),
        "parent_cpu": _cpu(resource.RUSAGE_SELF) - parent_cpu,
        "set_up_cpu": set_up_cpu,
        "machine_busy": _machine_busy_seconds() - machine_busy,
        "load": os.getloadavg()[0],
        "workers": len(getattr(summary, "workers", ())),
        "worker_peak_rss_kb": getattr(summary, "worker_peak_rss_kb", 0),
        "html_files": sum(1 for _ in out.rglob("*.html")),
        "grades": _grades(out, assignment.functions),
    }


def _grades(out: Path, functions: list[str]) -> dict[str, list[str]]:
    """Each student's score, parts' scores and status, from the batch's grades.csv."""
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: [row.get(column, "") for column in ("score", *functions, "status")]
                for row in csv.DictReader(handle)}


class _Stopped(Exception):
    """A student probe ran past FLOOR_PROBE_SECONDS."""


def drive_floor(tree: Path, cohort: Path, sample: int) -> dict:
    """The student's and the reference's own computation per submission (see the module
    docstring), over the first `sample` submissions of the cohort (all variants in turn)."""
    _own_grader(tree)
    import numpy as np

    from grader.checking import InProcessModule, StudentError, StudentTimeout, normalise
    from grader.course import Course
    from grader.grade import trusted_probes
    from grader.load import load_submission

    class TimedModule(InProcessModule):
        """An InProcessModule (the checks treat it as in grading) whose probe drivers' own
        calls are timed; the fresh module, the copy of the arguments and the trip through
        the protocol's value form are not."""
        cpu = 0.0
        calls = 0

        def probe(self, name, **kwargs):
            module, arguments = self.fresh_module(), copy.deepcopy(kwargs)
            started = time.process_time()
            try:
                value = getattr(self.probes, name)(module, **arguments)
            finally:
                self.cpu += time.process_time() - started
                self.calls += 1
            return normalise(value)

    class Student:
        """The `student` fixture, in process: the student's exceptions as grading reports them."""

        def __init__(self, module: TimedModule):
            self.module = module

        def probe(self, name, **kwargs):
            signal.setitimer(signal.ITIMER_REAL, FLOOR_PROBE_SECONDS)
            try:
                return self.module.probe(name, **kwargs)
            except (_Stopped, StudentError):
                raise
            except BaseException as exc:  # noqa: BLE001 - the student's code; grading reports it likewise
                raise StudentError(f"{type(exc).__name__}: {exc}", exc_type=type(exc).__name__) from None
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)

    def stop(signum, frame):
        raise _Stopped()

    previous_handler = signal.signal(signal.SIGALRM, stop)
    assignment = Course(tree).get(ASSIGNMENT)
    probes = trusted_probes(assignment)
    checks = []
    for number, path in enumerate(sorted(Path(assignment.hidden_checks).glob("test_*.py"))):
        spec = importlib.util.spec_from_file_location(f"_floor_checks_{number}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        # a check is a test_ function that asks for the student (whatever marks it)
        checks += [function for name, function in vars(module).items() if name.startswith("test_")
                   and callable(function) and "student" in inspect.signature(function).parameters]
    if not checks:
        sys.exit(f"no hidden checks found in {assignment.hidden_checks}")
    reference = TimedModule(assignment.reference_path, probes, assignment.module)
    student_cpu, reference_cpu, student_calls, reference_calls = [], [], [], []
    harness_errors: list[str] = []  # checks that raised something a grading run calls internal
    scratch = Path(tempfile.mkdtemp(prefix="grader-floor-"))
    try:
        for path in sorted(cohort.iterdir())[:sample]:
            source = scratch / f"{assignment.module}.py"
            source.write_text(load_submission(path, assignment.module).source, encoding="utf-8")
            student = TimedModule(source, probes, assignment.module)
            reference.cpu = reference.calls = 0
            for check in checks:
                seed = int.from_bytes(hashlib.sha256(f"{path.name}|{check.__name__}".encode()).digest()[:8], "big")
                fixtures = {"student": Student(student), "reference": reference,
                            "rng": np.random.default_rng(seed), "trace": lambda *args, **kwargs: None}
                wanted = {name: fixtures[name] for name in inspect.signature(check).parameters}
                try:
                    check(**wanted)
                except (AssertionError, StudentError, StudentTimeout, _Stopped):
                    pass  # a failed check, or the student's error: the check ends, as in grading
                except Exception as exc:  # noqa: BLE001 - the check's own error: this measurement is off
                    harness_errors.append(f"{check.__name__} on {path.name}: {type(exc).__name__}: {exc}")
            student_cpu.append(student.cpu)
            reference_cpu.append(reference.cpu)
            student_calls.append(student.calls)
            reference_calls.append(reference.calls)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        signal.signal(signal.SIGALRM, previous_handler)
    return {"submissions": len(student_cpu), "checks": len(checks),
            "student_cpu": student_cpu, "reference_cpu": reference_cpu,
            "student_calls": student_calls, "reference_calls": reference_calls, "harness_errors": harness_errors}


# --- the orchestrating process --------------------------------------------------------------

def measure_in(tree: Path, mode: str, *arguments: str) -> tuple[dict, object]:
    """Run this script's `mode` in a fresh process on `tree`'s code: (its figures, Measured)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        measured = run_measured([sys.executable, str(Path(__file__).resolve()), mode, str(tree), *arguments,
                                 result.name], env=tree_environment(tree), cwd=tree)
        if measured.returncode != 0:
            sys.exit(f"{mode} on {tree} failed (exit {measured.returncode}):\n{measured.stderr.strip()[-3000:]}")
        return json.loads(Path(result.name).read_text()), measured


def round_figures(figures: dict, measured) -> dict:
    n = figures["n"]
    return {**figures, "rate": n / figures["seconds"],
            "cpu_per": (measured.cpu - figures["set_up_cpu"]) / n,
            "trusted_per": (figures["worker_cpu"] + figures["parent_cpu"]) / n,
            "busy_per": figures["machine_busy"] / n,
            "largest_process_kb": measured.peak_rss_kb, "still_running": measured.still_running,
            "cpu_source": measured.cpu_source}


def report_tree(label: str, rounds: list[dict], floor: dict | None) -> None:
    n = rounds[0]["n"]
    per_worker_mb = max(r["worker_peak_rss_kb"] for r in rounds) / 1024
    rate = median(r["rate"] for r in rounds)
    cpu = median(r["cpu_per"] for r in rounds)
    trusted = median(r["trusted_per"] for r in rounds)
    print(f"{label}: {len(rounds)} round{'s' * (len(rounds) != 1)} of N = {n}, {rounds[0]['workers']} workers, "
          f"{rounds[0]['html_files']} HTML files written per round")
    print(f"  throughput {rate:.2f} submissions/s median ({spread(r['rate'] for r in rounds)}); "
          f"{1 / rate:.3f} s per submission (wall); total {median(r['seconds'] for r in rounds):.1f} s, of which "
          f"outputs and dashboard after grading {median(r['seconds'] - r['grading_seconds'] for r in rounds):.1f} s")
    source = ("every process of the round, from its cgroup" if all(r["cpu_source"] == "cgroup" for r in rounds)
              else "rusage: NO cgroup, so most of the sandboxes' time is MISSING")
    print(f"  CPU per submission, grader and sandboxes ({source}) {cpu:.3f} s median "
          f"({spread(r['cpu_per'] for r in rounds)}): trusted side {trusted:.3f} s (workers outside the sandboxes "
          f"{median(r['worker_cpu'] / n for r in rounds):.3f} s, the batch's parent "
          f"{median(r['parent_cpu'] / n for r in rounds):.3f} s), sandboxes and the rest {cpu - trusted:.3f} s; "
          f"on 2 idle cores that allows at most {2 / cpu:.1f} submissions/s")
    print(f"  in a worker, per submission (wall): grading {median(r['grade_seconds'] / n for r in rounds):.3f} s, "
          f"report {median(r['report_seconds'] / n for r in rounds):.3f} s")
    print(f"  whole machine busy {median(r['busy_per'] for r in rounds):.3f} CPU-s per submission (includes "
          f"everything else running; load average {median(r['load'] for r in rounds):.1f})")
    print(f"  peak memory of a worker process {per_worker_mb:.0f} MB (ru_maxrss, largest over the rounds); "
          f"largest single process of the round {max(r['largest_process_kb'] for r in rounds) / 1024:.0f} MB")
    lingering = max(r["still_running"] for r in rounds)
    if lingering:
        print(f"  WARNING: {lingering} processes of a round were still running 30 s after it ended "
              "(their CPU is not counted)")
    if floor:
        student, reference = median(floor["student_cpu"]), median(floor["reference_cpu"])
        print(f"  floor over {floor['submissions']} submissions ({floor['checks']} hidden checks called directly): "
              f"the student's own computation {student * 1000:.1f} ms ({median(floor['student_calls']):.0f} probe "
              f"calls), the reference's {reference * 1000:.1f} ms ({median(floor['reference_calls']):.0f} calls): "
              f"{(student + reference) * 1000:.1f} ms CPU per submission; we are at {cpu * 1000:.0f} ms, "
              f"{cpu / (student + reference):.1f}x the floor")
        if floor.get("harness_errors"):
            print(f"  WARNING: the floor is too low: {len(floor['harness_errors'])} checks ended with an internal "
                  f"error in its harness, e.g. {floor['harness_errors'][0]}")
    print(f"  targets: >= {TARGET_RATE:g} submissions/s -> {'met' if rate >= TARGET_RATE else 'NOT met'} "
          f"(<= {TARGET_CPU:g} CPU-s per submission -> {'met' if cpu <= TARGET_CPU else 'NOT met'}); "
          f"< {TARGET_WORKER_MB:g} MB per worker -> {'met' if per_worker_mb < TARGET_WORKER_MB else 'NOT met'}")


def report_ratios(new: list[dict], old: list[dict]) -> None:
    def ratio(key: str) -> str:
        return f"{median(r[key] for r in new) / median(r[key] for r in old):.2f}x"

    paired = [n["rate"] / o["rate"] for n, o in zip(new, old)]
    print(f"this tree / REV: throughput {ratio('rate')} (round by round {spread(paired)}), "
          f"CPU per submission {ratio('cpu_per')}, trusted side {ratio('trusted_per')}, peak memory per worker "
          f"{max(r['worker_peak_rss_kb'] for r in new) / max(r['worker_peak_rss_kb'] for r in old):.2f}x")


def orchestrate(args) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        with checkout(ROOT, args.compare) as old:
            trees = [(f"REV {args.compare} ({short_commit(old)})", old)] if old else []
            trees.append((f"this tree ({short_commit(ROOT)})", ROOT))
            for n in args.n:
                build_cohort(scratch / f"cohort-{n}", n, DEMO)
            if old:
                changed = demo_differences(DEMO, old / "demo" / "cohort")
                print(f"cohort built from this tree's demo/cohort ({', '.join(changed)} differ in REV's)"
                      if changed else "cohort built from demo/cohort (the same variants in both trees)")
            rounds: dict[tuple[str, int], list[dict]] = {(label, n): [] for label, _ in trees for n in args.n}
            for number in range(args.rounds):
                for n in args.n:
                    for label, tree in trees:
                        out = scratch / f"out-{number}-{n}-{tree.name}"
                        figures, measured = measure_in(tree, "_round", str(scratch / f"cohort-{n}"), str(out),
                                                       str(args.workers or 0), str(int(not args.no_reports)),
                                                       str(int(args.stand_in)))
                        done = round_figures(figures, measured)
                        rounds[label, n].append(done)
                        print(f"  round {number + 1}, N = {n}, {label}: {done['rate']:.2f} submissions/s, "
                              f"{done['cpu_per']:.3f} CPU-s per submission", flush=True)
                        if not args.keep:
                            shutil.rmtree(out, ignore_errors=True)
            floors = {}
            if args.floor_sample > 0 and not args.stand_in:
                for label, tree in trees:
                    floors[label], _ = measure_in(tree, "_floor", str(scratch / f"cohort-{args.n[0]}"),
                                                  str(args.floor_sample))
            for n in args.n:
                print(f"N = {n}, {'stand-in results, ' if args.stand_in else ''}"
                      f"{'without' if args.no_reports else 'with'} HTML reports, {os.cpu_count()} cores")
                for label, _ in trees:
                    report_tree(label, rounds[label, n], floors.get(label) if n == args.n[0] else None)
                if old:
                    report_ratios(rounds[trees[1][0], n], rounds[trees[0][0], n])
                if not args.stand_in:
                    report_agreement([(label, grades) for label, _ in trees for grades in
                                      (r["grades"] for r in rounds[label, n])])
            if len(args.n) > 1:
                report_flatness(trees, rounds, args.n)
        if args.keep:
            print(f"kept {scratch}")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def report_agreement(runs: list[tuple[str, dict]]) -> None:
    """Every round of every tree must give every student the same grade (score, parts'
    scores, status): a faster grader that grades differently is not faster."""
    if len(runs) < 2:
        return
    first_label, first = runs[0]
    for label, grades in runs[1:]:
        differing = sorted(s for s in set(first) | set(grades) if first.get(s) != grades.get(s))
        if differing:
            s = differing[0]
            print(f"  GRADES DIFFER: {len(differing)} students between {first_label} and {label}, e.g. {s}: "
                  f"{first.get(s)} vs {grades.get(s)} (score, parts..., status)")
            return
    print(f"  grades identical in all {len(runs)} rounds (score, every part's score, status of each student)")


def report_flatness(trees, rounds, ns: list[int]) -> None:
    small, large = min(ns), max(ns)
    for label, _ in trees:
        rate = median(r["rate"] for r in rounds[label, large]) / median(r["rate"] for r in rounds[label, small])
        cpu = median(r["cpu_per"] for r in rounds[label, large]) / median(r["cpu_per"] for r in rounds[label, small])
        memory = (max(r["worker_peak_rss_kb"] for r in rounds[label, large])
                  / max(r["worker_peak_rss_kb"] for r in rounds[label, small]))
        print(f"flatness, {label}: N = {large} / N = {small}: throughput {rate:.2f}x, CPU per submission {cpu:.2f}x, "
              f"peak memory per worker {memory:.2f}x (flat: about 1.00x each)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_round", "_floor"):  # one measured process (see measure_in)
        tree, cohort, *rest, result = argv[1:]
        if argv[0] == "_round":
            out, workers, reports, stand_in = rest
            figures = drive_round(Path(tree), Path(cohort), Path(out), int(workers) or None, reports == "1",
                                  stand_in == "1")
        else:
            figures = drive_floor(Path(tree), Path(cohort), int(rest[0]))
        Path(result).write_text(json.dumps(figures))
        return 0
    parser = argparse.ArgumentParser(description="Batch grading throughput on a synthetic cohort.")
    parser.add_argument("n", type=int, nargs="+",
                        help="number of submissions; several (e.g. 500 2000): rounds of each, and their flatness")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the cores)")
    parser.add_argument("--compare", metavar="REV", help="also grade with git revision REV, rounds alternating")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per tree (default 3 with --compare, else 1)")
    parser.add_argument("--floor-sample", type=int, default=24,
                        help="submissions for the floor measurement (default 24; 0: skip it)")
    parser.add_argument("--no-reports", action="store_true", help="skip the HTML reports")
    parser.add_argument("--stand-in", action="store_true",
                        help="copy one real result instead of grading: the batch machinery's own cost")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args(argv)
    if min(args.n) < 1 or (args.rounds is not None and args.rounds < 1):
        parser.error("N and --rounds are at least 1")
    args.rounds = args.rounds or (3 if args.compare else 1)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
