"""Fair grading: the same mistake costs the same points for every student, whatever their
seed, and a student cannot re-roll their inputs by resubmitting an edited file.

The mistakes are every catalogued mutant (`solutions/<id>/mutants/`) and a fixed set of
plausible mistakes the catalogue does not name (`solutions/<id>/mistakes/`), both files that
hold only the rewritten function(s). Each is graded as a submission (the reference with the
file appended, as diagnosis builds a mutant) through a GradingSession and its warm sandbox
pool, for many student ids; only the checks of the functions it can change (the rewritten
ones and the reference's functions that call them) run, so that many ids stay cheap.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from grader.batch.fingerprint import entry_hash
from grader.course import Course
from grader.grade import GradingSession, grade_loaded, grade_submission, seed_material
from grader.load import load_submission

sys.path.insert(0, str(Path(__file__).parent))
from checks_harness import run_source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
STUDENTS = [f"student-{number:02d}" for number in range(50)]
#: Students whose file is also graded with a comment added (the seed ignores the content,
#: so the same mistake must score alike; a handful shows it).
EDITORS = STUDENTS[:3]
#: The mistakes the issue found graded by luck; the test fails if any goes missing.
REQUIRED = {
    "optimizers": {"eps_outside_sqrt_adagrad", "eps_outside_sqrt_rmsprop", "eps_outside_sqrt_adam",
                   "adam_t_minus_one", "adam_t_plus_one", "minibatch_drops_last", "minibatches_array_split",
                   "step_decay_true_division", "line_search_keeps_last_tie", "step_decay_counts_from_one",
                   "minibatches_range_stops_early", "adagrad_no_eps", "rmsprop_no_eps", "adam_no_eps",
                   "exponential_decay_t_plus_one"},
    "sigmoid_neuron": {"gradient_descent_sequential_update"},
    "backprop": set(),  # its catalogued mutants are graded for every id too
}


def mistake_files(assignment_id: str) -> list[Path]:
    folder = ROOT / "solutions" / assignment_id
    return sorted(folder.glob("mutants/*.py")) + sorted(folder.glob("mistakes/*.py"))


MISTAKES = [pytest.param(assignment_id, path, id=f"{assignment_id}/{path.parent.name}/{path.stem}")
            for assignment_id in sorted(REQUIRED) for path in mistake_files(assignment_id)]


def top_level_functions(source: str) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}


def affected_functions(assignment, mistake_source: str) -> list[str]:
    """The assignment's functions a mistake can change: those it rewrites and, transitively,
    the reference's functions that call them."""
    reference = top_level_functions(assignment.reference_path.read_text(encoding="utf-8"))
    uses = {name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} for name, node in reference.items()}
    affected = set(top_level_functions(mistake_source))
    while True:
        callers = {name for name, used in uses.items() if used & affected} - affected
        if not callers:
            return [f for f in assignment.functions if f in affected]
        affected |= callers


def with_mistake(assignment, mistake: Path) -> str:
    reference = assignment.reference_path.read_text(encoding="utf-8")
    return f"{reference}\n\n# --- {mistake.name} ---\n{mistake.read_text(encoding='utf-8')}"


@pytest.fixture(scope="module")
def sessions():
    opened: dict[str, GradingSession] = {}

    def session(assignment) -> GradingSession:
        if assignment.id not in opened:
            opened[assignment.id] = GradingSession(assignment)
        return opened[assignment.id]

    yield session
    for session_ in opened.values():
        session_.close()


def score_row(result, functions) -> tuple:
    """(total, ((function, score), ...) for the graded functions)."""
    assert result.status == "graded", result.error
    return (result.score, tuple((part.function, part.score) for part in result.parts if part.function in functions))


def test_the_fixed_set_of_mistakes_is_there():
    for assignment_id, required in REQUIRED.items():
        assert required <= {path.stem for path in mistake_files(assignment_id)}


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id, mistake", MISTAKES)
def test_a_mistake_costs_the_same_points_for_every_student(assignment_id, mistake, sessions, tmp_path):
    assignment = COURSE.get(assignment_id)
    source = with_mistake(assignment, mistake)
    functions = affected_functions(assignment, mistake.read_text(encoding="utf-8"))
    (tmp_path / "plain").mkdir()
    (tmp_path / "edited").mkdir()
    plain = tmp_path / "plain" / f"{assignment.module}.py"
    plain.write_text(source, encoding="utf-8")
    edited = tmp_path / "edited" / f"{assignment.module}.py"
    edited.write_text(f"# resubmitted, nothing changed but this comment\n{source}", encoding="utf-8")
    session = sessions(assignment)
    rows: dict[tuple, list[str]] = {}
    for path, students in ((plain, STUDENTS), (edited, EDITORS)):
        submission = load_submission(path, assignment.module)
        for student in students:
            result = grade_loaded(assignment, submission, student, functions=functions, session=session,
                                  diagnose=False)
            rows.setdefault(score_row(result, functions), []).append(f"{student}{'' if path is plain else ' (edited)'}")
    assert len(rows) == 1, f"{mistake.name} scores differently by student: " + "; ".join(
        f"{row[0]} {dict(row[1])} for {', '.join(who[:4])}{' ...' if len(who) > 4 else ''}"
        for row, who in rows.items())
    score = next(iter(rows))[0]
    assert score < sum(assignment.points_for(f) for f in functions), f"{mistake.name} is never caught"


def test_a_resubmission_with_a_comment_cannot_reroll_the_inputs(optimizers, tmp_path):
    # The seed names the student, never the content; a batch still regrades the edited file.
    assert seed_material(optimizers, "alice") == seed_material(optimizers, "alice")
    assert seed_material(optimizers, "alice") != seed_material(optimizers, "bob")
    source = with_mistake(optimizers, ROOT / "solutions/optimizers/mistakes/minibatches_array_split.py")
    first, second = tmp_path / "first" / "optimizers.py", tmp_path / "second" / "optimizers.py"
    for path, text in ((first, source), (second, source + "\n# one more try\n")):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    assert entry_hash(first) != entry_hash(second)
    graded = [grade_submission(optimizers, path, "alice", functions=["minibatches"], diagnose=False)
              for path in (first, second)]
    failed = [[(t.name, t.output) for t in result.tests if t.status != "passed"] for result in graded]
    assert failed[0] and failed[0] == failed[1]  # the same checks fail on the same inputs (shown)
    assert graded[0].content_hash != graded[1].content_hash


#: Appended to the reference: every function's float arrays come back scaled by 1 + 1e-13
#: (about 450 ulps, where honest rounding differences are a few): correct code that rounds
#: differently, e.g. another order of operations or another BLAS kernel in the sandbox.
ROUNDED_DIFFERENTLY = """

import functools as _functools
import numpy as _np


def _nudged(value):
    if isinstance(value, (_np.ndarray, _np.floating)) and value.dtype.kind == "f":
        return value * (1.0 + 1e-13)
    if isinstance(value, tuple):
        return tuple(_nudged(item) for item in value)
    return value


def _nudging(function):
    @_functools.wraps(function)
    def nudged(*args, **kwargs):
        return _nudged(function(*args, **kwargs))
    return nudged


for _name in {names!r}:
    globals()[_name] = _nudging(globals()[_name])
"""


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", sorted(REQUIRED))
def test_correct_code_that_rounds_differently_keeps_full_marks_for_every_student(assignment_id):
    # No check may hinge on a near-tie or an unstable run that a few ulps settle (checked
    # in-process: the checks' sensitivity, not the sandbox, is what is measured here).
    assignment = COURSE.get(assignment_id)
    source = assignment.reference_path.read_text(encoding="utf-8") + ROUNDED_DIFFERENTLY.format(
        names=list(assignment.functions))
    lost = {}
    for student in STUDENTS[:20]:
        for record in run_source(assignment, source, student=student):
            if record.status != "passed":
                lost.setdefault(record.title, []).append(student)
    assert lost == {}, lost
