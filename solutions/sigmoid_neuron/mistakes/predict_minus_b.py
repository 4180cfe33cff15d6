"""predict subtracts the bias: sigma(w x - b). The gradients and gradient_descent are built on
it; their checks judge them with fake building blocks, so only predict should pay."""
import numpy as np


def predict(w, b, x):
    x = np.asarray(x, dtype=np.float64)
    return sigmoid(w * x - b)
