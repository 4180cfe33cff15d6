"""Check helpers for composite functions (`train`, `minibatch_sgd`, `gradient_descent`,
`line_search_step`...), which call the student's own building blocks.

A mistake in a building block must cost only that block's points, so a composite is judged
twice if need be: the plain run against the reference's plain run, else a run in which the
probe swaps the building blocks for fakes (stand-ins defined in the assignment's probes,
deliberately not the handout's functions) against the reference run with the same fakes.
A student who inlines a correct building block passes the plain run; one who calls a wrong
building block passes the faked run. Feedback is always about the plain run.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from grader.checking import StudentError, StudentTimeout


def plain_or_faked(student, reference, probe: str, kwargs: dict, compare: Callable[[Any, Any], None],
                   show: Callable[[Any, Any], None] | None = None, fake_sets: Sequence = (True,)) -> None:
    """Run `probe` with `kwargs` on both sides and `compare(got, want)` (which raises
    AssertionError on a mismatch). Passes when the plain run agrees, or else when a run with
    fake building blocks (each of `fake_sets` in turn, passed as the probe's `fakes`
    argument) agrees with the reference's run with the same fakes. After a timeout only the
    first fake set is tried: the function itself may hang. `show(got_or_None, want)` sees the
    plain run (for plots).

    A reference that computes answers on demand (`answers_on_demand`: the in-process reference
    of the hidden checks and of diagnosis, also behind the `reference` fixture's wrapper) runs the faked runs only
    when the student's plain run failed: each is as long as the plain run, and asking for them
    up front would double or quadruple the reference's work for every correct submission.
    Any other reference (the recorder that bakes the public checks' answers, or the baked
    answers themselves) is asked for them up front, so that a student bundle holds them even
    though the reference itself never needs the faked run."""
    want = reference.probe(probe, **kwargs)
    asked = {} if getattr(reference, "answers_on_demand", False) else {
        number: reference.probe(probe, **kwargs, fakes=fakes) for number, fakes in enumerate(fake_sets)}
    try:
        got = student.probe(probe, **kwargs)
    except (StudentError, StudentTimeout) as exc:
        if show:
            show(None, want)
        failure: BaseException = exc
        if isinstance(exc, StudentTimeout):
            fake_sets = fake_sets[:1]
    else:
        if show:
            show(got, want)
        try:
            compare(got, want)
            return
        except AssertionError as exc:
            failure = exc
    for number, fakes in enumerate(fake_sets):
        try:
            got = student.probe(probe, **kwargs, fakes=fakes)
            want_faked = asked[number] if number in asked else reference.probe(probe, **kwargs, fakes=fakes)
            compare(got, want_faked)
            return
        except StudentTimeout:
            break
        except (AssertionError, StudentError):
            continue
    raise failure


def plot_rows(value: Any, like: Any) -> np.ndarray | None:
    """The student's rows as a float array for a plot, or None when they cannot be drawn."""
    try:
        rows = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return rows if rows.shape == np.shape(like) else None
