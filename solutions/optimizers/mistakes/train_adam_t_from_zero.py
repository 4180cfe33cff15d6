"""train counts Adam's steps from 0: the first call gets t = 0 (t is increased after the step)."""
import numpy as np


def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    n = len(X)
    if batch_size is None:
        batch_size = n
    theta = np.array(theta0, dtype=np.float64)
    state = np.zeros_like(theta)
    second_moment = np.zeros_like(theta)
    t = 0
    history = [theta]
    for _ in range(epochs):
        for idx in minibatches(n, batch_size, rng):
            X_batch, Y_batch = X[idx], Y[idx]
            if optimizer == "nag":
                theta, state = nag_step(theta, lambda point: grad_fn(point, X_batch, Y_batch), state, **hyper)
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
                    theta, state, second_moment = adam_step(theta, grad, state, second_moment, t, **hyper)
            t += 1
            history.append(theta)
    return np.array(history)
