"""Convergence plots of a test's trajectories (`TestResult.traces`), the lecture's pictures:
a two-parameter path over the contour plot of its loss, the loss against step, and a
classifier's decision boundary, the student's run and the reference's in the same frame.

What a trace's `problem` dict may say (anything else gets a generic plot):

- a kind the assignment declares in its `figures.py` (`grader.figures`): a `Surface` (rows
  are two parameters; contours of its loss, in its extent when the runs fit there) or a
  `Boundary` (one row each: a trained classifier's parameters; its output over the plane,
  both runs' decision boundaries and the problem's points `X`, `y`). The problem's other
  entries are the figure's data.
- `{"kind": "quadratic", "A": [[...]], "b": [...]}`: rows are theta (flattened), loss
  1/2 theta^T A theta - b^T theta (b defaults to zeros), drawn shifted by its minimum when A
  is positive definite; a two-parameter theta also gets its path over the contours.
- `{"kind": "diagonal", "a": ..., "c": ...}`: the element-wise quadratic
  sum(1/2 a theta^2 - c theta), drawn as the quadratic with A = diag(a), b = c.
- `{"kind": "loss_curve"}`: rows are loss values (one per step or epoch), drawn against the
  step, on a log scale when they span decades.
- anything else (e.g. `"sequence"`, given gradients): the distance of each row to the
  reference's last row, against step.

`"name"` is accepted as a synonym of `"kind"`.

How a plot is made, and why (the hidden checks give every student other inputs, so most
trajectories, views and loss ranges are new; a batch worker has about 20 ms of CPU for a
whole report, see benchmarks/bench_report.py):

- The backdrop (title, axis labels, legend, the axes' box) is drawn by matplotlib's Agg
  renderer (`Figure` + `FigureCanvasAgg`: no pyplot, no global backend switch) into a
  palette PNG once per look (a dozen in all), whatever the limits.
- Ticks, tick labels ("nice" 1, 2, 2.5, 5 x 10^k steps; decades on log axes) and grid lines
  are SVG drawn per frame (backdrop + limits): a new view or loss range costs microseconds,
  where a matplotlib draw cost ~50 ms. Views and loss ranges are still rounded to "nice"
  values, so students share frames.
- What differs per problem and per student is vector overlay drawn in SVG on the frame's
  axes area: the contour bands (a tiny PNG) and contour lines of the surface, then the paths
  or loss curves with their markers. The picture is one SVG image (`<img>` with a data URI).
- The contour grid is computed once per problem and view (`declared_surface`,
  `quadratic_surface`: lru_caches keyed by the problem's data), and so is its overlay; all
  of an overlay's lines are converted and formatted in one pass. Surfaces of big data sets
  get a coarser grid (at most SURFACE_EVALUATIONS grid points x data points).
- Data URIs are percent-encoded by a few str.replace passes; the frame's part and shared
  contour layers are encoded once.
- Finished images are cached by a hash of (student path, reference path, problem, label),
  with paths rounded to float32 (far below a pixel): identical and numerically
  indistinguishable trajectories (a cohort's correct parts on shared inputs) are drawn once
  and the very same `PlotImage` object is reused.

A lock serialises the drawing of backdrops (matplotlib objects are not shared across threads).
"""
from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from grader.figures import Boundary, Figure, Surface
from grader.results import TestResult, Trace

# Okabe-Ito, safe for the common colour-vision deficiencies; lines also differ in style and
# markers, so nothing depends on colour alone.
STUDENT_COLOUR = "#D55E00"  # vermillion
REFERENCE_COLOUR = "#0072B2"  # blue
INK = "#000000"
CONTOUR_COLOUR = "#666666"

GRID_POINTS = 81  # the surface's grid: smooth enough at this size
BOUNDARY_POINTS = 61  # a decision boundary's grid
SURFACE_EVALUATIONS = 2e5  # at most grid points x data points per surface: a 44 x 44 grid for 100 points

FIG_SIZE = (4.8, 4.2)  # inches
DPI = 90  # 432 x 378 pixels: legible on a phone, small
LOG_FLOOR = 1e-12  # relative to the largest loss shown: log plots clip below this
MAX_CACHED_IMAGES = 256  # about 20 MB of SVG at most
MAX_VIEW_GROWTH = 20.0  # a diverging path widens the view at most this much
_NICE = (1.0, 2.0, 3.0, 5.0, 10.0)  # view half-widths: m x 10^k
UNITS = 2  # overlay coordinates are whole half-pixels: compact text, fast to format

_LOCK = threading.RLock()


@dataclass(frozen=True)
class Backdrop:
    """What matplotlib draws once per look (title, axis labels, legend, the axes' box): a PNG
    and where its axes area is. Ticks, tick labels and grid lines depend on the limits and
    are SVG (see `Frame.axes_svg`), so one backdrop serves every view and loss range."""

    png: bytes
    width: int
    height: int
    box: tuple[float, float, float, float]  # axes area in image pixels: left, top, right, bottom

    @cached_property
    def png_base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Frame:
    """A plot's frame: a backdrop with these limits (its ticks, labels and grid in SVG)."""

    backdrop: Backdrop = field(repr=False)
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    ylog: bool = False
    grid: bool = False

    @property
    def png(self) -> bytes:
        return self.backdrop.png

    @property
    def png_base64(self) -> str:
        return self.backdrop.png_base64

    @property
    def width(self) -> int:
        return self.backdrop.width

    @property
    def height(self) -> int:
        return self.backdrop.height

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.backdrop.box

    def to_units(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data coordinates -> overlay units (UNITS per image pixel, y down, whole numbers),
        clamped far outside the axes (the overlay clips)."""
        left, top, right, bottom = self.box
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        if self.ylog:
            y, y0, y1 = np.log10(np.maximum(y, 1e-300)), math.log10(y0), math.log10(y1)
        px = left + (np.asarray(x, dtype=float) - x0) * ((right - left) / (x1 - x0))
        py = bottom - (np.asarray(y, dtype=float) - y0) * ((bottom - top) / (y1 - y0))
        limit = 10 * max(self.width, self.height)
        return (np.rint(np.clip(px, -limit, limit) * UNITS).astype(np.int64),
                np.rint(np.clip(py, -limit, limit) * UNITS).astype(np.int64))

    @cached_property
    def svg_head(self) -> str:
        """The picture up to its overlay: backdrop, grid, ticks and tick labels, then the
        overlay's own coordinate system clipped to the axes area."""
        left, top, right, bottom = self.box
        x, y, w, h = (_fmt(v) for v in (left, top, right - left, bottom - top))
        units = " ".join(_fmt(v * UNITS) for v in (left, top, right - left, bottom - top))
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}'>"
                f"<image width='{self.width}' height='{self.height}' href='data:image/png;base64,{self.png_base64}'/>"
                f"{_axes_svg(self)}<svg x='{x}' y='{y}' width='{w}' height='{h}' viewBox='{units}'>")

    @cached_property
    def uri_head(self) -> str:
        return _uri_encode(self.svg_head)


SVG_TAIL = "</svg></svg>"


@dataclass(frozen=True)
class PlotImage:
    """One picture: an SVG document (a matplotlib backdrop with vector ticks and overlay),
    what it shows (alt text) and a visible caption. The overlay is kept in layers (e.g. the
    shared contours, then this run's paths) so that shared layers are URI-encoded once."""

    layers: tuple[str, ...]
    alt: str
    caption: str
    width: int
    height: int
    frame: Frame = field(repr=False, compare=False)

    @cached_property
    def svg(self) -> str:
        return self.frame.svg_head + "".join(self.layers) + SVG_TAIL

    @cached_property
    def data_uri(self) -> str:
        """The SVG as a data: URI, percent-encoded where URLs need it (base64 and numbers,
        the bulk of it, need nothing)."""
        return ("data:image/svg+xml," + self.frame.uri_head + "".join(_uri_encode_layer(layer) for layer in self.layers)
                + _URI_TAIL)


_URI_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=,.-_:;!*()~@$?")
#: every other ASCII character -> %XX (quotes too: safe in any HTML attribute); str.translate
#: does this in C, which a regex with a Python callback per match did not
_URI_TABLE = {code: f"%{code:02X}" for code in range(128) if chr(code) not in _URI_SAFE}
_URI_TABLE_BUT_PERCENT = {code: value for code, value in _URI_TABLE.items() if code != ord("%")}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _percent(match: re.Match) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


#: what our SVG holds besides URI-safe characters, in the order they must be replaced ("%" first)
_COMMON_UNSAFE = ("%", " ", "'", "<", ">", "#", "\"", "&")
_OTHER_UNSAFE = re.compile(r"[^A-Za-z0-9+/=,.\-_:;!*()~@$?%]")


def _uri_encode(text: str) -> str:
    """Percent-encode every character outside _URI_SAFE (UTF-8 for non-ASCII). The characters
    our SVG is made of are replaced by str.replace (a fast scan each); anything else, rare,
    by str.translate and a regex."""
    for character in _COMMON_UNSAFE:
        if character in text:
            text = text.replace(character, _URI_TABLE[ord(character)])
    if _OTHER_UNSAFE.search(text):
        text = text.translate(_URI_TABLE_BUT_PERCENT)
        if not text.isascii():
            text = _NON_ASCII.sub(_percent, text)
    return text


@lru_cache(maxsize=256)
def _uri_encode_shared(layer: str) -> str:
    return _uri_encode(layer)


def _uri_encode_layer(layer: str) -> str:
    # shared layers (contours) are interned by _contour_overlay's cache: encode those once
    return _uri_encode_shared(layer) if len(layer) > 4096 and layer.startswith(_CONTOUR_MARK) else _uri_encode(layer)


_URI_TAIL = _uri_encode(SVG_TAIL)
_CONTOUR_MARK = "<g class='contours'>"


@dataclass
class _Curves:
    """What both kinds of plot need from one trace."""

    student: np.ndarray | None  # (steps + 1, n), finite rows only
    reference: np.ndarray | None
    note: str  # why the student's path is missing or cut short ("" when it is complete)
    kind: str  # surface | boundary | quadratic | loss_curve | generic
    problem: dict  # normalised problem data (surface and boundary: "figure" and hashable "data")

    @cached_property
    def coincide(self) -> bool:
        """The student's path is the reference's (within what a plot can show)."""
        s, r = self.student, self.reference
        return s is not None and r is not None and s.shape == r.shape and bool(np.allclose(s, r, rtol=1e-6, atol=1e-9))


# --- cached surfaces --------------------------------------------------------------------

def _freeze(value: Any) -> Any:
    """A problem's data value as something hashable: arrays and lists become nested tuples."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_freeze(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _thaw(data: tuple) -> dict[str, Any]:
    """The frozen data as a figure's callable gets it: tuples as float arrays."""
    return {key: np.asarray(value, dtype=float) if isinstance(value, tuple) else value for key, value in data}


def _figure_loss(surface: Surface, data: tuple, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    return np.asarray(surface.loss(p0, p1, **_thaw(data)), dtype=float)


@lru_cache(maxsize=32)
def declared_surface(surface: Surface, data: tuple, extent: tuple[float, float, float, float],
                     points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P0, P1, L) on a points x points grid over extent = (x0, x1, y0, y1). Cached per
    problem; a coarser grid for big data sets, so that the work stays bounded."""
    size = max((len(value) for _, value in data if isinstance(value, tuple)), default=1)
    points = max(21, min(points, int(math.sqrt(SURFACE_EVALUATIONS / max(size, 1)))))
    P0, P1 = np.meshgrid(np.linspace(extent[0], extent[1], points), np.linspace(extent[2], extent[3], points))
    return P0, P1, _figure_loss(surface, data, P0, P1)


@lru_cache(maxsize=32)
def quadratic_surface(A: tuple[tuple[float, ...], ...], b: tuple[float, ...],
                      extent: tuple[float, float, float, float], shift: float,
                      points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T0, T1, L - shift) for a two-parameter quadratic over extent. Cached per problem."""
    t0 = np.linspace(extent[0], extent[1], points)
    t1 = np.linspace(extent[2], extent[3], points)
    T0, T1 = np.meshgrid(t0, t1)
    thetas = np.stack([T0, T1], axis=-1)
    loss = 0.5 * ((thetas @ np.asarray(A)) * thetas).sum(axis=-1) - thetas @ np.asarray(b)
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


def _normalise_problem(problem: dict, width: int, figures: dict[str, Figure]) -> tuple[str, dict]:
    """(kind, data) with the data as hashable tuples; "generic" when the problem is unknown
    or does not fit the trajectory's width."""
    kind = str(problem.get("kind") or problem.get("name") or "")
    try:
        figure = figures.get(kind)
        if isinstance(figure, Surface) and width == 2 or isinstance(figure, Boundary):
            data = tuple(sorted((str(key), _freeze(value)) for key, value in problem.items()
                                if key not in ("kind", "name")))
            return ("surface" if isinstance(figure, Surface) else "boundary"), {"figure": figure, "data": data}
        if kind == "loss_curve" and width == 1:
            return kind, {"label": str(problem.get("label", "loss"))}
        if kind == "diagonal":  # 1/2 sum a theta^2 - c theta, element-wise: a diagonal quadratic
            problem = {"A": np.diag(np.ravel(np.asarray(problem["a"], dtype=float))), "b": problem["c"]}
            kind = "quadratic"
        if kind == "quadratic":
            A = np.asarray(problem["A"], dtype=float)
            b = np.asarray(problem.get("b", np.zeros(width)), dtype=float).ravel()
            if A.shape == (width, width) and b.shape == (width,) and np.isfinite(A).all() and np.isfinite(b).all():
                minimum = _quadratic_minimum(A, b)
                return kind, {"A": tuple(map(tuple, A.tolist())), "b": tuple(b.tolist()),
                              "shift": minimum[1] if minimum else None,
                              "argmin": tuple(minimum[0].tolist()) if minimum else None}
    except (KeyError, TypeError, ValueError):
        pass
    return "generic", {}


def _quadratic_minimum(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(argmin, min) of 1/2 t^T A t - b^T t when A is symmetric positive definite, else None."""
    sym = 0.5 * (A + A.T)
    try:
        np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        return None
    argmin = np.linalg.solve(sym, b)
    return argmin, float(-0.5 * b @ argmin)


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


def _curves(trace: Trace, status: str | None, figures: dict[str, Figure]) -> _Curves | None:
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
    kind, data = _normalise_problem(trace.problem or {}, width, figures)
    if kind == "generic" and reference is None:
        return None  # nothing to measure a distance to
    return _Curves(student, reference, note, kind, data)


def _loss(curves: _Curves, rows: np.ndarray) -> np.ndarray:
    if curves.kind == "surface":
        return _figure_loss(curves.problem["figure"], curves.problem["data"], rows[:, 0], rows[:, 1])
    if curves.kind == "loss_curve":
        return rows[:, 0]
    if curves.kind == "quadratic":
        A, b = np.asarray(curves.problem["A"]), np.asarray(curves.problem["b"])
        loss = 0.5 * np.einsum("si,ij,sj->s", rows, A, rows) - rows @ b
        shift = curves.problem["shift"]
        return np.maximum(loss - shift, 0.0) if shift is not None else loss
    return np.linalg.norm(rows - curves.reference[-1], axis=1)


def _loss_label(curves: _Curves) -> str:
    if curves.kind == "surface":
        return curves.problem["figure"].loss_label
    if curves.kind == "loss_curve":
        return curves.problem["label"]
    if curves.kind == "quadratic":
        return "loss L(θ) − min L" if curves.problem["shift"] is not None else "loss L(θ)"
    return "distance to the reference's last θ"


# --- views and ranges: rounded to "nice" values, so that frames are shared ------------------

def _nice_ceil(value: float, mantissas: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)) -> float:
    """The smallest m x 10^k (m in mantissas) at or above value (value > 0)."""
    exponent = math.floor(math.log10(value))
    for mantissa in mantissas:
        candidate = mantissa * 10.0 ** exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


def _square_view(points: np.ndarray) -> tuple[float, float, float, float]:
    """A square view (x0, x1, y0, y1) holding the points, from a small set of views: centred
    on the origin when the points are near it, else on a centre rounded to a quarter view."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    half_span = max(float((hi - lo).max()) / 2, 1e-9)
    reach = max(float(np.abs(points).max()), 1e-9)
    if reach <= 3 * half_span:
        half = _nice_ceil(reach * 1.1, _NICE)
        return (-half, half, -half, half)
    half = _nice_ceil(half_span * 1.4, _NICE)
    step = half / 2
    cx, cy = (round(float(c) / step) * step for c in (lo + hi) / 2)
    return (cx - half, cx + half, cy - half, cy + half)


def _inside(points: np.ndarray, view: tuple[float, float, float, float]) -> bool:
    return bool((points.min(axis=0) >= [view[0], view[2]]).all() and (points.max(axis=0) <= [view[1], view[3]]).all())


def _path_view(curves: _Curves) -> tuple[tuple[float, float, float, float], bool]:
    """The view of a path plot, and whether part of the student's path lies outside it.

    The view follows the problem and the reference (so students share frames); it grows for
    a student's path that leaves it, at most MAX_VIEW_GROWTH times."""
    known = [p for p in (curves.reference,) if p is not None] or [curves.student]
    if curves.kind == "quadratic" and curves.problem.get("argmin") is not None:
        known.append(np.array([curves.problem["argmin"]]))
    points = np.concatenate(known)
    extent = curves.problem["figure"].extent if curves.kind == "surface" else None
    if extent is not None and _inside(points, extent):
        base = tuple(float(v) for v in extent)
    else:
        base = _square_view(points)
    student = curves.student
    if student is None or _inside(student, base):
        return base, False
    centre = np.array([(base[0] + base[1]) / 2, (base[2] + base[3]) / 2])
    limit = MAX_VIEW_GROWTH * (base[1] - base[0]) / 2
    corners = np.array([[base[0], base[2]], [base[1], base[3]]])
    view = _square_view(np.concatenate([corners, np.clip(student, centre - limit, centre + limit)]))
    return view, not _inside(student, view)


def _loss_axis(values: list[np.ndarray]) -> tuple[bool, tuple[float, float]]:
    """(log scale?, ylim) for the given curves: log when they span over two decades; limits
    at 10^(3k), or at 1, 2, 5 x 10^k on a linear scale."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    if finite.size == 0:
        return False, (0.0, 1.0)
    top, bottom = float(finite.max()), float(finite.min())
    positive = finite[finite > 0]
    if bottom >= 0 and positive.size and top / max(float(positive.min()), top * LOG_FLOOR) > 100:
        low = max(float(positive.min()), top * LOG_FLOOR)
        high_exp = 3 * math.ceil(math.log10(top) / 3)  # decades in steps of three: few frames
        low_exp = 3 * math.floor(math.log10(low) / 3)
        return True, (10.0 ** low_exp, 10.0 ** high_exp)
    upper = _nice_ceil(top) if top > 0 else 1.0
    lower = 0.0 if bottom >= 0 else -_nice_ceil(-bottom)
    return False, (lower, upper)


# --- frames: drawn by matplotlib once per layout -------------------------------------------

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _decade_label(value: float, _position=None) -> str:
    """10⁻⁴ in plain Unicode (DejaVu Sans has the glyphs): much faster than mathtext."""
    return "10" + str(round(math.log10(value))).translate(_SUPERSCRIPT) if value > 0 else ""


def _legend_handles(entries: tuple[str, ...]) -> list:
    from matplotlib.lines import Line2D

    styles = {
        "student": dict(color=STUDENT_COLOUR, lw=1.8, label="your run"),
        "student_marked": dict(color=STUDENT_COLOUR, lw=1.8, marker="o", ms=4, label="your run"),
        "reference": dict(color=REFERENCE_COLOUR, lw=1.8, ls="--", label="reference"),
        "reference_marked": dict(color=REFERENCE_COLOUR, lw=1.8, ls="--", marker="s", ms=4, label="reference"),
        "start": dict(ls="", marker="o", ms=8, mfc="none", mec=INK, mew=1.5, label="start"),
        "student_end": dict(ls="", marker="X", ms=8, color=STUDENT_COLOUR, mec=INK, label="your end"),
        "reference_end": dict(ls="", marker="*", ms=11, color=REFERENCE_COLOUR, mec=INK, label="reference end"),
        "student_boundary": dict(color=STUDENT_COLOUR, lw=1.8, label="your boundary"),
        "reference_boundary": dict(color=REFERENCE_COLOUR, lw=1.8, ls="--", label="reference boundary"),
        "class_one": dict(ls="", marker="o", ms=7, color=INK, label="class 1"),
        "class_zero": dict(ls="", marker="s", ms=7, mfc="white", mec=INK, mew=1.5, label="class 0"),
    }
    return [Line2D([], [], **styles[entry]) for entry in entries]


@lru_cache(maxsize=16)
def _backdrop(title: str, xlabel: str, ylabel: str, legend: tuple[str, ...]) -> Backdrop:
    """Title, axis labels, legend and the axes' box, drawn by matplotlib's Agg renderer (no
    pyplot, no global backend switch) without ticks: once per look, whatever the limits."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image  # matplotlib's own dependency

    with _LOCK:
        figure = Figure(figsize=FIG_SIZE, dpi=DPI)
        canvas = FigureCanvasAgg(figure)
        figure.subplots_adjust(left=0.17, right=0.96, top=0.87, bottom=0.28)  # fixed: no layout pass
        ax = figure.add_subplot()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(xlabel, labelpad=TICK_LABEL_ROOM)
        ax.set_ylabel(ylabel, labelpad=Y_TICK_LABEL_ROOM)
        ax.set_title(title, fontsize=10)
        figure.legend(handles=_legend_handles(legend), loc="lower center", ncol=3, fontsize=9, frameon=False)
        canvas.draw()
        width, height = canvas.get_width_height()
        bbox = ax.get_window_extent()
        rgba = bytes(canvas.buffer_rgba())
    buffer = io.BytesIO()
    # a fixed palette (greys, the two runs' colours and their blends) keeps the text's
    # anti-aliasing and the legend's exact colours at a third of the size: every picture of
    # a report embeds its backdrop
    Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).convert("RGB").quantize(
        palette=_backdrop_palette(), dither=Image.Dither.NONE).save(buffer, format="PNG", optimize=True)
    return Backdrop(buffer.getvalue(), width, height, (bbox.x0, height - bbox.y1, bbox.x1, height - bbox.y0))


@lru_cache(maxsize=1)
def _backdrop_palette():
    from PIL import Image

    colours = [(v, v, v) for v in range(0, 256, 17)]  # 16 greys, black to white
    for hex_colour in (STUDENT_COLOUR, REFERENCE_COLOUR):
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
        for t in (0.25, 0.5, 0.75, 1.0):  # blended with white (edges) and with black (marker rims)
            colours.append(tuple(np.rint(t * rgb + (1 - t) * 255).astype(int)))
            colours.append(tuple(np.rint(t * rgb).astype(int)))
    palette = Image.new("P", (1, 1))
    flat = [int(c) for colour in colours for c in colour]
    palette.putpalette(flat + flat[-3:] * (256 - len(colours)))
    return palette


@lru_cache(maxsize=256)
def _frame(title: str, xlabel: str, ylabel: str, xlim: tuple[float, float], ylim: tuple[float, float],
           ylog: bool, legend: tuple[str, ...], grid: bool) -> Frame:
    """The frame of one layout: the look's backdrop with these limits (cheap: no drawing)."""
    return Frame(_backdrop(title, xlabel, ylabel, legend), xlim, ylim, ylog, grid)


# --- ticks, tick labels and grid lines in SVG ------------------------------------------------

TICK_FONT_PX = 10 * DPI / 72  # matplotlib's default 10 pt tick labels
TICK_LENGTH_PX = 3.5 * DPI / 72
TICK_PAD_PX = 3.5 * DPI / 72
TICK_LABEL_ROOM = 3.5 + 3.5 + 12  # points between the axes and an axis label: ticks, pad, one line of labels
Y_TICK_LABEL_ROOM = 3.5 + 3.5 + 32  # ... room for labels such as "−0.25" or "10⁻¹²"
_MINUS = "\u2212"  # as matplotlib writes negative numbers


def _linear_ticks(low: float, high: float, most: int = 7) -> tuple[np.ndarray, float]:
    """Ticks at 1, 2, 2.5 or 5 x 10^k steps inside [low, high], at most `most` + 1 of them."""
    span = high - low
    exponent = math.floor(math.log10(span / most))
    for mantissa in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = mantissa * 10.0 ** exponent
        if span / step <= most + 1e-9:
            break
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return np.arange(first, last + 1) * step, step


def _tick_label(value: float, step: float) -> str:
    """A linear tick's label, with as many decimals as the step needs."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or step < 1e-4:  # m×10ⁿ rather than a row of zeros
        exponent = math.floor(math.log10(abs(value)))
        mantissa = f"{value / 10.0 ** exponent:.3g}"
        return mantissa.replace("-", _MINUS) + "×10" + str(exponent).translate(_SUPERSCRIPT)
    exponent = math.floor(math.log10(step) + 1e-9)
    decimals = max(0, -exponent) + (1 if round(step / 10.0 ** exponent, 6) == 2.5 else 0)
    return f"{value:.{decimals}f}".replace("-", _MINUS)


def _log_ticks(low: float, high: float, most: int = 7) -> list[float]:
    """Decades inside [low, high]: every one, or every k-th when there are more than `most`."""
    first, last = round(math.log10(low)), round(math.log10(high))
    every = max(1, math.ceil((last - first + 1) / most))
    return [10.0 ** e for e in range(first, last + 1) if (e - first) % every == 0]


def _axes_svg(frame: Frame) -> str:
    """Grid lines (if the frame has a grid), tick marks and tick labels, in image pixels."""
    left, top, right, bottom = frame.box
    xticks, xstep = _linear_ticks(*frame.xlim)
    xs = left + (xticks - frame.xlim[0]) * ((right - left) / (frame.xlim[1] - frame.xlim[0]))
    xlabels = [_tick_label(v, xstep) for v in xticks.tolist()]
    if frame.ylog:
        yvalues = _log_ticks(*frame.ylim)
        y0, y1 = math.log10(frame.ylim[0]), math.log10(frame.ylim[1])
        ys = [bottom - (math.log10(v) - y0) / (y1 - y0) * (bottom - top) for v in yvalues]
        ylabels = [_decade_label(v) for v in yvalues]
    else:
        yticks, ystep = _linear_ticks(*frame.ylim)
        ys = (bottom - (yticks - frame.ylim[0]) * ((bottom - top) / (frame.ylim[1] - frame.ylim[0]))).tolist()
        ylabels = [_tick_label(v, ystep) for v in yticks.tolist()]
    xs = xs.tolist()
    parts = []
    if frame.grid:
        grid = "".join(f"M{_fmt(x)},{_fmt(top)}V{_fmt(bottom)}" for x in xs)
        grid += "".join(f"M{_fmt(left)},{_fmt(y)}H{_fmt(right)}" for y in ys)
        parts.append(f"<path d='{grid}' stroke='#dddddd' stroke-width='0.75' fill='none'/>")
    marks = "".join(f"M{_fmt(x)},{_fmt(bottom)}v{_fmt(TICK_LENGTH_PX)}" for x in xs)
    marks += "".join(f"M{_fmt(left)},{_fmt(y)}h-{_fmt(TICK_LENGTH_PX)}" for y in ys)
    parts.append(f"<path d='{marks}' stroke='{INK}' stroke-width='1'/>")
    font = f"font-family='DejaVu Sans,Verdana,Arial,sans-serif' font-size='{_fmt(TICK_FONT_PX)}' fill='{INK}'"
    baseline = bottom + TICK_LENGTH_PX + TICK_PAD_PX + 0.76 * TICK_FONT_PX  # cap height below the pad
    labels = "".join(f"<text x='{_fmt(x)}' y='{_fmt(baseline)}'>{label}</text>" for x, label in zip(xs, xlabels))
    parts.append(f"<g {font} text-anchor='middle'>{labels}</g>")
    right_edge = left - TICK_LENGTH_PX - TICK_PAD_PX
    labels = "".join(f"<text x='{_fmt(right_edge)}' y='{_fmt(y + 0.38 * TICK_FONT_PX)}'>{label}</text>"
                     for y, label in zip(ys, ylabels))
    parts.append(f"<g {font} text-anchor='end'>{labels}</g>")
    return "".join(parts)


# --- overlays: SVG drawn on a frame's axes area ------------------------------------------

def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _numbers(values: np.ndarray) -> str:
    return ",".join(map(str, values.tolist()))


def _point_list(ux: np.ndarray, uy: np.ndarray) -> str:
    """"x,y,x,y,..." in overlay units, without repeats of the same point."""
    keep = np.ones(len(ux), dtype=bool)
    keep[1:] = (ux[1:] != ux[:-1]) | (uy[1:] != uy[:-1])
    keep[-1] = True
    return _numbers(np.column_stack([ux[keep], uy[keep]]).ravel())


@lru_cache(maxsize=64)
def _contour_overlay(kind: str, problem_key: tuple, view: tuple, frame: Frame) -> str:
    """Contour bands (a small grey PNG) and lines of the surface over the frame's axes area;
    once per problem, view and frame."""
    import contourpy
    from PIL import Image

    if kind == "surface":
        X, Y, Z = declared_surface(*problem_key, view)
    else:
        A, b, shift = problem_key
        X, Y, Z = quadratic_surface(A, b, view, shift or 0.0)
    levels = np.unique(np.quantile(Z, np.linspace(0.01, 0.97, 14)))
    bands = np.searchsorted(levels, Z)  # 0 .. len(levels): light (low loss) to darker
    grey = (250 - np.round(100 * bands / max(len(levels), 1))).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.flipud(grey), mode="L").save(buffer, format="PNG", compress_level=6)
    fill = base64.b64encode(buffer.getvalue()).decode("ascii")
    left, top, right, bottom = (round(v * UNITS) for v in frame.box)
    parts = [_CONTOUR_MARK, f"<image x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' "
             f"preserveAspectRatio='none' href='data:image/png;base64,{fill}'/>"]
    if levels.size >= 2:
        generator = contourpy.contour_generator(X, Y, Z, line_type=contourpy.LineType.ChunkCombinedOffset)
        lines = [(points, offsets) for level in levels
                 for points, offsets in zip(*generator.lines(level)) if points is not None]
        if lines:
            points = np.concatenate([p for p, _ in lines])
            bounds = np.concatenate([o[:-1] + start for (_, o), start
                                     in zip(lines, np.cumsum([0] + [len(p) for p, _ in lines[:-1]]))] + [[len(points)]])
            parts.append(f"<path d='{_multi_line_path(frame, points, bounds)}' fill='none' "
                         f"stroke='{CONTOUR_COLOUR}' stroke-width='{1.6}'/>")
    return "".join(parts) + "</g>"


def _multi_line_path(frame: Frame, points: np.ndarray, bounds: np.ndarray) -> str:
    """Path data "Mx,y,x,y..." for many lines at once: `points` (n, 2) in data coordinates,
    line k being points[bounds[k]:bounds[k + 1]]; repeats of a point (after rounding to
    overlay units) are dropped, one-point lines left out. One conversion for all lines."""
    ux, uy = frame.to_units(points[:, 0], points[:, 1])
    keep = np.ones(len(ux), dtype=bool)
    keep[1:] = (ux[1:] != ux[:-1]) | (uy[1:] != uy[:-1])
    keep[bounds[:-1]] = True  # every line's first point ...
    keep[bounds[1:] - 1] = True  # ... and last
    kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept points before each index
    starts, ends = kept_before[bounds[:-1]], kept_before[bounds[1:]]
    numbers = list(map(str, np.column_stack([ux[keep], uy[keep]]).ravel().tolist()))
    return "".join("M" + ",".join(numbers[2 * a:2 * b]) for a, b in zip(starts.tolist(), ends.tolist()) if b - a >= 2)


def _markevery(rows: int) -> int:
    return max(1, rows // 25)


def _dots(ux: np.ndarray, uy: np.ndarray, r: int) -> str:
    """Filled circles of radius r (overlay units) at the points, as path data."""
    return "".join(f"M{x - r},{y}a{r},{r},0,1,0,{2 * r},0a{r},{r},0,1,0,-{2 * r},0"
                   for x, y in zip(ux.tolist(), uy.tolist()))


def _squares(ux: np.ndarray, uy: np.ndarray, half: int) -> str:
    side = 2 * half
    return "".join(f"M{x - half},{y - half}h{side}v{side}h-{side}z" for x, y in zip(ux.tolist(), uy.tolist()))


#: A five-pointed star around (0, 0), radius 1 (the reference's end, as in the legend).
_STAR = np.array([(math.sin(math.pi * k / 5) * (1.0 if k % 2 == 0 else 0.45),
                   -math.cos(math.pi * k / 5) * (1.0 if k % 2 == 0 else 0.45)) for k in range(10)])


def _line(ux: np.ndarray, uy: np.ndarray, colour: str, dashed: bool) -> str:
    dash = " stroke-dasharray='14,8'" if dashed else ""
    return (f"<polyline points='{_point_list(ux, uy)}' fill='none' stroke='{colour}' stroke-width='4.4' "
            f"stroke-linejoin='round' stroke-linecap='round'{dash}/>")


def _path_overlay(frame: Frame, curves: _Curves) -> str:
    """The paths (student solid with dots, reference dashed with squares), the start (hollow
    circle) and the ends (student: a cross, reference: a star); sizes in overlay units."""
    parts = []
    s, r = curves.student, curves.reference
    student = frame.to_units(s[:, 0], s[:, 1]) if s is not None else None
    reference = frame.to_units(r[:, 0], r[:, 1]) if r is not None else None
    if student is not None:
        ux, uy = student
        every = _markevery(len(ux))
        parts += [_line(ux, uy, STUDENT_COLOUR, False),
                  f"<path d='{_dots(ux[::every], uy[::every], 5)}' fill='{STUDENT_COLOUR}'/>"]
    if reference is not None:
        ux, uy = reference
        every = _markevery(len(ux))
        parts += [_line(ux, uy, REFERENCE_COLOUR, True),
                  f"<path d='{_squares(ux[::every], uy[::every], 4)}' fill='{REFERENCE_COLOUR}'/>"]
    ux, uy = reference if reference is not None else student
    parts.append(f"<circle cx='{int(ux[0])}' cy='{int(uy[0])}' r='11' fill='none' stroke='{INK}' stroke-width='3.6'/>")
    if reference is not None:
        x, y = int(reference[0][-1]), int(reference[1][-1])
        star = _numbers(np.rint(_STAR * 15 + [x, y]).astype(np.int64).ravel())
        parts.append(f"<polygon points='{star}' fill='{REFERENCE_COLOUR}' stroke='{INK}' stroke-width='2'/>")
    if student is not None:  # on top: the smaller mark stays visible where both runs end together
        x, y = int(student[0][-1]), int(student[1][-1])
        cross = f"M{x - 9},{y - 9}l18,18m0,-18l-18,18"
        parts += [f"<path d='{cross}' stroke='{INK}' stroke-width='9' stroke-linecap='round'/>",
                  f"<path d='{cross}' stroke='{STUDENT_COLOUR}' stroke-width='5' stroke-linecap='round'/>"]
    return "".join(parts)


def _loss_overlay(frame: Frame, student: np.ndarray | None, reference: np.ndarray | None) -> str:
    parts = []
    floor = frame.ylim[0] if frame.ylog else -np.inf  # below the plotted range: on the bottom axis
    for values, colour, dashed in ((student, STUDENT_COLOUR, False), (reference, REFERENCE_COLOUR, True)):
        if values is None:
            continue
        steps = np.arange(len(values))
        finite = np.isfinite(values)
        if finite.any():
            parts.append(_line(*frame.to_units(steps[finite], np.maximum(values[finite], floor)), colour, dashed))
    return "".join(parts)


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


def plots_for_trace(trace: Trace, status: str | None = None,
                    figures: dict[str, Figure] | None = None) -> list[PlotImage]:
    """The plots of one trace: the path over the contours (two-parameter problems with a known
    surface), then the loss against step; or a decision boundary. Cached: identical
    trajectories on the same problem give the very same PlotImage objects. An unusable trace
    gives [].

    `status` is the test's status; it says why a missing student path is missing (without it,
    a `None` student path means the student's code raised, as in `Trace`). `figures` are the
    assignment's declared kinds (`grader.figures`)."""
    curves = _curves(trace, status, figures or {})
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
    images = tuple(_draw(curves, trace.label))
    with _LOCK:
        _STATS["misses"] += 1
        _IMAGES[key] = images
        while len(_IMAGES) > MAX_CACHED_IMAGES:
            _IMAGES.popitem(last=False)
    return list(images)


def plots_for_test(test: TestResult, figures: dict[str, Figure] | None = None) -> list[PlotImage]:
    images: list[PlotImage] = []
    for trace in test.traces:
        images += plots_for_trace(trace, test.status, figures)
    return images


def cache_stats() -> dict[str, int]:
    """Image cache hits and misses, images held, frames drawn (for benchmarks and tests)."""
    return {**_STATS, "images": len(_IMAGES), "frames": _frame.cache_info().currsize,
            "backdrops": _backdrop.cache_info().currsize}


def clear_caches() -> None:
    """Forget every cached surface, frame, overlay and image (tests, memory pressure)."""
    with _LOCK:
        _IMAGES.clear()
        _STATS.update(hits=0, misses=0)
        declared_surface.cache_clear()
        quadratic_surface.cache_clear()
        _frame.cache_clear()
        _backdrop.cache_clear()
        _uri_encode_shared.cache_clear()
        _contour_overlay.cache_clear()


def warm_up(figures: dict[str, Figure] | None = None) -> None:
    """Pay what the first report of a process would: matplotlib's, contourpy's and Pillow's
    imports and the backdrops of the commonest looks (a batch worker's initializer): the
    quadratic's, and the path and loss looks of each declared surface."""
    import contourpy  # noqa: F401
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure as MatplotlibFigure  # noqa: F401

    # paths converging to a point: their losses fall over decades, as most runs' do, so the
    # loss plots get the log-scale look
    decay = 0.8 ** np.arange(60)[:, None]
    rows = np.array([-2.0, 2.0]) * decay
    plots_for_trace(Trace("warm-up", rows, rows, problem={"kind": "quadratic", "A": [[2.0, 0.0], [0.0, 1.0]]}))
    for name, figure in (figures or {}).items():
        if isinstance(figure, Surface):
            with_student, without = (_legend(True, True), _legend(False, True))
            for legend in (with_student, without):
                _backdrop(_title(figure.title, legend is with_student), *figure.axes, legend)
            _backdrop(_title("Loss against step", True), "step", figure.loss_label + " (log scale)",
                      _legend(True, False))


def _legend(with_student: bool, marked: bool) -> tuple[str, ...]:
    if not marked:
        return ("student", "reference") if with_student else ("reference",)
    if with_student:
        return ("student_marked", "student_end", "reference_marked", "reference_end", "start")  # columns
    return ("reference_marked", "reference_end", "start")


def _title(title: str, with_student: bool) -> str:
    return title if with_student else f"{title}\n(reference only)"


def _draw(curves: _Curves, label: str) -> list[PlotImage]:
    images = []
    with_student = curves.student is not None
    width = (curves.reference if curves.reference is not None else curves.student).shape[1]
    notes = [curves.note] if curves.note else []
    if curves.kind == "boundary":
        return [_draw_boundary(curves, label)]
    if curves.kind in ("surface", "quadratic") and width == 2:
        view, leaves = _path_view(curves)
        if curves.kind == "surface":
            figure = curves.problem["figure"]
            title, (xlabel, ylabel) = figure.title, figure.axes
            problem_key = (figure, curves.problem["data"])
        else:
            title, xlabel, ylabel = "Path on the loss contours", "θ₁", "θ₂"
            problem_key = (curves.problem["A"], curves.problem["b"], curves.problem["shift"])
        frame = _frame(_title(title, with_student), xlabel, ylabel, (view[0], view[1]), (view[2], view[3]),
                       False, _legend(with_student, True), False)
        layers = (_contour_overlay(curves.kind, problem_key, view, frame), _path_overlay(frame, curves))
        what = title[0].lower() + title[1:]
        path_notes = notes + (["your path leaves the plotted area"] if leaves else [])
        images.append(PlotImage(layers, _path_alt(curves, view, leaves), _caption(label, what, path_notes),
                                frame.width, frame.height, frame))
    student_loss = _loss(curves, curves.student) if with_student else None
    reference_loss = _loss(curves, curves.reference) if curves.reference is not None else None
    ylog, ylim = _loss_axis([v for v in (student_loss, reference_loss) if v is not None])
    steps = max(len(v) for v in (student_loss, reference_loss) if v is not None) - 1
    ylabel = _loss_label(curves)
    title = "Loss against step" if curves.kind != "generic" else "Distance to the reference's end"
    frame = _frame(_title(title, with_student), "step", ylabel + (" (log scale)" if ylog else ""),
                   (0.0, float(max(steps, 1))), ylim, ylog, _legend(with_student, False), True)
    what = "loss against step" if curves.kind != "generic" else "distance to the reference's end against step"
    images.append(PlotImage((_loss_overlay(frame, student_loss, reference_loss),),
                            _loss_alt(curves, student_loss, reference_loss, "log" if ylog else "linear"),
                            _caption(label, what, notes), frame.width, frame.height, frame))
    return images


def _boundary_output(figure: Boundary, data: tuple, row: np.ndarray, extent: tuple) -> np.ndarray:
    """The classifier's output on the boundary grid over extent, clipped to [0, 1]."""
    grid_x, grid_y = np.meshgrid(np.linspace(extent[0], extent[1], BOUNDARY_POINTS),
                                 np.linspace(extent[2], extent[3], BOUNDARY_POINTS))
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    output = np.asarray(figure.predict(row, points, **_thaw(data)), dtype=float).reshape(grid_x.shape)
    return grid_x, grid_y, np.clip(np.nan_to_num(output, nan=0.5), 0.0, 1.0)


def _boundary_line(frame: Frame, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, colour: str, dashed: bool) -> str:
    import contourpy

    points, offsets = contourpy.contour_generator(X, Y, Z, line_type=contourpy.LineType.ChunkCombinedOffset).lines(0.5)
    chunks = [(p, o) for p, o in zip(points, offsets) if p is not None]
    if not chunks:
        return ""
    points = np.concatenate([p for p, _ in chunks])
    bounds = np.concatenate([o[:-1] + start for (_, o), start
                             in zip(chunks, np.cumsum([0] + [len(p) for p, _ in chunks[:-1]]))] + [[len(points)]])
    dash = " stroke-dasharray='14,8'" if dashed else ""
    return (f"<path d='{_multi_line_path(frame, points, bounds)}' fill='none' stroke='{colour}' stroke-width='4.4'"
            f" stroke-linejoin='round'{dash}/>")


def _draw_boundary(curves: _Curves, label: str) -> PlotImage:
    """The student's classifier's output shaded over the figure's extent (light: near 0,
    dark: near 1), both runs' decision boundaries (output 0.5) and the problem's points."""
    from PIL import Image

    figure, data = curves.problem["figure"], curves.problem["data"]
    with_student = curves.student is not None
    extent = tuple(float(v) for v in figure.extent)
    legend = (("student_boundary",) if with_student else ()) + ("reference_boundary", "class_one", "class_zero")
    frame = _frame(_title(figure.title, with_student), *figure.axes, (extent[0], extent[1]), (extent[2], extent[3]),
                   False, legend, False)
    shaded_row = curves.student[-1] if with_student else curves.reference[-1]
    X, Y, Z = _boundary_output(figure, data, shaded_row, extent)
    grey = (245 - np.round(110 * np.floor(Z * 5 - 1e-9).clip(0, 4) / 4)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.flipud(grey), mode="L").save(buffer, format="PNG", compress_level=6)
    left, top, right, bottom = (round(v * UNITS) for v in frame.box)
    layers = [f"<image x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' preserveAspectRatio='none' "
              f"href='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}'/>"]
    if curves.reference is not None:
        layers.append(_boundary_line(frame, *_boundary_output(figure, data, curves.reference[-1], extent),
                                     REFERENCE_COLOUR, True))
    if with_student:
        layers.append(_boundary_line(frame, X, Y, Z, STUDENT_COLOUR, False))
    given = dict(data)
    points = np.asarray(given.get("X", ()), dtype=float).reshape(-1, 2)
    classes = np.asarray(given.get("y", ()), dtype=float).ravel()
    marks = []
    if len(points) and len(classes) == len(points):
        ux, uy = frame.to_units(points[:, 0], points[:, 1])
        one = classes >= 0.5
        marks.append(f"<path d='{_dots(ux[one], uy[one], 9)}' fill='{INK}'/>")
        marks.append(f"<path d='{_squares(ux[~one], uy[~one], 8)}' fill='white' stroke='{INK}' stroke-width='3'/>")
    layers.append("".join(marks))
    notes = [curves.note] if curves.note else []
    whose = "your" if with_student else "the reference's"
    alt = (f"The output of {whose} trained classifier over {figure.axes[0]} from {_num(extent[0])} to "
           f"{_num(extent[1])} and {figure.axes[1]} from {_num(extent[2])} to {_num(extent[3])}, shaded from light "
           f"(near 0) to dark (near 1), with the reference's decision boundary (dashed)"
           + (" and yours (solid)" if with_student else "") + f" where the output is 0.5, and {len(points)} points "
           f"marked by class ({int((classes >= 0.5).sum())} of class 1 as dots, the rest as squares).")
    if not with_student:
        alt += f" Your classifier is not shown: {curves.note}."
    return PlotImage(tuple(layers), alt, _caption(label, "decision boundary", notes), frame.width, frame.height, frame)


# --- words: captions and alt text ------------------------------------------------------

def _num(value: float) -> str:
    return f"{value:.3g}"


def _point(row: np.ndarray) -> str:
    return "(" + ", ".join(_num(v) for v in row[:4]) + (", ..." if len(row) > 4 else "") + ")"


def _caption(label: str, what: str, notes: list[str]) -> str:
    text = f"{label}: {what}" if label else what[0].upper() + what[1:]
    return text + "".join(f"; {note}" for note in notes) + "."


def _path_alt(curves: _Curves, view: tuple, leaves: bool) -> str:
    names = " and ".join(curves.problem["figure"].axes) if curves.kind == "surface" else "θ₁ and θ₂"
    text = (f"Contour plot of the loss over {names} from {_num(view[0])} to {_num(view[1])} "
            f"and {_num(view[2])} to {_num(view[3])}.")
    r, s = curves.reference, curves.student
    if r is not None:
        text += (f" The reference path (dashed, squares) goes from {_point(r[0])} to {_point(r[-1])}"
                 f" in {len(r) - 1} steps.")
    if s is None:
        text += f" Your path is not shown: {curves.note}."
    elif curves.coincide:
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
        text += (f" The reference (dashed) goes from {_num(reference[0])} to {_num(reference[-1])}"
                 f" in {len(reference) - 1} steps.")
    if student is None:
        text += f" Your run is not shown: {curves.note}."
    elif curves.coincide:
        text += " Your run (solid) coincides with the reference."
    else:
        text += f" Your run (solid) goes from {_num(student[0])} to {_num(student[-1])} in {len(student) - 1} steps."
        if curves.note:
            text += f" Note: {curves.note}."
    return text
