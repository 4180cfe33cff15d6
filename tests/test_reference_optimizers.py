"""The reference solution of `optimizers` follows the handout's update rules and properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_reference


ref = load_reference("optimizers", "optimizers")

OPTIMIZERS = ["gd", "momentum", "nag", "adagrad", "rmsprop", "adam"]


def least_squares_grad(theta, X_batch, Y_batch):
    """Gradient of 1/2 * sum over the batch of (x . theta - y)^2, as in the lecture's code."""
    return X_batch.T @ (X_batch @ theta - Y_batch)


def regression_data(rng, n, d=3):
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)


# ---------------------------------------------------------------- the gradient deck


def test_gradient_ascent_on_xy_from_the_gradient_deck():
    """f(x, y) = x y from (4, -3) with step 0.2 along +gradient: a sign check of gd_step."""

    def f(p):
        return p[0] * p[1]

    def grad(p):
        return np.array([p[1], p[0]])

    p = np.array([4.0, -3.0])
    expected = [((3.4, -2.2), -7.48), ((2.96, -1.52), -4.4992), ((2.656, -0.928), -2.464768)]
    for point, value in expected:
        p = ref.gd_step(p, grad(p), -0.2)  # a negative eta climbs the gradient
        np.testing.assert_allclose(p, point, rtol=1e-14)
        assert f(p) == pytest.approx(value, rel=1e-12)


# ---------------------------------------------------------------- each update rule


def test_momentum_is_a_geometric_sum_of_past_gradients():
    grads = [np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.array([-1.0, 3.0])]
    theta, update = np.zeros(2), np.zeros(2)
    eta, gamma = 0.1, 0.9
    for t, g in enumerate(grads, start=1):
        theta, update = ref.momentum_step(theta, g, update, eta, gamma)
        expected_update = sum(gamma ** (t - 1 - i) * eta * grads[i] for i in range(t))
        np.testing.assert_allclose(update, expected_update, rtol=1e-14)
    np.testing.assert_allclose(theta, -(0.1 * (2.71 * grads[0] + 1.9 * grads[1] + grads[2])))


def test_momentum_default_gamma_is_0_9():
    theta, update = ref.momentum_step(np.array([1.0]), np.array([0.0]), np.array([1.0]), 0.1)
    np.testing.assert_allclose(update, [0.9])
    np.testing.assert_allclose(theta, [0.1])


def test_nag_takes_its_gradient_at_the_look_ahead_point():
    seen = []

    def grad_fn(point):
        seen.append(np.array(point))
        return 2.0 * point  # gradient of |point|^2

    theta, update = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    new_theta, new_update = ref.nag_step(theta, grad_fn, update, eta=0.1, gamma=0.8)
    look = theta - 0.8 * update
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], look)
    np.testing.assert_allclose(new_update, 0.8 * update + 0.1 * 2.0 * look)
    np.testing.assert_allclose(new_theta, theta - new_update)


def test_nag_and_momentum_differ_only_once_there_is_momentum():
    def grad_fn(p):
        return 2.0 * p

    theta, zero = np.array([1.0, 2.0]), np.zeros(2)
    nag = ref.nag_step(theta, grad_fn, zero, 0.1)
    mom = ref.momentum_step(theta, grad_fn(theta), zero, 0.1)
    np.testing.assert_allclose(nag[0], mom[0])
    nag2 = ref.nag_step(nag[0], grad_fn, nag[1], 0.1)
    mom2 = ref.momentum_step(mom[0], grad_fn(mom[0]), mom[1], 0.1)
    assert not np.allclose(nag2[0], mom2[0])


def test_adagrad_accumulates_squares_with_eps_inside_the_root():
    theta, v = np.array([0.0, 0.0]), np.zeros(2)
    g1, g2 = np.array([3.0, 0.0]), np.array([4.0, 1e-5])
    theta, v = ref.adagrad_step(theta, g1, v, eta=1.0, eps=1e-8)
    theta, v = ref.adagrad_step(theta, g2, v, eta=1.0, eps=1e-8)
    np.testing.assert_allclose(v, g1**2 + g2**2)
    # The second coordinate only tells eps inside the root (1e-5/sqrt(1.01e-8)) from outside.
    expected = -g1 / np.sqrt(g1**2 + 1e-8) - g2 / np.sqrt(g1**2 + g2**2 + 1e-8)
    np.testing.assert_allclose(theta, expected, rtol=1e-14)


def test_rmsprop_decays_the_accumulator():
    theta, v = np.array([0.0]), np.array([2.0])
    g = np.array([3.0])
    theta, v = ref.rmsprop_step(theta, g, v, eta=0.01, beta=0.9, eps=1e-8)
    np.testing.assert_allclose(v, 0.9 * 2.0 + 0.1 * 9.0)
    np.testing.assert_allclose(theta, -0.01 * 3.0 / np.sqrt(2.7 + 1e-8), rtol=1e-14)
    # Defaults beta = 0.9, eps = 1e-8.
    np.testing.assert_allclose(ref.rmsprop_step(np.array([0.0]), g, np.array([2.0]), 0.01)[0], theta)


def test_adam_first_step_is_eta_times_the_sign_thanks_to_bias_correction():
    g = np.array([1e-3, -50.0, 7.0])
    theta, m, v = ref.adam_step(np.zeros(3), g, np.zeros(3), np.zeros(3), 1, eta=0.01)
    np.testing.assert_allclose(m, 0.1 * g)
    np.testing.assert_allclose(v, 0.001 * g**2)
    np.testing.assert_allclose(theta, -0.01 * g / np.sqrt(g**2 + 1e-8), rtol=1e-12)


def test_adam_bias_correction_uses_the_given_t():
    g = np.array([2.0])
    m, v = np.array([0.3]), np.array([0.5])
    theta, m5, v5 = ref.adam_step(np.array([1.0]), g, m, v, 5, eta=0.1, beta1=0.8, beta2=0.99, eps=1e-6)
    m_expected = 0.8 * 0.3 + 0.2 * 2.0
    v_expected = 0.99 * 0.5 + 0.01 * 4.0
    mhat, vhat = m_expected / (1 - 0.8**5), v_expected / (1 - 0.99**5)
    np.testing.assert_allclose(m5, [m_expected])
    np.testing.assert_allclose(v5, [v_expected])
    np.testing.assert_allclose(theta, [1.0 - 0.1 * mhat / math.sqrt(vhat + 1e-6)], rtol=1e-14)


# ---------------------------------------------------------------- shapes and no mutation


def _read_only(a):
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _all_steps(theta, grad, s1, s2):
    """Every step function once, on the given arrays (all of one shape)."""
    return {
        "gd": (ref.gd_step(theta, grad, 0.1),),
        "momentum": ref.momentum_step(theta, grad, s1, 0.1),
        "nag": ref.nag_step(theta, lambda p: 2.0 * p + grad, s1, 0.1),
        "adagrad": ref.adagrad_step(theta, grad, s2, 0.1),
        "rmsprop": ref.rmsprop_step(theta, grad, s2, 0.1),
        "adam": ref.adam_step(theta, grad, s1, s2, 3, 0.1),
        "line_search": ref.line_search_step(theta, grad, lambda p: float(np.sum(p**2)), [0.1, 0.5])[:1],
    }


@pytest.mark.parametrize("shape", [(), (1,), (4,), (2, 3)])
def test_step_functions_work_for_any_shape_and_agree_elementwise(shape):
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=shape) for _ in range(3)] + [rng.uniform(size=shape)]
    results = _all_steps(*arrays)
    flat = _all_steps(*(np.reshape(a, (-1,)) for a in arrays))
    for name, outputs in results.items():
        for got, want in zip(outputs, flat[name]):
            assert np.shape(got) == shape, name
            assert np.asarray(got).dtype == np.float64, name
            np.testing.assert_array_equal(np.reshape(got, (-1,)), want, err_msg=name)


def test_step_functions_do_not_mutate_their_inputs():
    rng = np.random.default_rng(4)
    originals = [rng.normal(size=(2, 2)) for _ in range(3)] + [rng.uniform(size=(2, 2))]
    arrays = [_read_only(a) for a in originals]  # an in-place write would raise
    _all_steps(*arrays)
    for a, original in zip(arrays, originals):
        np.testing.assert_array_equal(a, original)


def test_loops_do_not_mutate_their_inputs():
    rng = np.random.default_rng(5)
    X, Y = regression_data(rng, 7)
    theta0 = rng.normal(size=3)
    copies = [X.copy(), Y.copy(), theta0.copy()]
    X, Y, theta0 = (_read_only(a) for a in (X, Y, theta0))
    history = ref.minibatch_sgd(least_squares_grad, theta0, X, Y, 0.01, 2, 3)
    history[-1][...] = 99.0  # the history must not alias theta0 either
    for optimizer in OPTIMIZERS:
        ref.train(optimizer, least_squares_grad, theta0, X, Y, 2, batch_size=3, eta=0.01)
    for a, original in zip((X, Y, theta0), copies):
        np.testing.assert_array_equal(a, original)


# ---------------------------------------------------------------- schedules and line search


def test_step_decay_halves_every_five_epochs_by_default():
    assert [ref.step_decay(0.8, e) for e in (0, 4, 5, 9, 10, 14, 15)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1]
    assert ref.step_decay(1.0, 7, drop=0.1, every=3) == pytest.approx(0.01)


def test_exponential_and_inverse_time_decay():
    assert ref.exponential_decay(0.5, 0.1, 0) == 0.5
    assert ref.exponential_decay(0.5, 0.1, 10) == pytest.approx(0.5 * math.exp(-1.0), rel=1e-15)
    assert ref.inverse_time_decay(0.5, 0.1, 0) == 0.5
    assert ref.inverse_time_decay(0.5, 0.1, 10) == pytest.approx(0.25, rel=1e-15)


def test_schedules_return_python_floats():
    values = [
        ref.step_decay(np.float64(1.0), np.int64(6)),
        ref.step_decay(1, 3),
        ref.exponential_decay(np.float32(1.0), 0.5, 2),
        ref.inverse_time_decay(1, 1, 1),
    ]
    assert all(type(v) is float for v in values)


def test_line_search_keeps_the_lowest_loss():
    def loss(p):
        return float(np.sum((p - 3.0) ** 2))

    theta, grad = np.array([0.0, 0.0]), np.array([-2.0, -2.0])
    new_theta, eta = ref.line_search_step(theta, grad, loss, [0.01, 0.1, 1.0, 1.5, 10.0])
    assert eta == 1.5
    np.testing.assert_allclose(new_theta, [3.0, 3.0])


def test_line_search_tie_goes_to_the_earliest_eta():
    theta, grad = np.array([1.0]), np.array([1.0])
    # |theta - eta| is 1 for both eta = 0 and eta = 2.
    new_theta, eta = ref.line_search_step(theta, grad, lambda p: abs(float(p[0])), [2.0, 0.0, 3.0])
    assert eta == 2.0
    np.testing.assert_allclose(new_theta, [-1.0])
    assert ref.line_search_step(theta, grad, lambda p: 0.0, [0.5, 0.1])[1] == 0.5


# ---------------------------------------------------------------- minibatches


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 60), batch_size=st.integers(1, 70), seed=st.none() | st.integers(0, 2**32 - 1))
def test_minibatches_cover_range_n_once_in_order(n, batch_size, seed):
    rng = None if seed is None else np.random.default_rng(seed)
    batches = ref.minibatches(n, batch_size, rng)
    assert isinstance(batches, list)
    assert len(batches) == math.ceil(n / batch_size)
    for batch in batches:
        assert np.issubdtype(np.asarray(batch).dtype, np.integer)
    sizes = [len(b) for b in batches]
    assert all(s == batch_size for s in sizes[:-1])
    if batches:
        assert sizes[-1] == (n % batch_size or batch_size)
    order = np.concatenate(batches) if batches else np.array([], dtype=int)
    expected = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    np.testing.assert_array_equal(order, expected)


def test_minibatches_rejects_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size"):
        ref.minibatches(5, 0)


# ---------------------------------------------------------------- minibatch_sgd and train

sizes = dict(
    n=st.integers(1, 25),
    batch_size=st.integers(1, 30),
    epochs=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
)


@settings(max_examples=60, deadline=None)
@given(**sizes)
def test_minibatch_sgd_history_and_train_gd_agree(n, batch_size, epochs, seed):
    X, Y = regression_data(np.random.default_rng(seed), n)
    theta0 = np.array([0.5, -1.0, 2.0])
    sgd = ref.minibatch_sgd(least_squares_grad, theta0, X, Y, 0.01, epochs, batch_size, np.random.default_rng(seed))
    trained = ref.train(
        "gd", least_squares_grad, theta0, X, Y, epochs, batch_size=batch_size,
        rng=np.random.default_rng(seed), eta=0.01,
    )
    steps = epochs * math.ceil(n / batch_size)
    assert sgd.shape == (steps + 1, 3)
    assert sgd.dtype == np.float64
    np.testing.assert_array_equal(sgd[0], theta0)
    np.testing.assert_array_equal(trained, sgd)


@settings(max_examples=60, deadline=None)
@given(optimizer=st.sampled_from(OPTIMIZERS), **sizes)
def test_train_matches_a_manual_loop_of_step_functions(optimizer, n, batch_size, epochs, seed):
    """State is created once and carries over; Adam's t counts steps from 1 across epochs."""
    X, Y = regression_data(np.random.default_rng(seed), n)
    theta0 = np.array([0.5, -1.0, 2.0])
    hyper = dict(eta=0.01)
    trained = ref.train(
        optimizer, least_squares_grad, theta0, X, Y, epochs, batch_size=batch_size,
        rng=np.random.default_rng(seed), **hyper,
    )

    rng = np.random.default_rng(seed)
    theta, s1, s2, t = theta0, np.zeros(3), np.zeros(3), 0
    expected = [theta0]
    for _ in range(epochs):
        for idx in ref.minibatches(n, batch_size, rng):
            Xb, Yb = X[idx], Y[idx]
            g = least_squares_grad(theta, Xb, Yb)
            t += 1
            if optimizer == "gd":
                theta = ref.gd_step(theta, g, **hyper)
            elif optimizer == "momentum":
                theta, s1 = ref.momentum_step(theta, g, s1, **hyper)
            elif optimizer == "nag":
                theta, s1 = ref.nag_step(theta, lambda p: least_squares_grad(p, Xb, Yb), s1, **hyper)
            elif optimizer == "adagrad":
                theta, s1 = ref.adagrad_step(theta, g, s1, **hyper)
            elif optimizer == "rmsprop":
                theta, s1 = ref.rmsprop_step(theta, g, s1, **hyper)
            else:
                theta, s1, s2 = ref.adam_step(theta, g, s1, s2, t, **hyper)
            expected.append(theta)
    np.testing.assert_array_equal(trained, np.array(expected))


def test_adam_t_is_not_restarted_each_epoch():
    rng = np.random.default_rng(11)
    X, Y = regression_data(rng, 6)
    theta0 = np.zeros(3)
    trained = ref.train("adam", least_squares_grad, theta0, X, Y, 3, batch_size=2, eta=0.05)
    theta, m, v = theta0, np.zeros(3), np.zeros(3)
    restarted = [theta0]
    for _ in range(3):
        for t, idx in enumerate(ref.minibatches(6, 2), start=1):
            theta, m, v = ref.adam_step(theta, least_squares_grad(theta, X[idx], Y[idx]), m, v, t, 0.05)
            restarted.append(theta)
    np.testing.assert_array_equal(trained[:4], restarted[:4])
    assert not np.allclose(trained[4:], restarted[4:])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_train_full_batch_takes_one_step_per_epoch(optimizer):
    rng = np.random.default_rng(12)
    X, Y = regression_data(rng, 9)
    theta0 = rng.normal(size=3)
    full = ref.train(optimizer, least_squares_grad, theta0, X, Y, 5, eta=0.01)
    explicit = ref.train(optimizer, least_squares_grad, theta0, X, Y, 5, batch_size=9, eta=0.01)
    assert full.shape == (6, 3)
    np.testing.assert_array_equal(full, explicit)
    if optimizer == "gd":
        theta = theta0
        for row in full[1:]:
            theta = theta - 0.01 * least_squares_grad(theta, X, Y)
            np.testing.assert_allclose(row, theta, rtol=1e-15)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_train_handles_scalar_and_matrix_parameters(optimizer):
    rng = np.random.default_rng(13)
    X = rng.normal(size=(5, 2))
    Y = rng.normal(size=(5, 2))

    def matrix_grad(W, Xb, Yb):  # W has shape (2, 2)
        return Xb.T @ (Xb @ W - Yb)

    def scalar_grad(w, Xb, Yb):  # w is 0-d; fit Y[:, 0] ~ w * X[:, 0]
        return np.sum((w * Xb[:, 0] - Yb[:, 0]) * Xb[:, 0])

    matrix = ref.train(optimizer, matrix_grad, np.eye(2), X, Y, 3, batch_size=2, eta=0.01)
    scalar = ref.train(optimizer, scalar_grad, np.float64(0.5), X, Y, 3, batch_size=2, eta=0.01)
    assert matrix.shape == (10, 2, 2)
    assert scalar.shape == (10,)
    np.testing.assert_array_equal(matrix[0], np.eye(2))
    assert scalar[0] == 0.5


def test_train_passes_hyperparameters_on():
    rng = np.random.default_rng(14)
    X, Y = regression_data(rng, 4)
    a = ref.train("momentum", least_squares_grad, np.zeros(3), X, Y, 3, eta=0.01, gamma=0.5)
    b = ref.train("momentum", least_squares_grad, np.zeros(3), X, Y, 3, eta=0.01)
    assert not np.allclose(a[2:], b[2:])
    c = ref.train("adam", least_squares_grad, np.zeros(3), X, Y, 3, eta=0.01, beta1=0.5, beta2=0.9, eps=1e-3)
    d = ref.train("adam", least_squares_grad, np.zeros(3), X, Y, 3, eta=0.01)
    assert not np.allclose(c[1:], d[1:])


def test_train_rejects_an_unknown_optimizer_by_name():
    X, Y = regression_data(np.random.default_rng(15), 4)
    with pytest.raises(ValueError, match="'sgd'"):
        ref.train("sgd", least_squares_grad, np.zeros(3), X, Y, 1, eta=0.1)


def test_momentum_beats_gd_on_an_ill_conditioned_valley():
    """The lecture's point: on gentle slopes momentum moves much faster than plain GD."""
    X = np.diag([1.0, 0.05])
    Y = np.zeros(2)
    theta0 = np.array([1.0, 1.0])
    gd = ref.train("gd", least_squares_grad, theta0, X, Y, 100, eta=0.5)
    momentum = ref.train("momentum", least_squares_grad, theta0, X, Y, 100, eta=0.5)
    assert np.linalg.norm(momentum[-1]) < 0.5 * np.linalg.norm(gd[-1])  # 0.28 vs 0.88
