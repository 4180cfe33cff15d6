"""train that batches by itself and drops the last, smaller batch (minibatch.drops_last in the student's own structure)."""
import numpy as np

def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    n = len(X)
    size = n if batch_size is None else batch_size
    theta = np.array(theta0, dtype=np.float64)
    state, second, t = np.zeros_like(theta), np.zeros_like(theta), 0
    history = [theta]
    for _ in range(epochs):
        order = np.arange(n) if rng is None else rng.permutation(n)
        for start in range(0, n - size + 1, size):
            idx = order[start:start + size]
            Xb, Yb = X[idx], Y[idx]
            t += 1
            if optimizer == "nag":
                theta, state = nag_step(theta, lambda p: grad_fn(p, Xb, Yb), state, **hyper)
            elif optimizer == "gd":
                theta = gd_step(theta, grad_fn(theta, Xb, Yb), **hyper)
            elif optimizer == "adam":
                theta, state, second = adam_step(theta, grad_fn(theta, Xb, Yb), state, second, t, **hyper)
            else:
                step = {"momentum": momentum_step, "adagrad": adagrad_step, "rmsprop": rmsprop_step}[optimizer]
                theta, state = step(theta, grad_fn(theta, Xb, Yb), state, **hyper)
            history.append(theta)
    return np.array(history)
