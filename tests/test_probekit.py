"""The probe library the assignments' probes share, and its journey into the sandbox."""
from __future__ import annotations

import ast
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from grader.course import Course
from grader.grade import grade_submission
from grader.probekit import changed, faked, snapshot


def test_faked_swaps_only_the_named_building_blocks_and_always_puts_them_back():
    mod = types.ModuleType("m")
    mod.a, mod.b = (lambda: "a"), (lambda: "b")
    stand_ins = {"a": lambda: "fake a", "b": lambda: "fake b", "c": lambda: "fake c"}
    with faked(mod, "b", True, stand_ins):
        assert (mod.a(), mod.b(), mod.c()) == ("fake a", "b", "fake c")  # never the function under test
    assert (mod.a(), mod.b()) == ("a", "b") and not hasattr(mod, "c")
    with pytest.raises(ZeroDivisionError):
        with faked(mod, "x", ["a"], stand_ins):
            1 / 0
    assert mod.a() == "a"
    with faked(mod, "x", False, stand_ins):
        assert mod.a() == "a"


def test_changed_sees_arrays_modified_in_place_also_inside_containers():
    args = [np.zeros(3), (np.ones(2), 5.0), {"cache": np.arange(4.0)}, "text"]
    before = snapshot(args)
    assert not changed(before, args)
    args[1][0][1] = 7.0  # inside a tuple: W1 -= ... on a params tuple
    assert changed(before, args)
    args = [np.zeros(3), {"cache": np.arange(4.0)}]
    before = snapshot(args)
    args[1]["cache"] += 1
    assert changed(before, args)
    assert not changed(snapshot([np.zeros(2)]), [np.zeros(2)])  # equal values in a new array: unchanged


def test_no_probes_file_copies_the_library():
    for probes in sorted((ROOT / "assignments").glob("*/probes.py")):
        tree = ast.parse(probes.read_text(encoding="utf-8"))
        defined = {node.name.lstrip("_") for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert not defined & {"faked", "snapshot", "changed"}, probes
        imported = {alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                    and node.module == "grader.probekit" for alias in node.names}
        assert {"faked", "snapshot", "changed"} <= imported, probes


def test_in_the_sandbox_the_probes_get_the_library_and_nothing_else_of_the_grader(tmp_path):
    """A student module sees a `grader` package holding only the probe library: the grader's
    own modules (the checks, the reference's loader) are not in the sandbox."""
    assignment = Course(ROOT).get("sigmoid_neuron")
    reference = Path(assignment.reference_path).read_text(encoding="utf-8")
    spy = reference + (
        "\n\nimport sys as _sys\n"
        "_grader = _sys.modules.get('grader')\n"
        "_seen = sorted(k for k in _sys.modules if k == 'grader' or k.startswith('grader.'))\n"
        "if _seen != ['grader', 'grader.probekit'] or sorted(vars(_grader)) != "
        "sorted(['__name__', '__doc__', '__package__', '__loader__', '__spec__', '__path__', 'probekit']):\n"
        "    raise ImportError(f'the sandbox holds more of the grader: {_seen}')\n")
    path = tmp_path / "sigmoid_neuron.py"
    path.write_text(spy, encoding="utf-8")
    result = grade_submission(assignment, path, student="spy")
    assert result.status == "graded" and result.full_marks, [t.output for t in result.tests if t.status != "passed"][:1]
