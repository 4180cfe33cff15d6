"""The committed stubs are exactly what the generator makes from the reference, and no
reference code survives into them."""
from __future__ import annotations

import ast

import pytest

from grader.stubs import BEGIN, END, MarkerError, generate_stub, stub_for

ASSIGNMENTS = ["sigmoid_neuron", "optimizers"]


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_committed_stub_matches_generator(course, assignment_id):
    assignment = course.get(assignment_id)
    committed = assignment.stub_path.read_text(encoding="utf-8")
    assert committed == stub_for(assignment), (
        f"{assignment.stub_path} drifted from the reference; run `grader build {assignment_id}`")


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_stub_keeps_every_signature_and_docstring(course, assignment_id):
    assignment = course.get(assignment_id)
    reference = ast.parse(assignment.reference_path.read_text(encoding="utf-8"))
    stub = ast.parse(stub_for(assignment))
    ref_functions = {f.name: f for f in reference.body if isinstance(f, ast.FunctionDef)}
    stub_functions = {f.name: f for f in stub.body if isinstance(f, ast.FunctionDef)}
    assert list(stub_functions) == list(ref_functions)
    assert set(assignment.functions) <= set(stub_functions)
    for name, ref in ref_functions.items():
        assert ast.dump(stub_functions[name].args) == ast.dump(ref.args), name
        assert ast.get_docstring(stub_functions[name]) == ast.get_docstring(ref), name


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_no_reference_code_survives(course, assignment_id):
    assignment = course.get(assignment_id)
    stub_source = stub_for(assignment)
    tree = ast.parse(stub_source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = [s for s in node.body if not _is_docstring(s)]
            assert len(body) == 1 and isinstance(body[0], ast.Raise), f"{node.name} keeps code besides the raise"
            assert ast.unparse(body[0]) == "raise NotImplementedError"
    # Every line written between the markers is gone from the stub.
    reference_lines = assignment.reference_path.read_text(encoding="utf-8").splitlines()
    inside, solution_lines = False, []
    for line in reference_lines:
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside and line.strip():
            solution_lines.append(line)
    assert solution_lines, "the reference has no marked solution code"
    stub_lines = set(stub_source.splitlines())
    leaked = [line for line in solution_lines if line in stub_lines]
    assert not leaked


def test_generator_replaces_each_block_at_its_indentation():
    source = 'def f(x):\n    """Doc."""\n    # BEGIN SOLUTION\n    y = x + 1\n    return y\n    # END SOLUTION\n\n\nX = 1\n'
    assert generate_stub(source) == 'def f(x):\n    """Doc."""\n    raise NotImplementedError\n\n\nX = 1\n'


def test_generator_is_idempotent_on_a_stub(course):
    stub = stub_for(course.get("optimizers"))
    assert generate_stub(stub) == stub


@pytest.mark.parametrize("source, problem", [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without a"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "nested"),
])
def test_unbalanced_markers_are_reported_with_their_line(source, problem):
    with pytest.raises(MarkerError, match=problem) as info:
        generate_stub(source, origin="ref.py")
    assert str(info.value).startswith("ref.py:")
