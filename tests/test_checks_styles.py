"""Any correct style earns full marks: implementations written quite differently from the
reference (lists instead of arrays, generators, other state forms, step functions looked up
in a table built at import time, composite functions that do everything inline) pass every
hidden and public check, for several students. And a composite written inline keeps its
points when a building block it does not use is broken."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from grader.course import Course

sys.path.insert(0, str(Path(__file__).parent))
from checks_harness import internal_errors, lost_points, run_source  # noqa: E402

COURSE = Course(Path(__file__).resolve().parents[1])

SIGMOID_NEURON = '''
import math
import numpy as np


def sigmoid(z):
    # log(1 + e^-z) without overflow, then back.
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


def sigmoid_grad(z):
    e = np.exp(-np.abs(np.asarray(z, dtype=float)))
    return e / (1.0 + e) ** 2


def predict(w, b, x):
    return sigmoid(np.add(np.multiply(w, x), b))


def squared_error_loss(w, b, x, y):
    r = predict(w, b, x) - np.asarray(y)
    return float(r @ r / 2)


def grad_w(w, b, x, y):
    total = 0.0
    for xi, yi in zip(np.ravel(x), np.ravel(y)):
        f = 1.0 / (1.0 + math.exp(-(w * xi + b))) if w * xi + b > -700 else 0.0
        total += (f - yi) * f * (1 - f) * xi
    return total


def grad_b(w, b, x, y):
    f = predict(w, b, x)
    return float(np.dot(f - y, f * (1 - f)))


def cross_entropy_grad(w, b, X, y):
    yhat = sigmoid(np.asarray(X) @ w + b)
    error = yhat - y
    return [np.mean(error[:, None] * X, axis=0), error.mean()]


def gradient_descent(w0, b0, x, y, eta, epochs):
    rows = [[w0, b0]]
    for _ in range(epochs):
        w, b = rows[-1]
        rows.append([w - eta * grad_w(w, b, x, y), b - eta * grad_b(w, b, x, y)])
    return rows
'''

OPTIMIZERS = '''
import math
import numpy as np


def gd_step(theta, grad, eta):
    return np.subtract(theta, np.multiply(eta, grad))


def momentum_step(theta, grad, update, eta, gamma=0.9):
    # The state is the velocity without eta (the same trajectory for a constant eta).
    velocity = gamma * np.asarray(update) + grad
    return theta - eta * velocity, velocity


def nag_step(theta, grad_fn, update, eta, gamma=0.9):
    theta = np.array(theta, dtype=float)
    look = theta.copy()
    look -= gamma * np.asarray(update)
    new = gamma * np.asarray(update) + eta * grad_fn(look)
    return theta - new, new


def adagrad_step(theta, grad, v, eta, eps=1e-8):
    v = v + np.square(grad)
    return theta - grad * eta / (v + eps) ** 0.5, v


def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
    v = v + (1 - beta) * (np.square(grad) - v)
    return theta - eta * grad / np.sqrt(eps + v), v


def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(np.ravel(m), np.ravel(grad))]
    v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(np.ravel(v), np.ravel(grad))]
    step = [eta * (mi / (1 - beta1**t)) / math.sqrt(vi / (1 - beta2**t) + eps) for mi, vi in zip(m, v)]
    return np.reshape(np.ravel(theta) - np.array(step), np.shape(theta)), m, v


def minibatches(n, batch_size, rng=None):
    order = list(range(n)) if rng is None else rng.permutation(n).tolist()
    return (order[i:i + batch_size] for i in range(0, n, batch_size))


def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    # Everything inline: no call of minibatches or gd_step.
    theta, history = np.asarray(theta0, dtype=float), []
    history.append(theta)
    for _ in range(epochs):
        order = np.arange(len(X)) if rng is None else rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            theta = theta - eta * grad_fn(theta, X[idx], Y[idx])
            history.append(theta)
    return history


STEPS = {"gd": gd_step, "momentum": momentum_step, "nag": nag_step, "adagrad": adagrad_step,
         "rmsprop": rmsprop_step, "adam": adam_step}


def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    step = STEPS[optimizer]  # captured at import time: the probes' fakes cannot reach it
    theta = np.asarray(theta0, dtype=float)
    state = {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": 0}
    history = [theta]
    for _ in range(epochs):
        for idx in minibatches(len(X), batch_size or len(X), rng):
            idx = np.asarray(idx)
            g = lambda point: grad_fn(point, X[idx], Y[idx])
            state["t"] += 1
            if optimizer == "gd":
                theta = step(theta, g(theta), **hyper)
            elif optimizer == "nag":
                theta, state["m"] = step(theta, g, state["m"], **hyper)
            elif optimizer == "adam":
                theta, state["m"], state["v"] = step(theta, g(theta), state["m"], state["v"], state["t"], **hyper)
            else:
                theta, state["m"] = step(theta, g(theta), state["m"], **hyper)
            history.append(np.reshape(theta, np.shape(theta0)))
    return np.stack(history)


def step_decay(eta0, epoch, drop=0.5, every=5):
    return eta0 * drop ** math.floor(epoch / every)


def exponential_decay(eta0, k, t):
    return np.float64(eta0) * np.exp(-k * t)


def inverse_time_decay(eta0, k, t):
    return eta0 * (1.0 / (1.0 + k * t))


def line_search_step(theta, grad, loss_fn, etas):
    candidates = [theta - eta * np.asarray(grad) for eta in etas]
    best = min(range(len(etas)), key=lambda i: loss_fn(candidates[i]))  # min keeps the first of ties
    return candidates[best], etas[best]
'''

STYLES = {"sigmoid_neuron": SIGMOID_NEURON, "optimizers": OPTIMIZERS}


@pytest.mark.parametrize("assignment_id", sorted(STYLES))
@pytest.mark.parametrize("student", ["ada", "grace", "alan"])
def test_another_correct_style_earns_full_marks(assignment_id, student):
    assignment = COURSE.get(assignment_id)
    records = run_source(assignment, STYLES[assignment_id], student=student)
    assert internal_errors(records) == []
    assert [(r.title, r.output) for r in records if r.status != "passed"] == []


@pytest.mark.parametrize("assignment_id", sorted(STYLES))
def test_another_correct_style_passes_the_public_checks(assignment_id):
    records = run_source(COURSE.get(assignment_id), STYLES[assignment_id], public=True)
    assert [(r.title, r.output) for r in records if r.status != "passed"] == []


def test_an_inline_composite_keeps_its_points_when_an_unused_block_is_broken():
    broken = textwrap.dedent('''
        def minibatches(n, batch_size, rng=None):
            return [list(range(0, n - n % batch_size))]
        def gd_step(theta, grad, eta):
            return theta + eta * grad
    ''')
    records = run_source(COURSE.get("optimizers"), OPTIMIZERS + broken)
    # train looks its step functions up in a table built before gd_step was redefined, but
    # batches through the (now broken) module-level minibatches: its fake run rescues it.
    assert (lost_points(records)) == {"minibatches", "gd_step"}


def test_a_captured_step_function_that_is_wrong_costs_train_points_too():
    """The limit of the fakes: a step function captured at import time is not replaced."""
    wrong = textwrap.dedent('''
        def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
            return theta - eta * np.asarray(grad), m, v
        STEPS["adam"] = adam_step
    ''')
    lost = lost_points(run_source(COURSE.get("optimizers"), OPTIMIZERS + wrong))
    assert set(lost) == {"adam_step", "train"}


#: The same formulas with the floating-point operations in another order, appended to the
#: reference: the tolerances must absorb rounding differences on every student's inputs
#: (a chaotic run, e.g. RMSProp bouncing around a minimum, would not).
REORDERED = {
    "sigmoid_neuron": '''
def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


def grad_w(w, b, x, y):
    f = predict(w, b, x)
    return float(np.sum(x * f * (f - y) * (1 - f)))


def grad_b(w, b, x, y):
    f = predict(w, b, x)
    return float(np.dot(f * (1 - f), f - y))


def gradient_descent(w0, b0, x, y, eta, epochs):
    history = [(w0, b0)]
    for _ in range(epochs):
        w, b = history[-1]
        dw, db = grad_w(w, b, x, y), grad_b(w, b, x, y)
        history.append((w + (-eta) * dw, b + (-eta) * db))
    return np.array(history)
''',
    "optimizers": '''
def gd_step(theta, grad, eta):
    return theta + (-eta) * np.asarray(grad)


def momentum_step(theta, grad, update, eta, gamma=0.9):
    velocity = gamma * np.asarray(update) + grad
    return theta - eta * velocity, velocity


def nag_step(theta, grad_fn, update, eta, gamma=0.9):
    new = gamma * update + eta * grad_fn(theta - gamma * update)
    return theta - new, new


def adagrad_step(theta, grad, v, eta, eps=1e-8):
    v = v + np.square(grad)
    return theta - grad * eta / (v + eps) ** 0.5, v


def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
    v = v + (1 - beta) * (np.square(grad) - v)
    return theta - eta * grad / np.sqrt(eps + v), v


def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    m = m + (1 - beta1) * (grad - m)
    v = v + (1 - beta2) * (grad * grad - v)
    return theta - eta * (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps), m, v


def line_search_step(theta, grad, loss_fn, etas):
    candidates = [theta - eta * np.asarray(grad) for eta in etas]
    losses = [loss_fn(c) for c in candidates]
    best = int(np.argmin(losses))
    return candidates[best], etas[best]
''',
}


@pytest.mark.parametrize("assignment_id", sorted(REORDERED))
def test_rounding_differences_stay_within_every_tolerance(assignment_id):
    assignment = COURSE.get(assignment_id)
    source = assignment.reference_path.read_text(encoding="utf-8") + "\n\n" + REORDERED[assignment_id]
    for student in [f"student-{number}" for number in range(8)]:
        records = run_source(assignment, source, student=student)
        assert [(student, r.title, r.output) for r in records if r.status != "passed"] == []
