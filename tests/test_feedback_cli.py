"""What a student meets in the terminal (issue 14): `grader grade` and `grader check` fit 100
columns and name the likely mistake before the arrays, no colour when not on a terminal, an
untouched stub is "not attempted" (JSON `"attempted": false`), a syntax error is shown once
with its line and a caret. Through the real command and sandbox."""
from __future__ import annotations

import json

import pytest

from conftest import run_grader
from grader.stubs import stub_for


@pytest.fixture(scope="module")
def half_done(optimizers, tmp_path_factory):
    """The stub with adam_step written with a known mistake (no bias correction) and gd_step
    written correctly; everything else untouched."""
    mutant = (optimizers.solution_directory / "mutants" / "adam_no_bias_correction.py").read_text()
    reference = optimizers.reference_path.read_text()
    gd_step = reference[reference.index("def gd_step"):reference.index("\ndef ", reference.index("def gd_step") + 1)]
    path = tmp_path_factory.mktemp("half") / "optimizers.py"
    path.write_text(stub_for(optimizers) + "\n\n" + gd_step + "\n\n" + mutant)
    return path


def test_grade_fits_100_columns_and_names_the_mistake_first(optimizers, half_done):
    completed = run_grader("grade", "optimizers", str(half_done), env={"NO_COLOR": ""})
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert "\x1b[" not in completed.stdout  # not a terminal: no colour
    adam = next(i for i, line in enumerate(lines) if line.startswith("adam_step "))
    assert lines[adam + 1].startswith("  likely mistake (adam.no_bias_correction): ")
    assert "grader grade optimizers" in completed.stdout and "--report" in completed.stdout  # where the rest is
    for function in ("train", "minibatch_sgd", "line_search_step"):
        row = next(line for line in lines if line.startswith(function + " "))
        assert row.rstrip().endswith("(not attempted)")
    assert "raised an error" not in completed.stdout and "[ERR" not in completed.stdout


def test_check_names_the_mistake_in_100_columns(optimizers, half_done):
    completed = run_grader("check", "optimizers", str(half_done))
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert "likely mistake (adam.no_bias_correction)" in completed.stdout
    assert "[ok  ] gd_step" in completed.stdout and "(not attempted)" in completed.stdout


def test_stub_parts_are_not_attempted_in_json(optimizers, tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(stub_for(optimizers))
    completed = run_grader("grade", "optimizers", str(path), "--json")
    data = json.loads(completed.stdout)
    assert [p["attempted"] for p in data["parts"]] == [False] * len(optimizers.functions)
    assert all(t["status"] == "error" for t in data["tests"])  # the contract's test statuses stay


def test_syntax_error_shows_the_line_with_a_caret_once(optimizers, tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(stub_for(optimizers) + "\n\ndef gd_step(theta, grad, eta):\n    return theta - eta * grad)\n")
    for command in ("grade", "check"):
        completed = run_grader(command, "optimizers", str(path))
        assert completed.returncode == 2
        both = completed.stdout + completed.stderr
        assert both.count("syntax error") == 1, both
        lines = completed.stderr.splitlines()
        assert lines[0].startswith("grader: error: syntax error in ") and "unmatched ')'" in lines[0]
        assert lines[1].strip() == "return theta - eta * grad)"
        assert lines[2].index("^") == lines[1].index(")", lines[1].index("grad"))
