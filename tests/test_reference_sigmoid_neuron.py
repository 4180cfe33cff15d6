"""The reference solution of `sigmoid_neuron` reproduces the handout and the lecture's numbers."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_reference


ref = load_reference("sigmoid_neuron", "sigmoid_neuron")

# The lecture's two data points.
X = np.array([0.5, 2.5])
Y = np.array([0.2, 0.9])


def mean_cross_entropy(w, b, Xm, y):
    yhat = 1.0 / (1.0 + np.exp(-(Xm @ w + b)))
    return -np.mean(y * np.log(yhat) + (1 - y) * np.log(1 - yhat))


# ---------------------------------------------------------------- the handout's numbers


def test_handout_losses_to_five_decimals():
    assert round(float(ref.squared_error_loss(0.5, 0.0, X, Y)), 5) == 0.07311
    assert round(float(ref.squared_error_loss(-0.10, 0.0, X, Y)), 5) == 0.14813


@pytest.mark.parametrize(
    "w, b, table_loss",
    [
        (0.50, 0.00, 0.0730),
        (-0.10, 0.00, 0.1481),
        (0.94, -0.94, 0.0214),
        (1.42, -1.73, 0.0028),
        (1.65, -2.08, 0.0003),
        (1.78, -2.27, 0.0000),
    ],
)
def test_lecture_table_rows(w, b, table_loss):
    """The slide prints w, b to 2 decimals and L to 4 (rounded or truncated).

    So the true (w, b) lies within 0.005 of the printed pair and the true L within 1e-4 of the
    printed loss: some point of that box must have a loss in that interval. A grid over the box
    gives the range of L on it (L is smooth and nearly linear at this scale). The computed L at
    the printed pair differs from the table by up to 2.7e-4 (0.02167 for 0.0214), which is why
    an exact comparison would be wrong.
    """
    half = 0.005
    losses = np.array(
        [
            ref.squared_error_loss(wi, bi, X, Y)
            for wi in np.linspace(w - half, w + half, 21)
            for bi in np.linspace(b - half, b + half, 21)
        ]
    )
    assert losses.min() <= table_loss + 1e-4
    assert losses.max() >= table_loss - 1e-4


def test_gradient_descent_from_the_lecture_start():
    history = ref.gradient_descent(-2, 2, X, Y, eta=1.0, epochs=1000)
    assert history.shape == (1001, 2)
    assert history.dtype == np.float64
    np.testing.assert_array_equal(history[0], [-2.0, 2.0])
    w, b = history[-1]
    assert w == pytest.approx(1.79, abs=0.005)
    assert b == pytest.approx(-2.28, abs=0.005)
    assert ref.squared_error_loss(w, b, X, Y) < 1e-10
    losses = [ref.squared_error_loss(wi, bi, X, Y) for wi, bi in history]
    assert np.all(np.diff(losses) < 0), "with eta = 1 every epoch lowers the loss"


def test_gradient_descent_updates_w_and_b_simultaneously():
    history = ref.gradient_descent(-2, 2, X, Y, eta=1.0, epochs=2)
    w, b = -2.0, 2.0
    for row in history[1:]:
        w, b = w - ref.grad_w(w, b, X, Y), b - ref.grad_b(w, b, X, Y)
        np.testing.assert_allclose(row, [w, b], rtol=1e-15)
    # Updating b at the new w would give a different b: the test can tell the two apart.
    w1 = -2.0 - ref.grad_w(-2.0, 2.0, X, Y)
    assert abs(2.0 - ref.grad_b(w1, 2.0, X, Y) - history[1, 1]) > 1e-3


def test_gradient_descent_with_zero_epochs_is_the_start():
    history = ref.gradient_descent(0.3, -0.7, X, Y, eta=0.5, epochs=0)
    np.testing.assert_array_equal(history, [[0.3, -0.7]])


# ---------------------------------------------------------------- the sigmoid


def test_sigmoid_values_and_symmetry():
    z = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(ref.sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=1e-14, atol=0)
    np.testing.assert_allclose(ref.sigmoid(-z), 1.0 - ref.sigmoid(z), rtol=0, atol=1e-15)
    assert ref.sigmoid(0.0) == 0.5
    assert ref.sigmoid(np.float64(2.0)).shape == ()
    assert ref.sigmoid(np.zeros((2, 3))).shape == (2, 3)


def test_sigmoid_is_finite_and_warning_free_for_huge_inputs():
    """No overflow, invalid or divide-by-zero error, nor any warning, at abs(z) = 1e4.

    Underflow stays ignored (NumPy's default): sigma(-1e4) = e^-1e4 is below the smallest
    float, so rounding it to 0 is the correct result, not an error.
    """
    z = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            s = ref.sigmoid(z)
            g = ref.sigmoid_grad(z)
            p = ref.predict(1.0, 0.0, z)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(g)) and np.all(np.isfinite(p))
    np.testing.assert_array_equal(s[[0, -1]], [0.0, 1.0])
    np.testing.assert_array_equal(g[[0, -1]], [0.0, 0.0])
    # Small but representable tails keep their relative precision.
    assert ref.sigmoid(-40.0) == pytest.approx(np.exp(-40.0) / (1 + np.exp(-40.0)), rel=1e-14)


# ---------------------------------------------------------------- finite differences

finite_floats = st.floats(-3, 3, allow_nan=False)


def central_difference(f, t, h=1e-6):
    return (f(t + h) - f(t - h)) / (2 * h)


@settings(max_examples=60, deadline=None)
@given(z=st.floats(-20, 20, allow_nan=False))
def test_sigmoid_grad_matches_finite_differences(z):
    expected = central_difference(lambda t: float(ref.sigmoid(t)), z)
    assert float(ref.sigmoid_grad(z)) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(w=finite_floats, b=finite_floats, seed=st.integers(0, 2**32 - 1))
def test_grad_w_and_grad_b_match_finite_differences(w, b, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=5)
    y = rng.uniform(size=5)
    dw = central_difference(lambda t: ref.squared_error_loss(t, b, x, y), w)
    db = central_difference(lambda t: ref.squared_error_loss(w, t, x, y), b)
    assert ref.grad_w(w, b, x, y) == pytest.approx(dw, rel=1e-6, abs=1e-9)
    assert ref.grad_b(w, b, x, y) == pytest.approx(db, rel=1e-6, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 8), n=st.integers(1, 4))
def test_cross_entropy_grad_matches_finite_differences(seed, m, n):
    rng = np.random.default_rng(seed)
    Xm = rng.normal(size=(m, n))
    y = rng.integers(0, 2, size=m).astype(float)
    w = rng.normal(size=n)
    b = float(rng.normal())
    dE_dw, dE_db = ref.cross_entropy_grad(w, b, Xm, y)
    assert dE_dw.shape == (n,) and np.ndim(dE_db) == 0
    h = 1e-6
    eye = np.eye(n)
    numeric_w = [
        (mean_cross_entropy(w + h * e, b, Xm, y) - mean_cross_entropy(w - h * e, b, Xm, y)) / (2 * h)
        for e in eye
    ]
    numeric_b = central_difference(lambda t: mean_cross_entropy(w, t, Xm, y), b, h)
    np.testing.assert_allclose(dE_dw, numeric_w, rtol=1e-6, atol=1e-9)
    assert dE_db == pytest.approx(numeric_b, rel=1e-6, abs=1e-9)


def test_cross_entropy_grad_is_the_error_times_x_and_one():
    """The lesson's form: per point -(y - yhat) * (x, 1); the closer the label, the smaller."""
    Xm = np.array([[1.0, 2.0]])
    w = np.array([0.0, 0.0])  # yhat = 0.5
    near = ref.cross_entropy_grad(w, 0.0, Xm, np.array([0.6]))
    far = ref.cross_entropy_grad(w, 0.0, Xm, np.array([1.0]))
    np.testing.assert_allclose(far[0], [-0.5, -1.0])
    assert far[1] == pytest.approx(-0.5)
    assert np.linalg.norm(near[0]) < np.linalg.norm(far[0])


# ---------------------------------------------------------------- contract: dtype, no mutation


def _read_only(a):
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


CALLS = {
    "sigmoid": lambda a: ref.sigmoid(a["z"]),
    "sigmoid_grad": lambda a: ref.sigmoid_grad(a["z"]),
    "predict": lambda a: ref.predict(a["w"], a["b"], a["x"]),
    "squared_error_loss": lambda a: ref.squared_error_loss(a["w"], a["b"], a["x"], a["y"]),
    "grad_w": lambda a: ref.grad_w(a["w"], a["b"], a["x"], a["y"]),
    "grad_b": lambda a: ref.grad_b(a["w"], a["b"], a["x"], a["y"]),
    "cross_entropy_grad": lambda a: ref.cross_entropy_grad(a["wv"], a["b"], a["Xm"], a["labels"]),
    "gradient_descent": lambda a: ref.gradient_descent(a["w"], a["b"], a["x"], a["y"], 0.5, 3),
}


@pytest.mark.parametrize("name", CALLS)
def test_no_input_is_mutated_and_results_are_float64(name):
    rng = np.random.default_rng(7)
    originals = {
        "z": rng.normal(size=4),
        "w": np.array(0.7),
        "b": np.array(-0.2),
        "x": rng.normal(size=4),
        "y": rng.uniform(size=4),
        "wv": rng.normal(size=3),
        "Xm": rng.normal(size=(4, 3)),
        "labels": np.array([0.0, 1.0, 1.0, 0.0]),
    }
    args = {k: _read_only(v) for k, v in originals.items()}  # an in-place write would raise
    result = CALLS[name](args)
    for k, v in originals.items():
        np.testing.assert_array_equal(args[k], v)
    for part in result if isinstance(result, tuple) else (result,):
        assert np.asarray(part).dtype == np.float64


def test_integer_inputs_give_float_results():
    x = np.array([0, 1, 2])
    y = np.array([0, 1, 1])
    assert ref.predict(1, 0, x).dtype == np.float64
    assert ref.gradient_descent(1, 0, x, y, 1, 2).dtype == np.float64
    assert ref.sigmoid(np.array([0, 1])).dtype == np.float64
