"""sigmoid.overflow: the textbook formula taken literally; exp(-z) overflows (inf, with a
RuntimeWarning) for large negative z."""
import numpy as np


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))
