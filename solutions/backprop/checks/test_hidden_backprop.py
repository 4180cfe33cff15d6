"""Hidden checks of the backprop assignment.

Inputs are drawn from the per-student `rng`, but every draw is shaped so that the cases that
tell the catalogued mistakes apart are present whatever the seed: points on both sides of
the ReLU's kink (and one on it), non-zero errors, a multiply gate whose two inputs differ,
a non-square W1 as well as a 2x2 one with an asymmetric gradient, more than one point, a
curved function for the finite differences. Every value is compared with the reference on
the same inputs, with the tolerance given at each comparison. xor_loss, gradient_check and
train_xor are built from other functions; they also pass when their run with the probes'
fake building blocks matches the reference's run with the same fakes, so a broken building
block costs only its own points.
"""
import numpy as np

from grader.checking import check
from grader.composites import plain_or_faked, plot_rows
from grader.expect import as_numeric_array, expect_array, expect_dict, expect_scalar, expect_true, expect_tuple

VALUES = dict(rtol=1e-7, atol=1e-12)
XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_Y = [0.0, 1.0, 1.0, 0.0]
P0 = ([[0.5, -0.4], [0.3, 0.8]], [0.1, -0.2], [0.7, -0.6], 0.05)
GRAPH_KEYS = ("s", "z", "a", "e", "J")
EDGE_KEYS = ("dJ_de", "de_da", "da_dz", "dz_ds", "ds_dw", "dz_db", "dJ_dw", "dJ_db")
CACHE_KEYS = ("a1", "h1", "a2", "yhat")
GRADS = "(dW1, db1, dw2, db2)"


# --- helpers -------------------------------------------------------------------------------


def expect_untouched(got, function, inputs):
    expect_true(not got["mutated"], f"{function} changed one of its input arrays in place; compute new "
                "arrays instead (W1 = W1 - eta * dW1, not W1 -= eta * dW1)", inputs)


def expect_grads(got, want, called, inputs, tolerance=VALUES):
    """The four network gradients, each with the shape of its parameter."""
    parts = expect_tuple(got, 4, name=called, parts=GRADS, inputs=inputs)
    for name, g, w in zip(("dW1", "db1", "dw2", "db2"), parts, want):
        expect_array(g, w, name=f"{name} returned by {called}", inputs=inputs, **tolerance)


def random_params(rng, k, d, scale=1.0):
    return (rng.normal(0.0, scale, (k, d)), rng.normal(0.0, scale, k), rng.normal(0.0, scale, k),
            float(rng.normal(0.0, scale)))


def plain(params):
    """A params tuple as plain lists (for the probes and the feedback)."""
    return [np.asarray(p, dtype=float).tolist() for p in params[:3]] + [float(params[3])]


def network_inputs(params, X, y=None):
    W1, b1, w2, b2 = params
    inputs = {"W1": np.asarray(W1), "b1": np.asarray(b1), "w2": np.asarray(w2), "b2": b2, "X": np.asarray(X)}
    if y is not None:
        inputs["y"] = np.asarray(y)
    return inputs


def relu_unit(rng, n):
    """(w, b, x, y): n points with w x + b on both sides of 0 and the last exactly at 0 (the
    kink, where da/dz = 0), and targets y with y - a far from 0. w and the kink's x are
    multiples of 1/8, so w x + b is exactly 0 there in any order of operations."""
    w = float(rng.integers(4, 17) / 8.0 * rng.choice([-1.0, 1.0]))
    kink = float(rng.integers(1, 17) / 8.0 * rng.choice([-1.0, 1.0]))  # never 0: b = -w kink is not 0
    b = -w * kink
    side = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * np.sign(w)
    x = kink + rng.uniform(0.5, 3.0, n) * side / abs(w)
    x[0] = kink + rng.uniform(0.2, 0.8) * side[0] / abs(w)  # 0 < z < 1: a threshold at 1 instead of 0 shows
    x[-1] = kink
    y = rng.normal(0.0, 2.0, n) + np.where(rng.random(n) < 0.5, 1.5, -1.5)
    return w, b, x, y


# --- add_mul_graph (3) ----------------------------------------------------------------------


def add_mul_matches(student, reference, x, y, z, untouched=False):
    """add_mul_graph(x, y, z) returns (f, (df_dx, df_dy, df_dz)) as the reference's."""
    inputs = {"x": x, "y": y, "z": z}
    want = reference.probe("call", function="add_mul_graph", args=[x, y, z])["value"]
    got = student.probe("call", function="add_mul_graph", args=[x, y, z])
    f, grads = expect_tuple(got["value"], 2, name="add_mul_graph(x, y, z)", parts="(f, (df_dx, df_dy, df_dz))",
                            inputs=inputs)
    expect_array(f, want[0], name="f", inputs=inputs, **VALUES)
    grads = expect_tuple(grads, 3, name="the gradients", parts="(df_dx, df_dy, df_dz)", inputs=inputs)
    for name, g, w in zip(("df_dx", "df_dy", "df_dz"), grads, want[1]):
        expect_array(g, w, name=name, inputs=inputs, **VALUES)
    if untouched:
        expect_untouched(got, "add_mul_graph", inputs)


@check("add_mul_graph", 2, title="the deck's x = -2, y = 5, z = -4 and 10 random triples")
def test_add_mul_random(student, reference, rng):
    x, y = rng.normal(0.0, 3.0, 10), rng.normal(0.0, 3.0, 10)
    z = x + y + rng.choice([-1.0, 1.0], 10) * rng.uniform(1.0, 4.0, 10)  # z never equals q = x + y
    add_mul_matches(student, reference, np.r_[-2.0, x], np.r_[5.0, y], np.r_[-4.0, z])


@check("add_mul_graph", 1, title="single numbers and 2-d arrays; inputs left unchanged")
def test_add_mul_shapes(student, reference, rng):
    add_mul_matches(student, reference, *(float(v) for v in rng.normal(0.0, 3.0, 2)), float(rng.uniform(5.0, 9.0)),
                    untouched=True)
    add_mul_matches(student, reference, rng.normal(0.0, 2.0, (2, 3)), rng.normal(0.0, 2.0, (2, 3)),
                    rng.uniform(5.0, 9.0, (2, 3)), untouched=True)


# --- neuron_forward (3) and neuron_backward (5) --------------------------------------------------


def graph_matches(student, reference, function, w, b, x, y, activation, keys, untouched=False):
    args = [w, b, x, y, activation]
    inputs = {"w": w, "b": b, "x": x, "y": y, "activation": activation}
    called = f"{function}(w, b, x, y, {activation!r})"
    want = reference.probe("call", function=function, args=args)["value"]
    got = student.probe("call", function=function, args=args)
    expect_dict(got["value"], want, keys, name=called, inputs=inputs, **VALUES)
    if untouched:
        expect_untouched(got, function, inputs)


@check("neuron_forward", 1, title="ReLU on 12 points on both sides of the kink and one on it; x and y left unchanged")
def test_forward_relu(student, reference, rng):
    w, b, x, y = relu_unit(rng, 13)
    graph_matches(student, reference, "neuron_forward", w, b, x, y, "relu", GRAPH_KEYS, untouched=True)


@check("neuron_forward", 1, title="sigmoid and identity activations on 10 random points")
def test_forward_other(student, reference, rng):
    w, b = (float(v) for v in rng.normal(0.0, 1.5, 2))
    x, y = rng.normal(0.0, 2.0, 10), rng.normal(0.0, 1.0, 10)
    for activation in ("sigmoid", "identity"):
        graph_matches(student, reference, "neuron_forward", w, b, x, y, activation, GRAPH_KEYS)


@check("neuron_forward", 1, title="the deck's unit (w = b = 1 on (5, 4)), as single numbers")
def test_forward_deck(student, reference, rng):
    graph_matches(student, reference, "neuron_forward", 1.0, 1.0, 5.0, 4.0, "relu", GRAPH_KEYS)
    w, b = (float(v) for v in rng.uniform(0.5, 1.5, 2))
    graph_matches(student, reference, "neuron_forward", w, b, float(rng.uniform(1.0, 5.0)),
                  float(rng.uniform(-3.0, -1.0)), "relu", GRAPH_KEYS)


@check("neuron_backward", 2, title="ReLU on 12 points on both sides of the kink and one on it")
def test_backward_relu(student, reference, rng):
    w, b, x, y = relu_unit(rng, 13)
    graph_matches(student, reference, "neuron_backward", w, b, x, y, "relu", EDGE_KEYS, untouched=True)


@check("neuron_backward", 1, title="sigmoid activation on 10 random points")
def test_backward_sigmoid(student, reference, rng):
    w, b = (float(v) for v in rng.normal(0.0, 1.5, 2))
    x, y = rng.normal(0.0, 2.0, 10), rng.choice([-1.0, 2.0], 10) + rng.uniform(-0.5, 0.5, 10)
    graph_matches(student, reference, "neuron_backward", w, b, x, y, "sigmoid", EDGE_KEYS)


@check("neuron_backward", 1, title="identity activation (plain linear regression) on 10 random points")
def test_backward_identity(student, reference, rng):
    w, b = (float(v) for v in rng.normal(0.0, 1.5, 2))
    x = rng.normal(0.0, 2.0, 10)
    y = w * x + b + rng.choice([-1.0, 1.0], 10) * rng.uniform(0.5, 2.0, 10)
    graph_matches(student, reference, "neuron_backward", w, b, x, y, "identity", EDGE_KEYS)


@check("neuron_backward", 1, title="the deck's unit (w = b = 1 on (5, 4)) and a 2-d batch: constants as arrays")
def test_backward_deck(student, reference, rng):
    graph_matches(student, reference, "neuron_backward", 1.0, 1.0, 5.0, 4.0, "relu", EDGE_KEYS)
    w, b = float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))
    x, y = rng.uniform(0.5, 3.0, (2, 3)), rng.uniform(-3.0, -1.0, (2, 3))
    graph_matches(student, reference, "neuron_backward", w, b, x, y, "relu", EDGE_KEYS)


# --- linreg_loss (2) and linreg_grad (3) ----------------------------------------------------------


def linreg_batch(rng, n):
    """n points off a random line (so no error is zero)."""
    x = rng.normal(0.0, 2.0, n)
    w, b = (float(v) for v in rng.normal(0.0, 2.0, 2))
    return w, b, x, 1.5 * x - 0.5 + rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 2.0, n) + w * x + b


def linreg_matches(student, reference, function, w, b, x, y, untouched=False):
    args = [w, b, x, y]
    inputs = {"w": w, "b": b, "x": x, "y": y}
    called = f"{function}(w, b, x, y)"
    want = reference.probe("call", function=function, args=args)["value"]
    got = student.probe("call", function=function, args=args)
    if function == "linreg_loss":
        expect_scalar(got["value"], want, name=called, inputs=inputs, **VALUES)
    else:
        parts = expect_tuple(got["value"], 2, name=called, parts="(dJ_dw, dJ_db)", inputs=inputs)
        for name, g, w_ in zip(("dJ_dw", "dJ_db"), parts, want):
            expect_scalar(g, w_, name=name, inputs=inputs, **VALUES)
    if untouched:
        expect_untouched(got, function, inputs)


@check("linreg_loss", 1, title="the handout's batch (y = 2x + 1) and 20 random points; x and y left unchanged")
def test_linreg_loss_batch(student, reference, rng):
    linreg_matches(student, reference, "linreg_loss", 1.0, 1.0, np.array([1.0, 2.0, 3.0, 4.0]),
                   np.array([3.0, 5.0, 7.0, 9.0]))
    linreg_matches(student, reference, "linreg_loss", *linreg_batch(rng, 20), untouched=True)


@check("linreg_loss", 1, title="a single point and a batch of random size")
def test_linreg_loss_sizes(student, reference, rng):
    linreg_matches(student, reference, "linreg_loss", *linreg_batch(rng, 1))
    linreg_matches(student, reference, "linreg_loss", *linreg_batch(rng, int(rng.integers(3, 40))))


@check("linreg_grad", 2, title="the handout's batch (y = 2x + 1) and 20 random points; x and y left unchanged")
def test_linreg_grad_batch(student, reference, rng):
    linreg_matches(student, reference, "linreg_grad", 1.0, 1.0, np.array([1.0, 2.0, 3.0, 4.0]),
                   np.array([3.0, 5.0, 7.0, 9.0]))
    linreg_matches(student, reference, "linreg_grad", *linreg_batch(rng, 20), untouched=True)


@check("linreg_grad", 1, title="the deck's point (5, 4) at w = b = 1, and a batch of random size")
def test_linreg_grad_deck(student, reference, rng):
    linreg_matches(student, reference, "linreg_grad", 1.0, 1.0, np.array([5.0]), np.array([4.0]))
    linreg_matches(student, reference, "linreg_grad", *linreg_batch(rng, int(rng.integers(3, 40))))


# --- xor_forward (4) and xor_loss (2) ------------------------------------------------------------


def forward_matches(student, reference, params, X, untouched=False):
    inputs = network_inputs(params, X)
    want = reference.probe("network_call", function="xor_forward", params=plain(params), args=[X])["value"]
    got = student.probe("network_call", function="xor_forward", params=plain(params), args=[X])
    expect_dict(got["value"], want, CACHE_KEYS, name="xor_forward(params, X)", inputs=inputs, **VALUES)
    if untouched:
        expect_untouched(got, "xor_forward", inputs)


@check("xor_forward", 1, title="the XOR data at the handout's start point P0")
def test_forward_p0(student, reference, rng):
    forward_matches(student, reference, P0, np.array(XOR_X))


@check("xor_forward", 1, title="the hand-set XOR network (OR and NAND into AND) near its start")
def test_forward_hand_set(student, reference, rng):
    params = ([[20.0, 20.0], [-20.0, -20.0]], [-10.0, 30.0], [20.0, 20.0], -30.0)
    forward_matches(student, reference, params, np.array(XOR_X))
    forward_matches(student, reference, random_params(rng, 2, 2, 3.0), np.array(XOR_X))


@check("xor_forward", 2, title="a non-square network (3 hidden units, 4 inputs) on 7 points; inputs left unchanged")
def test_forward_non_square(student, reference, rng):
    forward_matches(student, reference, random_params(rng, 3, 4), rng.normal(0.0, 1.0, (7, 4)), untouched=True)


def loss_matches(student, reference, params, X, y):
    inputs = network_inputs(params, X, y)

    def compare(got, want):
        expect_scalar(got["value"], want["value"], name="xor_loss(params, X, y)", inputs=inputs, **VALUES)

    plain_or_faked(student, reference, "network_call", dict(function="xor_loss", params=plain(params), args=[X, y]),
                   compare)


@check("xor_loss", 1, title="the XOR data at P0 and at the hand-set network")
def test_loss_xor(student, reference, rng):
    loss_matches(student, reference, P0, np.array(XOR_X), np.array(XOR_Y))
    loss_matches(student, reference, ([[20.0, 20.0], [-20.0, -20.0]], [-10.0, 30.0], [20.0, 20.0], -30.0),
                 np.array(XOR_X), np.array(XOR_Y))


@check("xor_loss", 1, title="a non-square network on 9 random points")
def test_loss_random(student, reference, rng):
    loss_matches(student, reference, random_params(rng, 3, 2), rng.normal(0.0, 1.0, (9, 2)),
                 rng.uniform(0.0, 1.0, 9))


# --- xor_backward (8) -------------------------------------------------------------------------------


def backward_matches(student, reference, params, X, y, untouched=False):
    """xor_backward with the reference's cache (exactly the four keys) against the reference."""
    cache = reference.probe("network_call", function="xor_forward", params=plain(params), args=[X])["value"]
    cache = {key: np.asarray(cache[key], dtype=float) for key in CACHE_KEYS}
    inputs = {**network_inputs(params, X, y), "cache": "xor_forward(params, X)"}
    args = [X, y, cache]
    want = reference.probe("network_call", function="xor_backward", params=plain(params), args=args)["value"]
    got = student.probe("network_call", function="xor_backward", params=plain(params), args=args)
    expect_grads(got["value"], want, "xor_backward(params, X, y, cache)", inputs)
    if untouched:
        expect_untouched(got, "xor_backward", inputs)
    return got["value"]


@check("xor_backward", 2, title="the XOR data at P0 (dW1 is not symmetric there)")
def test_backward_p0(student, reference, rng):
    backward_matches(student, reference, P0, np.array(XOR_X), np.array(XOR_Y))


@check("xor_backward", 3, title="a non-square network (3 hidden units, 4 inputs) on 6 points; inputs left unchanged")
def test_backward_non_square(student, reference, rng):
    backward_matches(student, reference, random_params(rng, 3, 4), rng.normal(0.0, 1.0, (6, 4)),
                     rng.uniform(0.0, 1.0, 6), untouched=True)


@check("xor_backward", 1, title="a random 2-2-1 network on the XOR data")
def test_backward_random_square(student, reference, rng):
    backward_matches(student, reference, random_params(rng, 2, 2, 1.5), np.array(XOR_X), np.array(XOR_Y))


def reference_numgrad(reference, params, X, y, index, h=1e-5):
    """Central differences of the reference's xor_loss in the parameter `index`, here."""
    params = [np.array(p, dtype=float) for p in params[:3]] + [np.array(float(params[3]))]
    grad = np.zeros_like(params[index])
    for k in np.ndindex(grad.shape):
        losses = []
        for sign in (1.0, -1.0):
            moved = [p.copy() for p in params]
            moved[index][k] += sign * h
            losses.append(reference.probe("network_call", function="xor_loss", params=plain(moved), args=[X, y])["value"])
        grad[k] = (losses[0] - losses[1]) / (2.0 * h)
    return grad


@check("xor_backward", 2, title="agrees with central finite differences of L on every parameter")
def test_backward_finite_differences(student, reference, rng):
    params = random_params(rng, 3, 2)
    X, y = rng.normal(0.0, 1.0, (5, 2)), rng.uniform(0.0, 1.0, 5)
    got = backward_matches(student, reference, params, X, y)
    inputs = {**network_inputs(params, X, y), "h": 1e-5}
    parts = expect_tuple(got, 4, name="xor_backward(params, X, y, cache)", parts=GRADS, inputs=inputs)
    for index, (name, g) in enumerate(zip(("dW1", "db1", "dw2", "db2"), parts)):
        numeric = reference_numgrad(reference, params, X, y, index)
        g = as_numeric_array(g, name=name, inputs=inputs)
        error = np.linalg.norm(np.ravel(g) - np.ravel(numeric)) / max(
            np.linalg.norm(g) + np.linalg.norm(numeric), 1e-12)
        expect_true(error < 1e-6, f"{name} disagrees with the central finite differences of xor_loss: relative "
                    f"error {error:.3g} (a correct backward pass gives below 1e-7)", inputs)


# --- numerical_gradient (4) and gradient_check (3) ----------------------------------------------


def curved(rng, shape):
    """A quadratic with curvature on every entry, so one-sided differences are off by h/2 A_kk."""
    n = int(np.prod(shape)) if shape else 1
    M = rng.normal(0.0, 1.0, (n, n))
    return {"kind": "quadratic", "A": (M @ M.T + np.eye(n) * rng.uniform(1.0, 3.0)).tolist(),
            "c": rng.normal(0.0, 1.0, n).tolist()}


def numgrad_matches(student, reference, problem, theta, h, tolerance, untouched=False):
    kwargs = dict(problem=problem, theta=theta, h=h)
    inputs = {"f": problem["kind"], **{key: value for key, value in problem.items() if key != "kind"},
              "theta": np.asarray(theta), "h": "the default (1e-5)" if h is None else h}
    want = reference.probe("numgrad", **kwargs)["value"]
    got = student.probe("numgrad", **kwargs)
    expect_array(got["value"], want, name="numerical_gradient(f, theta, h)", inputs=inputs, **tolerance)
    if untouched:
        expect_untouched(got, "numerical_gradient", inputs)


@check("numerical_gradient", 1, title="the deck's f = 2x^2 + y^2 with h = 0.1 and f = x y at (4, -3)")
def test_numgrad_deck(student, reference, rng):
    numgrad_matches(student, reference, {"kind": "deck"}, [0.5, 0.5], 0.1, dict(rtol=1e-9, atol=1e-9))
    numgrad_matches(student, reference, {"kind": "product"}, [4.0, -3.0], None, dict(rtol=1e-7, atol=1e-7))


@check("numerical_gradient", 2, title="a curved quadratic on a 3x2 theta with h = 1e-3; theta left unchanged")
def test_numgrad_matrix(student, reference, rng):
    numgrad_matches(student, reference, curved(rng, (3, 2)), rng.normal(0.0, 1.0, (3, 2)), 1e-3,
                    dict(rtol=1e-7, atol=1e-8), untouched=True)


@check("numerical_gradient", 1, title="a 0-d theta and a smooth function with the default h")
def test_numgrad_scalar(student, reference, rng):
    numgrad_matches(student, reference, curved(rng, ()), np.array(rng.normal()), 1e-2, dict(rtol=1e-7, atol=1e-9))
    problem = {"kind": "smooth", "c": rng.uniform(1.0, 2.0, 4).tolist(), "d": rng.uniform(1.0, 2.0, 4).tolist()}
    numgrad_matches(student, reference, problem, rng.uniform(0.5, 1.5, 4), None, dict(rtol=1e-6, atol=1e-7))


def gradcheck_matches(student, reference, problem, theta, h, exact):
    kwargs = dict(problem=problem, theta=theta, h=h)
    inputs = {"f": problem["kind"], "grad_f": {None: "the exact gradient", "scaled": "1.01 times the gradient",
                                               "transposed": "the gradient transposed"}[problem.get("grad_error")],
              "theta": np.asarray(theta), "h": h}

    def compare(got, want):
        called = "gradient_check(f, grad_f, theta, h)"
        if exact and abs(float(want["value"])) < 1e-7:
            # Round-off makes the tiny error of an exact gradient differ between correct
            # implementations: what matters is that it is tiny.
            expect_scalar(got["value"], 0.0, name=called, inputs=inputs, rtol=0.0, atol=1e-7)
        else:
            expect_scalar(got["value"], want["value"], name=called, inputs=inputs, rtol=1e-6, atol=1e-10)

    plain_or_faked(student, reference, "gradcheck", kwargs, compare)


@check("gradient_check", 1, title="an exact gradient gives a relative error below 1e-7")
def test_gradcheck_exact(student, reference, rng):
    # gradients of about 1e6: round-off leaves an absolute error far above 1e-7 and a relative
    # one far below, so a norm multiplied, or not divided, where it should divide shows
    problem = {key: (1e6 * np.asarray(value)).tolist() if key in ("A", "c") else value
               for key, value in curved(rng, (2, 3)).items()}
    gradcheck_matches(student, reference, problem, rng.normal(0.0, 1.0, (2, 3)), 1e-5, exact=True)


@check("gradient_check", 1, title="a gradient 1% too large")
def test_gradcheck_scaled(student, reference, rng):
    gradcheck_matches(student, reference, {**curved(rng, (4,)), "grad_error": "scaled"},
                      rng.normal(0.0, 1.0, 4), 1e-4, exact=False)


@check("gradient_check", 1, title="a transposed gradient of a 3x3 theta")
def test_gradcheck_transposed(student, reference, rng):
    gradcheck_matches(student, reference, {**curved(rng, (3, 3)), "grad_error": "transposed"},
                      rng.normal(0.0, 1.0, (3, 3)), 1e-4, exact=False)


# --- train_xor (6) -----------------------------------------------------------------------------


def flat_params(params, like):
    """A params tuple flattened to one row (W1, b1, w2, b2), for the decision boundary plot;
    None when it is not a tuple of the shapes of `like` (the reference's)."""
    if not isinstance(params, (tuple, list)) or len(params) != 4:
        return None
    arrays = [plot_rows(p, w) for p, w in zip(params, like)]
    return None if any(a is None for a in arrays) else np.concatenate([a.ravel() for a in arrays])[None, :]


def train_matches(student, reference, params0, X, y, eta, epochs, trace=None, label="", untouched=False):
    kwargs = dict(params0=plain(params0), X=X, y=y, eta=eta, epochs=epochs)
    inputs = {**network_inputs(params0, X, y), "eta": eta, "epochs": epochs}

    def compare(got, want):
        losses = expect_array(got["losses"], want["losses"], name="losses (entry t is L after t updates)",
                              inputs=inputs, rtol=1e-6, atol=1e-10)
        params = expect_tuple(got["params"], 4, name="the trained params", parts="(W1, b1, w2, b2)", inputs=inputs)
        for name, p, w in zip(("W1", "b1", "w2", "b2"), params, want["params"]):
            expect_array(p, w, name=f"the trained {name}", inputs=inputs, rtol=1e-6, atol=1e-9)
        if untouched:
            expect_untouched(got, "train_xor", inputs)
        return losses

    def show(got, want):
        if trace is None:
            return
        rows = None if got is None else plot_rows(got["losses"], want["losses"])
        trace(rows, np.asarray(want["losses"], dtype=float), label=label, problem={"kind": "loss_curve"})
        if np.shape(X)[1] == 2:  # the plane: the trained network's decision boundary
            hidden = np.shape(params0[0])[0]
            trace(None if got is None else flat_params(got["params"], want["params"]),
                  flat_params(want["params"], want["params"]),
                  label=label, problem={"kind": "xor_network", "hidden": hidden, "inputs": 2, "X": X, "y": y})

    plain_or_faked(student, reference, "train", kwargs, compare, show=show)


@check("train_xor", 2, title="700 epochs from P0 on the XOR data, eta = 2: off the plateau")
def test_train_p0(student, reference, rng, trace):
    train_matches(student, reference, P0, np.array(XOR_X), np.array(XOR_Y), 2.0, 700, trace,
                  "train_xor from P0, eta = 2")


@check("train_xor", 2, title="40 epochs of a random 2-3-1 network on 6 random points")
def test_train_random(student, reference, rng, trace):
    params = random_params(rng, 3, 2)
    eta = float(rng.uniform(0.5, 2.0))
    train_matches(student, reference, params, rng.normal(0.0, 1.0, (6, 2)), rng.uniform(0.0, 1.0, 6), eta, 40,
                  trace, f"train_xor, random 2-3-1 network, eta = {eta:.4g}")


@check("train_xor", 1, title="epochs = 0 gives params0 back and one loss; one epoch")
def test_train_edges(student, reference, rng):
    params = random_params(rng, 2, 2)
    for epochs in (0, 1):
        train_matches(student, reference, params, np.array(XOR_X), np.array(XOR_Y), 1.0, epochs)


@check("train_xor", 1, title="5 epochs leave params0, X and y unchanged")
def test_train_untouched(student, reference, rng):
    train_matches(student, reference, random_params(rng, 2, 2), np.array(XOR_X), np.array(XOR_Y), 1.5, 5,
                  untouched=True)
