"""linreg.missing_factor_two: -1/n instead of -2/n."""
import numpy as np


def linreg_grad(w, b, x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    e = y - (w * x + b)
    n = x.size
    return float(-1.0 / n * np.sum(x * e)), float(-1.0 / n * np.sum(e))
