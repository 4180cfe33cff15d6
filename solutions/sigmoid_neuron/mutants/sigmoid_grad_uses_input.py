"""sigmoid_grad.uses_input: z * (1 - z), the derivative formula applied to z instead of
sigma(z)."""
import numpy as np


def sigmoid_grad(z):
    z = np.asarray(z, dtype=np.float64)
    return z * (1.0 - z)
