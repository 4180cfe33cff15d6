"""Probe drivers of the backprop assignment.

The grader calls these functions on the module under test: your module inside the sandbox,
and the instructor's reference in the grader's own process, with the same arguments. A probe
only calls the module's functions and hands back what they returned (plus whether they
changed their inputs); the grader compares the answers elsewhere. Only NumPy, the
standard library and the grader's probe library (`grader.probekit`, which ships with the
probes) are used here.

Functions to differentiate (`numerical_gradient`, `gradient_check`) are described by plain
data and built here, so both sides differentiate the same function: see `objective`.

Fake building blocks. `xor_loss` and `train_xor` are built from `xor_forward` and
`xor_backward`, and `gradient_check` from `numerical_gradient`. So that one broken function
does not cost the points of the functions built on it, a probe called with `fakes=True`
swaps the module's OTHER functions for the stand-ins below and restores them afterwards.
The stand-ins are deliberately NOT the functions of the handout: they only show whether a
function passes its values through correctly.
"""

import numpy as np

from grader.probekit import changed, faked, snapshot

# --- fake building blocks (not the handout's functions!) --------------------------------


def _floats(value):
    return np.asarray(value, dtype=float)


def _squash(a):
    """A squashing function onto (0, 1) that is not the logistic function (a softsign)."""
    a = _floats(a)
    return 0.5 + 0.5 * a / (1.0 + np.abs(a))


def _fake_xor_forward(params, X):
    W1, b1, w2, b2 = (_floats(p) for p in params)
    a1 = _floats(X) @ W1.T + b1
    h1 = _squash(a1)
    a2 = h1 @ w2 + b2
    return {"a1": a1, "h1": h1, "a2": a2, "yhat": _squash(a2)}


def _fake_xor_loss(params, X, y):
    return float(np.abs(_fake_xor_forward(params, X)["yhat"] - _floats(y)).sum())


def _fake_xor_backward(params, X, y, cache):
    """Gradients of the right shapes that depend on params, X, y and the cache's h1 and yhat
    (so a stale cache shows), but are not the network's gradients."""
    W1, b1, w2, b2 = (_floats(p) for p in params)
    X, y = _floats(X), _floats(y)
    h1, yhat = _floats(cache["h1"]), _floats(cache["yhat"])
    r = np.tanh(yhat - y)
    dh = np.outer(r, np.cos(w2)) * h1
    return dh.T @ X + 0.01 * W1, dh.sum(axis=0), h1.T @ r, float(r.sum()) + 0.01 * float(b2)


def _fake_numerical_gradient(f, theta, h=1e-5):
    theta = np.array(theta, dtype=float)
    return np.full(theta.shape, float(f(theta)) * 0.5 + h)


FAKES = {
    "xor_forward": _fake_xor_forward,
    "xor_loss": _fake_xor_loss,
    "xor_backward": _fake_xor_backward,
    "numerical_gradient": _fake_numerical_gradient,
}


def _params(params):
    """The params tuple as the handout has it: (W1, b1, w2, b2) arrays, b2 a float."""
    *arrays, output_bias = params
    return (*(np.array(p, dtype=float) for p in arrays), float(output_bias))


# --- functions to differentiate ------------------------------------------------------------


def objective(problem):
    """(f, grad_f) for a problem described by plain data; grad_f is exact unless
    `problem["grad_error"]` asks for a deliberately wrong one.

    kinds: "quadratic" f = 1/2 t.A t + c.t (any shape, A acting on the flattened t);
    "product" f = prod(t) (the deck's x y); "deck" f = 2 x^2 + y^2;
    "smooth" f = sum(c sin(t) + d t^3), whose one-sided differences are off by O(h)."""
    kind = problem["kind"]
    if kind == "quadratic":
        A, c = _floats(problem["A"]), _floats(problem["c"])

        def f(t):
            flat = _floats(t).ravel()
            return float(0.5 * flat @ A @ flat + c @ flat)

        def grad(t):
            t = _floats(t)
            return (0.5 * (A + A.T) @ t.ravel() + c).reshape(t.shape)
    elif kind == "product":
        def f(t):
            return float(np.prod(_floats(t)))

        def grad(t):
            t = _floats(t).ravel()
            return np.array([np.prod(np.delete(t, k)) for k in range(t.size)])
    elif kind == "deck":
        def f(t):
            x, y = _floats(t).ravel()
            return float(2.0 * x * x + y * y)

        def grad(t):
            x, y = _floats(t).ravel()
            return np.array([4.0 * x, 2.0 * y])
    elif kind == "smooth":
        c, d = _floats(problem["c"]), _floats(problem["d"])

        def f(t):
            t = _floats(t)
            return float(np.sum(c * np.sin(t) + d * t ** 3))

        def grad(t):
            t = _floats(t)
            return c * np.cos(t) + 3.0 * d * t ** 2
    else:
        raise ValueError(f"unknown problem kind {kind!r}")
    error = problem.get("grad_error")
    if error == "scaled":
        return f, lambda t: 1.01 * grad(t)
    if error == "transposed":
        return f, lambda t: np.swapaxes(grad(t), 0, -1)
    return f, grad


# --- probes ------------------------------------------------------------------------------


def call(mod, function, args, fakes=False):
    """Call `function(*args)` once. Returns the raw value and whether it changed an
    argument (arrays inside tuples, lists and dicts included)."""
    args = list(args)
    before = snapshot(args)
    with faked(mod, function, fakes, FAKES):
        with np.errstate(all="ignore"):
            value = getattr(mod, function)(*args)
    return {"value": value, "mutated": changed(before, args)}


def network_call(mod, function, params, args, fakes=False):
    """Call `function(params, *args)` with params as the handout's tuple (W1, b1, w2, b2)."""
    return call(mod, function, [_params(params), *args], fakes=fakes)


def numgrad(mod, problem, theta, h=None, fakes=False):
    """numerical_gradient(f, theta[, h]) on the problem's f, and whether theta was changed."""
    f, _ = objective(problem)
    theta = np.array(theta, dtype=float)
    before = theta.copy()
    with faked(mod, "numerical_gradient", fakes, FAKES):
        with np.errstate(all="ignore"):
            value = mod.numerical_gradient(f, theta) if h is None else mod.numerical_gradient(f, theta, h)
    return {"value": value, "mutated": changed(before, theta)}


def gradcheck(mod, problem, theta, h=None, fakes=False):
    """gradient_check(f, grad_f, theta[, h]) on the problem's f and (maybe wrong) grad_f."""
    f, grad = objective(problem)
    theta = np.array(theta, dtype=float)
    before = theta.copy()
    with faked(mod, "gradient_check", fakes, FAKES):
        with np.errstate(all="ignore"):
            value = mod.gradient_check(f, grad, theta) if h is None else mod.gradient_check(f, grad, theta, h)
    return {"value": value, "mutated": changed(before, theta)}


def train(mod, params0, X, y, eta, epochs, fakes=False):
    """train_xor(params0, X, y, eta, epochs) once: the final params, the losses, and whether
    params0, X or y were changed."""
    args = [_params(params0), _floats(X), _floats(y), eta, epochs]
    before = snapshot(args)
    with faked(mod, "train_xor", fakes, FAKES):
        with np.errstate(all="ignore"):
            params, losses = mod.train_xor(*args)
    return {"params": params, "losses": losses, "mutated": changed(before, args)}
