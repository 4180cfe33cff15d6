"""gradient_descent updates b first and takes w's gradient at the new b."""
import numpy as np


def gradient_descent(w0, b0, x, y, eta, epochs):
    w, b = float(w0), float(b0)
    history = np.empty((epochs + 1, 2))
    history[0] = w, b
    for t in range(1, epochs + 1):
        b = b - eta * grad_b(w, b, x, y)
        w = w - eta * grad_w(w, b, x, y)
        history[t] = w, b
    return history
