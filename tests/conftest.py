"""Shared fixtures: the course of this checkout and its assignments."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.course import Course

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def course() -> Course:
    return Course(ROOT)


@pytest.fixture(scope="session")
def optimizers(course):
    return course.get("optimizers")


@pytest.fixture(scope="session")
def sigmoid_neuron(course):
    return course.get("sigmoid_neuron")


def run_grader(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real command line (`python -m grader ...`) and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def load_reference(assignment_id: str, module: str):
    """The reference solutions/<id>/<module>.py, imported under a private name (not via sys.path)."""
    from grader.checking import load_module_from

    return load_module_from(ROOT / "solutions" / assignment_id / f"{module}.py", f"_reference_{module}")
