"""cross_entropy_grad with the error yhat + y (a sign slip): right only where y = 0."""
import numpy as np


def cross_entropy_grad(w, b, X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    error = sigmoid(X @ np.asarray(w, dtype=np.float64) + b) + y
    m = X.shape[0]
    return X.T @ error / m, np.sum(error) / m
