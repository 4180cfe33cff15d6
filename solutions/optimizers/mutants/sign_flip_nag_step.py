"""sign_flip in nag_step: the look-ahead and the step both go along +update (ascent)."""
import numpy as np


def nag_step(theta, grad_fn, update, eta, gamma=0.9):
    theta = np.asarray(theta, dtype=np.float64)
    update = np.asarray(update, dtype=np.float64)
    theta_look = theta + gamma * update
    update = gamma * update + eta * np.asarray(grad_fn(theta_look), dtype=np.float64)
    return theta + update, update
