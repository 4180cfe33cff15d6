"""Every shipped mutant, handed in as a student's file, is named with its own id and loses
points on its own function(s) only; the reference and the stubs get no misconception; a
mistake outside the catalogue loses points with no id and the honest message.

The fast tests grade in this process with the shared harness (tests/checks_harness.py: the
student module runs here); one slow test goes through the real sandbox.
"""
from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

from checks_harness import run_source
from grader.course import Course
from grader.diagnosis import UNRECOGNISED, find_misconceptions, load_catalogue
from grader.grade import assemble_result
from grader.results import GradingResult
from grader.stubs import stub_for

COURSE = Course(Path(__file__).resolve().parent.parent)
ASSIGNMENTS = {a.id: a for a in COURSE.assignments()}


def _has_checks(assignment) -> bool:
    return assignment.probes_path.is_file() and any(assignment.hidden_checks.glob("test_*.py"))


pytestmark = pytest.mark.skipif(not all(_has_checks(a) for a in ASSIGNMENTS.values()),
                                reason="the assignments' probes and hidden checks are not written yet")


def grade_in_process(assignment, source: str, student: str = "student") -> GradingResult:
    """Grade `source` against the hidden checks with the student module run in this process
    (tests/checks_harness.py), then assemble and diagnose as grade.grade_loaded does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a mutant's divisions by zero: the worker's stderr, not ours
        records = run_source(assignment, source, student=student)
    internal = [(r.title, r.internal_error) for r in records if r.internal_error]
    assert not internal, internal
    result = assemble_result(assignment, student, records, find_misconceptions(assignment, records))
    return result


def with_mutant(assignment, mutant_path: Path) -> str:
    return assignment.reference_path.read_text() + "\n\n" + mutant_path.read_text()


def lost_parts(result: GradingResult) -> set[str]:
    return {p.function for p in result.parts if p.score < p.max_score - 1e-9}


MUTANTS = [(assignment_id, mutant) for assignment_id, assignment in ASSIGNMENTS.items()
           if assignment.mutants_directory.is_dir() for mutant in load_catalogue(assignment)]


@pytest.mark.parametrize("assignment_id, mutant", MUTANTS,
                         ids=[f"{a}-{m.path.stem}" for a, m in MUTANTS])
def test_each_mutant_is_named_on_its_own_functions_only(assignment_id, mutant):
    """The checks isolate a function from its building blocks, so a mutant loses points only
    on the function(s) it rewrites, and is named there."""
    assignment = ASSIGNMENTS[assignment_id]
    result = grade_in_process(assignment, with_mutant(assignment, mutant.path))
    assert lost_parts(result) == set(mutant.rewrites), (
        f"{mutant.path.name} loses points on {sorted(lost_parts(result))}, it rewrites {list(mutant.rewrites)}")
    for part in result.parts:
        if part.function in mutant.rewrites:
            assert mutant.id in part.misconceptions, (part.function, part.feedback)
            assert mutant.hint in part.feedback
        else:
            assert part.misconceptions == [] and part.feedback == ""
    assert result.hints == {mutant.id: mutant.hint}
    named = {t.function for t in result.tests if mutant.id in t.misconceptions}
    assert named == set(mutant.rewrites)


@pytest.mark.parametrize("assignment_id", sorted(ASSIGNMENTS))
def test_the_reference_and_the_stub_get_no_misconception(assignment_id):
    assignment = ASSIGNMENTS[assignment_id]
    reference = grade_in_process(assignment, assignment.reference_path.read_text())
    assert reference.full_marks, [(t.name, t.output) for t in reference.tests if t.status != "passed"]
    stub = grade_in_process(assignment, stub_for(assignment))
    assert stub.score == 0
    for result in (reference, stub):
        assert all(p.misconceptions == [] and p.feedback == "" for p in result.parts)
        assert all(t.misconceptions == [] for t in result.tests)
        assert result.hints == {}


def diagnosed_mistakes() -> list:
    """The wrong versions under solutions/<id>/mistakes/ whose diagnosis is pinned in its
    diagnosis.toml: mistakes the catalogue does not know (named by nothing), and known ones
    written in the student's own structure (the function batches by itself or computes its
    building blocks inline, so the checks' runs with fake building blocks answer differently
    from the mutant's) that are still named."""
    cases = []
    for assignment_id, assignment in sorted(ASSIGNMENTS.items()):
        expected = assignment.solution_directory / "mistakes" / "diagnosis.toml"
        if expected.is_file():
            for name, entry in tomllib.loads(expected.read_text(encoding="utf-8")).items():
                cases.append(pytest.param(assignment_id, name, entry["function"], entry["named"],
                                          id=f"{assignment_id}/{name}"))
    return cases


@pytest.mark.parametrize("assignment_id, name, function, named", diagnosed_mistakes())
def test_a_mistake_is_named_as_its_diagnosis_toml_says(assignment_id, name, function, named):
    assignment = ASSIGNMENTS[assignment_id]
    mistake = assignment.solution_directory / "mistakes" / f"{name}.py"
    result = grade_in_process(assignment, assignment.reference_path.read_text() + "\n\n" + mistake.read_text())
    assert lost_parts(result) == {function}
    if named:
        assert result.part(function).misconceptions == [named], result.part(function).feedback
    else:
        assert all(p.misconceptions == [] for p in result.parts) and result.hints == {}
        assert result.part(function).feedback == UNRECOGNISED


def test_the_pinned_diagnoses_cover_unknown_and_own_structure_mistakes():
    cases = [case.values for case in diagnosed_mistakes()]
    assert {assignment for assignment, _, _, named in cases if not named} >= {"optimizers", "sigmoid_neuron"}
    assert sum(bool(named) for *_, named in cases) >= 4


def test_two_mistakes_in_two_functions_are_both_named():
    assignment = ASSIGNMENTS["optimizers"]
    mutants = {m.path.name: m for m in load_catalogue(assignment)}
    source = (with_mutant(assignment, mutants["adam_no_bias_correction.py"].path) + "\n\n"
              + mutants["rmsprop_accumulates.py"].path.read_text())
    result = grade_in_process(assignment, source)
    assert result.part("adam_step").misconceptions == ["adam.no_bias_correction"]
    assert result.part("rmsprop_step").misconceptions == ["rmsprop.accumulates"]
    assert set(result.hints) >= {"adam.no_bias_correction", "rmsprop.accumulates"}


@pytest.mark.slow
def test_through_the_sandbox_the_json_names_the_mistake(tmp_path):
    from grader.grade import grade_submission

    assignment = ASSIGNMENTS["optimizers"]
    mutant = next(m for m in load_catalogue(assignment) if m.path.name == "adam_no_bias_correction.py")
    path = tmp_path / "optimizers.py"
    path.write_text(with_mutant(assignment, mutant.path))
    result = grade_submission(assignment, path, student="carol")
    assert result.status == "graded", result.error
    assert lost_parts(result) == {"adam_step"}
    data = result.to_dict()
    parts = {p["function"]: p for p in data["parts"]}
    assert parts["adam_step"]["misconceptions"] == ["adam.no_bias_correction"]
    assert mutant.hint in parts["adam_step"]["feedback"]
    assert data["hints"] == {"adam.no_bias_correction": mutant.hint}
    assert all(p["misconceptions"] == [] for f, p in parts.items() if f != "adam_step")
    failed = [t for t in result.tests if t.function == "adam_step" and t.status == "failed"]
    assert failed and all(t.misconceptions == ["adam.no_bias_correction"] for t in failed)


def test_one_misconception_in_several_functions_is_named_on_each():
    assignment = ASSIGNMENTS["optimizers"]
    mutants = {m.path.name: m for m in load_catalogue(assignment)}
    source = (with_mutant(assignment, mutants["sign_flip_gd_step.py"].path) + "\n\n"
              + mutants["sign_flip_adam_step.py"].path.read_text())
    result = grade_in_process(assignment, source)
    assert lost_parts(result) == {"gd_step", "adam_step"}
    assert result.part("gd_step").misconceptions == result.part("adam_step").misconceptions == ["sign_flip"]
    assert result.hints == {"sign_flip": mutants["sign_flip_gd_step.py"].hint}
