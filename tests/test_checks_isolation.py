"""The hidden checks grade each function on its own (in-process, no sandbox: fast).

- the reference passes every check, for several students (seeds);
- the generated stub fails every check with status "error";
- a reference with ONE function replaced by a wrong version loses points on that function
  only: the functions built on it (predict on sigmoid, train on adam_step, ...) pass with
  the probes' fake building blocks;
- every mutant of the misconception catalogue fails a check of the function it rewrites,
  and only checks of the functions its catalogue entry names.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from grader.course import Course
from grader.diagnosis import load_catalogue
from grader.stubs import generate_stub

sys.path.insert(0, str(Path(__file__).parent))
from checks_harness import internal_errors, lost_points, run_source  # noqa: E402

COURSE = Course(Path(__file__).resolve().parents[1])

#: One plausible wrong version per function, appended to the reference (it replaces the
#: reference's definition; every other function stays right).
WRONG = {
    "sigmoid_neuron": {
        "sigmoid": """
            def sigmoid(z):
                return 0.5 * (1.0 + np.tanh(np.asarray(z, dtype=float)))
        """,
        "sigmoid_grad": """
            def sigmoid_grad(z):
                return sigmoid(z) * (1.0 + sigmoid(z))
        """,
        "predict": """
            def predict(w, b, x):
                return sigmoid(w * np.asarray(x, dtype=float) - b)
        """,
        "squared_error_loss": """
            def squared_error_loss(w, b, x, y):
                return np.sum((predict(w, b, x) - np.asarray(y)) ** 2)
        """,
        "grad_w": """
            def grad_w(w, b, x, y):
                x = np.asarray(x, dtype=float)
                f = predict(w, b, x)
                return np.sum((f - np.asarray(y)) * f * (1.0 - f) * x * x)
        """,
        "grad_b": """
            def grad_b(w, b, x, y):
                f = predict(w, b, x)
                return np.sum((f - np.asarray(y)) * f)
        """,
        "cross_entropy_grad": """
            def cross_entropy_grad(w, b, X, y):
                X = np.asarray(X, dtype=float)
                error = sigmoid(X @ np.asarray(w, dtype=float) + b) - np.asarray(y)
                return X.T @ error, np.sum(error)
        """,
        "gradient_descent": """
            def gradient_descent(w0, b0, x, y, eta, epochs):
                w, b = float(w0), float(b0)
                rows = []
                for _ in range(epochs):
                    w, b = w - eta * grad_w(w, b, x, y), b - eta * grad_b(w, b, x, y)
                    rows.append((w, b))
                return np.array(rows).reshape(epochs, 2)
        """,
    },
    "optimizers": {
        "gd_step": """
            def gd_step(theta, grad, eta):
                return np.asarray(theta, dtype=float) - np.asarray(grad, dtype=float)
        """,
        "momentum_step": """
            def momentum_step(theta, grad, update, eta, gamma=0.9):
                update = gamma * np.asarray(update) + (1.0 - gamma) * eta * np.asarray(grad)
                return np.asarray(theta) - update, update
        """,
        "nag_step": """
            def nag_step(theta, grad_fn, update, eta, gamma=0.9):
                theta, update = np.asarray(theta, dtype=float), np.asarray(update, dtype=float)
                update = gamma * update + eta * np.asarray(grad_fn(theta + gamma * update))
                return theta - update, update
        """,
        "adagrad_step": """
            def adagrad_step(theta, grad, v, eta, eps=1e-8):
                grad = np.asarray(grad, dtype=float)
                v = np.asarray(v) + np.abs(grad)
                return np.asarray(theta) - eta / np.sqrt(v + eps) * grad, v
        """,
        "rmsprop_step": """
            def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
                grad = np.asarray(grad, dtype=float)
                v = (1.0 - beta) * np.asarray(v) + beta * grad**2
                return np.asarray(theta) - eta / np.sqrt(v + eps) * grad, v
        """,
        "adam_step": """
            def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
                grad = np.asarray(grad, dtype=float)
                m = beta1 * np.asarray(m) + (1.0 - beta1) * grad
                v = beta2 * np.asarray(v) + (1.0 - beta2) * grad**2
                return np.asarray(theta) - eta / np.sqrt(v + eps) * m, m, v
        """,
        "minibatches": """
            def minibatches(n, batch_size, rng=None):
                order = np.arange(n)
                return [order[start : start + batch_size] for start in range(0, n, batch_size)]
        """,
        "minibatch_sgd": """
            def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
                theta = np.array(theta0, dtype=float)
                history = [theta]
                for _ in range(epochs):
                    for idx in minibatches(len(X), batch_size, rng):
                        theta = gd_step(theta, grad_fn(theta, X[idx], Y[idx]) / len(idx), eta)
                        history.append(theta)
                return np.array(history)
        """,
        "train": """
            _right_train = train

            def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
                # Adam's t starts again at 1 every epoch.
                theta = np.array(theta0, dtype=float)
                history = [theta]
                for _ in range(epochs):
                    rows = _right_train(optimizer, grad_fn, theta, X, Y, 1, batch_size, rng, **hyper)
                    history.extend(rows[1:])
                    theta = rows[-1]
                return np.array(history)
        """,
        "step_decay": """
            def step_decay(eta0, epoch, drop=0.5, every=5):
                return float(eta0 * drop ** (epoch / every))
        """,
        "exponential_decay": """
            def exponential_decay(eta0, k, t):
                return float(eta0 * math.exp(-k * (t + 1)))
        """,
        "inverse_time_decay": """
            def inverse_time_decay(eta0, k, t):
                return float(eta0 / (1 + k) ** t)
        """,
        "line_search_step": """
            def line_search_step(theta, grad, loss_fn, etas):
                best = None
                for eta in etas:
                    candidate = gd_step(theta, grad, eta)
                    if best is None or loss_fn(candidate) <= best[0]:
                        best = (loss_fn(candidate), candidate, eta)
                return best[1], best[2]
        """,
    },
}


def reference_source(assignment) -> str:
    return assignment.reference_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("assignment_id", sorted(WRONG))
@pytest.mark.parametrize("student", ["ada", "grace"])
def test_the_reference_passes_every_hidden_check(assignment_id, student):
    assignment = COURSE.get(assignment_id)
    records = run_source(assignment, reference_source(assignment), student=student)
    assert internal_errors(records) == []
    assert [(r.title, r.output) for r in records if r.status != "passed"] == []
    assert all(r.status == "passed" for r in records) and {r.function for r in records} == set(assignment.functions)


@pytest.mark.parametrize("assignment_id", sorted(WRONG))
def test_the_reference_passes_every_public_check(assignment_id):
    assignment = COURSE.get(assignment_id)
    records = run_source(assignment, reference_source(assignment), public=True)
    assert [(r.title, r.output, r.internal_error) for r in records if r.status != "passed"] == []


@pytest.mark.parametrize("assignment_id", sorted(WRONG))
@pytest.mark.parametrize("public", [False, True])
def test_the_stub_fails_every_check_with_an_error(assignment_id, public):
    assignment = COURSE.get(assignment_id)
    records = run_source(assignment, generate_stub(reference_source(assignment)), public=public)
    assert records and {r.status for r in records} == {"error"}
    assert internal_errors(records) == []
    assert all("not implemented yet" in r.output for r in records)


def test_every_function_has_a_wrong_version():
    for assignment_id, versions in WRONG.items():
        assert set(versions) == set(COURSE.get(assignment_id).functions)


@pytest.mark.parametrize("assignment_id,function",
                         [(a, f) for a in sorted(WRONG) for f in WRONG[a]])
def test_one_wrong_function_loses_only_its_own_points(assignment_id, function):
    assignment = COURSE.get(assignment_id)
    source = reference_source(assignment) + "\n\n" + textwrap.dedent(WRONG[assignment_id][function])
    records = run_source(assignment, source)
    assert internal_errors(records) == []
    assert (lost_points(records)) == {function}
    assert any(r.status == "failed" for r in records if r.function == function)


MUTANTS = [(a, m) for a in sorted(WRONG) for m in load_catalogue(COURSE.get(a))]


@pytest.mark.parametrize("assignment_id,mutant", MUTANTS, ids=[m.path.name for _, m in MUTANTS])
def test_each_mutant_fails_its_own_function_and_no_unrelated_one(assignment_id, mutant):
    assignment = COURSE.get(assignment_id)
    source = reference_source(assignment) + "\n\n" + mutant.path.read_text(encoding="utf-8")
    records = run_source(assignment, source)
    lost = lost_points(records)
    assert internal_errors(records) == []
    assert mutant.functions[0] in lost
    assert set(lost) <= set(mutant.functions)


HANGING = {
    "optimizers": ["adam_step", "minibatches", "gd_step", "train", "minibatch_sgd"],
    "sigmoid_neuron": ["sigmoid", "grad_b", "gradient_descent"],
}


@pytest.mark.parametrize("assignment_id,function", [(a, f) for a in sorted(HANGING) for f in HANGING[a]])
def test_a_hanging_function_costs_only_its_own_points(assignment_id, function):
    """A function that never returns (simulated: it raises TimeoutError, which the harness
    reports as a timeout) times out its own checks; the functions built on it pass with fakes."""
    assignment = COURSE.get(assignment_id)
    hang = f"\n\ndef {function}(*args, **kwargs):\n    raise TimeoutError\n"
    records = run_source(assignment, reference_source(assignment) + hang)
    assert (lost_points(records)) == {function}
    assert {r.status for r in records if r.function == function} == {"timeout"}
