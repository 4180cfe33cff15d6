"""plain_or_faked asks an in-process reference for its faked runs only when the student's
plain run failed (they would double or quadruple the reference's work for every correct
submission), and any other reference (the recorder that bakes public answers) up front."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from grader.checking import InProcessModule, RecordingReference
from grader.composites import plain_or_faked
from grader.expect import expect_array
from grader.grade import reference_module, trusted_probes

sys.path.insert(0, str(Path(__file__).parent))
from checks_harness import student_probes  # noqa: E402

KWARGS = dict(theta0=np.array([0.5, -0.5]), X=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
              Y=np.array([1.0, -1.0, 0.5]), eta=0.1, epochs=2, batch_size=2, kind="linear")
FAKE_SETS = (True, ["minibatches"], ["gd_step"])


def counted(module):
    """Record the `fakes` argument of every probe call of `module` (patched on the instance)."""
    asked = []
    inner = module.probe

    def probe(name, **kwargs):
        asked.append(kwargs.get("fakes", False))
        return inner(name, **kwargs)

    module.probe = probe
    return asked


def compare(got, want):
    expect_array(got["history"], want["history"], name="history", rtol=1e-9, atol=0.0, inputs={})


def student_with_gd_step(optimizers, folder, body):
    """The reference with gd_step's body replaced (a broken building block of minibatch_sgd)."""
    source = optimizers.reference_path.read_text(encoding="utf-8")
    source += f"\n\ndef gd_step(theta, grad, eta):\n    {body}\n"
    path = folder / f"{optimizers.module}.py"
    path.write_text(source, encoding="utf-8")
    return InProcessModule(path, trusted_probes(optimizers), optimizers.module)


def test_in_process_reference_skips_the_faked_runs_when_the_plain_run_passes(optimizers):
    reference = reference_module(optimizers)
    asked = counted(reference)
    plain_or_faked(student_probes(reference_module(optimizers)), reference, "sgd", KWARGS, compare,
                   fake_sets=FAKE_SETS)
    assert asked == [False]


def test_in_process_reference_runs_a_faked_run_when_the_student_needs_it(optimizers, tmp_path):
    """minibatch_sgd itself is right but calls a gd_step that ascends: the plain run fails, the
    first fake set (every building block faked) passes, and only that one is asked for."""
    reference = reference_module(optimizers)
    asked = counted(reference)
    student = student_with_gd_step(optimizers, tmp_path, "return np.asarray(theta) + eta * np.asarray(grad)")
    plain_or_faked(student_probes(student), reference, "sgd", KWARGS, compare, fake_sets=FAKE_SETS)
    assert asked == [False, True]


def test_a_wrong_composite_still_fails_with_lazy_faked_answers(optimizers, tmp_path):
    reference = reference_module(optimizers)
    student = student_with_gd_step(optimizers, tmp_path, "return np.asarray(theta) + eta * np.asarray(grad)")
    source = student.module_path.read_text(encoding="utf-8")
    student.module_path.write_text(source + "\n\ndef minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, "
                                   "rng=None):\n    return np.zeros((1, *np.shape(theta0)))\n", encoding="utf-8")
    student = InProcessModule(student.module_path, student.probes, optimizers.module)
    with pytest.raises(AssertionError):
        plain_or_faked(student_probes(student), reference, "sgd", KWARGS, compare, fake_sets=FAKE_SETS)


def test_a_recording_reference_is_asked_for_every_fake_set_up_front(optimizers):
    """`grader build` bakes the public checks' answers through a RecordingReference; a student
    bundle has no reference, so the faked answers must be recorded even when unused."""
    inner = reference_module(optimizers)
    asked = counted(inner)
    recorder = RecordingReference(inner)
    plain_or_faked(student_probes(reference_module(optimizers)), recorder, "sgd", KWARGS, compare,
                   fake_sets=FAKE_SETS)
    assert asked == [False, *FAKE_SETS]
    assert len(recorder.answers) == 1 + len(FAKE_SETS)


def test_grading_a_correct_submission_asks_the_reference_for_no_faked_run(optimizers):
    """Through the real grading path (the `reference` fixture wraps the session's reference
    to measure its answers): a correct submission costs the reference its plain runs only.
    The wrapper once hid the reference's kind, and every submission paid every faked run.
    (Line search's input draws are judged with the fake gd_step on purpose, see
    `clearly_separated` in its hidden checks: those are the only faked runs asked.)"""
    from grader.grade import GradingSession, grade_submission

    session = GradingSession(optimizers)
    try:
        reference = session.reference()
        calls = []
        inner = reference.probe

        def probe(name, **kwargs):
            calls.append((name, kwargs.get("fakes", False)))
            return inner(name, **kwargs)

        reference.probe = probe
        result = grade_submission(optimizers, optimizers.reference_path, student="someone", session=session)
    finally:
        session.close()
    assert result.score == result.max_score
    faked = sorted({name for name, fakes in calls if fakes})
    assert len(calls) > 20 and faked == ["candidate_losses", "line_search"], faked
