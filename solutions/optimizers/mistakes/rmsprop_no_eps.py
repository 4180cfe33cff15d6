"""eps left out of RMSProp: eta / sqrt(v_t) * grad."""
import numpy as np


def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = beta * np.asarray(v, dtype=np.float64) + (1.0 - beta) * grad**2
    return theta - eta / np.sqrt(v) * grad, v
