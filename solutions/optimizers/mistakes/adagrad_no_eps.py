"""eps left out of Adagrad: eta / sqrt(v_t) * grad (a zero gradient while v = 0 divides 0 by 0)."""
import numpy as np


def adagrad_step(theta, grad, v, eta, eps=1e-8):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64) + grad**2
    return theta - eta / np.sqrt(v) * grad, v
