"""Probe drivers of the sigmoid_neuron assignment.

The grader calls these functions on the module under test: your module inside the sandbox,
and the instructor's reference in the grader's own process, with the same arguments. A probe
only calls the module's functions and hands back what they returned (plus whether they
printed NumPy warnings or changed their inputs); the grader compares the answers elsewhere.
Only NumPy, the standard library and the grader's probe library
(`grader.probekit`, which ships with the probes) are used here.

Fake building blocks. Several functions are built from others (predict from sigmoid,
the gradients from predict, gradient_descent from grad_w and grad_b). So that one broken
function does not cost the points of the functions built on it, a probe called with
`fakes=True` temporarily swaps the module's OTHER functions for the simple stand-ins below
and restores them afterwards. The stand-ins are deliberately NOT the functions of the
handout: they only show whether a function passes its values through correctly.
"""
import warnings

import numpy as np

from grader.probekit import changed, faked, snapshot

# --- fake building blocks (not the handout's functions!) --------------------------------


def _floats(value):
    return np.asarray(value, dtype=float)


def _fake_sigmoid(z):
    """A squashing function onto (0, 1) that is not the logistic function (a softsign)."""
    z = _floats(z)
    return 0.5 + 0.5 * z / (1.0 + np.abs(z))


def _fake_sigmoid_grad(z):
    """Consistent with _fake_sigmoid in the way the handout relates sigma and sigma'."""
    squashed = _fake_sigmoid(z)
    return squashed - squashed**2


def _fake_predict(w, b, x):
    return _fake_sigmoid(np.multiply(w, _floats(x)) + b)


def _fake_squared_error_loss(w, b, x, y):
    return float(np.abs(_fake_predict(w, b, x) - _floats(y)).sum())


# The fake gradients are small (0.1 of the sum): a run of gradient_descent on them must be
# stable, or a difference of a few ulps (another BLAS kernel for the dot product) grows past
# the check's tolerance for some draws and a student whose building blocks are wrong loses
# gradient_descent's points as well, by luck.
def _fake_grad_w(w, b, x, y):
    x = _floats(x)
    return float(0.1 * np.dot(x, np.tanh(w * x + b) - _floats(y)))


def _fake_grad_b(w, b, x, y):
    # Depends on w as well, so that taking it after w has moved shows.
    return float(0.1 * np.sum(np.tanh(w * _floats(x) + b) - _floats(y)) + 0.05 * w)


FAKES = {
    "sigmoid": _fake_sigmoid,
    "sigmoid_grad": _fake_sigmoid_grad,
    "predict": _fake_predict,
    "squared_error_loss": _fake_squared_error_loss,
    "grad_w": _fake_grad_w,
    "grad_b": _fake_grad_b,
}


# --- probes ------------------------------------------------------------------------------


def call(mod, function, args, fakes=False):
    """Call `function(*args)` once. Returns the raw value, the number of warnings the call
    raised (NumPy's warnings for overflow, division by zero and invalid values switched on;
    underflow to 0 is harmless) and whether it changed an argument."""
    args = list(args)
    before = snapshot(args)
    with faked(mod, function, fakes, FAKES):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
                value = getattr(mod, function)(*args)
    return {"value": value, "warnings": len(caught), "mutated": changed(before, args)}


def descend(mod, w0, b0, x, y, eta, epochs, fakes=False):
    """Run gradient_descent(w0, b0, x, y, eta, epochs) once; returns its history as returned
    and whether it changed x or y."""
    args = [w0, b0, x, y, eta, epochs]
    before = snapshot(args)
    with faked(mod, "gradient_descent", fakes, FAKES):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            history = mod.gradient_descent(*args)
    return {"history": history, "mutated": changed(before, args)}
