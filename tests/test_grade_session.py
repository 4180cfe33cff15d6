"""A GradingSession (what a batch worker keeps between submissions) grades exactly like
fresh grading: same scores, same test outcomes, same diagnosis, in any order."""
from __future__ import annotations

import pytest

from conftest import ROOT
from grader.grade import GradingSession, grade_submission

COHORT = ROOT / "demo" / "cohort"
# a mistake, a correct one, a notebook, an unimplemented stub, the mistake again
ORDER = ["hana_sato.py", "amara_okafor.py", "eva_novak.ipynb", "priya_nair.py", "hana_sato.py"]


def essence(result) -> dict:
    return {
        "status": result.status, "score": result.score, "error": result.error,
        "tests": [(t.name, t.status, t.score, t.output) for t in result.tests],
        "parts": [(p.function, p.score, p.misconceptions, p.feedback) for p in result.parts],
    }


def test_session_grades_like_fresh_grading_in_any_order(optimizers):
    session = GradingSession(optimizers)
    try:
        for name in ORDER:
            fresh = grade_submission(optimizers, COHORT / name, student=name)
            warm = grade_submission(optimizers, COHORT / name, student=name, session=session)
            assert essence(warm) == essence(fresh), name
            assert warm.content_hash == fresh.content_hash
    finally:
        session.close()


def test_session_refuses_another_assignment(optimizers, sigmoid_neuron):
    session = GradingSession(optimizers)
    with pytest.raises(ValueError, match="cannot grade sigmoid_neuron"):
        grade_submission(sigmoid_neuron, sigmoid_neuron.reference_path, student="x", session=session)
    session.close()
