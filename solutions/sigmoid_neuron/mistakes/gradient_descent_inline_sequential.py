"""gradient descent with the gradients inline, b's taken after w moved (gradient_descent.sequential_update in the student's own structure)."""
import numpy as np

def gradient_descent(w0, b0, x, y, eta, epochs):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w, b = float(w0), float(b0)
    rows = [(w, b)]
    for _ in range(epochs):
        f = 1 / (1 + np.exp(-(w * x + b)))
        w = w - eta * np.sum((f - y) * f * (1 - f) * x)
        f = 1 / (1 + np.exp(-(w * x + b)))
        b = b - eta * np.sum((f - y) * f * (1 - f))
        rows.append((w, b))
    return np.array(rows)
