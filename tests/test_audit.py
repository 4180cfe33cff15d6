"""grader.audit's parts on their own: the mutation operators, the sampling, the equivalence
comparison and perturbation, the verdicts, and catalogue suggestions the catalogue accepts."""
from __future__ import annotations

import ast
import math
import shutil
import types

import numpy as np
import pytest

from grader.audit.equivalence import NOT_RUN, ProbeCall, ProbeSet, compare, perturb
from grader.audit.mutate import OPERATORS, MutationError, generate_mutants, spread
from grader.audit.report import (CAUGHT, ESCAPED, NOT_GRADED, UNFAIR, classify, last_line, render_table,
                                 summarise, write_suggestions)
from grader.audit.run import AuditedMutant, AuditRun, grade_summary

STEP = '''"""A toy optimiser step."""
import numpy as np

SCALE = 3.0


def step(theta, grad, v, t, eta):
    """Adam-like."""
    unmarked = theta * 2.0
    # BEGIN SOLUTION
    v = v + grad ** 2
    v_hat = v / (1.0 - 0.9 ** t)
    total = 0
    for k in range(1, t + 1):
        total += k
    return theta - eta / np.sqrt(v_hat + 1e-8) * grad, v
    # END SOLUTION


def batches(n, size):
    """Full batches and a remainder."""
    # BEGIN SOLUTION
    order = np.arange(n)
    return [order[start : start + size] for start in range(0, n, size)]
    # END SOLUTION


def not_an_exercise(x):
    return x + 1
'''


def _module(source: str) -> types.ModuleType:
    module = types.ModuleType("mutant_under_test")
    exec(compile(source, "<mutant>", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def step_mutants():
    return generate_mutants(STEP, ["step", "batches"])


def test_every_mutant_is_a_whole_module_changed_only_inside_a_solution_block(step_mutants):
    reference_lines = STEP.splitlines()
    marked = set()
    inside = False
    for number, line in enumerate(reference_lines, start=1):
        if "# END SOLUTION" in line:
            inside = False
        if inside:
            marked.add(number)
        if "# BEGIN SOLUTION" in line:
            inside = True
    assert len(step_mutants) > 30
    assert len({m.key for m in step_mutants}) == len(step_mutants)
    assert len({ast.dump(ast.parse(m.source)) for m in step_mutants}) == len(step_mutants)
    for mutant in step_mutants:
        assert mutant.operator in OPERATORS
        compile(mutant.source, mutant.key, "exec")
        lines = mutant.source.splitlines()
        assert len(lines) == len(reference_lines), mutant.key  # edits stay on their own lines
        changed = {n for n, (a, b) in enumerate(zip(reference_lines, lines), start=1) if a != b}
        assert changed and changed <= marked, (mutant.key, changed)
        assert "unmarked = theta * 2.0" in mutant.source and "SCALE = 3.0" in mutant.source
        assert mutant.diff(STEP).count("\n-") >= 1


def _sources(mutants, operator):
    return [m.source for m in mutants if m.operator == operator]


def test_the_operators_make_the_mistakes_a_ta_would_recognise(step_mutants):
    def has(operator, text):
        return any(text in source for source in _sources(step_mutants, operator))

    assert has("term_outside_call", "np.sqrt(v_hat) + 1e-08")  # eps outside the square root
    assert has("sqrt_dropped", "eta / v_hat + 1e-08") or has("sqrt_dropped", "eta / (v_hat + 1e-08)")
    assert has("off_by_one", "0.9 ** (t + 1)") and has("off_by_one", "0.9 ** (t - 1)")  # step counter
    assert has("off_by_one", "range(1, t + 1 - 1)") or has("off_by_one", "range(1, t)")  # range end
    assert has("off_by_one", "order[start:start + size - 1]") or has("off_by_one", "order[start : start + size - 1]")
    assert has("dropped_term", "v = grad ** 2")  # += as =: no accumulation
    assert has("dropped_factor", "v_hat = v\n")  # no bias correction
    assert has("flipped_sign", "return theta + eta") and has("flipped_sign", "total -= k")
    assert has("swapped_operands", "(1.0 - 0.9 ** t) / v")
    assert has("swapped_arguments", "return (v, theta - ")
    assert has("accumulate_vs_assign", "total = k")
    assert has("dropped_statement", "        pass")
    assert has("floor_division", "v // (1.0 - 0.9 ** t)")
    assert has("constant", "0.9 ** t") and has("constant", "1.0 - 1.0 ** t")
    assert has("swapped_statements", "v_hat = v / (1.0 - 0.9 ** t)\n    v = v + grad ** 2")


def test_array_split_mutants_batch_as_students_do(step_mutants):
    near_equal, full_only = [_module(m.source) for m in step_mutants if m.operator == "array_split"]
    assert [len(b) for b in _module(STEP).batches(10, 4)] == [4, 4, 2]
    assert [len(b) for b in near_equal.batches(10, 4)] == [4, 3, 3]
    assert [len(b) for b in full_only.batches(10, 4)] == [4, 4]


def test_only_functions_with_a_solution_block_can_be_mutated():
    with pytest.raises(MutationError, match="not_an_exercise"):
        generate_mutants(STEP, ["not_an_exercise"])
    with pytest.raises(MutationError, match="missing"):
        generate_mutants(STEP, ["missing"])


def test_a_sample_covers_every_function_and_operator_first(step_mutants):
    sample = spread(step_mutants, 6)
    assert len(sample) == 6
    assert [m.function for m in sample].count("step") == 3
    for function in ("step", "batches"):  # no operator twice before every operator had a turn
        operators = [m.operator for m in sample if m.function == function]
        assert len(set(operators)) == len(operators) == 3
    assert spread(step_mutants, None) == step_mutants


# --- equivalence --------------------------------------------------------------------------

def _probe_set(values):
    calls = [ProbeCall(function=f, name="call", kwargs={"n": n}) for n, (f, _) in enumerate(values)]
    return ProbeSet(calls=calls, answers=[[np.array(True), np.array(v)] for _, v in values], chunk_timeouts=[5.0],
                    probes_path=None)


def test_equivalence_allows_float_reordering_and_names_what_differs():
    probe_set = _probe_set([("f", 1.0), ("g", 2.0), ("h", 0.0)])
    same = compare("m", [[np.array(True), np.array(1.0 + 1e-13)], [np.array(True), np.array(2.0)],
                         [np.array(True), np.array(1e-15)]], probe_set)
    assert same.status == "equivalent" and same.functions == []
    small = compare("m", [[np.array(True), np.array(1.0)], [np.array(True), np.array(2.0 * (1 + 1e-7))],
                          [np.array(True), np.array(0.0)]], probe_set)
    assert small.status == "differs" and small.functions == ["g"]
    assert small.max_deviation == pytest.approx(1e-7, rel=1e-3)
    raised = compare("m", [[np.array(False), "ZeroDivisionError"], [np.array(True), np.array(2.0)],
                           [np.array(True), np.array(0.0)]], probe_set)
    assert raised.status == "raises" and raised.functions == ["f"] and "ZeroDivisionError" in raised.detail
    hung = compare("m", [[False, "timeout"], [False, NOT_RUN], [False, NOT_RUN]], probe_set)
    assert hung.status == "hangs" and hung.functions == ["f"]
    assert compare("m", None, probe_set).status == "broken"


def test_a_python_float_and_a_numpy_float_are_different_answers():
    from grader.protocol import roundtrip

    probe_set = ProbeSet([ProbeCall("f", "call", {})], [roundtrip([True, 1.5])], [5.0], None)
    assert compare("m", [roundtrip([True, np.float64(1.5)])], probe_set).status == "differs"
    assert compare("m", [roundtrip([True, 1.5])], probe_set).status == "equivalent"


def test_perturbation_moves_numbers_and_keeps_structure_and_switches():
    rng = np.random.default_rng(0)
    kwargs = {"function": "step_decay", "fakes": True, "n": 10, "zero": 0, "eta": 0.5, "x": np.zeros(3),
              "idx": np.array([1, 2, 3]), "calls": [[1.0, 2], (3.0,)], "none": None}
    moved = perturb(kwargs, rng)
    assert moved["function"] == "step_decay" and moved["fakes"] is True and moved["none"] is None
    assert moved["zero"] == 0 and 8 <= moved["n"] <= 12 and moved["eta"] != 0.5
    assert moved["x"].shape == (3,) and np.all(moved["x"] != 0.0)
    assert moved["idx"].dtype == kwargs["idx"].dtype and moved["idx"].min() >= 1
    assert isinstance(moved["calls"][1], tuple) and moved["calls"][0][0] != 1.0
    assert kwargs["eta"] == 0.5 and np.all(kwargs["x"] == 0.0)  # the original is untouched


# --- verdicts -----------------------------------------------------------------------------

def _grade(score, parts, status="graded", named=(), failed=()):
    return {"status": status, "score": score, "max_score": 10.0, "parts": parts, "misconceptions": list(named),
            "failed_tests": list(failed)}


def test_verdicts_from_the_grades_per_student_id():
    full = {"a": 5.0, "b": 5.0}
    caught_a = {"a": 3.0, "b": 5.0}
    caught_b = {"a": 5.0, "b": 3.0}
    assert classify({"s1": _grade(8, caught_a), "s2": _grade(8, caught_a)}, 10.0) == CAUGHT
    # caught for some ids only
    assert classify({"s1": _grade(8, caught_a), "s2": _grade(10, full)}, 10.0) == UNFAIR
    # caught for every id, but for different points
    assert classify({"s1": _grade(8, caught_a), "s2": _grade(6, {"a": 1.0, "b": 5.0})}, 10.0) == UNFAIR
    # the same total, lost in different parts
    assert classify({"s1": _grade(8, caught_a), "s2": _grade(8, caught_b)}, 10.0) == UNFAIR
    assert classify({"s1": _grade(10, full), "s2": _grade(10, full)}, 10.0) == ESCAPED
    assert classify({"s1": _grade(0, full, status="error"), "s2": _grade(10, full)}, 10.0) == NOT_GRADED
    assert classify({}, 10.0) == NOT_GRADED


def test_parts_not_graded_again_score_their_points():
    result = {"status": "graded", "score": 3.0, "max_score": 10.0, "error": None,
              "parts": [{"function": "a", "score": 3.0, "max_score": 5.0, "misconceptions": ["x.y"]},
                        {"function": "b", "score": 0.0, "max_score": 5.0, "misconceptions": []}]}
    result["tests"] = [{"name": "a: one", "score": 1.0, "max_score": 2.0}, {"name": "a: two", "score": 2.0, "max_score": 2.0}]
    summary = grade_summary(result, ("a",))
    assert summary["failed_tests"] == ["a: one"]
    assert summary["parts"] == {"a": 3.0, "b": 5.0} and summary["score"] == 8.0
    assert summary["misconceptions"] == ["x.y"]
    assert grade_summary(result)["score"] == 3.0


def _run_with(mutants):
    return AuditRun(assignment="toy", max_score=10.0, parts={"a": 5.0, "b": 5.0}, students=["s1", "s2"],
                    probe_calls=3, mutants=mutants)


def test_the_table_ends_with_the_contract_line_and_lists_unfair_and_escaped():
    unfair = AuditedMutant("a.constant.1", "a", "constant", "`2` -> `1`", 3, "/nonexistent",
                           grades={"s1": _grade(8, {"a": 3.0, "b": 5.0}, failed=["a: drawn case"]),
                                   "s2": _grade(10, {"a": 5.0, "b": 5.0})},
                           equivalence={"status": "differs", "max_deviation": 0.5})
    escaped = AuditedMutant("b.constant.1", "b", "constant", "`1e-8` -> `1`", 4, "/nonexistent",
                            grades={"s1": _grade(10, {"a": 5.0, "b": 5.0}), "s2": _grade(10, {"a": 5.0, "b": 5.0})},
                            equivalence={"status": "differs", "max_deviation": 1e-9})
    equivalent = AuditedMutant("b.swapped_statements.1", "b", "swapped_statements", "swap", 5, "/nonexistent",
                               equivalence={"status": "equivalent", "max_deviation": 0.0})
    summary = summarise(_run_with([unfair, escaped, equivalent]))
    table = render_table(summary)
    assert table.splitlines()[-1] == "audit: 0 of 2 mutants caught for every seed, 1 unfair, 1 escaped"
    assert last_line(3, 4, 1, 0) == "audit: 3 of 4 mutants caught for every seed, 1 unfair, 0 escaped"
    assert "a.constant.1" in table and "caught for 1/2 ids" in table and "b.constant.1" in table
    assert "fails for 1/2 ids: a: drawn case" in table
    assert summary["totals"]["equivalent"] == 1
    row = next(r for r in summary["mutants"] if r["key"] == "a.constant.1")
    assert row["points_lost"] == [2.0, 0.0] and row["points_vary"] and row["parts_lost"] == {"a": [2.0, 0.0]}


def test_a_fairly_caught_unnamed_mutant_becomes_an_entry_the_catalogue_accepts(tmp_path, optimizers):
    from grader.course import Course
    from grader.diagnosis import load_catalogue

    course = tmp_path / "course"
    for folder in ("assignments/optimizers", "solutions/optimizers"):
        shutil.copytree(optimizers.course_root / folder, course / folder)
    assignment = Course(course).get("optimizers")
    reference = assignment.reference_path.read_text(encoding="utf-8")
    mutant = next(m for m in generate_mutants(reference, ["exponential_decay"]) if m.operator == "off_by_one")
    path = tmp_path / f"{mutant.key}.py"
    path.write_text(mutant.source, encoding="utf-8")
    grade = _grade(58, {"exponential_decay": 0.0, "train": 6.0})
    audited = AuditedMutant(mutant.key, mutant.function, mutant.operator, mutant.description, mutant.line, str(path),
                            mistaken=mutant.mistaken, grades={"s1": grade, "s2": grade},
                            equivalence={"status": "differs", "max_deviation": 0.3})
    run = AuditRun("optimizers", 60.0, {"exponential_decay": 2.0, "train": 8.0}, ["s1", "s2"], 1, [audited])
    summary = summarise(run)
    suggested = write_suggestions(summary, reference, tmp_path / "out")
    assert [s["key"] for s in suggested] == [mutant.key]
    assert suggested[0]["functions"] == ["exponential_decay", "train"]
    folder = tmp_path / "out" / "suggestions"
    mutant_file = folder / suggested[0]["file"]
    assert "BEGIN SOLUTION" not in mutant_file.read_text() and "def exponential_decay" in mutant_file.read_text()
    shutil.copy(mutant_file, assignment.mutants_directory / mutant_file.name)
    with open(assignment.mutants_directory / "catalogue.toml", "a", encoding="utf-8") as catalogue:
        catalogue.write((folder / "catalogue-suggestions.toml").read_text(encoding="utf-8"))
    accepted = {m.id: m for m in load_catalogue(assignment)}
    assert mutant.key in accepted
    assert accepted[mutant.key].rewrites == ("exponential_decay",)
    assert mutant.mistaken in accepted[mutant.key].hint


def test_a_saved_probe_set_compares_like_the_one_in_memory(tmp_path):
    from grader.audit.equivalence import load_probe_set, save_probe_set
    from grader.protocol import Opaque, roundtrip

    answers = [roundtrip([True, 1.5]), roundtrip([True, np.float64(2.0)]), roundtrip([True, {"h": np.arange(3.0)}]),
               [np.array(True), Opaque("generator", "<generator>")], roundtrip([False, "ValueError"])]
    calls = [ProbeCall("f", "call", {"eta": 0.5, "n": 3, "x": np.ones(2), "kind": "k", "seed": None})] * len(answers)
    save_probe_set(ProbeSet(calls, answers, [5.0], tmp_path / "probes.py"), tmp_path / "set.npz")
    loaded = load_probe_set(tmp_path / "set.npz")
    assert compare("m", answers, loaded).status == "equivalent"
    kwargs = loaded.calls[0].kwargs
    assert type(kwargs["eta"]) is float and type(kwargs["n"]) is int and kwargs["seed"] is None
    assert isinstance(kwargs["x"], np.ndarray) and kwargs["kind"] == "k"
    assert compare("m", [roundtrip([True, np.float64(1.5)])] + answers[1:], loaded).status == "differs"


def test_each_probe_call_knows_which_functions_it_runs(sigmoid_neuron):
    from grader.audit.equivalence import collect_calls

    calls = collect_calls(sigmoid_neuron, seeds=1, perturbed=0)
    assert calls and all(call.uses for call in calls)
    own = {call.function: set() for call in calls}
    for call in calls:
        own[call.function] |= set(call.uses)
    assert {"predict", "sigmoid"} <= own["predict"] and "grad_w" not in own["predict"]
    assert {"gradient_descent", "grad_w", "grad_b", "predict", "sigmoid"} <= own["gradient_descent"]
    assert own["sigmoid"] == {"sigmoid"}
    sigmoid_only = next(call for call in calls if call.function == "sigmoid")
    assert sigmoid_only.reaches("sigmoid") and not sigmoid_only.reaches("grad_b") and sigmoid_only.reaches(None)
