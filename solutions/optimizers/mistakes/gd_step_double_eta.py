"""gd_step that steps twice as far: theta - 2 eta grad (not in the catalogue)."""
import numpy as np

def gd_step(theta, grad, eta):
    return np.asarray(theta, dtype=np.float64) - 2 * eta * np.asarray(grad, dtype=np.float64)
