"""Diagnosis on a toy course: matching student answers against mutants, the honest message
when nothing matches, and validation of the misconception catalogue. The real assignments'
mutants are exercised end to end in test_diagnosis_mutants.py."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.checking import CheckRecord, ProbeCall, normalise
from grader.course import Course, load_assignment
from grader.diagnosis import (UNRECOGNISED, CatalogueError, find_misconceptions, load_catalogue,
                              mutant_module, same_answer)
from grader.grade import assemble_result
from grader.protocol import Opaque

REFERENCE = '''
import numpy as np


def double(x):
    # BEGIN SOLUTION
    return 2.0 * np.asarray(x, dtype=np.float64)
    # END SOLUTION


def quadruple(x):
    # BEGIN SOLUTION
    return double(double(x))
    # END SOLUTION


def shout(text):
    # BEGIN SOLUTION
    return text.upper()
    # END SOLUTION
'''

PROBES = '''
def double_values(mod, x):
    return {"y": mod.double(x)}


def quadruple_values(mod, x):
    return {"y": mod.quadruple(x)}
'''

MUTANTS = {
    "adds_two.py": "def double(x):\n    return x + 2.0\n",
    "triples.py": "def double(x):\n    return 3.0 * x\n",
    "breaks.py": "def double(x):\n    raise ZeroDivisionError('mutant bug')\n",
}

CATALOGUE = '''
[[mutant]]
id = "double.adds"
functions = ["double", "quadruple"]
file = "adds_two.py"
hint = "You add 2; doubling multiplies by 2."

[[mutant]]
id = "double.triples"
functions = ["double"]
file = "triples.py"
hint = "You multiply by 3; doubling multiplies by 2."

[[mutant]]
id = "double.breaks"
functions = ["double"]
file = "breaks.py"
hint = "never reported: this mutant raises"
'''


def make_course(root: Path, catalogue: str = CATALOGUE, mutants: dict[str, str] = MUTANTS):
    (root / "assignments" / "toy").mkdir(parents=True)
    (root / "assignments" / "toy" / "assignment.toml").write_text(textwrap.dedent('''
        title = "Toy"
        module = "toy"
        [[parts]]
        function = "double"
        points = 2
        [[parts]]
        function = "quadruple"
        points = 2
        [[parts]]
        function = "shout"
        points = 1
    '''))
    (root / "assignments" / "toy" / "probes.py").write_text(PROBES)
    mutants_dir = root / "solutions" / "toy" / "mutants"
    mutants_dir.mkdir(parents=True)
    (root / "solutions" / "toy" / "toy.py").write_text(REFERENCE)
    for name, source in mutants.items():
        (mutants_dir / name).write_text(source)
    (mutants_dir / "catalogue.toml").write_text(catalogue)
    return load_assignment(root / "assignments" / "toy", root)


@pytest.fixture
def toy(tmp_path):
    return make_course(tmp_path)


def record(function: str, status: str, calls: list[ProbeCall], tolerance=(1e-7, 1e-10),
           points: float = 1.0, name: str = "") -> CheckRecord:
    rec = CheckRecord(nodeid=f"test_{function}_{name or len(calls)}", function=function, weight=points,
                      title=f"{function}: {name or 'check'}", visibility="visible", status=status)
    rec.probe_calls = calls
    rec.tolerances = [tolerance]
    return rec


def student_answer(name: str, y) -> ProbeCall:
    """A probe call answered by the student with y (normalised as the protocol would)."""
    return ProbeCall(name, {"x": np.array([1.5, -4.0, 10.0])}, "ok", normalise({"y": np.asarray(y)}))


def diagnose(assignment, records):
    result = assemble_result(assignment, "someone", records, find_misconceptions(assignment, records))
    return result


X = np.array([1.5, -4.0, 10.0])


# --- matching --------------------------------------------------------------------------------

def test_a_student_who_adds_two_is_named_with_the_hint(toy):
    records = [record("double", "failed", [student_answer("double_values", X + 2.0)], points=2.0)]
    result = diagnose(toy, records)
    part = result.part("double")
    assert part.misconceptions == ["double.adds"]
    assert part.feedback == "You add 2; doubling multiplies by 2."
    assert result.hints == {"double.adds": "You add 2; doubling multiplies by 2."}
    assert result.tests[0].misconceptions == ["double.adds"]
    assert result.part("quadruple").misconceptions == [] and result.part("quadruple").feedback == ""


def test_the_mutant_is_run_through_its_callers(toy):
    # quadruple(x) = double(double(x)) with the mutant double: (x + 2) + 2.
    records = [record("quadruple", "failed", [student_answer("quadruple_values", X + 4.0)], points=2.0)]
    result = diagnose(toy, records)
    assert result.part("quadruple").misconceptions == ["double.adds"]


def test_only_mutants_listed_for_the_function_are_tried(toy):
    # 9x is what the triples mutant gives for quadruple, but it is listed for double only.
    records = [record("quadruple", "failed", [student_answer("quadruple_values", 9.0 * X)], points=2.0)]
    result = diagnose(toy, records)
    assert result.part("quadruple").misconceptions == []
    assert result.part("quadruple").feedback == UNRECOGNISED


def test_an_unknown_mistake_gets_no_id_and_the_honest_message(toy):
    records = [record("double", "failed", [student_answer("double_values", X * 2.5)], points=2.0)]
    result = diagnose(toy, records)
    assert result.part("double").misconceptions == []
    assert result.part("double").feedback == UNRECOGNISED
    assert result.hints == {}
    assert result.tests[0].misconceptions == []


def test_one_reproduced_check_names_the_mistake_when_others_fail_differently(toy):
    # A second mistake, or an unstable trajectory that drifts apart after many steps.
    explained = record("double", "failed", [student_answer("double_values", X + 2.0)], name="a")
    other = record("double", "failed", [ProbeCall("double_values", {"x": np.array([7.0])}, "ok",
                                                  normalise({"y": np.array([21.5])}))], name="b")
    result = diagnose(toy, [explained, other])
    assert result.part("double").misconceptions == ["double.adds"]
    assert [t.misconceptions for t in result.tests] == [["double.adds"], []]


def test_answers_reproduced_by_no_mutant_name_nothing(toy):
    calls = [ProbeCall("double_values", {"x": np.array([7.0])}, "ok", normalise({"y": np.array([21.5])})),
             ProbeCall("double_values", {"x": np.array([1.0])}, "ok", normalise({"y": np.array([0.0])}))]
    result = diagnose(toy, [record("double", "failed", calls[:1], name="a"),
                            record("double", "failed", calls[1:], name="b")])
    assert result.part("double").misconceptions == []
    assert result.part("double").feedback == UNRECOGNISED


def test_one_reproduced_wrong_answer_per_check_is_enough(toy):
    # As when a check reruns the function with fake building blocks and the student's code,
    # not using them, answers that run wrongly in its own way.
    calls = [student_answer("double_values", X + 2.0),
             ProbeCall("double_values", {"x": np.array([7.0])}, "ok", normalise({"y": np.array([21.5])}))]
    result = diagnose(toy, [record("double", "failed", calls, points=2.0)])
    assert result.part("double").misconceptions == ["double.adds"]


def test_a_right_answer_the_mutant_gets_wrong_rules_it_out(toy):
    right = ProbeCall("double_values", {"x": np.array([5.0])}, "ok", normalise({"y": np.array([10.0])}))
    result = diagnose(toy, [record("double", "failed", [right, student_answer("double_values", X + 2.0)],
                                   points=2.0)])
    assert result.part("double").misconceptions == []


def test_every_matching_mutant_is_reported(toy):
    # At x = 1 adding two and tripling both give 3.
    call = ProbeCall("double_values", {"x": np.array([1.0])}, "ok", normalise({"y": np.array([3.0])}))
    result = diagnose(toy, [record("double", "failed", [call], points=2.0)])
    part = result.part("double")
    assert part.misconceptions == ["double.adds", "double.triples"]
    assert "more than one known mistake" in part.feedback
    assert "You add 2" in part.feedback and "multiply by 3" in part.feedback
    assert set(result.hints) == {"double.adds", "double.triples"}


def test_a_mutant_that_behaves_like_the_reference_there_explains_nothing(toy):
    # At x = 2 adding two gives the right answer; the student failed for some other reason
    # (say, a check on the returned type), so no value-level mistake may be named.
    call = ProbeCall("double_values", {"x": np.array([2.0])}, "ok", normalise({"y": [4.0]}))
    result = diagnose(toy, [record("double", "failed", [call], points=2.0)])
    assert result.part("double").misconceptions == []


def test_the_checks_tolerance_decides(toy):
    near = X + 2.0 + 1e-6
    loose = diagnose(toy, [record("double", "failed", [student_answer("double_values", near)],
                                  tolerance=(1e-4, 1e-6), points=2.0)])
    tight = diagnose(toy, [record("double", "failed", [student_answer("double_values", near)],
                                  tolerance=(1e-12, 1e-12), points=2.0)])
    assert loose.part("double").misconceptions == ["double.adds"]
    assert tight.part("double").misconceptions == []


def test_full_marks_errors_and_timeouts_are_not_diagnosed(toy):
    records = [
        record("double", "passed", [student_answer("double_values", 2.0 * X)], points=2.0),
        record("quadruple", "error", [ProbeCall("quadruple_values", {"x": X}, "error")], points=1.0, name="a"),
        record("quadruple", "timeout", [ProbeCall("quadruple_values", {"x": X}, "timeout")], points=1.0, name="b"),
    ]
    result = diagnose(toy, records)
    for part in result.parts:
        assert part.misconceptions == [] and part.feedback == ""
    assert result.hints == {}


def test_only_the_failed_checks_calls_that_the_student_answered_are_replayed(toy):
    # The second call raised in the student's code; the first one still names the mistake.
    calls = [student_answer("double_values", X + 2.0), ProbeCall("double_values", {"x": np.array([0.0])}, "error")]
    passed = record("double", "passed", [ProbeCall("double_values", {"x": np.array([5.0])}, "ok",
                                                    normalise({"y": np.array([10.0])}))], name="ok")
    result = diagnose(toy, [record("double", "failed", calls), passed])
    assert result.part("double").misconceptions == ["double.adds"]
    assert result.tests[0].misconceptions == ["double.adds"] and result.tests[1].misconceptions == []


def test_a_part_without_mutants_gets_the_honest_message(toy):
    call = ProbeCall("double_values", {"x": X}, "ok", normalise({"y": X}))
    result = diagnose(toy, [record("shout", "failed", [call])])
    assert result.part("shout").misconceptions == [] and result.part("shout").feedback == UNRECOGNISED


def test_mutant_modules_are_cached_and_append_to_the_reference(toy):
    mutants = load_catalogue(toy)
    first = mutant_module(toy, mutants[0])
    assert mutant_module(toy, mutants[0]) is first
    module = first.fresh_module()
    assert float(module.double(1.0)) == 3.0 and float(module.quadruple(1.0)) == 5.0
    assert module.shout("a") == "A"  # the rest is the reference's
    assert float(mutant_module(toy, None).fresh_module().double(1.0)) == 2.0


# --- comparing answers -----------------------------------------------------------------------

@pytest.mark.parametrize("student, other, same", [
    (np.array([1.0, np.nan]), np.array([1.0 + 1e-9, np.nan]), True),
    (np.array([1.0, 2.0]), np.array([1.0, 2.1]), False),
    (np.array([1.0, 2.0]), np.array([[1.0, 2.0]]), False),  # no broadcasting
    (np.array([np.inf]), np.array([np.inf]), True),
    (np.array([np.inf]), np.array([-np.inf]), False),
    ([np.array(1.0), np.array(2.0)], np.array([1.0, 2.0]), True),  # a list of numbers counts
    ((np.array(1.0), {"a": None}), (np.array(1.0), {"a": None}), True),
    ({"a": np.array(1.0)}, {"a": np.array(1.0), "b": np.array(2.0)}, False),
    ({"a": np.array(True)}, {"a": np.array(1.0)}, True),
    (None, np.array(0.0), False),
    (Opaque("generator", "<g1>"), Opaque("generator", "<g2>"), True),
    (Opaque("generator", "<g>"), Opaque("str", "'a'"), False),
    ([np.array(1.0)], [np.array(1.0), np.array(2.0)], False),
])
def test_same_answer(student, other, same):
    assert same_answer(student, other, rtol=1e-7, atol=1e-10) is same


# --- the catalogue is data and is validated --------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda c: c.replace('functions = ["double"]\nfile = "triples.py"', 'functions = ["tripple"]\nfile = "triples.py"'),
     "unknown function 'tripple'"),
    (lambda c: c.replace('file = "triples.py"', 'file = "missing.py"'), "does not exist"),
    (lambda c: c.replace('file = "triples.py"', 'file = "../triples.py"'), "must be the name of a .py file"),
    (lambda c: c.replace('hint = "You multiply by 3; doubling multiplies by 2."', 'hnit = "x"'), "unknown key(s) hnit"),
    (lambda c: c.replace('id = "double.triples"', 'id = "Double Triples"'), "must be lowercase words"),
    (lambda c: c.replace('functions = ["double"]\nfile = "triples.py"', 'functions = []\nfile = "triples.py"'),
     "non-empty list"),
    (lambda c: c + '\n[[mutant]]\nid = "again"\nfunctions = ["double"]\nfile = "triples.py"\nhint = "h"\n',
     "already listed"),
    (lambda c: c.split("[[mutant]]\nid = \"double.breaks\"")[0], "breaks.py not listed in the catalogue"),
    (lambda c: c + "\n[oops\n", "invalid TOML"),
    (lambda c: c.replace('id = "double.triples"', 'id = "double.adds"'), "its hint differs from an earlier entry's"),
    (lambda c: "title = 'x'\n" + c, "unknown top-level key(s) title"),
])
def test_catalogue_mistakes_are_clear_errors(tmp_path, change, message):
    assignment = make_course(tmp_path, catalogue=change(CATALOGUE))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(assignment)
    assert message in str(caught.value)
    assert "catalogue.toml" in str(caught.value) and "\n" not in str(caught.value)


def test_a_mutant_must_rewrite_a_reference_function(tmp_path):
    mutants = dict(MUTANTS, **{"triples.py": "def dubble(x):\n    return 3 * x\n"})
    assignment = make_course(tmp_path, mutants=mutants)
    with pytest.raises(CatalogueError, match="rewrites none of the reference's functions"):
        load_catalogue(assignment)
    mutants["triples.py"] = "def double(x):\n    return 3 * x\n\n\ndef dubble(x):\n    return x\n"
    assignment = make_course(tmp_path / "again", mutants=mutants)
    with pytest.raises(CatalogueError, match="defines dubble, which the reference does not have"):
        load_catalogue(assignment)
    mutants["triples.py"] = "def double(x):\n    return 3 * x\n\n\ndef quadruple(x):\n    return x\n"
    assignment = make_course(tmp_path / "third", mutants=mutants)
    with pytest.raises(CatalogueError, match="rewrites quadruple, which functions does not list"):
        load_catalogue(assignment)


def test_a_mutant_knows_what_it_rewrites(toy):
    assert [(m.id, m.rewrites) for m in load_catalogue(toy)] == [
        ("double.adds", ("double",)), ("double.triples", ("double",)), ("double.breaks", ("double",))]


def test_a_mutant_with_a_syntax_error_is_named(tmp_path):
    assignment = make_course(tmp_path, mutants=dict(MUTANTS, **{"triples.py": "def double(x)\n"}))
    with pytest.raises(CatalogueError, match=r"triples\.py:1: syntax error"):
        load_catalogue(assignment)


def test_a_broken_catalogue_is_a_warning_not_a_crash(tmp_path):
    assignment = make_course(tmp_path, catalogue=CATALOGUE.replace('"quadruple"]', '"quadrupel"]'))
    records = [record("double", "failed", [student_answer("double_values", X + 2.0)], points=2.0)]
    result = diagnose(assignment, records)
    assert result.part("double").misconceptions == []
    assert any("misconception catalogue" in w and "quadrupel" in w for w in result.warnings)


def test_no_catalogue_means_no_mutants(tmp_path):
    assignment = make_course(tmp_path, catalogue="", mutants={})
    (assignment.mutants_directory / "catalogue.toml").unlink()
    assert load_catalogue(assignment) == []


def test_an_instructor_adds_a_mistake_without_touching_the_grader(tmp_path):
    assignment = make_course(tmp_path)
    student = record("double", "failed", [student_answer("double_values", -2.0 * X)], points=2.0)
    assert diagnose(assignment, [student]).part("double").misconceptions == []
    (assignment.mutants_directory / "negates.py").write_text("def double(x):\n    return -2.0 * x\n")
    with open(assignment.mutants_directory / "catalogue.toml", "a") as catalogue:
        catalogue.write('\n[[mutant]]\nid = "double.negates"\nfunctions = ["double"]\n'
                        'file = "negates.py"\nhint = "You flipped the sign."\n')
    student = record("double", "failed", [student_answer("double_values", -2.0 * X)], points=2.0)
    assert diagnose(assignment, [student]).part("double").misconceptions == ["double.negates"]


@pytest.mark.parametrize("assignment_id", ["sigmoid_neuron", "optimizers"])
def test_the_shipped_catalogues_are_valid(assignment_id):
    assignment = Course.find(Path(__file__).parent).get(assignment_id)
    mutants = load_catalogue(assignment)
    assert mutants
    spec_ids = {
        "sigmoid_neuron": {"sigmoid.overflow", "sigmoid_grad.uses_input", "grad_w.missing_x",
                           "gradient_descent.sequential_update", "sign_flip"},
        "optimizers": {"sign_flip", "nag.no_lookahead", "adagrad.no_sqrt", "eps_outside_sqrt",
                       "rmsprop.no_decay_weight", "rmsprop.accumulates", "adam.no_bias_correction",
                       "adam.t_off_by_one", "minibatch.drops_last", "minibatch.one_step_per_epoch"},
    }[assignment_id]
    assert {m.id for m in mutants} == spec_ids
    for mutant in mutants:
        source = mutant.path.read_text()
        assert len(source.splitlines()) < 40, f"{mutant.path.name}: a mutant holds only the rewritten function(s)"
