"""The sandbox works from a virtual environment, including one made under /tmp (which the
sandbox replaces by its own empty tmpfs): the usual set-up of a learner or a CI job."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from grader.sandbox import isolation_available


@pytest.mark.slow
def test_grading_from_a_venv_under_tmp(tmp_path):
    venv = tmp_path / "venv"  # pytest's tmp_path lives under /tmp
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    script = ("from grader.course import Course; from grader.grade import grade_submission; "
              "a = Course.find().get('optimizers'); r = grade_submission(a, a.reference_path); "
              "print(r.status, r.score, r.max_score, r.isolation, r.error)")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    status, score, max_score, isolation, _ = done.stdout.split(maxsplit=4)
    assert (status, score) == ("graded", max_score), done.stdout
    assert isolation == isolation_available()
