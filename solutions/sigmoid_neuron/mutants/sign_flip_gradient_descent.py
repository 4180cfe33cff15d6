"""sign_flip in gradient_descent: w + eta * dL/dw and b + eta * dL/db (gradient ascent)."""
import numpy as np


def gradient_descent(w0, b0, x, y, eta, epochs):
    w, b = float(w0), float(b0)
    history = np.empty((epochs + 1, 2))
    history[0] = w, b
    for t in range(1, epochs + 1):
        dw, db = grad_w(w, b, x, y), grad_b(w, b, x, y)
        w, b = w + eta * dw, b + eta * db
        history[t] = w, b
    return history
