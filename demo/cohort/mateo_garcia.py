"""Gradient-descent optimisers as small pure functions, in the lecture's notation.

eta is the learning rate, gamma the momentum, beta / beta1 / beta2 the decay rates and eps the
numerical guard. Every step function takes the parameters theta (any shape, 0-d included), the
gradient and the optimiser's state, and returns the new parameters and the new state; the state
starts at zeros of theta's shape (np.zeros_like(theta)). Nothing here mutates its inputs.
"""

import math

import numpy as np


def gd_step(theta, grad, eta):
    """One step of gradient descent: theta_{t+1} = theta_t - eta * grad.

    Returns theta_{t+1}.
    """
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    return theta - eta * grad


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
    v = np.asarray(v, dtype=np.float64) + grad**2
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
    """Split the indices 0 .. n-1 into mini-batches of batch_size indices.

    The batches cover range(n) exactly once: in order when rng is None, else in the order
    rng.permutation(n). Every batch holds batch_size indices except the last, which keeps the
    remainder (n % batch_size of them, when that is not 0). Returns a list of int arrays.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = np.arange(n) if rng is None else rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    """Mini-batch stochastic gradient descent.

    For each epoch, for each batch idx of minibatches(len(X), batch_size, rng):
    theta_{t+1} = theta_t - eta * grad_fn(theta_t, X[idx], Y[idx]),
    where grad_fn returns the gradient of the loss summed over the batch.
    Returns the history, shape (steps + 1, *theta0.shape) with row 0 = theta0, where
    steps = epochs * ceil(len(X) / batch_size).
    """
    theta = np.array(theta0, dtype=np.float64)
    history = [theta]
    for _ in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            theta = gd_step(theta, grad_fn(theta, X[idx], Y[idx]), eta)
            history.append(theta)
    return np.array(history)


def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    """Train with any of the optimisers on mini-batches.

    optimizer is one of "gd", "momentum", "nag", "adagrad", "rmsprop", "adam"; hyper (eta,
    gamma, beta, beta1, beta2, eps) is passed on to its step function. For each epoch, for each
    batch idx of minibatches(len(X), batch_size, rng), one step is taken with the gradient
    grad_fn(theta, X[idx], Y[idx]) (NAG takes its look-ahead gradient on the same batch).
    batch_size None means the full batch: one step per epoch. The optimiser's state is created
    once, as zeros, and carries over from batch to batch and epoch to epoch; Adam's t counts
    the steps from 1. Returns the history, shape (steps + 1, *theta0.shape), row 0 = theta0.
    Raises ValueError for an unknown optimizer.
    """
    optimizers = ("gd", "momentum", "nag", "adagrad", "rmsprop", "adam")
    if optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(optimizers)}")
    n = len(X)
    if batch_size is None:
        batch_size = n
    theta = np.array(theta0, dtype=np.float64)
    # update (momentum, NAG), v (Adagrad, RMSProp) or m (Adam), and Adam's v.
    state = np.zeros_like(theta)
    second_moment = np.zeros_like(theta)
    t = 0
    history = [theta]
    for _ in range(epochs):
        for idx in minibatches(n, batch_size, rng):
            X_batch, Y_batch = X[idx], Y[idx]
            t += 1
            if optimizer == "nag":
                theta, state = nag_step(
                    theta, lambda point: grad_fn(point, X_batch, Y_batch), state, **hyper
                )
            else:
                grad = grad_fn(theta, X_batch, Y_batch)
                if optimizer == "gd":
                    theta = gd_step(theta, grad, **hyper)
                elif optimizer == "momentum":
                    theta, state = momentum_step(theta, grad, state, **hyper)
                elif optimizer == "adagrad":
                    theta, state = adagrad_step(theta, grad, state, **hyper)
                elif optimizer == "rmsprop":
                    theta, state = rmsprop_step(theta, grad, state, **hyper)
                else:
                    theta, state, second_moment = adam_step(
                        theta, grad, state, second_moment, t, **hyper
                    )
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
    """One gradient step with the learning rate chosen by line search.

    Tries theta - eta * grad for each eta in etas and keeps the candidate with the lowest
    loss_fn(candidate); on a tie the earliest eta wins. Returns (theta_{t+1}, eta).
    """
    best = None
    for eta in etas:
        candidate = gd_step(theta, grad, eta)
        loss = loss_fn(candidate)
        if best is None or loss < best[0]:
            best = (loss, candidate, eta)
    if best is None:
        raise ValueError("line_search_step needs at least one eta")
    return best[1], best[2]
