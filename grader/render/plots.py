"""Convergence plots of a test's trajectories (`TestResult.traces`), the lecture's pictures:
the (w, b) path over the contour plot of the error surface, and the loss against step, the
student's run and the reference's on the same axes.

What a trace's `problem` dict may say (anything else gets a generic plot):

- `{"kind": "sigmoid_neuron", "x": [...], "y": [...]}`: rows of the trajectory are (w, b) of
  the toy neuron sigma(w x + b) with loss L(w, b) = 1/2 sum (sigma(w x_i + b) - y_i)^2; x and y
  default to the lecture's points (0.5, 0.2) and (2.5, 0.9). Contours on w, b in [-6, 6].
- `{"kind": "quadratic", "A": [[...]], "b": [...]}`: rows are theta (flattened), loss
  1/2 theta^T A theta - b^T theta (b defaults to zeros), drawn shifted by its minimum when A
  is positive definite; a two-parameter theta also gets its path over the contours.
- anything else: the distance of each row to the reference's last row, against step.

`"name"` is accepted as a synonym of `"kind"`.

Speed (a cohort is mostly correct parts with identical trajectories):
- the contour grid is computed once per problem (`sigmoid_surface`, `quadratic_surface`:
  lru_caches keyed by the problem's data);
- each plot's background (axes, ticks, contours, legend, titles) is drawn once per layout and
  kept as a pixel buffer; a trajectory is blitted onto it (a few ms instead of ~50 ms);
- finished images are cached by a hash of (student path, reference path, problem, plot kind),
  with paths rounded to float32 precision (far below a pixel), so identical and numerically
  indistinguishable trajectories are drawn once and the same `PlotImage` object is reused.

Only `matplotlib.figure.Figure` with `FigureCanvasAgg` is used: no pyplot, no global backend
switch, nothing left open. A lock serialises drawing, since backgrounds are shared.
"""
from __future__ import annotations

import base64
import hashlib
import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from grader.results import TestResult, Trace

# Okabe-Ito, safe for the common colour-vision deficiencies; lines also differ in style and
# markers, so nothing depends on colour alone.
STUDENT_COLOUR = "#D55E00"  # vermillion
REFERENCE_COLOUR = "#0072B2"  # blue
INK = "#000000"

LECTURE_X = (0.5, 2.5)
LECTURE_Y = (0.2, 0.9)
SIGMOID_EXTENT = (-6.0, 6.0, -6.0, 6.0)  # the lecture's w, b range
GRID_POINTS = 121

FIG_SIZE = (4.8, 4.2)  # inches
DPI = 90  # 432 x 378 pixels: legible, small, fast
LOG_FLOOR = 1e-12  # relative to the largest loss shown: log plots clip below this
MAX_CACHED_IMAGES = 512
MAX_VIEW_GROWTH = 20.0  # a diverging path widens the view at most this much

_LOCK = threading.RLock()


@dataclass(frozen=True)
class PlotImage:
    """One embedded picture: PNG bytes, what it shows (alt text), a visible caption."""

    png: bytes
    alt: str
    caption: str
    width: int
    height: int

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class _Curves:
    """What both kinds of plot need from one trace."""

    student: np.ndarray | None  # (steps + 1, n), finite rows only
    reference: np.ndarray | None
    note: str  # why the student's path is missing or cut short ("" when it is complete)
    kind: str  # sigmoid_neuron | quadratic | generic
    problem: dict  # normalised problem data


# --- cached surfaces --------------------------------------------------------------------

def _sigmoid_loss(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = np.multiply.outer(w, x) + np.multiply.outer(b, np.ones_like(x))
    f = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigma(z) without overflow
    return 0.5 * ((f - y) ** 2).sum(axis=-1)


@lru_cache(maxsize=32)
def sigmoid_surface(x: tuple[float, ...], y: tuple[float, ...], extent: tuple[float, float, float, float],
                    points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, B, L) on a points x points grid over extent = (w0, w1, b0, b1). Cached per problem."""
    w = np.linspace(extent[0], extent[1], points)
    b = np.linspace(extent[2], extent[3], points)
    W, B = np.meshgrid(w, b)
    return W, B, _sigmoid_loss(W, B, np.asarray(x), np.asarray(y))


@lru_cache(maxsize=32)
def quadratic_surface(A: tuple[tuple[float, ...], ...], b: tuple[float, ...],
                      extent: tuple[float, float, float, float], shift: float,
                      points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T0, T1, L - shift) for a two-parameter quadratic over extent. Cached per problem."""
    t0 = np.linspace(extent[0], extent[1], points)
    t1 = np.linspace(extent[2], extent[3], points)
    T0, T1 = np.meshgrid(t0, t1)
    thetas = np.stack([T0, T1], axis=-1)
    loss = 0.5 * np.einsum("...i,ij,...j->...", thetas, np.asarray(A), thetas) - thetas @ np.asarray(b)
    return T0, T1, loss - shift


# --- trajectories and losses ------------------------------------------------------------

def _as_rows(value: Any) -> np.ndarray | None:
    """A trajectory as a float (steps + 1, n) array, or None if it is not one."""
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if array.ndim == 0 or array.shape[0] == 0:
        return None
    return array.reshape(array.shape[0], -1)


def _finite_prefix(rows: np.ndarray) -> tuple[np.ndarray, int | None]:
    """The rows before the first non-finite one, and that row's index (None if all finite)."""
    bad = ~np.isfinite(rows).all(axis=1)
    if not bad.any():
        return rows, None
    first = int(np.argmax(bad))
    return rows[:first], first


def _normalise_problem(problem: dict, width: int) -> tuple[str, dict]:
    kind = str(problem.get("kind") or problem.get("name") or "")
    try:
        if kind == "sigmoid_neuron" and width == 2:
            x = tuple(float(v) for v in np.ravel(problem.get("x", LECTURE_X)))
            y = tuple(float(v) for v in np.ravel(problem.get("y", LECTURE_Y)))
            if len(x) == len(y) and x:
                return kind, {"x": x, "y": y}
        if kind == "quadratic":
            A = np.asarray(problem["A"], dtype=float)
            b = np.asarray(problem.get("b", np.zeros(width)), dtype=float).ravel()
            if A.shape == (width, width) and b.shape == (width,) and np.isfinite(A).all() and np.isfinite(b).all():
                return kind, {"A": tuple(map(tuple, A.tolist())), "b": tuple(b.tolist()),
                              "shift": _quadratic_minimum(A, b)}
    except (KeyError, TypeError, ValueError):
        pass
    return "generic", {}


def _quadratic_minimum(A: np.ndarray, b: np.ndarray) -> float | None:
    """min of 1/2 t^T A t - b^T t when A is symmetric positive definite, else None."""
    sym = 0.5 * (A + A.T)
    try:
        np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        return None
    return float(-0.5 * b @ np.linalg.solve(sym, b))


_MISSING = {
    "error": "your code raised an error, so only the reference is shown",
    "timeout": "your code timed out, so only the reference is shown",
}
_NOT_A_PATH = "your result is not a trajectory of the expected shape, so only the reference is shown"


def _missing_note(trace: Trace, status: str | None) -> str:
    if status in _MISSING:
        return _MISSING[status]
    if trace.student is None and status is None:
        return _MISSING["error"]  # Trace's convention: None means the student's code raised
    return _NOT_A_PATH


def _curves(trace: Trace, status: str | None) -> _Curves | None:
    reference = _as_rows(trace.reference)
    student = _as_rows(trace.student)
    known = reference if reference is not None else student
    if known is None:
        return None
    width = known.shape[1]
    note = ""
    if student is None or student.shape[1] != width:
        student, note = None, _missing_note(trace, status)
    if student is not None:
        student, first_bad = _finite_prefix(student)
        if first_bad is not None:
            note = f"your parameters became inf or NaN at step {first_bad}; the plot stops there"
        if len(student) == 0:
            student = None
    if reference is not None:
        reference, _ = _finite_prefix(reference)
    kind, data = _normalise_problem(trace.problem or {}, width)
    if kind == "generic" and reference is None:
        return None  # nothing to measure a distance to
    return _Curves(student, reference, note, kind, data)


def _loss(curves: _Curves, rows: np.ndarray) -> np.ndarray:
    if curves.kind == "sigmoid_neuron":
        return _sigmoid_loss(rows[:, 0], rows[:, 1], np.asarray(curves.problem["x"]), np.asarray(curves.problem["y"]))
    if curves.kind == "quadratic":
        A, b = np.asarray(curves.problem["A"]), np.asarray(curves.problem["b"])
        loss = 0.5 * np.einsum("si,ij,sj->s", rows, A, rows) - rows @ b
        shift = curves.problem["shift"]
        return np.maximum(loss - shift, 0.0) if shift is not None else loss
    return np.linalg.norm(rows - curves.reference[-1], axis=1)


def _loss_label(curves: _Curves) -> str:
    if curves.kind == "sigmoid_neuron":
        return "loss L(w, b)"
    if curves.kind == "quadratic":
        return "loss L(θ) − min L" if curves.problem["shift"] is not None else "loss L(θ)"
    return "distance to the reference's last θ"


# --- axis ranges (quantised, so that backgrounds are shared) ------------------------------

def _nice_ceil(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above value (value > 0)."""
    exponent = math.floor(math.log10(value))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        candidate = mantissa * 10.0 ** exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


def _loss_axis(values: list[np.ndarray]) -> tuple[str, tuple[float, float]]:
    """("log" | "linear", ylim) for the given loss curves."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    if finite.size == 0:
        return "linear", (0.0, 1.0)
    top, bottom = float(finite.max()), float(finite.min())
    positive = finite[finite > 0]
    if bottom >= 0 and positive.size and top / max(float(positive.min()), top * LOG_FLOOR) > 100:
        low = max(float(positive.min()), top * LOG_FLOOR)
        return "log", (10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(top)))
    upper = _nice_ceil(top) if top > 0 else 1.0
    lower = 0.0 if bottom >= 0 else -_nice_ceil(-bottom)
    return "linear", (lower, upper)


def _path_extent(curves: _Curves) -> tuple[tuple[float, float, float, float], bool]:
    """The (w0, w1, b0, b1) view of a path plot, and whether the student's path leaves it.

    The view depends on the problem and the reference only (so a cohort shares one background)
    unless the student's path leaves it; then it grows, at most MAX_VIEW_GROWTH times."""
    if curves.kind == "sigmoid_neuron":
        base = SIGMOID_EXTENT
        if curves.reference is not None and np.abs(curves.reference).max() > base[1]:
            reach = float(np.abs(curves.reference).max())
            base = (-_nice_ceil(reach * 1.05), _nice_ceil(reach * 1.05)) * 2
    else:
        known = curves.reference if curves.reference is not None else curves.student
        base = _padded_box(known.min(axis=0), known.max(axis=0))
    s = curves.student
    if s is None or ((s.min(axis=0) >= [base[0], base[2]]).all() and (s.max(axis=0) <= [base[1], base[3]]).all()):
        return base, False
    if curves.kind == "sigmoid_neuron":
        reach, limit = float(np.abs(s).max()), base[1] * MAX_VIEW_GROWTH
        grown = _nice_ceil(min(reach * 1.05, limit))
        return (-grown, grown, -grown, grown), reach > grown
    span = max(base[1] - base[0], base[3] - base[2])
    base_lo, base_hi = np.array([base[0], base[2]]), np.array([base[1], base[3]])
    lo = np.maximum(np.minimum(s.min(axis=0), base_lo), base_lo - MAX_VIEW_GROWTH * span)
    hi = np.minimum(np.maximum(s.max(axis=0), base_hi), base_hi + MAX_VIEW_GROWTH * span)
    leaves = bool((s.min(axis=0) < lo).any() or (s.max(axis=0) > hi).any())
    return _padded_box(lo, hi), leaves


def _padded_box(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float, float, float]:
    """A box around lo..hi with a margin, its bounds rounded outward to a tenth of a nice span."""
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-3 * max(1.0, float(np.abs([lo, hi]).max()))))
    step = _nice_ceil(span * 1.3) / 10
    bounds = []
    for axis in (0, 1):
        centre_lo, centre_hi = lo[axis] - 0.15 * span, hi[axis] + 0.15 * span
        bounds += [math.floor(centre_lo / step) * step, math.ceil(centre_hi / step) * step]
    return tuple(float(v) for v in bounds)  # type: ignore[return-value]


# --- backgrounds: drawn once per layout, then blitted onto -----------------------------

@dataclass
class _Background:
    figure: Any
    canvas: Any
    ax: Any
    pixels: Any  # the saved region of the whole figure

    def render(self, draw: Callable[[Any], list]) -> tuple[bytes, int, int]:
        """PNG of the background with the artists that `draw(ax)` adds drawn on top."""
        with _LOCK:
            self.canvas.restore_region(self.pixels)
            artists = draw(self.ax)
            try:
                for artist in artists:
                    self.ax.draw_artist(artist)
                return _png(self.canvas)
            finally:
                for artist in artists:
                    artist.remove()


def _png(canvas) -> tuple[bytes, int, int]:
    from PIL import Image  # matplotlib's own dependency

    width, height = canvas.get_width_height()
    image = Image.frombuffer("RGBA", (width, height), bytes(canvas.buffer_rgba()), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue(), width, height


def _new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIG_SIZE, dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    return figure, canvas, figure.add_subplot()


def _legend_handles(with_student: bool, with_ends: bool) -> list:
    from matplotlib.lines import Line2D

    handles = []
    if with_student:
        handles.append(Line2D([], [], color=STUDENT_COLOUR, lw=1.8, marker="o" if with_ends else None,
                              ms=4, label="your run"))
    handles.append(Line2D([], [], color=REFERENCE_COLOUR, lw=1.8, ls="--", marker="s" if with_ends else None,
                          ms=4, label="reference"))
    if with_ends:
        handles.append(Line2D([], [], ls="", marker="o", ms=8, mfc="none", mec=INK, mew=1.5, label="start"))
        if with_student:
            handles.append(Line2D([], [], ls="", marker="X", ms=8, color=STUDENT_COLOUR, mec=INK, label="your end"))
        handles.append(Line2D([], [], ls="", marker="*", ms=11, color=REFERENCE_COLOUR, mec=INK, label="reference end"))
    return handles


def _finish_background(figure, canvas, ax, title: str, note: str, handles: list) -> _Background:
    ax.set_title(title + (f"\n({note})" if note else ""), fontsize=10)
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    ax.set_autoscale_on(False)
    canvas.draw()
    return _Background(figure, canvas, ax, canvas.copy_from_bbox(figure.bbox))


_SHORT_NOTE = {True: "", False: "reference only"}


@lru_cache(maxsize=32)
def _contour_background(kind: str, problem_key: tuple, extent: tuple, with_student: bool) -> _Background:
    figure, canvas, ax = _new_figure()
    if kind == "sigmoid_neuron":
        x, y = problem_key
        X, Y, Z = sigmoid_surface(x, y, extent)
        xlabel, ylabel, title = "w (weight)", "b (bias)", "Path on the error surface L(w, b)"
    else:
        A, b, shift = problem_key
        X, Y, Z = quadratic_surface(A, b, extent, shift or 0.0)
        xlabel, ylabel, title = r"$\theta_1$", r"$\theta_2$", "Path on the loss contours"
    levels = np.unique(np.quantile(Z, np.linspace(0.01, 0.97, 14)))
    if levels.size >= 2:
        ax.contourf(X, Y, Z, levels=levels, cmap="Greys", alpha=0.35, extend="max")
        ax.contour(X, Y, Z, levels=levels, colors="#555555", linewidths=0.6)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _finish_background(figure, canvas, ax, title, _SHORT_NOTE[with_student],
                              _legend_handles(with_student, with_ends=True))


@lru_cache(maxsize=64)
def _loss_background(ylabel: str, steps: int, scale: str, ylim: tuple, with_student: bool) -> _Background:
    figure, canvas, ax = _new_figure()
    ax.set_yscale(scale)
    ax.set_xlim(0, max(steps, 1))
    ax.set_ylim(*ylim)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel + (" (log scale)" if scale == "log" else ""))
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
    title = "Loss against step" if not ylabel.startswith("distance") else "Distance to the reference's end"
    return _finish_background(figure, canvas, ax, title, _SHORT_NOTE[with_student],
                              _legend_handles(with_student, with_ends=False))


def _markevery(rows: int) -> int:
    return max(1, rows // 25)


def _draw_paths(curves: _Curves) -> Callable[[Any], list]:
    def draw(ax) -> list:
        artists = []
        if curves.student is not None:
            s = curves.student
            artists += ax.plot(s[:, 0], s[:, 1], color=STUDENT_COLOUR, lw=1.8, marker="o", ms=3.5,
                               markevery=_markevery(len(s)))
        if curves.reference is not None:
            r = curves.reference
            artists += ax.plot(r[:, 0], r[:, 1], color=REFERENCE_COLOUR, lw=1.8, ls="--", marker="s", ms=3,
                               markevery=_markevery(len(r)))
        first = curves.reference if curves.reference is not None else curves.student
        artists += ax.plot(first[0, 0], first[0, 1], ls="", marker="o", ms=8, mfc="none", mec=INK, mew=1.5)
        if curves.student is not None:
            artists += ax.plot(curves.student[-1, 0], curves.student[-1, 1], ls="", marker="X", ms=9,
                               color=STUDENT_COLOUR, mec=INK)
        if curves.reference is not None:
            artists += ax.plot(curves.reference[-1, 0], curves.reference[-1, 1], ls="", marker="*", ms=12,
                               color=REFERENCE_COLOUR, mec=INK)
        return artists
    return draw


def _draw_losses(student: np.ndarray | None, reference: np.ndarray | None, floor: float | None) -> Callable[[Any], list]:
    def shown(values: np.ndarray) -> np.ndarray:
        return np.maximum(values, floor) if floor is not None else values

    def draw(ax) -> list:
        artists = []
        if student is not None:
            artists += ax.plot(np.arange(len(student)), shown(student), color=STUDENT_COLOUR, lw=1.8)
        if reference is not None:
            artists += ax.plot(np.arange(len(reference)), shown(reference), color=REFERENCE_COLOUR, lw=1.8, ls="--")
        return artists
    return draw


# --- the public API --------------------------------------------------------------------

_IMAGES: OrderedDict[str, tuple[PlotImage, ...]] = OrderedDict()
_STATS = {"hits": 0, "misses": 0}


def _fingerprint(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            rounded = np.ascontiguousarray(part, dtype=np.float32)  # below a pixel: share the image
            digest.update(repr(rounded.shape).encode())
            digest.update(rounded.tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def plots_for_trace(trace: Trace, status: str | None = None) -> list[PlotImage]:
    """The plots of one trace: the path over the contours (two-parameter problems with a known
    surface), then the loss against step. Cached: identical trajectories on the same problem
    give the very same PlotImage objects. An unusable trace gives [].

    `status` is the test's status; it says why a missing student path is missing (without it,
    a `None` student path means the student's code raised, as in `Trace`)."""
    curves = _curves(trace, status)
    if curves is None:
        return []
    key = _fingerprint(curves.student if curves.student is not None else "none",
                       curves.reference if curves.reference is not None else "none",
                       curves.kind, curves.problem, curves.note, trace.label)
    with _LOCK:
        cached = _IMAGES.get(key)
        if cached is not None:
            _IMAGES.move_to_end(key)
            _STATS["hits"] += 1
            return list(cached)
        _STATS["misses"] += 1
        images = tuple(_draw(curves, trace.label))
        _IMAGES[key] = images
        while len(_IMAGES) > MAX_CACHED_IMAGES:
            _IMAGES.popitem(last=False)
        return list(images)


def plots_for_test(test: TestResult) -> list[PlotImage]:
    images: list[PlotImage] = []
    for trace in test.traces:
        images += plots_for_trace(trace, test.status)
    return images


def cache_stats() -> dict[str, int]:
    """Hits and misses of the image cache and how many images it holds (for benchmarks)."""
    return {**_STATS, "images": len(_IMAGES)}


def clear_caches() -> None:
    """Forget every cached surface, background and image (tests, memory pressure)."""
    with _LOCK:
        _IMAGES.clear()
        _STATS.update(hits=0, misses=0)
        sigmoid_surface.cache_clear()
        quadratic_surface.cache_clear()
        _contour_background.cache_clear()
        _loss_background.cache_clear()


def _draw(curves: _Curves, label: str) -> list[PlotImage]:
    images = []
    with_student = curves.student is not None
    if curves.kind in ("sigmoid_neuron", "quadratic") and (curves.reference if curves.reference is not None
                                                           else curves.student).shape[1] == 2:
        extent, leaves = _path_extent(curves)
        if curves.kind == "sigmoid_neuron":
            problem_key = (curves.problem["x"], curves.problem["y"])
        else:
            problem_key = (curves.problem["A"], curves.problem["b"], curves.problem["shift"])
        background = _contour_background(curves.kind, problem_key, extent, with_student)
        png, width, height = background.render(_draw_paths(curves))
        notes = [curves.note] if curves.note else []
        if leaves:
            notes.append("your path leaves the plotted area")
        images.append(PlotImage(png, _path_alt(curves, extent, leaves), _caption(label, "path on the loss contours", notes),
                                width, height))
    student_loss = _loss(curves, curves.student) if with_student else None
    reference_loss = _loss(curves, curves.reference) if curves.reference is not None else None
    scale, ylim = _loss_axis([v for v in (student_loss, reference_loss) if v is not None])
    steps = max(len(v) for v in (student_loss, reference_loss) if v is not None) - 1
    background = _loss_background(_loss_label(curves), steps, scale, ylim, with_student)
    png, width, height = background.render(_draw_losses(student_loss, reference_loss,
                                                        ylim[0] if scale == "log" else None))
    what = "loss against step" if curves.kind != "generic" else "distance to the reference's end against step"
    images.append(PlotImage(png, _loss_alt(curves, student_loss, reference_loss, scale),
                            _caption(label, what, [curves.note] if curves.note else []), width, height))
    return images


# --- words: captions and alt text ------------------------------------------------------

def _num(value: float) -> str:
    return f"{value:.3g}"


def _point(row: np.ndarray) -> str:
    return "(" + ", ".join(_num(v) for v in row[:4]) + (", ..." if len(row) > 4 else "") + ")"


def _caption(label: str, what: str, notes: list[str]) -> str:
    text = f"{label}: {what}" if label else what[0].upper() + what[1:]
    return text + "".join(f"; {note}" for note in notes) + "."


def _coincide(curves: _Curves) -> bool:
    s, r = curves.student, curves.reference
    return s is not None and r is not None and s.shape == r.shape and bool(np.allclose(s, r, rtol=1e-6, atol=1e-9))


def _path_alt(curves: _Curves, extent: tuple, leaves: bool) -> str:
    names = "w and b" if curves.kind == "sigmoid_neuron" else "θ₁ and θ₂"
    text = (f"Contour plot of the loss over {names} from {_num(extent[0])} to {_num(extent[1])} "
            f"and {_num(extent[2])} to {_num(extent[3])}.")
    r, s = curves.reference, curves.student
    if r is not None:
        text += f" The reference path (dashed, squares) goes from {_point(r[0])} to {_point(r[-1])} in {len(r) - 1} steps."
    if s is None:
        text += f" Your path is not shown: {curves.note}."
    elif _coincide(curves):
        text += " Your path (solid, circles) coincides with the reference."
    else:
        text += f" Your path (solid, circles) goes from {_point(s[0])} to {_point(s[-1])} in {len(s) - 1} steps."
        if curves.note:
            text += f" Note: {curves.note}."
    if leaves:
        text += " Part of your path lies outside the plotted area."
    return text


def _loss_alt(curves: _Curves, student: np.ndarray | None, reference: np.ndarray | None, scale: str) -> str:
    what = _loss_label(curves)
    text = f"Line plot of the {what} against step ({scale} scale)."
    if reference is not None:
        text += f" The reference (dashed) goes from {_num(reference[0])} to {_num(reference[-1])} in {len(reference) - 1} steps."
    if student is None:
        text += f" Your run is not shown: {curves.note}."
    elif _coincide(curves):
        text += " Your run (solid) coincides with the reference."
    else:
        text += f" Your run (solid) goes from {_num(student[0])} to {_num(student[-1])} in {len(student) - 1} steps."
        if curves.note:
            text += f" Note: {curves.note}."
    return text
