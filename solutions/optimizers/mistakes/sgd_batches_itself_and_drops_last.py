"""minibatch_sgd that batches by itself and drops the last, smaller batch (minibatch.drops_last in the student's own structure)."""
import numpy as np

def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    theta = np.array(theta0, dtype=np.float64)
    history = [theta]
    n = len(X)
    for _ in range(epochs):
        order = np.arange(n) if rng is None else rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            theta = theta - eta * grad_fn(theta, X[idx], Y[idx])
            history.append(theta)
    return np.array(history)
