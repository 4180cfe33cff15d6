"""sign_flip: train_xor moves along +gradient."""
import numpy as np


def train_xor(params0, X, y, eta, epochs):
    params = tuple(np.array(p, dtype=np.float64) for p in params0)
    losses = [xor_loss(params, X, y)]
    for _ in range(epochs):
        cache = xor_forward(params, X)
        grads = xor_backward(params, X, y, cache)
        params = tuple(p + eta * np.asarray(g, dtype=np.float64) for p, g in zip(params, grads))
        losses.append(xor_loss(params, X, y))
    W1, b1, w2, b2 = params
    return (W1, b1, w2, float(b2)), np.array(losses)
