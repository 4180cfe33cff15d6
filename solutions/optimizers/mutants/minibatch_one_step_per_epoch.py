"""minibatch.one_step_per_epoch: one update per epoch on the whole data set (batch gradient
descent), whatever batch_size says."""
import numpy as np


def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    theta = np.array(theta0, dtype=np.float64)
    history = [theta]
    for _ in range(epochs):
        theta = gd_step(theta, grad_fn(theta, X, Y), eta)
        history.append(theta)
    return np.array(history)


_train_on_batches = train


def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    # The same loop with batch_size ignored: every epoch is one full-batch step.
    return _train_on_batches(optimizer, grad_fn, theta0, X, Y, epochs, None, None, **hyper)
