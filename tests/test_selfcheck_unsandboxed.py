"""Where `os.fork` and `resource` are missing (Windows) the self-check still runs, clearly
labelled as unsandboxed, and still names known mistakes; grading never runs that way. The
platform is simulated by removing both from this process."""
from __future__ import annotations

import os
import sys

import pytest

from grader.cli import main
from grader.grade import SELF_CHECK_SANDBOX_NOTE, grade_submission
from grader.sandbox import Limits
from grader.unsandboxed import UNSANDBOXED_NOTE, sandbox_available


@pytest.fixture
def windows_like(monkeypatch):
    monkeypatch.delattr(os, "fork")
    monkeypatch.setitem(sys.modules, "resource", None)
    assert not sandbox_available()


def test_self_check_runs_unsandboxed_and_says_so(windows_like, optimizers, tmp_path, capsys):
    reference = grade_submission(optimizers, optimizers.reference_path, public_only=True)
    assert reference.full_marks and reference.isolation == "none"
    assert reference.warnings == [UNSANDBOXED_NOTE]

    mutant = (optimizers.solution_directory / "mutants" / "eps_outside_sqrt_rmsprop.py").read_text()
    path = tmp_path / "optimizers.py"
    path.write_text(optimizers.reference_path.read_text() + "\n\n" + mutant)
    assert main(["check", "optimizers", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"warning: {UNSANDBOXED_NOTE}" in " ".join(out.split())
    assert "likely mistake (eps_outside_sqrt)" in out


def test_an_error_in_unsandboxed_code_shows_the_students_line(windows_like, optimizers, tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(optimizers.reference_path.read_text()
                    + "\n\ndef step_decay(eta0, epoch):\n    return eta0 / undefined_name\n")
    result = grade_submission(optimizers, path, public_only=True, functions=["step_decay"])
    test = result.tests_for("step_decay")[0]
    assert test.status == "error" and "NameError" in test.output
    assert 'File "optimizers.py"' in test.output and "return eta0 / undefined_name" in test.output


def test_a_self_check_without_bubblewrap_says_one_plain_sentence(optimizers):
    result = grade_submission(optimizers, optimizers.reference_path, public_only=True,
                              limits=Limits(isolation="rlimits"))
    assert result.warnings == [SELF_CHECK_SANDBOX_NOTE]
    assert SELF_CHECK_SANDBOX_NOTE.count(". ") == 0 and SELF_CHECK_SANDBOX_NOTE.endswith(".")
    graded = grade_submission(optimizers, optimizers.reference_path, limits=Limits(isolation="rlimits"),
                              functions=["gd_step"], diagnose=False)
    assert graded.warnings and graded.warnings != [SELF_CHECK_SANDBOX_NOTE]  # grading keeps the details
