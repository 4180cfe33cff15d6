"""A stable sigmoid that switches formulas at z = 1 instead of 0: for 0 <= z < 1 it returns
sigma(-z)."""
import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 1, 1.0 / (1.0 + e), e / (1.0 + e))
