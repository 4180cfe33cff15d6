"""The figures an assignment declares for its feedback: the instructor's plotting API.

A check draws a run by calling its `trace` fixture with a `problem` dict whose `"kind"` says
how the rows are drawn (see `grader.render.plots`). A few kinds are built in because they
are mathematics, not course material: `"quadratic"` and `"diagonal"` (paths on the contours
of a quadratic), `"loss_curve"` (rows are loss values, drawn against the step or epoch). Any
other kind is one an assignment declares in `assignments/<id>/figures.py`, a module of the
course (trusted, run in the grader's process, never in the sandbox) that defines

    FIGURES = {
        "error_surface": Surface(loss=..., extent=(-6, 6, -6, 6), axes=("w", "b"), ...),
        "network": Boundary(predict=..., extent=(-0.5, 1.5, -0.5, 1.5), ...),
    }

- `Surface`: rows of the trajectory are two parameters (p0, p1); `loss(p0, p1, **data)` is
  evaluated element-wise over equal-shaped arrays p0, p1, with `data` the problem dict's
  other entries as NumPy arrays (or plain values). The report draws the path over the loss's
  contours and the loss along the path against the step.
- `Boundary`: the student's and the reference's trace each hold ONE row, a trained binary
  classifier's parameters flattened; `predict(row, points, **data)` maps it and an (n, 2)
  array of points of the plane to the n outputs in [0, 1]. The report shades the student's
  output over `extent`, draws both runs' 0.5 contour (the decision boundary) and marks the
  problem's points `X` (shape (m, 2)) by their class `y`.

A problem whose kind is neither built in nor declared gets the generic plot (the distance of
each row to the reference's last row). Nothing in `grader/` names an assignment's figure.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from grader.errors import UsageError

FIGURES_FILE = "figures.py"


class FiguresError(UsageError):
    """An assignment's figures.py is unusable; str() names the file and what is wrong."""


@dataclass(frozen=True)
class Surface:
    """A loss over two parameters, for paths on its contours."""

    loss: Callable[..., Any]
    extent: tuple[float, float, float, float] | None = None  # the view when the runs fit in it
    axes: tuple[str, str] = ("θ₁", "θ₂")
    title: str = "Path on the loss contours"
    loss_label: str = "loss"


@dataclass(frozen=True)
class Boundary:
    """A binary classifier's output over the plane, for its decision boundary."""

    predict: Callable[..., Any]
    extent: tuple[float, float, float, float] = (-0.5, 1.5, -0.5, 1.5)
    axes: tuple[str, str] = ("x₁", "x₂")
    title: str = "Decision boundary (output 0.5)"


Figure = Surface | Boundary


def logistic_squared_error(w, b, x, y):
    """L(w, b) = 1/2 sum_i (sigma(w x_i + b) - y_i)^2 of a one-input logistic unit on the points
    (x, y), over equal-shaped arrays w, b (sigma via tanh: no overflow): a `Surface.loss`."""
    import numpy as np

    z = np.multiply.outer(w, x) + np.multiply.outer(b, np.ones_like(x))
    return 0.5 * ((0.5 * (1.0 + np.tanh(0.5 * z)) - y) ** 2).sum(axis=-1)

_LOADED: dict[tuple[str, int], dict[str, Figure]] = {}


def load_figures(directory: Path) -> dict[str, Figure]:
    """The FIGURES of `directory/figures.py` ({} when there is none); read once per version
    of the file in a process."""
    from grader.checking import load_module_from

    path = Path(directory) / FIGURES_FILE
    try:
        stamp = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return {}
    key = (str(path), stamp)
    if key not in _LOADED:
        try:
            module = load_module_from(path, f"_grader_figures_{abs(hash(str(path)))}")
        except Exception as exc:  # noqa: BLE001 - any error in the course's file, named in one line
            raise FiguresError(f"{path}: {type(exc).__name__}: {exc}") from None
        figures = getattr(module, "FIGURES", None)
        if not isinstance(figures, dict) or not all(
                isinstance(name, str) and isinstance(figure, (Surface, Boundary)) for name, figure in figures.items()):
            raise FiguresError(f"{path}: FIGURES must be a dict from a kind's name to a Surface or a Boundary")
        _LOADED[key] = dict(figures)
    return _LOADED[key]
