"""minibatch_sgd divides the summed batch gradient by the batch size (the handout's grad_fn
already gives the gradient of the loss summed over the batch)."""
import numpy as np


def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    theta = np.array(theta0, dtype=np.float64)
    history = [theta]
    for _ in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            theta = gd_step(theta, grad_fn(theta, X[idx], Y[idx]) / len(idx), eta)
            history.append(theta)
    return np.array(history)
