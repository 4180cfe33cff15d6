"""Convergence plots: caching of surfaces, frames and images, reference-only plots, decodable
pictures, and what is drawn (checked on the SVG overlay: which runs, where, in which colour).
Chromium's rendering of the same pictures is checked in test_report_browser.py."""
from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from urllib.parse import unquote
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from grader import results
from grader.render import plots
from grader.course import Course
from grader.render.plots import REFERENCE_COLOUR, STUDENT_COLOUR, UNITS
from grader.results import Trace

#: The figures the sigmoid_neuron assignment declares (its error surface), as a report of it gets.
FIGURES = Course.find().get("sigmoid_neuron").figures


def plots_for_trace(trace, status=None):
    return plots.plots_for_trace(trace, status, FIGURES)


def plots_for_test(test):
    return plots.plots_for_test(test, FIGURES)

X, Y = [0.5, 2.5], [0.2, 0.9]
SIGMOID = {"kind": "sigmoid_neuron", "x": X, "y": Y}
SVG = "{http://www.w3.org/2000/svg}"


def gd_path(eta: float, epochs: int = 200, w: float = -2.0, b: float = 2.0) -> np.ndarray:
    x, y = np.array(X), np.array(Y)
    rows = [(w, b)]
    for _ in range(epochs):
        f = 1 / (1 + np.exp(-(w * x + b)))
        common = (f - y) * f * (1 - f)
        w, b = w - eta * (common * x).sum(), b - eta * common.sum()
        rows.append((w, b))
    return np.array(rows)


def quadratic_path(eta: float, theta0, A, b, steps: int = 60) -> np.ndarray:
    rows = [np.asarray(theta0, dtype=float)]
    for _ in range(steps):
        rows.append(rows[-1] - eta * (A @ rows[-1] - b))
    return np.array(rows)


@pytest.fixture(autouse=True)
def fresh_caches():
    plots.clear_caches()
    yield
    plots.clear_caches()


def svg(image: plots.PlotImage) -> ElementTree.Element:
    return ElementTree.fromstring(image.svg)


def polylines(image: plots.PlotImage, colour: str) -> list[np.ndarray]:
    """The polylines drawn in `colour`, as (n, 2) arrays of image pixels."""
    found = []
    for line in svg(image).iter(SVG + "polyline"):
        if line.get("stroke") == colour:
            numbers = np.array([float(v) for v in line.get("points").split(",")])
            found.append(numbers.reshape(-1, 2) / UNITS)
    return found


def decode_png(data_uri: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))
    image.load()
    return image


def test_pictures_decode_at_the_stated_size():
    images = plots_for_trace(Trace("gd", gd_path(1.5), gd_path(1.0), problem=SIGMOID))
    assert len(images) == 2
    for image in images:
        root = svg(image)
        assert (root.get("width"), root.get("height")) == (str(image.width), str(image.height))
        assert 200 <= image.width <= 800 and 200 <= image.height <= 800  # modest
        pngs = [e.get("href") for e in root.iter(SVG + "image")]
        assert pngs[0] == "data:image/png;base64," + image.frame.png_base64
        frame = decode_png(pngs[0])
        assert frame.size == (image.width, image.height) and frame.format == "PNG"
        for href in pngs[1:]:  # the contour bands
            assert decode_png(href).format == "PNG"
        assert image.data_uri.startswith("data:image/svg+xml,")
        assert ElementTree.fromstring(unquote(image.data_uri.split(",", 1)[1])).tag == SVG + "svg"
        assert not re.search(r"[\s\"<>#%]", image.data_uri.split(",", 1)[1].replace("%", "")), "not URI-encoded"
        assert len(image.data_uri) < 200_000


def test_both_runs_are_drawn_in_their_colours_where_they_are():
    student, reference = gd_path(2.5), gd_path(1.0)
    path, loss = plots_for_trace(Trace("gd", student, reference, problem=SIGMOID))
    (drawn,) = polylines(path, STUDENT_COLOUR)
    (reference_drawn,) = polylines(path, REFERENCE_COLOUR)
    # the path's ends sit where the frame's axes put (w, b): left-to-right w, bottom-to-top b
    left, top, right, bottom = path.frame.box
    expected_start = (left + (student[0, 0] + 6) / 12 * (right - left), bottom - (student[0, 1] + 6) / 12 * (bottom - top))
    assert drawn[0] == pytest.approx(expected_start, abs=0.6)
    assert reference_drawn[-1] == pytest.approx((left + (reference[-1, 0] + 6) / 12 * (right - left),
                                                 bottom - (reference[-1, 1] + 6) / 12 * (bottom - top)), abs=0.6)
    assert [len(polylines(loss, c)) for c in (STUDENT_COLOUR, REFERENCE_COLOUR)] == [1, 1]
    assert "Contour plot of the loss over w (weight) and b (bias) from -6 to 6" in path.alt
    assert "(-2, 2)" in path.alt and "200 steps" in path.alt
    assert "log scale" in loss.alt  # the loss falls over decades
    assert loss.frame.ylog and loss.frame.ylim[1] == 1.0


def test_contour_grid_is_computed_once_per_problem():
    reference = gd_path(1.0)
    for eta in (0.5, 1.5, 2.0):
        plots_for_trace(Trace("gd", gd_path(eta), reference, problem=SIGMOID))
    info = plots.declared_surface.cache_info()
    assert info.misses == 1 and info.currsize == 1
    other = {"kind": "sigmoid_neuron", "x": [1.0, 2.0, 3.0], "y": [0.1, 0.5, 0.9]}
    plots_for_trace(Trace("gd", gd_path(0.5), reference, problem=other))
    assert plots.declared_surface.cache_info().misses == 2
    # the grid is the lecture's surface over the [-6, 6] window the assignment declares
    surface = FIGURES["sigmoid_neuron"]
    W, B, L = plots.declared_surface(surface, (("x", tuple(X)), ("y", tuple(Y))), surface.extent)
    i, j = 50, 55
    f = 1 / (1 + np.exp(-(W[i, j] * np.array(X) + B[i, j])))
    assert L[i, j] == pytest.approx(0.5 * ((f - np.array(Y)) ** 2).sum())
    assert (W.min(), W.max(), B.min(), B.max()) == (-6, 6, -6, 6)


def test_frames_are_drawn_once_per_layout():
    reference = gd_path(1.0)
    first = plots_for_trace(Trace("gd", gd_path(1.5), reference, problem=SIGMOID))
    frames = plots.cache_stats()["frames"]
    second = plots_for_trace(Trace("gd", gd_path(1.2), reference, problem=SIGMOID))
    assert plots.cache_stats()["frames"] == frames
    assert [a.frame is b.frame for a, b in zip(first, second)] == [True, True]
    assert first[0].svg != second[0].svg  # ... with another path on it


def test_identical_trajectories_reuse_the_same_images():
    reference = gd_path(1.0)
    first = plots_for_trace(Trace("gd", gd_path(1.0), reference, problem=dict(SIGMOID)))
    misses = plots.cache_stats()["misses"]
    again = plots_for_trace(Trace("gd", gd_path(1.0).copy(), reference.copy(), problem=dict(SIGMOID)))
    assert all(a is b for a, b in zip(first, again, strict=True))
    # numerically indistinguishable (another student's rounding) counts as identical
    jitter = plots_for_trace(Trace("gd", gd_path(1.0) * (1 + 1e-13), reference, problem=dict(SIGMOID)))
    assert all(a is b for a, b in zip(first, jitter, strict=True))
    assert plots.cache_stats()["misses"] == misses and plots.cache_stats()["hits"] == 2
    # a visibly different run is drawn anew
    other = plots_for_trace(Trace("gd", gd_path(1.6), reference, problem=dict(SIGMOID)))
    assert other[0].svg != first[0].svg and plots.cache_stats()["misses"] == misses + 1
    assert "coincides with the reference" in first[0].alt and "coincides" not in other[0].alt


def test_student_none_shows_the_reference_alone_with_a_note():
    reference = gd_path(1.0)
    alone = plots_for_trace(Trace("gd", None, reference, problem=SIGMOID))
    assert len(alone) == 2
    for image in alone:
        assert polylines(image, STUDENT_COLOUR) == []
        assert len(polylines(image, REFERENCE_COLOUR)) == 1
        assert "your code raised an error, so only the reference is shown" in image.caption
        assert "not shown" in image.alt
    with_student = plots_for_trace(Trace("gd", gd_path(1.5), reference, problem=SIGMOID))
    assert alone[0].frame is not with_student[0].frame  # its legend has no "your run"
    test = results.TestResult("gd", "gradient_descent", 0, 6, "timeout",
                              traces=[Trace("gd", None, reference, problem=SIGMOID)])
    assert "your code timed out" in plots_for_test(test)[0].caption
    test.status = "failed"  # a check passes None when the student's rows have the wrong shape
    assert "not a trajectory of the expected shape" in plots_for_test(test)[0].caption


def test_wrong_shape_and_non_finite_student_runs():
    reference = gd_path(1.0)
    wrong = plots_for_trace(Trace("gd", np.zeros((10, 3)), reference, problem=SIGMOID))
    assert "not a trajectory of the expected shape" in wrong[0].caption
    assert polylines(wrong[0], STUDENT_COLOUR) == []
    exploding = gd_path(1.0, epochs=50)
    exploding[20:] = np.nan
    images = plots_for_trace(Trace("gd", exploding, reference, problem=SIGMOID))
    assert "became inf or NaN at step 20" in images[0].caption
    (drawn,) = polylines(images[0], STUDENT_COLOUR)
    assert 2 <= len(drawn) <= 20
    assert plots_for_trace(Trace("gd", None, None, problem=SIGMOID)) == []
    assert plots_for_trace(Trace("gd", "not an array", None)) == []


def test_a_path_leaving_the_lecture_window_widens_the_view():
    far = np.column_stack([np.linspace(-2, 15, 30), np.linspace(2, -9, 30)])
    path, _ = plots_for_trace(Trace("gd", far, gd_path(1.0), problem=SIGMOID))
    assert "from -20 to 20" in path.alt and path.frame.xlim == (-20.0, 20.0)
    farther = np.column_stack([np.linspace(-2, 1e6, 30), np.linspace(2, -9, 30)])
    path, _ = plots_for_trace(Trace("gd", farther, gd_path(1.0), problem=SIGMOID))
    assert "leaves the plotted area" in path.caption
    (drawn,) = polylines(path, STUDENT_COLOUR)
    assert np.abs(drawn).max() <= 10 * path.width  # clamped, not astronomically far


def test_quadratic_problems():
    A, b = np.array([[10.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0])
    problem = {"kind": "quadratic", "A": A.tolist(), "b": b.tolist()}
    images = plots_for_trace(Trace("gd_step", quadratic_path(0.19, [3, 3], A, b),
                                   quadratic_path(0.1, [3, 3], A, b), problem=problem))
    assert [("Contour" in i.alt, "against step" in i.alt) for i in images] == [(True, False), (False, True)]
    assert "loss L(θ) − min L" in images[1].alt and "log scale" in images[1].alt
    assert plots.quadratic_surface.cache_info().currsize == 1
    view = images[0].frame.xlim + images[0].frame.ylim
    assert view == (-5.0, 5.0, -5.0, 5.0)  # holds the start (3, 3) and the minimum (0.1, 1), rounded
    # three parameters: the loss against step only; "diagonal" is a quadratic with A = diag(a)
    A3 = np.diag([1.0, 2.0, 3.0])
    images = plots_for_trace(Trace("adam", quadratic_path(0.2, [1, 1, 1], A3, np.zeros(3)),
                                   quadratic_path(0.1, [1, 1, 1], A3, np.zeros(3)), problem={"name": "quadratic", "A": A3}))
    assert len(images) == 1 and "loss L(θ) − min L" in images[0].alt
    images = plots_for_trace(Trace("gd", quadratic_path(0.3, [2, 2], np.diag([1.0, 2.0]), np.zeros(2)),
                                   quadratic_path(0.1, [2, 2], np.diag([1.0, 2.0]), np.zeros(2)),
                                   problem={"kind": "diagonal", "a": [1.0, 2.0], "c": [0.0, 0.0]}))
    assert len(images) == 2 and "loss L(θ) − min L" in images[1].alt


def test_an_unknown_problem_plots_the_distance_to_the_reference():
    reference = np.cumsum(np.ones((20, 4)), axis=0)
    images = plots_for_trace(Trace("train", reference[::-1].copy(), reference, problem={"kind": "mystery"}))
    assert len(images) == 1 and "distance to the reference's last θ" in images[0].alt


def test_no_pyplot_and_no_global_backend_change():
    code = ("import numpy as np, sys\n"
            "from grader.course import Course\n"
            "from grader.render.plots import plots_for_trace\n"
            "from grader.results import Trace\n"
            "rows = np.cumsum(np.full((30, 2), 0.1), axis=0)\n"
            "figures = Course.find().get('sigmoid_neuron').figures\n"
            "problem = {'kind': 'sigmoid_neuron', 'x': [0.5, 2.5], 'y': [0.2, 0.9]}\n"
            "assert len(plots_for_trace(Trace('t', rows, rows, problem=problem), None, figures)) == 2\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def tick_labels(image: plots.PlotImage) -> list[str]:
    return [t.text for t in svg(image).iter(SVG + "text")]


def test_ticks_and_labels_are_svg_over_one_backdrop_per_look():
    reference = gd_path(1.0)
    path, loss = plots_for_trace(Trace("gd", gd_path(1.5), reference, problem=SIGMOID))
    assert tick_labels(path) == ["−6", "−4", "−2", "0", "2", "4", "6"] * 2  # w, then b
    labels = tick_labels(loss)
    assert labels[:5] == ["0", "50", "100", "150", "200"]  # steps
    assert labels[5:] and all(label.startswith("10") for label in labels[5:])  # decades, log scale
    assert "10⁰" in labels and "10⁻³" in labels
    # a wider view is a new frame with other ticks, on the same backdrop: no matplotlib drawing
    backdrops = plots.cache_stats()["backdrops"]
    far = np.column_stack([np.linspace(-2, 15, 30), np.linspace(2, -9, 30)])
    wide, _ = plots_for_trace(Trace("gd", far, reference, problem=SIGMOID))
    assert wide.frame is not path.frame and wide.frame.backdrop is path.frame.backdrop
    assert plots.cache_stats()["backdrops"] == backdrops
    assert tick_labels(wide)[:5] == ["−20", "−10", "0", "10", "20"]
    # each label sits under (or beside) its tick: the x labels are spread over the axes' width
    left, top, right, bottom = wide.frame.box
    xs = [float(t.get("x")) for t in svg(wide).iter(SVG + "text")][:5]
    assert xs == pytest.approx(np.linspace(left, right, 5), abs=0.1)


def test_linear_tick_labels():
    assert plots._linear_ticks(0.0, 1.0)[0].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [plots._tick_label(v, 0.25) for v in (-0.5, 0.25, 1.0)] == ["−0.50", "0.25", "1.00"]
    assert plots._tick_label(2e6, 5e5) == "2×10⁶"
    assert plots._log_ticks(1e-12, 1.0) == [1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0]


def test_warm_up_draws_the_common_backdrops_ahead():
    plots.warm_up(FIGURES)
    drawn = plots.cache_stats()["backdrops"]
    assert drawn >= 4  # path and loss plots of the neuron and of a quadratic
    reference = gd_path(1.0)
    plots_for_trace(Trace("gd", gd_path(1.5), reference, problem=SIGMOID))
    assert plots.cache_stats()["backdrops"] == drawn  # a student's first report draws none


def test_a_kind_nobody_declared_gets_the_generic_plot():
    reference = gd_path(1.0)
    images = plots.plots_for_trace(Trace("gd", gd_path(1.5), reference, problem=SIGMOID))  # no figures given
    assert len(images) == 1 and "distance to the reference's last θ" in images[0].alt


def test_a_loss_curve_is_drawn_against_the_step_on_a_log_scale_when_it_spans_decades():
    losses = 0.5 * 0.9 ** np.arange(100)
    (image,) = plots.plots_for_trace(Trace("train", losses * 1.1, losses, problem={"kind": "loss_curve"}))
    assert image.frame.ylog and "Line plot of the loss against step (log scale)" in image.alt
    assert len(polylines(image, STUDENT_COLOUR)) == 1 and len(polylines(image, REFERENCE_COLOUR)) == 1


def test_a_declared_boundary_shades_the_output_and_draws_both_boundaries_and_the_points():
    figures = Course.find().get("backprop").figures
    X_xor, y_xor = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0.0, 1.0, 1.0, 0.0]
    xor_net = np.array([[20.0, 20.0, -20.0, -20.0, -10.0, 30.0, 20.0, 20.0, -30.0]])  # W1, b1, w2, b2
    one_line = np.array([[1.0, 1.0, 0.0, 0.0, -1.0, 0.0, 6.0, 0.0, -3.0]])  # yhat = 0.5 on x1 + x2 = 1
    problem = {"kind": "xor_network", "hidden": 2, "inputs": 2, "X": X_xor, "y": y_xor}
    (image,) = plots.plots_for_trace(Trace("train_xor", one_line, xor_net, problem=problem), None, figures)
    assert "Decision boundary" in image.alt or "decision boundary" in image.alt
    drawn = svg(image)
    student = [p for p in drawn.iter(SVG + "path") if p.get("stroke") == STUDENT_COLOUR]
    reference = [p for p in drawn.iter(SVG + "path") if p.get("stroke") == REFERENCE_COLOUR]
    assert len(student) == 1 and len(reference) == 1 and reference[0].get("stroke-dasharray")
    assert student[0].get("d").count("M") == 1  # one straight boundary
    assert reference[0].get("d").count("M") == 2  # XOR's two boundaries (the band between them)
    assert "2 of class 1" in image.alt
    # without the student's network: the reference's, said so
    (alone,) = plots.plots_for_trace(Trace("train_xor", None, xor_net, problem=problem), "error", figures)
    assert "only the reference is shown" in alone.caption and "not shown" in alone.alt
