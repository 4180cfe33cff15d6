"""rmsprop.accumulates: v_t = v_{t-1} + grad^2, which is Adagrad's running sum."""
import numpy as np


def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64) + grad**2
    return theta - eta / np.sqrt(v + eps) * grad, v
