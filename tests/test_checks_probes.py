"""The optimizers probe drivers look for in-place changes on sampled steps only (the first
few and every MUTATION_EVERY-th): a step function that mutates its inputs is still caught,
whether it does so from the first call or only later, and a pure one is not flagged. The
two-point neuron's gradient in plain floats agrees with the NumPy form."""
from __future__ import annotations

import types

import numpy as np
import pytest

from grader.grade import trusted_probes

NEURON = {"kind": "sigmoid_neuron", "x": [0.5, 2.5], "y": [0.2, 0.9]}


@pytest.fixture(scope="module")
def probes(course):
    return trusted_probes(course.get("optimizers"))


def module_with(**functions) -> types.ModuleType:
    module = types.ModuleType("student")
    module.__dict__.update(functions)
    return module


def pure_adagrad(theta, grad, v, eta, eps=1e-8):
    v = v + grad**2
    return theta - eta / np.sqrt(v + eps) * grad, v


def in_place_adagrad(theta, grad, v, eta, eps=1e-8):
    v += grad**2
    theta -= eta / np.sqrt(v + eps) * grad
    return theta, v


def late_in_place_adagrad(theta, grad, v, eta, eps=1e-8, calls=[0]):  # noqa: B006 (counts calls)
    calls[0] += 1
    if calls[0] <= 10:
        return pure_adagrad(theta, grad, v, eta, eps)
    return in_place_adagrad(theta, grad, v, eta, eps)


@pytest.mark.parametrize("step, mutated", [(pure_adagrad, False), (in_place_adagrad, True),
                                           (late_in_place_adagrad, True)])
def test_run_steps_flags_in_place_changes_on_sampled_steps(probes, step, mutated):
    got = probes.run_steps(module_with(adagrad_step=step), "adagrad_step", np.array([-2.0, 2.0]), 60, NEURON,
                           {"eta": 0.5})
    want = probes.run_steps(module_with(adagrad_step=pure_adagrad), "adagrad_step", np.array([-2.0, 2.0]), 60,
                            NEURON, {"eta": 0.5})
    assert got["mutated"] is mutated
    np.testing.assert_allclose(got["theta"], want["theta"], rtol=1e-12)
    assert got["theta"].shape == (61, 2)


def test_the_sample_covers_the_first_steps_and_then_every_few(probes):
    sampled = [k for k in range(100) if probes._sampled(k)]
    assert sampled[:probes.MUTATION_FIRST_STEPS] == list(range(probes.MUTATION_FIRST_STEPS))
    assert all(b - a <= probes.MUTATION_EVERY for a, b in zip(sampled, sampled[1:]))
    assert len(sampled) < 10


def test_line_search_flags_a_step_that_mutates_theta(probes):
    def in_place(theta, grad, loss_fn, etas):
        theta -= etas[0] * grad
        return theta, etas[0]

    got = probes.line_search(module_with(line_search_step=in_place), np.array([-2.0, 2.0]), 5, NEURON, [0.1, 1.0])
    assert got["mutated"] is True


def test_the_small_neuron_gradient_agrees_with_the_numpy_form(probes):
    rng = np.random.default_rng(7)
    x, y = np.array(NEURON["x"]), np.array(NEURON["y"])
    gradient = probes._gradient(NEURON)
    for theta in rng.normal(0.0, 4.0, (50, 2)):
        np.testing.assert_allclose(gradient(theta), probes._neuron_gradient(theta, x, y), rtol=1e-12, atol=1e-15)
    assert gradient([1.0, -1.0]).shape == (2,)  # a list is a point too
    loss = probes._loss(NEURON)
    assert loss(np.array([0.5, 0.0])) == pytest.approx(0.073114, abs=1e-6)  # the lecture's table


def test_the_neuron_batch_gradient_in_plain_floats_agrees_with_the_numpy_form(probes):
    grad_fn = probes._batch_gradient("sigmoid_neuron")
    X, Y = np.array([0.5, 2.5, -1.0]), np.array([0.2, 0.9, 0.4])
    theta = np.array([0.7, -0.3])
    np.testing.assert_allclose(grad_fn(theta, X[:2], Y[:2]), probes._neuron_gradient(theta, X[:2], Y[:2]),
                               rtol=1e-12, atol=1e-15)
    many = np.linspace(-2.0, 2.0, 20)
    np.testing.assert_allclose(grad_fn(theta, many, many / 4 + 0.5),
                               probes._neuron_gradient(theta, many, many / 4 + 0.5), rtol=1e-12)
