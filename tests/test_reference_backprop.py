"""The reference solution of `backprop` reproduces the numbers of backprop-api.md (the deck's
worked examples and the handout's network), and its gradients agree with finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_reference

ref = load_reference("backprop", "backprop")

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([0.0, 1.0, 1.0, 0.0])
P0 = (np.array([[0.5, -0.4], [0.3, 0.8]]), np.array([0.1, -0.2]), np.array([0.7, -0.6]), 0.05)
HAND_SET = (np.array([[20.0, 20.0], [-20.0, -20.0]]), np.array([-10.0, 30.0]), np.array([20.0, 20.0]), -30.0)


def close(got, want, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=0)


def test_the_decks_add_multiply_graph():
    f, (dx, dy, dz) = ref.add_mul_graph(-2, 5, -4)
    assert (f, dx, dy, dz) == (-12, -4, -4, 3)


def test_the_decks_relu_unit_and_its_step():
    forward = ref.neuron_forward(1, 1, 5, 4)
    assert {k: float(v) for k, v in forward.items()} == {"s": 5, "z": 6, "a": 6, "e": -2, "J": 4}
    backward = ref.neuron_backward(1, 1, 5, 4)
    assert {k: float(v) for k, v in backward.items()} == {"dJ_de": -4, "de_da": -1, "da_dz": 1, "dz_ds": 1,
                                                          "ds_dw": 5, "dz_db": 1, "dJ_dw": 20, "dJ_db": 4}
    assert ref.linreg_grad(1, 1, [5], [4]) == (20, 4)
    w, b = 1 - 0.01 * backward["dJ_dw"], 1 - 0.01 * backward["dJ_db"]
    close([w, b], [0.8, 0.96], rtol=1e-12)


def test_relu_derivative_is_zero_at_the_kink_and_constants_are_arrays():
    backward = ref.neuron_backward(2.0, -1.0, np.array([0.5, 1.0, 0.0]), np.array([1.0, 1.0, 1.0]))
    assert backward["da_dz"].tolist() == [0.0, 1.0, 0.0]
    for key in ("de_da", "dz_ds", "ds_dw", "dz_db"):
        assert backward[key].shape == (3,)


def test_the_sigmoid_unit_is_twice_the_sigmoid_neurons_gradient():
    backward = ref.neuron_backward(0.5, 0, 0.5, 0.2, "sigmoid")
    forward = ref.neuron_forward(0.5, 0, 0.5, 0.2, "sigmoid")
    close([forward["a"], forward["J"], backward["da_dz"], backward["dJ_dw"], backward["dJ_db"]],
          [0.5621765, 0.1311718, 0.2461341, 0.08914398, 0.1782880])
    neuron = load_reference("sigmoid_neuron", "sigmoid_neuron")
    close(backward["dJ_dw"], 2 * neuron.grad_w(0.5, 0, np.array([0.5]), np.array([0.2])), rtol=1e-12)
    close(backward["dJ_db"], 2 * neuron.grad_b(0.5, 0, np.array([0.5]), np.array([0.2])), rtol=1e-12)


def test_linear_regression_on_the_handouts_batch():
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 5.0, 7.0, 9.0])
    assert ref.linreg_loss(1, 1, x, y) == 7.5
    assert ref.linreg_grad(1, 1, x, y) == (-15, -5)
    assert ref.linreg_grad(2, 1, x, y) == (0, 0)


def test_central_differences_on_the_decks_functions():
    grad = ref.numerical_gradient(lambda t: 2 * t[0] ** 2 + t[1] ** 2, [0.5, 0.5], h=0.1)
    close(grad, [2, 1], rtol=1e-12)
    np.testing.assert_allclose(ref.numerical_gradient(lambda t: t[0] * t[1], [4.0, -3.0]), [-3, 4], atol=1e-9)
    theta = np.array(0.3)
    assert ref.numerical_gradient(lambda t: float(t) ** 3, theta).shape == ()
    assert float(theta) == 0.3


def test_the_network_at_p0_and_the_hand_set_network():
    cache = ref.xor_forward(P0, X)
    close(cache["yhat"], [0.5367799, 0.4901254, 0.5466073, 0.5020785])
    close(ref.xor_loss(P0, X, Y), 0.5028763)
    dW1, db1, dw2, db2 = ref.xor_backward(P0, X, Y, cache)
    close(dW1, [[3.752489e-3, -5.667633e-5], [1.336104e-3, 2.014541e-3]])
    close(db1, [5.247208e-3, -9.944800e-4])
    close(dw2, [1.230997e-2, 8.062475e-3])
    close(db2, 1.920406e-2)
    assert not np.allclose(dW1, dW1.T)
    close(ref.xor_forward(HAND_SET, X)["yhat"], [4.54391e-5, 0.9999545, 0.9999545, 4.54391e-5])
    close(ref.xor_loss(HAND_SET, X, Y), 4.133177e-9)


def test_training_from_p0_follows_the_handouts_curve():
    params0 = tuple(np.array(p, copy=True) for p in P0[:3]) + (P0[3],)
    params, losses = ref.train_xor(params0, X, Y, eta=2.0, epochs=2000)
    assert losses.shape == (2001,) and np.all(np.diff(losses) <= 0)
    close([losses[0], losses[300], losses[1000], losses[2000]], [0.5028763, 0.4991724, 3.071129e-3, 9.136147e-4])
    assert int(np.argmax(losses < 0.1)) == 523
    close(ref.xor_forward(params, X)["yhat"], [0.0214, 0.9754, 0.9801, 0.0191], rtol=5e-3)
    for given, kept in zip(params0, P0):
        np.testing.assert_array_equal(given, kept)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 4), d=st.integers(1, 4), m=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_backward_agrees_with_finite_differences_for_any_shape(k, d, m, seed):
    rng = np.random.default_rng(seed)
    params = (rng.normal(size=(k, d)), rng.normal(size=k), rng.normal(size=k), float(rng.normal()))
    Xr, yr = rng.normal(size=(m, d)), rng.uniform(size=m)
    grads = ref.xor_backward(params, Xr, yr, ref.xor_forward(params, Xr))
    for index, g in enumerate(grads):
        def loss(value, index=index):
            moved = list(params)
            moved[index] = value
            return ref.xor_loss(tuple(moved), Xr, yr)

        assert np.shape(g) == np.shape(params[index])
        assert ref.gradient_check(loss, lambda value, g=g: g, np.asarray(params[index], dtype=float)) < 1e-6


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "identity"])
def test_the_unit_gradients_agree_with_finite_differences(activation):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=5), rng.normal(size=5)
    w, b = 0.7, 0.3
    backward = ref.neuron_backward(w, b, x, y, activation)
    for i in range(5):
        def J(theta, i=i):
            return float(ref.neuron_forward(theta[0], theta[1], x[i], y[i], activation)["J"])

        close(ref.numerical_gradient(J, np.array([w, b])), [backward["dJ_dw"][i], backward["dJ_db"][i]], rtol=1e-6)
