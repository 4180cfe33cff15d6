"""gradient_descent.sequential_update: w is updated first and b's gradient is then taken at
the new w, (w_{t+1}, b_t), instead of at (w_t, b_t)."""
import numpy as np


def gradient_descent(w0, b0, x, y, eta, epochs):
    w, b = float(w0), float(b0)
    history = np.empty((epochs + 1, 2))
    history[0] = w, b
    for t in range(1, epochs + 1):
        w = w - eta * grad_w(w, b, x, y)
        b = b - eta * grad_b(w, b, x, y)
        history[t] = w, b
    return history
