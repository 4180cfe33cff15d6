"""The backprop demo cohort (demo/cohort_backprop/): in sync with its generator, and a real
`grader batch backprop demo/cohort_backprop` grades each student as they were written to show:
full marks for the correct ones, each catalogued mistake named (and costing points) only on
its own parts, the stub not attempted anywhere."""
from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from grader.batch import run_batch
from grader.course import Course
from grader.diagnosis import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
COHORT = ROOT / "demo" / "cohort_backprop"

CORRECT = ["aiko_tanaka", "bruno_costa", "clara_jensen"]
MISTAKES = {
    "dmitri_volkov": "graph.mul_gate_no_swap", "esi_boateng": "backprop.error_sign",
    "felix_wagner": "backprop.missing_activation_derivative", "grace_kim": "backprop.transposed_weight_grad",
    "hugo_lefevre": "backprop.mean_vs_sum", "isla_murphy": "linreg.missing_factor_two",
    "jonas_berg": "gradcheck.one_sided_difference", "kemal_aydin": "backprop.stale_forward_values",
    "lucia_romero": "sign_flip", "malik_johnson": "mutates_input",
}
STUB = "nina_petrova"
PARTLY_DONE = "oscar_lindqvist"  # sigmoid (given) to linreg_grad written, the rest the stub's


def load_generator(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "demo"))  # it imports make_cohort's helpers
    spec = importlib.util.spec_from_file_location("make_backprop_cohort", ROOT / "demo" / "make_backprop_cohort.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "__pycache__"}


def test_committed_cohort_equals_a_fresh_generation(tmp_path, monkeypatch):
    generator = load_generator(monkeypatch)
    fresh = tmp_path / "cohort_backprop"
    assert generator.main(["--out", str(fresh)]) == 0
    assert contents(COHORT) == contents(fresh), \
        "run `python demo/make_backprop_cohort.py` and commit demo/cohort_backprop"


def test_every_catalogued_mistake_has_its_student():
    assignment = Course(ROOT).get("backprop")
    assert set(MISTAKES.values()) == {mutant.id for mutant in load_catalogue(assignment)}
    students = {p.name.split(".")[0] for p in COHORT.iterdir()}
    assert students == set(CORRECT) | set(MISTAKES) | {STUB, PARTLY_DONE}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    assignment = Course(ROOT).get("backprop")
    out = tmp_path_factory.mktemp("backprop_demo") / "out"
    summary = run_batch(assignment, COHORT, out, workers=2, stream=io.StringIO())
    results = {path.stem: json.loads(path.read_text()) for path in (out / "results").glob("*.json")}
    return assignment, summary, out, results


@pytest.mark.slow
def test_batch_grades_every_student_and_writes_every_report(graded):
    _, summary, out, results = graded
    students = sorted(p.name.split(".")[0] for p in COHORT.iterdir())
    assert sorted(summary.graded) == students and summary.failed == [] and summary.report_failures == 0
    assert sorted(results) == students
    assert all((out / "reports" / f"{student}.html").is_file() for student in students)
    assert all(results[s]["status"] == "graded" for s in students)


@pytest.mark.slow
def test_correct_students_get_full_marks(graded):
    assignment, _, _, results = graded
    for student in CORRECT:
        assert results[student]["score"] == assignment.max_score, student
        assert all(part["misconceptions"] == [] for part in results[student]["parts"]), student


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(MISTAKES))
def test_each_mistake_is_named_and_costs_points_only_on_its_parts(graded, student):
    assignment, _, _, results = graded
    mutant = {m.id: m for m in load_catalogue(assignment)}[MISTAKES[student]]
    parts = results[student]["parts"]
    named = {part["function"] for part in parts if part["misconceptions"]}
    lost = {part["function"] for part in parts if part["score"] < part["max_score"]}
    assert all(part["misconceptions"] in ([], [mutant.id]) for part in parts), parts
    assert mutant.functions[0] in named and named <= set(mutant.functions), named
    assert lost and lost <= set(mutant.functions), lost
    assert results[student]["score"] < assignment.max_score


@pytest.mark.slow
def test_the_stub_is_not_attempted_anywhere_and_the_partly_done_in_part(graded):
    assignment, _, _, results = graded
    stub = results[STUB]
    assert stub["score"] == 0 and [part["attempted"] for part in stub["parts"]] == [False] * len(assignment.functions)
    partly = {part["function"]: part for part in results[PARTLY_DONE]["parts"]}
    done = ["add_mul_graph", "neuron_forward", "neuron_backward", "linreg_loss", "linreg_grad"]
    for function, part in partly.items():
        assert part["attempted"] == (function in done), function
        assert part["score"] == (part["max_score"] if function in done else 0), function
