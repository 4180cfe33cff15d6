"""Gradient-descent optimisers as small pure functions, in the lecture's notation.

eta is the learning rate, gamma the momentum, beta / beta1 / beta2 the decay rates and eps the
numerical guard. Every step function takes the parameters theta (any shape, 0-d included), the
gradient and the optimiser's state, and returns the new parameters and the new state; the state
starts at zeros of theta's shape (np.zeros_like(theta)). Nothing here mutates its inputs.
"""

import math

import numpy as np


def gd_step(theta, grad, eta):
    """One step of gradient descent, element by element."""
    theta = np.array(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    new_theta = np.empty_like(theta)
    for index in np.ndindex(theta.shape):
        new_theta[index] = theta[index] - eta * grad[index]
    return new_theta


def momentum_step(theta, grad, update, eta, gamma=0.9):
    """One step of momentum-based gradient descent.

    update_t = gamma * update_{t-1} + eta * grad
    theta_{t+1} = theta_t - update_t
    Returns (theta_{t+1}, update_t).
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    update = gamma * np.asarray(update, dtype=np.float64) + eta * grad
    return theta - update, update


def nag_step(theta, grad_fn, update, eta, gamma=0.9):
    """One step of Nesterov accelerated gradient descent ("look before you leap").

    theta_look = theta_t - gamma * update_{t-1}
    update_t = gamma * update_{t-1} + eta * grad_fn(theta_look)
    theta_{t+1} = theta_t - update_t
    grad_fn(theta) returns the gradient at a point. Returns (theta_{t+1}, update_t).
    """
    theta = np.asarray(theta, dtype=np.float64)
    update = np.asarray(update, dtype=np.float64)
    theta_look = theta - gamma * update
    update = gamma * update + eta * np.asarray(grad_fn(theta_look), dtype=np.float64)
    return theta - update, update


def adagrad_step(theta, grad, v, eta, eps=1e-8):
    """One step of Adagrad.

    v_t = v_{t-1} + grad^2
    theta_{t+1} = theta_t - eta / sqrt(v_t + eps) * grad
    (eps sits inside the square root.) Returns (theta_{t+1}, v_t).
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64) + grad**2
    return theta - eta / np.sqrt(v + eps) * grad, v


def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
    """One step of RMSProp.

    v_t = beta * v_{t-1} + (1 - beta) * grad^2
    theta_{t+1} = theta_t - eta / sqrt(v_t + eps) * grad
    (eps sits inside the square root.) Returns (theta_{t+1}, v_t).
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = beta * np.asarray(v, dtype=np.float64) + (1.0 - beta) * grad**2
    return theta - eta / np.sqrt(v + eps) * grad, v


def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of Adam; t is the 1-based number of this step.

    m_t = beta1 * m_{t-1} + (1 - beta1) * grad
    v_t = beta2 * v_{t-1} + (1 - beta2) * grad^2
    mhat_t = m_t / (1 - beta1^t),  vhat_t = v_t / (1 - beta2^t)
    theta_{t+1} = theta_t - eta / sqrt(vhat_t + eps) * mhat_t
    (eps sits inside the square root.) Returns (theta_{t+1}, m_t, v_t).
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    m = beta1 * np.asarray(m, dtype=np.float64) + (1.0 - beta1) * grad
    v = beta2 * np.asarray(v, dtype=np.float64) + (1.0 - beta2) * grad**2
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return theta - eta / np.sqrt(v_hat + eps) * m_hat, m, v


def minibatches(n, batch_size, rng=None):
    """Mini-batches of indices, built one index at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if rng is None:
        order = list(range(n))
    else:
        order = list(rng.permutation(n))
    batches = []
    current = []
    for i in order:
        current.append(i)
        if len(current) == batch_size:
            batches.append(np.array(current, dtype=int))
            current = []
    if current:
        batches.append(np.array(current, dtype=int))
    return batches


def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    """Mini-batch SGD with explicit loops."""
    theta = np.array(theta0, dtype=float)
    history = [theta.copy()]
    for epoch in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            g = grad_fn(theta, X[idx], Y[idx])
            theta = theta - eta * g
            history.append(theta.copy())
    return np.stack(history)


def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    """Any optimiser on mini-batches, dispatching on a dictionary of state."""
    if optimizer not in ("gd", "momentum", "nag", "adagrad", "rmsprop", "adam"):
        raise ValueError("unknown optimizer: " + str(optimizer))
    if batch_size is None:
        batch_size = len(X)
    theta = np.array(theta0, dtype=float)
    state = {"u": np.zeros_like(theta), "m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": 0}
    history = [theta]
    for epoch in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            Xb, Yb = X[idx], Y[idx]
            state["t"] += 1
            if optimizer == "gd":
                theta = gd_step(theta, grad_fn(theta, Xb, Yb), **hyper)
            elif optimizer == "momentum":
                theta, state["u"] = momentum_step(theta, grad_fn(theta, Xb, Yb), state["u"], **hyper)
            elif optimizer == "nag":
                look = lambda point, Xb=Xb, Yb=Yb: grad_fn(point, Xb, Yb)
                theta, state["u"] = nag_step(theta, look, state["u"], **hyper)
            elif optimizer == "adagrad":
                theta, state["v"] = adagrad_step(theta, grad_fn(theta, Xb, Yb), state["v"], **hyper)
            elif optimizer == "rmsprop":
                theta, state["v"] = rmsprop_step(theta, grad_fn(theta, Xb, Yb), state["v"], **hyper)
            else:
                theta, state["m"], state["v"] = adam_step(theta, grad_fn(theta, Xb, Yb), state["m"],
                                                          state["v"], state["t"], **hyper)
            history.append(theta)
    return np.array(history)


def step_decay(eta0, epoch, drop=0.5, every=5):
    """Step decay of the learning rate: eta = eta0 * drop ** (epoch // every), as a float."""
    return float(eta0 * drop ** (epoch // every))


def exponential_decay(eta0, k, t):
    """Exponential decay of the learning rate: eta = eta0 * exp(-k t), as a float."""
    return float(eta0 * math.exp(-k * t))


def inverse_time_decay(eta0, k, t):
    """1/t decay of the learning rate: eta = eta0 / (1 + k t), as a float."""
    return float(eta0 / (1 + k * t))


def line_search_step(theta, grad, loss_fn, etas):
    """Try every eta; keep the first one with the lowest loss."""
    best_theta, best_eta, best_loss = None, None, None
    for i in range(len(etas)):
        candidate = np.asarray(theta, dtype=float) - etas[i] * np.asarray(grad, dtype=float)
        loss = loss_fn(candidate)
        if best_loss is None or loss < best_loss:
            best_theta, best_eta, best_loss = candidate, etas[i], loss
    return best_theta, best_eta
