"""Public checks of the sigmoid_neuron assignment: run them with `grader check sigmoid_neuron`.

They work like the hidden checks the grader runs (which use other inputs): your function is
called on the inputs shown in the feedback and compared with the expected values, with the
tolerance shown there. A function that uses your other functions (predict uses sigmoid, the
gradients use predict, gradient_descent uses grad_w and grad_b) also passes when it is right
but one of the functions it uses is not: each function earns its own points.
"""
import numpy as np

from grader.checking import check
from grader.composites import plain_or_faked
from grader.expect import expect_array, expect_scalar, expect_true, expect_tuple

X_LECTURE = [0.5, 2.5]
Y_LECTURE = [0.2, 0.9]
VALUES = dict(rtol=1e-7, atol=1e-12)
TRAJECTORY = dict(rtol=1e-6, atol=1e-9)


def call_matches(student, reference, function, args, names, expect=None):
    """Check `function(*args)` (plain or with fake helpers) against the expected value."""
    inputs = dict(zip(names, args))
    called = f"{function}({', '.join(names)})"

    def compare(got, want):
        if expect is None:
            expect_array(got["value"], want["value"], name=called, inputs=inputs, **VALUES)
        else:
            expect(got["value"], want["value"], called, inputs)
        expect_true(not got["mutated"], f"{function} changed one of its input arrays in place; "
                    "compute new arrays instead", inputs)

    plain_or_faked(student, reference, "call", dict(function=function, args=list(args)), compare)


def expect_number(got, want, called, inputs):
    expect_scalar(got, want, name=called, inputs=inputs, **VALUES)


@check("sigmoid", 1, title="five values of z around 0")
def test_sigmoid_values(student, reference):
    call_matches(student, reference, "sigmoid", [np.array([-2.0, -0.5, 0.0, 0.5, 2.0])], ["z"])


@check("sigmoid", 1, title="large |z|: finite and without overflow warnings")
def test_sigmoid_large(student, reference):
    z = np.array([-1e4, -800.0, -50.0, 50.0, 800.0, 1e4])
    inputs = {"z": z}
    want = reference.probe("call", function="sigmoid", args=[z])
    got = student.probe("call", function="sigmoid", args=[z])
    expect_array(got["value"], want["value"], name="sigmoid(z)", rtol=1e-7, atol=1e-12, inputs=inputs)
    expect_true(got["warnings"] == 0,
                f"sigmoid(z) gives the right values but raised {int(got['warnings'])} RuntimeWarning(s) "
                "(overflow in exp?) for large |z|; it must stay warning-free up to |z| = 1e4", inputs)


@check("sigmoid_grad", 1, title="five values of z around 0")
def test_sigmoid_grad_values(student, reference):
    call_matches(student, reference, "sigmoid_grad", [np.array([-2.0, -0.5, 0.0, 0.5, 2.0])], ["z"])


@check("predict", 1, title="the lecture's two points at w = 0.5, b = 0")
def test_predict_lecture(student, reference):
    call_matches(student, reference, "predict", [0.5, 0.0, np.array(X_LECTURE)], ["w", "b", "x"])


@check("squared_error_loss", 1, title="the lecture's table: L(0.5, 0) and L(-0.1, 0)")
def test_loss_lecture(student, reference):
    for w in (0.5, -0.1):
        call_matches(student, reference, "squared_error_loss", [w, 0.0, np.array(X_LECTURE), np.array(Y_LECTURE)],
                     ["w", "b", "x", "y"], expect=expect_number)


@check("grad_w", 1, title="the lecture's two points at the start (-2, 2)")
def test_grad_w_start(student, reference):
    call_matches(student, reference, "grad_w", [-2.0, 2.0, np.array(X_LECTURE), np.array(Y_LECTURE)],
                 ["w", "b", "x", "y"], expect=expect_number)


@check("grad_b", 1, title="the lecture's two points at the start (-2, 2)")
def test_grad_b_start(student, reference):
    call_matches(student, reference, "grad_b", [-2.0, 2.0, np.array(X_LECTURE), np.array(Y_LECTURE)],
                 ["w", "b", "x", "y"], expect=expect_number)


def expect_ce_grad(got, want, called, inputs):
    dw, db = expect_tuple(got, 2, name="cross_entropy_grad", parts="(dE_dw, dE_db)", inputs=inputs)
    expect_array(dw, want[0], name="dE_dw", inputs=inputs, **VALUES)
    expect_scalar(db, want[1], name="dE_db", inputs=inputs, **VALUES)


@check("cross_entropy_grad", 1, title="three points with two features")
def test_ce_small(student, reference):
    X = np.array([[1.0, 2.0], [0.5, -1.0], [-1.5, 0.0]])
    call_matches(student, reference, "cross_entropy_grad", [np.array([0.3, -0.2]), 0.1, X, np.array([1.0, 0.0, 1.0])],
                 ["w", "b", "X", "y"], expect=expect_ce_grad)


@check("gradient_descent", 1, title="the lecture's run: 1000 epochs from (-2, 2) with eta = 1")
def test_gd_lecture(student, reference, trace):
    kwargs = dict(w0=-2.0, b0=2.0, x=np.array(X_LECTURE), y=np.array(Y_LECTURE), eta=1.0, epochs=1000)

    def show(got, want):
        rows = None
        if got is not None:
            try:
                rows = np.asarray(got["history"], dtype=float)
            except (TypeError, ValueError):
                pass
        want = np.asarray(want["history"], dtype=float)
        trace(rows if rows is not None and rows.shape == want.shape else None, want,
              label="gradient_descent, 1000 epochs from (-2, 2)",
              problem={"kind": "sigmoid_neuron", "x": X_LECTURE, "y": Y_LECTURE})

    def compare(got, want):
        expect_array(got["history"], want["history"], name="the history of (w, b)", inputs=kwargs, **TRAJECTORY)

    plain_or_faked(student, reference, "descend", kwargs, compare, show)
