"""grad_b without the (1 - f) factor of sigma' (not in the catalogue)."""
import numpy as np

def grad_b(w, b, x, y):
    f = predict(w, b, x)
    return np.sum((f - np.asarray(y, dtype=np.float64)) * f)
