"""mutates_input: train_xor updates the caller's arrays in place (W1 -= eta * dW1)."""
import numpy as np


def train_xor(params0, X, y, eta, epochs):
    W1, b1, w2, b2 = params0
    b2 = float(b2)
    losses = [xor_loss((W1, b1, w2, b2), X, y)]
    for _ in range(epochs):
        cache = xor_forward((W1, b1, w2, b2), X)
        dW1, db1, dw2, db2 = xor_backward((W1, b1, w2, b2), X, y, cache)
        W1 -= eta * dW1
        b1 -= eta * db1
        w2 -= eta * dw2
        b2 = b2 - eta * float(db2)
        losses.append(xor_loss((W1, b1, w2, b2), X, y))
    return (W1, b1, w2, b2), np.array(losses)
