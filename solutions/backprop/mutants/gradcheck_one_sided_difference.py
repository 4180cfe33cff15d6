"""gradcheck.one_sided_difference: forward differences instead of central ones."""
import numpy as np


def numerical_gradient(f, theta, h=1e-5):
    theta = np.array(theta, dtype=np.float64)
    grad = np.zeros_like(theta)
    base = f(theta)
    for k in np.ndindex(theta.shape):
        step = np.zeros_like(theta)
        step[k] = h
        grad[k] = (f(theta + step) - base) / h
    return grad
