"""Adam's second moment never decays: v_t = v_{t-1} + (1 - beta2) * grad^2."""
import numpy as np


def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    theta = np.asarray(theta, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    m = beta1 * np.asarray(m, dtype=np.float64) + (1.0 - beta1) * grad
    v = np.asarray(v, dtype=np.float64) + (1.0 - beta2) * grad**2
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return theta - eta / np.sqrt(v_hat + eps) * m_hat, m, v
