"""Hidden checks of the sigmoid_neuron assignment.

Inputs are drawn from the per-student `rng`; every value is compared with the reference on
the same inputs, with the tolerance given at each comparison. A function built from others
(predict from sigmoid, the gradients from predict, gradient_descent from grad_w and grad_b)
also passes when its run with the probes' fake building blocks matches the reference's run
with the same fakes, so a broken helper costs only its own points.
"""
import numpy as np

from grader.checking import check
from grader.composites import plain_or_faked, plot_rows
from grader.expect import expect_array, expect_scalar, expect_true, expect_tuple

X_LECTURE = [0.5, 2.5]
Y_LECTURE = [0.2, 0.9]
NEURON = {"kind": "sigmoid_neuron", "x": X_LECTURE, "y": Y_LECTURE}
VALUES = dict(rtol=1e-7, atol=1e-12)
TRAJECTORY = dict(rtol=1e-6, atol=1e-9)


def expect_untouched(got, what, inputs):
    expect_true(not got["mutated"], f"{what} changed one of its input arrays in place; "
                "compute new arrays instead (e.g. z = -z, not z *= -1)", inputs)


def sparse_points(rng, n=100):
    """The lecture's Adagrad data: n random (x, y) with x set to 0 for about 80% of them."""
    x = rng.uniform(0.0, 1.0, n)
    x[rng.random(n) < 0.8] = 0.0
    return x, rng.uniform(0.0, 1.0, n)


def call_matches(student, reference, function, args, names, expect=None, tolerance=VALUES, untouched=False):
    """Check `function(*args)` (plain or with fake helpers) against the reference (and, when
    `untouched`, that it left its input arrays alone: one check per function judges that)."""
    inputs = dict(zip(names, args))
    called = f"{function}({', '.join(names)})"

    def compare(got, want):
        if expect is None:
            expect_array(got["value"], want["value"], name=called, inputs=inputs, **tolerance)
        else:
            expect(got["value"], want["value"], called, inputs)
        if untouched:
            expect_untouched(got, function, inputs)

    plain_or_faked(student, reference, "call", dict(function=function, args=list(args)), compare)


def expect_number(got, want, called, inputs):
    expect_scalar(got, want, name=called, inputs=inputs, **VALUES)


# --- sigmoid (4) ---------------------------------------------------------------------------


def around_zero(rng, z):
    """z with a value in (-1, 0) and one in (0, 1) put in, whatever the draw: a stable sigmoid
    switches formulas at 0, and a switch at the wrong point (z >= 1, z >= -1) shows there."""
    z = np.array(z, dtype=float)
    z.flat[:2] = [-rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)]
    return z


@check("sigmoid", 1, title="12 values of z; z left unchanged")
def test_sigmoid_values(student, reference, rng):
    z = around_zero(rng, rng.normal(0.0, 4.0, 12))
    call_matches(student, reference, "sigmoid", [z], ["z"], untouched=True)


@check("sigmoid", 1, title="z as a 2-d array and as a single number")
def test_sigmoid_shapes(student, reference, rng):
    call_matches(student, reference, "sigmoid", [around_zero(rng, rng.normal(0.0, 3.0, (3, 4)))], ["z"])
    call_matches(student, reference, "sigmoid", [float(rng.normal(0.0, 3.0))], ["z"], expect=expect_number)


@check("sigmoid", 2, title="large |z| up to 1e4: finite and without overflow warnings")
def test_sigmoid_large(student, reference, rng):
    z = np.concatenate([[-1e4, -710.0, -40.0, 40.0, 710.0, 1e4],
                        rng.choice([-1.0, 1.0], 6) * 10 ** rng.uniform(2.0, 4.0, 6)])
    inputs = {"z": z}
    want = reference.probe("call", function="sigmoid", args=[z])
    got = student.probe("call", function="sigmoid", args=[z])
    values = expect_array(got["value"], want["value"], name="sigmoid(z)", rtol=1e-7, atol=1e-12, inputs=inputs)
    expect_true(np.isfinite(values).all(), "sigmoid(z) is not finite for large |z|", inputs)
    expect_true(got["warnings"] == 0,
                f"sigmoid(z) gives the right values but raised {int(got['warnings'])} RuntimeWarning(s) "
                "(overflow in exp?) for large |z|; it must stay warning-free up to |z| = 1e4", inputs)


# --- sigmoid_grad (3) ----------------------------------------------------------------------


@check("sigmoid_grad", 2, title="12 values of z; z left unchanged")
def test_sigmoid_grad_values(student, reference, rng):
    call_matches(student, reference, "sigmoid_grad", [rng.normal(0.0, 3.0, 12)], ["z"], untouched=True)


@check("sigmoid_grad", 1, title="z as a 2-d array with large |z|, and as a single number")
def test_sigmoid_grad_shapes(student, reference, rng):
    z = rng.normal(0.0, 3.0, (2, 4))
    z[0, 0], z[1, 0] = -1e4, 1e4
    call_matches(student, reference, "sigmoid_grad", [z], ["z"])
    call_matches(student, reference, "sigmoid_grad", [float(rng.normal())], ["z"], expect=expect_number)


# --- predict (3) ---------------------------------------------------------------------------


@check("predict", 1, title="the lecture's two points")
def test_predict_lecture(student, reference, rng):
    w, b = rng.uniform(-3.0, 3.0, 2)
    call_matches(student, reference, "predict", [float(w), float(b), np.array(X_LECTURE)], ["w", "b", "x"])


@check("predict", 1, title="20 random points; x left unchanged")
def test_predict_random(student, reference, rng):
    w, b = rng.normal(0.0, 2.0, 2)
    call_matches(student, reference, "predict", [float(w), float(b), rng.normal(0.0, 2.0, 20)], ["w", "b", "x"],
                 untouched=True)


@check("predict", 1, title="x as a 2-d array and as a single number")
def test_predict_shapes(student, reference, rng):
    w, b = rng.normal(0.0, 2.0, 2)
    call_matches(student, reference, "predict", [float(w), float(b), rng.normal(0.0, 2.0, (3, 2))], ["w", "b", "x"])
    call_matches(student, reference, "predict", [float(w), float(b), float(rng.normal())], ["w", "b", "x"],
                 expect=expect_number)


# --- squared_error_loss (3) ----------------------------------------------------------------

LOSS_NAMES = ["w", "b", "x", "y"]


@check("squared_error_loss", 1, title="the lecture's table and the lecture's two points")
def test_loss_lecture(student, reference, rng):
    w, b = rng.uniform(-3.0, 3.0, 2)
    for point in [(0.5, 0.0), (-0.1, 0.0), (float(w), float(b))]:
        call_matches(student, reference, "squared_error_loss", [*point, np.array(X_LECTURE), np.array(Y_LECTURE)],
                     LOSS_NAMES, expect=expect_number)


@check("squared_error_loss", 1, title="15 random points; x and y left unchanged")
def test_loss_random(student, reference, rng):
    w, b = rng.normal(0.0, 2.0, 2)
    call_matches(student, reference, "squared_error_loss",
                 [float(w), float(b), rng.normal(0.0, 2.0, 15), rng.uniform(0.0, 1.0, 15)],
                 LOSS_NAMES, expect=expect_number, untouched=True)


@check("squared_error_loss", 1, title="the lecture's sparse data (x = 0 for about 80% of the points)")
def test_loss_sparse(student, reference, rng):
    x, y = sparse_points(rng)
    w, b = rng.normal(0.0, 2.0, 2)
    call_matches(student, reference, "squared_error_loss", [float(w), float(b), x, y],
                 LOSS_NAMES, expect=expect_number)


# --- grad_w (4) and grad_b (3) -------------------------------------------------------------


def lecture_args(rng):
    """The lecture's two points, at (w, b) near the lecture's start (-2, 2)."""
    w, b = np.array([-2.0, 2.0]) + rng.uniform(-1.0, 1.0, 2)
    return [float(w), float(b), np.array(X_LECTURE), np.array(Y_LECTURE)]


def random_args(rng):
    w, b = rng.normal(0.0, 2.0, 2)
    return [float(w), float(b), rng.normal(0.0, 2.0, 15), rng.uniform(0.0, 1.0, 15)]


def sparse_args(rng):
    x, y = sparse_points(rng)
    w, b = rng.normal(0.0, 1.0, 2)
    return [float(w), float(b), x, y]


def saturated_args(rng):
    """|w x + b| up to 45: the sigmoid is flat, the gradient tiny but finite."""
    return [float(rng.uniform(10.0, 20.0)), float(rng.uniform(-5.0, 5.0)), rng.uniform(-2.0, 2.0, 8),
            rng.uniform(0.0, 1.0, 8)]


def gradient_matches(student, reference, function, args, untouched=False):
    call_matches(student, reference, function, args, LOSS_NAMES, expect=expect_number, untouched=untouched)


@check("grad_w", 1, title="the lecture's two points, near the start (-2, 2)")
def test_grad_w_lecture(student, reference, rng):
    gradient_matches(student, reference, "grad_w", lecture_args(rng))


@check("grad_w", 1, title="15 random points; x and y left unchanged")
def test_grad_w_random(student, reference, rng):
    gradient_matches(student, reference, "grad_w", random_args(rng), untouched=True)


@check("grad_w", 1, title="the lecture's sparse data (x = 0 for about 80% of the points)")
def test_grad_w_sparse(student, reference, rng):
    gradient_matches(student, reference, "grad_w", sparse_args(rng))


@check("grad_w", 1, title="a saturated neuron (|w x + b| up to 45)")
def test_grad_w_saturated(student, reference, rng):
    gradient_matches(student, reference, "grad_w", saturated_args(rng))


@check("grad_b", 1, title="the lecture's two points, near the start (-2, 2)")
def test_grad_b_lecture(student, reference, rng):
    gradient_matches(student, reference, "grad_b", lecture_args(rng))


@check("grad_b", 1, title="15 random points; x and y left unchanged")
def test_grad_b_random(student, reference, rng):
    gradient_matches(student, reference, "grad_b", random_args(rng), untouched=True)


@check("grad_b", 1, title="the lecture's sparse data and a saturated neuron")
def test_grad_b_sparse(student, reference, rng):
    gradient_matches(student, reference, "grad_b", sparse_args(rng))
    gradient_matches(student, reference, "grad_b", saturated_args(rng))


# --- cross_entropy_grad (4) ----------------------------------------------------------------


def expect_ce_grad(got, want, called, inputs):
    dw, db = expect_tuple(got, 2, name="cross_entropy_grad", parts="(dE_dw, dE_db)", inputs=inputs)
    expect_array(dw, want[0], name="dE_dw", inputs=inputs, **VALUES)
    expect_scalar(db, want[1], name="dE_db", inputs=inputs, **VALUES)


def ce_args(rng, m, n, scale=1.0, labels=None):
    """Points with both labels whatever the draw (m >= 2; `labels` gives them for m = 1): a
    mistake in how y enters the error (+ y, y dropped) shows for y = 1, others for y = 0."""
    X = rng.normal(0.0, 1.0, (m, n))
    y = (rng.random(m) < 0.5).astype(float) if labels is None else np.array(labels, dtype=float)
    if m >= 2 and labels is None:
        y[rng.choice(m, 2, replace=False)] = [0.0, 1.0]
    return [rng.normal(0.0, scale, n), float(rng.normal()), X, y]


@check("cross_entropy_grad", 2, title="12 points with 3 features; inputs left unchanged")
def test_ce_random(student, reference, rng):
    call_matches(student, reference, "cross_entropy_grad", ce_args(rng, 12, 3), ["w", "b", "X", "y"],
                 expect=expect_ce_grad, untouched=True)


@check("cross_entropy_grad", 1, title="a single point with a single feature, labelled 1 and then 0")
def test_ce_single(student, reference, rng):
    for label in (1.0, 0.0):
        call_matches(student, reference, "cross_entropy_grad", ce_args(rng, 1, 1, labels=[label]),
                     ["w", "b", "X", "y"], expect=expect_ce_grad)


@check("cross_entropy_grad", 1, title="50 points with 5 features and confident predictions")
def test_ce_confident(student, reference, rng):
    call_matches(student, reference, "cross_entropy_grad", ce_args(rng, 50, 5, scale=8.0), ["w", "b", "X", "y"],
                 expect=expect_ce_grad)


# --- gradient_descent (6) ------------------------------------------------------------------


def descent_matches(student, reference, kwargs, trace=None, label="", untouched=False):
    inputs = dict(kwargs)
    problem = {"kind": "sigmoid_neuron", "x": np.asarray(kwargs["x"]).tolist(), "y": np.asarray(kwargs["y"]).tolist()}

    def show(got, want):
        if trace is not None:
            rows = None if got is None else plot_rows(got["history"], want["history"])
            trace(rows, np.asarray(want["history"], dtype=float), label=label, problem=problem)

    def compare(got, want):
        expect_array(got["history"], want["history"], name="the history of (w, b)", inputs=inputs, **TRAJECTORY)
        if untouched:
            expect_untouched(got, "gradient_descent", inputs)

    plain_or_faked(student, reference, "descend", kwargs, compare, show)


@check("gradient_descent", 2, title="100 epochs from near (-2, 2) on the lecture's two points, eta = 1")
def test_gd_lecture(student, reference, rng, trace):
    # 100 epochs cross the plateau near the start and reach the valley, about (1.4, -1.6).
    w0, b0 = np.array([-2.0, 2.0]) + rng.uniform(-0.2, 0.2, 2)
    kwargs = dict(w0=float(w0), b0=float(b0), x=np.array(X_LECTURE), y=np.array(Y_LECTURE), eta=1.0, epochs=100)
    descent_matches(student, reference, kwargs, trace, label=f"gradient_descent, 100 epochs from ({w0:.2f}, {b0:.2f})")


@check("gradient_descent", 2, title="50 epochs from a random start on 10 random points")
def test_gd_random(student, reference, rng):
    # x of scale 1: with scale 2 and eta near 1 the run was so unstable for some draws that a
    # few ulps of rounding (another way of summing) grew past the tolerance.
    w0, b0 = rng.normal(0.0, 2.0, 2)
    kwargs = dict(w0=float(w0), b0=float(b0), x=rng.normal(0.0, 1.0, 10), y=rng.uniform(0.0, 1.0, 10),
                  eta=float(rng.uniform(0.2, 1.0)), epochs=50)
    descent_matches(student, reference, kwargs)


@check("gradient_descent", 1, title="epochs = 0 gives only the start, and one epoch")
def test_gd_zero_epochs(student, reference, rng):
    # A start where the neuron is not saturated, for every draw: one epoch then moves w by
    # enough that a b-gradient taken after w moved (or the other way round) shows.
    w0, b0 = rng.uniform(-1.0, 1.0, 2)
    for epochs in (0, 1):
        kwargs = dict(w0=float(w0), b0=float(b0), x=np.array(X_LECTURE), y=np.array(Y_LECTURE), eta=0.5,
                      epochs=epochs)
        descent_matches(student, reference, kwargs)


@check("gradient_descent", 1, title="20 epochs on the lecture's sparse data; x and y left unchanged")
def test_gd_sparse(student, reference, rng):
    x, y = sparse_points(rng)
    kwargs = dict(w0=float(rng.normal()), b0=float(rng.normal()), x=x, y=y, eta=0.05, epochs=20)
    descent_matches(student, reference, kwargs, untouched=True)
