"""Benchmark: rendering one student's HTML feedback report, warm.

A realistic `optimizers` result is built the way the hidden checks build theirs: the
assignment's own probes run the reference and, for the parts a student gets wrong, a
known-mistake mutant (reference + mutant file, as diagnosis does), on per-student inputs
(starts near (-2, 2), a rotated ill-conditioned quadratic, Adagrad's sparse data) and on the
lecture's neuron. Every optimiser part has its traces (13 in all: 26 plots), a few parts fail
with their misconception named, one raises.

The report is rendered in a process that has already rendered one report (imports, templates
and plot backgrounds warm). Three figures are printed:

- new student, per-student inputs (the hidden checks: every trajectory is new) - the target;
- new student, shared inputs (public checks or a fixed-input cohort: correct parts reuse images);
- the same result again (everything cached).

Target: median under 150 ms for a new student. Run: `python benchmarks/bench_report.py [--runs 20]`.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import tomllib
import types

import numpy as np

from grader.course import Course
from grader.render import plots
from grader.render.html import render_report
from grader.results import GradingResult, PartResult, TestResult, Trace

TARGET_MS = 150.0
NEURON = {"kind": "sigmoid_neuron", "x": [0.5, 2.5], "y": [0.2, 0.9]}


def load_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)  # trusted course files only
    return module


class CourseFiles:
    """The optimizers assignment's reference, mutants, probes and hints."""

    def __init__(self):
        self.assignment = Course.find().get("optimizers")
        solution = self.assignment.solution_directory
        source = self.assignment.reference_path.read_text(encoding="utf-8")
        self.reference = load_module("optimizers", source)
        spec = importlib.util.spec_from_file_location("bench_probes", self.assignment.probes_path)
        self.probes = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.probes)
        catalogue = tomllib.loads((solution / "mutants" / "catalogue.toml").read_text(encoding="utf-8"))
        self.mutants, self.hints = {}, {}
        for entry in catalogue["mutant"]:
            mutant_source = source + "\n\n" + (solution / "mutants" / entry["file"]).read_text(encoding="utf-8")
            self.mutants[entry["file"]] = (entry["id"], load_module(f"optimizers_{entry['file']}", mutant_source))
            self.hints.setdefault(entry["id"], entry["hint"])


#: What each simulated student gets wrong: part -> mutant file (cycled through the cohort).
MISTAKES = [
    {"momentum_step": "sign_flip_momentum_step.py", "adam_step": "adam_no_bias_correction.py"},
    {"nag_step": "nag_no_lookahead.py", "rmsprop_step": "rmsprop_accumulates.py"},
    {"adagrad_step": "adagrad_no_sqrt.py", "adam_step": "adam_t_plus_one.py"},
]
RAISES = "rmsprop_step"  # one student in three: this part raises


def ill_conditioned(rng, condition):
    angle = rng.uniform(0.0, np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    A = rotation @ np.diag([1.0, condition]) @ rotation.T
    return {"kind": "quadratic", "A": (A + A.T) / 2, "b": rng.normal(0.0, 1.0, 2)}


def near_start(rng):
    return np.array([-2.0, 2.0]) + rng.uniform(-0.2, 0.2, 2)


def plain(problem):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in problem.items()}


def build_result(course: CourseFiles, index: int, inputs_seed: int | None = None) -> GradingResult:
    """Student `index`'s result; inputs from `inputs_seed` (default: the student's own seed)."""
    rng = np.random.default_rng(index if inputs_seed is None else inputs_seed)
    mistakes = MISTAKES[index % len(MISTAKES)]
    raises = index % 3 == 1
    runs = []  # (function, points, title, probe name, kwargs, problem for the plot)
    for step, hyper, quadratic in (("gd_step", {"eta": 1.0}, ({"eta": 0.09}, 50, 20.0)),
                                   ("momentum_step", {"eta": 1.0, "gamma": 0.9}, None),
                                   ("nag_step", {"eta": 1.0, "gamma": 0.9}, ({"eta": 0.02, "gamma": 0.9}, 100, 20.0)),
                                   ("adagrad_step", {"eta": 0.5}, None),
                                   ("rmsprop_step", {"eta": 0.05}, None),
                                   ("adam_step", {"eta": 0.1}, ({"eta": 0.05}, 200, 50.0))):
        runs.append((step, 2, f"300 steps on the lecture's neuron", "run_steps",
                     dict(step=step, theta0=near_start(rng), steps=300, problem=NEURON, hyper=hyper), NEURON))
        if quadratic:
            q_hyper, steps, condition = quadratic
            problem = ill_conditioned(rng, condition)
            runs.append((step, 1, f"{steps} steps on an ill-conditioned quadratic", "run_steps",
                         dict(step=step, theta0=rng.normal(0.0, 2.0, 2), steps=steps, problem=problem, hyper=q_hyper),
                         plain(problem)))
        if step == "adagrad_step":
            x = rng.uniform(0.0, 1.0, 100)
            x[rng.random(100) < 0.8] = 0.0
            sparse = {"kind": "sigmoid_neuron", "x": x, "y": rng.uniform(0.0, 1.0, 100)}
            runs.append((step, 1, "100 steps on sparse data", "run_steps",
                         dict(step=step, theta0=near_start(rng), steps=100, problem=sparse, hyper={"eta": 0.5}),
                         plain(sparse)))
    runs.append(("minibatch_sgd", 2, "one point per batch, 150 epochs", "sgd",
                 dict(theta0=near_start(rng), X=np.array(NEURON["x"]), Y=np.array(NEURON["y"]), eta=1.0, epochs=150,
                      batch_size=1, kind="sigmoid_neuron"), NEURON))
    runs.append(("train", 2, "adam, full batch, 300 epochs", "train_run",
                 dict(optimizer="adam", theta0=near_start(rng), X=np.array(NEURON["x"]), Y=np.array(NEURON["y"]),
                      epochs=300, kind="sigmoid_neuron", hyper={"eta": 0.1}), NEURON))
    runs.append(("line_search_step", 2, "100 steps on the lecture's neuron", "line_search",
                 dict(theta0=near_start(rng), steps=100, problem=NEURON, etas=[0.1, 0.5, 1.0, 2.0, 5.0, 10.0]), NEURON))

    tests: list[TestResult] = []
    named: dict[str, list[str]] = {}
    for function, points, title, probe, kwargs, problem in runs:
        want = getattr(course.probes, probe)(course.reference, **kwargs)
        key = "theta" if "theta" in want else "history"
        reference_rows = np.asarray(want[key], dtype=float)
        label = f"{function}, {title}"
        if raises and function == RAISES:
            tests.append(TestResult(f"{function}: {title}", function, 0.0, points, "error",
                                    output=f"your code raised ValueError: operands could not be broadcast together\n"
                                           f'  File "optimizers.py", line 81, in {function}\n    v = beta * v + grad ** 2 @ v',
                                    traces=[Trace(label, None, reference_rows, problem=problem)]))
            continue
        mutant = mistakes.get(function)
        module = course.mutants[mutant][1] if mutant else course.reference
        got = np.asarray(getattr(course.probes, probe)(module, **kwargs)[key], dtype=float)
        passed = got.shape == reference_rows.shape and np.allclose(got, reference_rows, rtol=1e-6, atol=1e-9)
        output = "" if passed else (
            "Inputs:\n" + "\n".join(f"  {k} = {v}" for k, v in kwargs.items() if k not in ("problem", "X", "Y")) +
            f"\ntheta after each step (row 0 is theta0) is wrong at index (1, 0): expected "
            f"{reference_rows[1, 0]:.6g}, got {got[1, 0]:.6g}")
        misconceptions = [course.mutants[mutant][0]] if mutant and not passed else []
        if misconceptions:
            named.setdefault(function, []).extend(misconceptions)
        tests.append(TestResult(f"{function}: {title}", function, points if passed else 0.0, points,
                                "passed" if passed else "failed", output=output, misconceptions=misconceptions,
                                traces=[Trace(label, got, reference_rows, problem=problem)]))
    for function, title in (("minibatches", "10 indices in batches of 4"), ("step_decay", "halving every 5 epochs"),
                            ("exponential_decay", "eta0 exp(-k t)"), ("inverse_time_decay", "eta0 / (1 + k t)")):
        tests.append(TestResult(f"{function}: {title}", function, 2.0, 2.0, "passed"))

    parts = []
    for part in course.assignment.parts:
        own = [t for t in tests if t.function == part.function]
        scale = part.points / sum(t.max_score for t in own) if own else 0.0
        parts.append(PartResult(part.function, sum(t.score for t in own) * scale, part.points,
                                misconceptions=sorted(set(named.get(part.function, [])))))
    return GradingResult("optimizers", f"student{index:03d}", "graded", sum(p.score for p in parts),
                         course.assignment.max_score, execution_time=2.1, parts=parts, tests=tests,
                         content_hash=f"{index:064x}", isolation="bubblewrap",
                         hints={mid: course.hints[mid] for ids in named.values() for mid in ids})


def time_renders(course: CourseFiles, results: list[GradingResult]) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each render (CPU time is the fair figure on a busy
    machine: other processes stretch the wall clock, not this process's work)."""
    wall, cpu = [], []
    for result in results:
        started, started_cpu = time.perf_counter(), time.process_time()
        render_report(result, course.assignment)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    course = CourseFiles()
    started = time.perf_counter()
    first = build_result(course, 0)
    own_inputs = [build_result(course, i) for i in range(1, args.runs + 1)]
    shared_inputs = [build_result(course, i, inputs_seed=0) for i in range(1, args.runs + 1)]
    print(f"built {2 * args.runs + 1} results in {time.perf_counter() - started:.1f} s "
          f"({sum(len(t.traces) for t in first.tests)} traces per result)")

    started = time.perf_counter()
    html = render_report(first, course.assignment)
    print(f"first report in this process (cold): {(time.perf_counter() - started) * 1000:.0f} ms, "
          f"{len(html) / 1e6:.2f} MB, {html.count('<img')} images")

    rows = [("new student, per-student inputs", time_renders(course, own_inputs)),
            ("new student, shared inputs", time_renders(course, shared_inputs)),
            ("the same result again", time_renders(course, [first] * args.runs))]
    print(f"second report in the process (the first new student): {rows[0][1][0][0]:.1f} ms wall")
    for name, (wall, cpu) in rows:
        print(f"{name:<32} median wall {statistics.median(wall):6.1f} ms (min {min(wall):.1f}, max {max(wall):.1f}), "
              f"CPU {statistics.median(cpu):6.1f} ms: {statistics.median(wall) / TARGET_MS:.2f} x the "
              f"{TARGET_MS:.0f} ms target")
    print(f"plot cache: {plots.cache_stats()}")
    wall, cpu = rows[0][1]
    headline = statistics.median(wall)
    print(f"RESULT new student's report, warm: median {headline:.1f} ms wall ({statistics.median(cpu):.1f} ms CPU) "
          f"= {headline / TARGET_MS:.2f} x the {TARGET_MS:.0f} ms target ({'met' if headline < TARGET_MS else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
