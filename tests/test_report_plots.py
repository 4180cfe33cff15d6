"""Convergence plots: caching of surfaces and images, reference-only plots, decodable PNGs,
and the pictures' content (checked on pixels, by the Okabe-Ito colours of the two runs)."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from grader import results
from grader.render import plots
from grader.render.plots import REFERENCE_COLOUR, STUDENT_COLOUR, plots_for_test, plots_for_trace
from grader.results import Trace

X, Y = [0.5, 2.5], [0.2, 0.9]
SIGMOID = {"kind": "sigmoid_neuron", "x": X, "y": Y}


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


def pixels(image: plots.PlotImage) -> np.ndarray:
    with Image.open(io.BytesIO(image.png)) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=int)


def count_colour(image: plots.PlotImage, hex_colour: str, tolerance: int = 40) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels(image) - target).sum(axis=-1) < tolerance).sum())


def test_png_decodes_at_the_stated_size():
    images = plots_for_trace(Trace("gd", gd_path(1.5), gd_path(1.0), problem=SIGMOID))
    assert len(images) == 2
    for image in images:
        assert image.png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(image.png)) as decoded:
            decoded.verify()
        with Image.open(io.BytesIO(image.png)) as decoded:
            assert decoded.size == (image.width, image.height)
            assert 200 <= image.width <= 800 and 200 <= image.height <= 800  # modest
        assert image.data_uri.startswith("data:image/png;base64,iVBORw0KGgo")
        assert len(image.png) < 150_000


def test_both_runs_are_drawn_in_their_colours():
    path, loss = plots_for_trace(Trace("gd", gd_path(2.5), gd_path(1.0), problem=SIGMOID))
    for image in (path, loss):
        assert count_colour(image, STUDENT_COLOUR) > 150
        assert count_colour(image, REFERENCE_COLOUR) > 150
    assert "Contour plot of the loss over w and b from -6 to 6" in path.alt
    assert "(-2, 2)" in path.alt and "200 steps" in path.alt
    assert "log scale" in loss.alt  # the loss falls over decades


def test_contour_grid_is_computed_once_per_problem():
    reference = gd_path(1.0)
    for eta in (0.5, 1.5, 2.0):
        plots_for_trace(Trace("gd", gd_path(eta), reference, problem=SIGMOID))
    info = plots.sigmoid_surface.cache_info()
    assert info.misses == 1 and info.currsize == 1
    other = {"kind": "sigmoid_neuron", "x": [1.0, 2.0, 3.0], "y": [0.1, 0.5, 0.9]}
    plots_for_trace(Trace("gd", gd_path(0.5), reference, problem=other))
    assert plots.sigmoid_surface.cache_info().misses == 2
    # the grid itself: the lecture's surface, L(0.5, 0) = 0.0731 (w = 0.5 is not on the grid:
    # check a grid point against the formula instead)
    W, B, L = plots.sigmoid_surface(tuple(X), tuple(Y), plots.SIGMOID_EXTENT)
    i, j = 60, 65
    f = 1 / (1 + np.exp(-(W[i, j] * np.array(X) + B[i, j])))
    assert L[i, j] == pytest.approx(0.5 * ((f - np.array(Y)) ** 2).sum())
    assert (W.min(), W.max(), B.min(), B.max()) == (-6, 6, -6, 6)


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
    assert other[0].png != first[0].png and plots.cache_stats()["misses"] == misses + 1


def test_blitting_leaves_no_trace_of_the_previous_run():
    reference = gd_path(1.0)
    diverging = gd_path(-3.0, epochs=40)  # gradient ascent: a very different picture
    plots_for_trace(Trace("gd", diverging, reference, problem=SIGMOID))
    plots.clear_caches()
    fresh = plots_for_trace(Trace("gd", gd_path(1.0), reference, problem=SIGMOID))
    plots.clear_caches()
    plots_for_trace(Trace("gd", diverging, reference, problem=SIGMOID))
    after = plots_for_trace(Trace("gd", gd_path(1.0), reference, problem=SIGMOID))  # same background, reused
    assert [a.png for a in after] == [f.png for f in fresh]


def test_student_none_shows_the_reference_alone_with_a_note():
    reference = gd_path(1.0)
    alone = plots_for_trace(Trace("gd", None, reference, problem=SIGMOID))
    assert len(alone) == 2
    for image in alone:
        assert count_colour(image, STUDENT_COLOUR) == 0
        assert count_colour(image, REFERENCE_COLOUR) > 150
        assert "your code raised an error, so only the reference is shown" in image.caption
        assert "not shown" in image.alt
    test = results.TestResult("gd", "gradient_descent", 0, 6, "timeout",
                              traces=[Trace("gd", None, reference, problem=SIGMOID)])
    assert "your code timed out" in plots_for_test(test)[0].caption
    test.status = "failed"  # a check passes None when the student's rows have the wrong shape
    assert "not a trajectory of the expected shape" in plots_for_test(test)[0].caption


def test_wrong_shape_and_non_finite_student_runs():
    reference = gd_path(1.0)
    wrong = plots_for_trace(Trace("gd", np.zeros((10, 3)), reference, problem=SIGMOID))
    assert "not a trajectory of the expected shape" in wrong[0].caption
    assert count_colour(wrong[0], STUDENT_COLOUR) == 0
    exploding = gd_path(1.0, epochs=50)
    exploding[20:] = np.nan
    images = plots_for_trace(Trace("gd", exploding, reference, problem=SIGMOID))
    assert "became inf or NaN at step 20" in images[0].caption
    assert count_colour(images[0], STUDENT_COLOUR) > 50
    assert plots_for_trace(Trace("gd", None, None, problem=SIGMOID)) == []
    assert plots_for_trace(Trace("gd", "not an array", None)) == []


def test_a_path_leaving_the_lecture_window_widens_the_view():
    far = np.column_stack([np.linspace(-2, 15, 30), np.linspace(2, -9, 30)])
    path, _ = plots_for_trace(Trace("gd", far, gd_path(1.0), problem=SIGMOID))
    assert "from -20 to 20" in path.alt
    farther = np.column_stack([np.linspace(-2, 1e6, 30), np.linspace(2, -9, 30)])
    path, _ = plots_for_trace(Trace("gd", farther, gd_path(1.0), problem=SIGMOID))
    assert "leaves the plotted area" in path.caption


def test_quadratic_problems():
    A, b = np.array([[10.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0])
    problem = {"kind": "quadratic", "A": A.tolist(), "b": b.tolist()}
    images = plots_for_trace(Trace("gd_step", quadratic_path(0.19, [3, 3], A, b),
                                   quadratic_path(0.1, [3, 3], A, b), problem=problem))
    assert [("Contour" in i.alt, "against step" in i.alt) for i in images] == [(True, False), (False, True)]
    assert "loss L(θ) − min L" in images[1].alt and "log scale" in images[1].alt
    assert plots.quadratic_surface.cache_info().currsize == 1
    # three parameters: the loss against step only
    A3 = np.diag([1.0, 2.0, 3.0])
    images = plots_for_trace(Trace("adam", quadratic_path(0.2, [1, 1, 1], A3, np.zeros(3)),
                                   quadratic_path(0.1, [1, 1, 1], A3, np.zeros(3)), problem={"name": "quadratic", "A": A3}))
    assert len(images) == 1 and "loss L(θ) − min L" in images[0].alt


def test_an_unknown_problem_plots_the_distance_to_the_reference():
    reference = np.cumsum(np.ones((20, 4)), axis=0)
    images = plots_for_trace(Trace("train", reference[::-1].copy(), reference, problem={"kind": "mystery"}))
    assert len(images) == 1 and "distance to the reference's last θ" in images[0].alt


def test_no_pyplot_and_no_global_backend_change():
    code = ("import numpy as np, sys, matplotlib\n"
            "before = matplotlib.get_backend() if 'matplotlib.pyplot' in sys.modules else None\n"
            "from grader.render.plots import plots_for_trace\n"
            "from grader.results import Trace\n"
            "rows = np.cumsum(np.full((30, 2), 0.1), axis=0)\n"
            "assert plots_for_trace(Trace('t', rows, rows, problem={'kind': 'sigmoid_neuron'}))\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
