"""nag.no_lookahead: the gradient is taken at theta, not at the look-ahead point (that is
plain momentum)."""
import numpy as np


def nag_step(theta, grad_fn, update, eta, gamma=0.9):
    theta = np.asarray(theta, dtype=np.float64)
    update = np.asarray(update, dtype=np.float64)
    update = gamma * update + eta * np.asarray(grad_fn(theta), dtype=np.float64)
    return theta - update, update
