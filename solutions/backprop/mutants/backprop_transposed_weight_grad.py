"""backprop.transposed_weight_grad: dW1 returned as X^T delta1 (transposed)."""
import numpy as np


def xor_backward(params, X, y, cache):
    _, _, w2, _ = (np.asarray(p, dtype=np.float64) for p in params)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    h1 = np.asarray(cache["h1"], dtype=np.float64)
    yhat = np.asarray(cache["yhat"], dtype=np.float64)
    delta2 = (yhat - y) * yhat * (1.0 - yhat)
    delta1 = np.outer(delta2, w2) * h1 * (1.0 - h1)
    return X.T @ delta1, delta1.sum(axis=0), h1.T @ delta2, float(delta2.sum())
