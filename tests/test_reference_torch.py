"""The reference optimisers agree with torch.optim wherever their conventions coincide.

torch is an optional test dependency (`pip install torch==2.13.0`); without it these tests skip.

Where the conventions differ:
- Momentum: torch keeps buf_t = gamma * buf_{t-1} + grad and steps by lr * buf_t; the handout
  keeps update_t = gamma * update_{t-1} + eta * grad. For a constant learning rate
  update_t = eta * buf_t, so the trajectories are the same.
- NAG: torch's `nesterov=True` is the Sutskever et al. reformulation; its parameters are the
  handout's look-ahead points theta_t - gamma * update_t, not theta_t.
- eps placement: the handout divides by sqrt(v_t + eps) (eps INSIDE the square root); torch's
  Adagrad, RMSprop and Adam divide by sqrt(v_t) + eps (eps OUTSIDE; for Adam,
  sqrt(vhat_t) + eps). The two agree exactly with eps = 0 on both sides (fine while no
  gradient coordinate is 0), which is how they are compared here; with the default eps they
  part ways as soon as v_t is comparable to eps (gradients of order 1e-4 or smaller), which
  the last test shows.
"""


import numpy as np
import pytest

from conftest import load_reference

torch = pytest.importorskip("torch", reason="torch is an optional test dependency (pip install torch==2.13.0)")

STEPS = 50


ref = load_reference("optimizers", "optimizers")


@pytest.fixture
def quadratic():
    """A random convex quadratic 1/2 theta^T A theta - c^T theta: (grad function, theta0)."""
    rng = np.random.default_rng(2024)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    A = Q @ np.diag([0.5, 1.0, 2.0, 5.0]) @ Q.T
    c = rng.normal(size=4)
    return (lambda theta: A @ theta - c), rng.normal(size=4)


def torch_trajectory(make_optimizer, grad, theta0, steps=STEPS):
    """Run a torch optimiser, feeding it our gradient function; returns (steps + 1, d)."""
    p = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([p])
    history = [theta0.copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        p.grad = torch.from_numpy(grad(p.detach().numpy().copy()))
        optimizer.step()
        history.append(p.detach().numpy().copy())
    return np.array(history)


def assert_same_trajectory(ours, theirs):
    assert ours.shape == theirs.shape == (STEPS + 1, 4)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert not np.allclose(ours[-1], ours[0]), "the trajectory must actually move"


def test_momentum_agrees_with_torch_sgd(quadratic):
    grad, theta0 = quadratic
    eta, gamma = 0.05, 0.9
    theirs = torch_trajectory(
        lambda ps: torch.optim.SGD(ps, lr=eta, momentum=gamma, dampening=0, nesterov=False), grad, theta0
    )
    theta, update = theta0, np.zeros(4)
    ours = [theta]
    for _ in range(STEPS):
        theta, update = ref.momentum_step(theta, grad(theta), update, eta, gamma)
        ours.append(theta)
    assert_same_trajectory(np.array(ours), theirs)


def test_nag_look_ahead_points_agree_with_torch_nesterov(quadratic):
    grad, theta0 = quadratic
    eta, gamma = 0.05, 0.9
    theirs = torch_trajectory(
        lambda ps: torch.optim.SGD(ps, lr=eta, momentum=gamma, dampening=0, nesterov=True), grad, theta0
    )
    theta, update = theta0, np.zeros(4)
    look_ahead = [theta]
    for _ in range(STEPS):
        theta, update = ref.nag_step(theta, grad, update, eta, gamma)
        look_ahead.append(theta - gamma * update)
    assert_same_trajectory(np.array(look_ahead), theirs)


def test_adagrad_agrees_with_torch_with_eps_zero(quadratic):
    grad, theta0 = quadratic
    eta = 0.3
    theirs = torch_trajectory(
        lambda ps: torch.optim.Adagrad(ps, lr=eta, lr_decay=0, initial_accumulator_value=0, eps=0.0),
        grad,
        theta0,
    )
    theta, v = theta0, np.zeros(4)
    ours = [theta]
    for _ in range(STEPS):
        theta, v = ref.adagrad_step(theta, grad(theta), v, eta, eps=0.0)
        ours.append(theta)
    assert_same_trajectory(np.array(ours), theirs)


def test_rmsprop_agrees_with_torch_with_eps_zero(quadratic):
    grad, theta0 = quadratic
    eta, beta = 0.01, 0.9
    theirs = torch_trajectory(
        lambda ps: torch.optim.RMSprop(ps, lr=eta, alpha=beta, eps=0.0, momentum=0, centered=False),
        grad,
        theta0,
    )
    theta, v = theta0, np.zeros(4)
    ours = [theta]
    for _ in range(STEPS):
        theta, v = ref.rmsprop_step(theta, grad(theta), v, eta, beta=beta, eps=0.0)
        ours.append(theta)
    assert_same_trajectory(np.array(ours), theirs)


def test_adam_agrees_with_torch_with_eps_zero(quadratic):
    grad, theta0 = quadratic
    eta, beta1, beta2 = 0.05, 0.9, 0.999
    theirs = torch_trajectory(
        lambda ps: torch.optim.Adam(ps, lr=eta, betas=(beta1, beta2), eps=0.0), grad, theta0
    )
    theta, m, v = theta0, np.zeros(4), np.zeros(4)
    ours = [theta]
    for t in range(1, STEPS + 1):
        theta, m, v = ref.adam_step(theta, grad(theta), m, v, t, eta, beta1, beta2, eps=0.0)
        ours.append(theta)
    assert_same_trajectory(np.array(ours), theirs)


def test_eps_placement_differs_from_torch_for_tiny_gradients():
    """With the default eps = 1e-8 and gradients of 1e-4, inside vs outside the root differ."""
    theta0 = np.array([1.0, -1.0])
    g = np.array([1e-4, -1e-4])
    theirs = torch_trajectory(lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=1e-8), lambda _: g, theta0, steps=1)
    ours, _ = ref.adagrad_step(theta0, g, np.zeros(2), 0.1, eps=1e-8)
    # ours: 0.1 * 1e-4 / sqrt(2e-8) = 0.0707; torch: 0.1 * 1e-4 / (1e-4 + 1e-8) = 0.09999.
    np.testing.assert_allclose(theta0 - ours, 0.1 * g / np.sqrt(g**2 + 1e-8))
    np.testing.assert_allclose(theta0 - theirs[1], 0.1 * g / (np.abs(g) + 1e-8))
    assert not np.allclose(ours, theirs[1], rtol=1e-3)
