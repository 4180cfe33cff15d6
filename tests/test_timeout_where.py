"""A timeout says where the student's code was when it was stopped (their own line, never a
grader frame) and on which inputs, under bubblewrap (alone and through the warm pool) and
in the rlimits fallback."""
from __future__ import annotations

import re

import pytest

from grader.grade import GradingSession, grade_submission
from grader.sandbox import Limits

LOOP = '''

def exponential_decay(eta0, k, t):
    total = 0.0
    while True:
        total += k * t
    return eta0
'''


@pytest.fixture
def endless(optimizers, tmp_path):
    source = optimizers.reference_path.read_text() + LOOP
    path = tmp_path / "optimizers.py"
    path.write_text(source)
    line = source.splitlines().index("        total += k * t") + 1
    return path, line


@pytest.mark.parametrize("mode", ["auto", "rlimits", "pool"])
def test_a_timeout_shows_the_students_line_and_the_inputs(mode, optimizers, endless, monkeypatch):
    path, line = endless
    limits = Limits(probe_timeout=1.0, isolation="rlimits" if mode == "rlimits" else "auto")
    session = GradingSession(optimizers) if mode == "pool" else None
    try:
        result = grade_submission(optimizers, path, functions=["exponential_decay"], limits=limits,
                                  diagnose=False, session=session)
    finally:
        if session is not None:
            session.close()
    first = result.tests_for("exponential_decay")[0]
    assert first.status == "timeout", first.output
    output = first.output
    assert output.startswith("Inputs:\n") and "calls = " in output
    assert "It was stopped here:" in output
    # The loop is stopped on either of its lines (its jump back belongs to the `while`).
    assert (f'  File "optimizers.py", line {line}, in exponential_decay\n    total += k * t' in output
            or f'  File "optimizers.py", line {line - 1}, in exponential_decay\n    while True:' in output), output
    frames = re.findall(r'File "([^"]+)"', output)
    assert frames and set(frames) == {"optimizers.py"}  # the student's frames only
    assert "probes.py" not in output and "worker.py" not in output and "/runtime" not in output
