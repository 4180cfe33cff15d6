"""sign_flip in gd_step: the step moves along +grad (gradient ascent)."""
import numpy as np


def gd_step(theta, grad, eta):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    return theta + eta * grad
