"""The probe library: what the assignments' probe drivers (`assignments/<id>/probes.py`)
share, so that no probes file copies it.

It ships into the sandbox beside the probes (the only module of the grader that does; the
worker registers it as `grader.probekit` before it loads the probes) and runs on the
student's module there, and in the grader's process on the reference. So it uses NumPy and
the standard library only, and holds no assignment's formula.

- `faked(mod, under_test, fakes, stand_ins)`: swap a module's building blocks for the
  assignment's deliberate stand-ins while a composite function runs (one mistake costs one
  part: see `grader.composites`).
- `snapshot(values)` and `changed(before, values)`: whether a call modified its arguments in
  place (arrays, also inside tuples, lists and dicts).
"""
from __future__ import annotations

import contextlib
import copy

import numpy as np


@contextlib.contextmanager
def faked(mod, under_test: str, fakes, stand_ins: dict):
    """While the block runs, `mod`'s functions named by `fakes` are `stand_ins[name]`:
    `fakes` is False (none), True (every stand-in) or a list of names; `under_test` itself is
    never swapped. Everything is put back afterwards, also when the block raises."""
    names = list(stand_ins) if fakes is True else list(fakes or [])
    names = [name for name in names if name != under_test]
    saved = {name: mod.__dict__[name] for name in names if name in mod.__dict__}
    try:
        for name in names:
            setattr(mod, name, stand_ins[name])
        yield
    finally:
        for name in names:
            if name in saved:
                setattr(mod, name, saved[name])
            else:
                delattr(mod, name)


def snapshot(values):
    """A copy of `values` deep enough for `changed`: arrays copied, containers recursed."""
    if isinstance(values, np.ndarray):
        return np.array(values, copy=True)
    if isinstance(values, list):
        return [snapshot(v) for v in values]
    if isinstance(values, tuple):
        return tuple(snapshot(v) for v in values)
    if isinstance(values, dict):
        return {key: snapshot(value) for key, value in values.items()}
    return copy.copy(values)


def changed(before, after) -> bool:
    """Whether any array in `after` (also inside tuples, lists and dicts) differs from its
    `snapshot` in `before`: a call changed an argument in place."""
    if isinstance(before, np.ndarray):
        return not isinstance(after, np.ndarray) or before.shape != after.shape or before.tobytes() != after.tobytes()
    if isinstance(before, (list, tuple)):
        return len(before) != len(after) or any(changed(old, new) for old, new in zip(before, after))
    if isinstance(before, dict):
        return any(changed(value, after.get(key)) for key, value in before.items())
    return False
