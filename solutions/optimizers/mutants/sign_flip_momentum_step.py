"""sign_flip in momentum_step: theta + update_t instead of theta - update_t."""
import numpy as np


def momentum_step(theta, grad, update, eta, gamma=0.9):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    update = gamma * np.asarray(update, dtype=np.float64) + eta * grad
    return theta + update, update
