"""eps_outside_sqrt in adagrad_step: eta / (sqrt(v_t) + eps)."""
import numpy as np


def adagrad_step(theta, grad, v, eta, eps=1e-8):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64) + grad**2
    return theta - eta / (np.sqrt(v) + eps) * grad, v
