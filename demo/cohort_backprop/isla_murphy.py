"""Back-propagation: gradients node by node on a computational graph, checked against finite
differences, then a 2-2-1 sigmoid network trained on XOR with its own backward pass.

Notation follows the gradient deck. The one-unit graph names its nodes s = w x, z = s + b,
a = act(z), e = y - a, J = e^2; the network uses a for a pre-activation and h for an
activation: a1 = W1 x + b1, h1 = sigma(a1), a2 = w2 . h1 + b2, yhat = sigma(a2).
`params` is always the tuple (W1, b1, w2, b2). Linear regression keeps the deck's mean
squared error (1/n, no 1/2); the network keeps the course's L = 1/2 sum_i (yhat_i - y_i)^2.
Every function returns float64 values and leaves its inputs untouched.
"""

import numpy as np


def sigmoid(a):
    """The logistic function 1 / (1 + exp(-a)), element-wise, finite for any float64 a.

    Given (it is the `sigmoid` of the sigmoid_neuron assignment); use it or your own.
    """
    a = np.asarray(a, dtype=np.float64)
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def add_mul_graph(x, y, z):
    """The deck's graph f = (x + y) z, forward and backward, element-wise.

    Forward: q = x + y, f = q z. Backward: the multiply gate hands each input the other
    input's value (df/dq = z, df/dz = q); the add gate's local gradients are 1, so
    df/dx = df/dy = df/dq. Returns (f, (df_dx, df_dy, df_dz)).
    """
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (x, y, z))
    q = x + y
    f = q * z
    df_dq = z
    df_dz = q
    return f, (df_dq * 1.0, df_dq * 1.0, df_dz)


def neuron_forward(w, b, x, y, activation="relu"):
    """The forward pass of the deck's one-unit graph, every entry of x, y its own graph.

    s = w x, z = s + b, a = act(z) (relu: max(0, z); sigmoid; identity), e = y - a, J = e^2.
    Returns a dict with keys s, z, a, e, J, each of the shape of x and y.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    s = w * x
    z = s + b
    if activation == "relu":
        a = np.maximum(0.0, z)
    elif activation == "sigmoid":
        a = sigmoid(z)
    elif activation == "identity":
        a = z.copy()
    else:
        raise ValueError(f"unknown activation {activation!r}: use 'relu', 'sigmoid' or 'identity'")
    e = y - a
    return {"s": s, "z": z, "a": a, "e": e, "J": e ** 2}


def neuron_backward(w, b, x, y, activation="relu"):
    """The local gradient of every edge of the one-unit graph, and their chain-rule products.

    dJ/de = 2e, de/da = -1, da/dz (relu: 1 for z > 0 else 0; sigmoid: a (1 - a); identity: 1),
    dz/ds = 1, ds/dw = x, dz/db = 1; dJ/dw = dJ/de de/da da/dz dz/ds ds/dw and
    dJ/db = dJ/de de/da da/dz dz/db. Constants come back as arrays of the shape of x and y.
    Returns a dict with keys dJ_de, de_da, da_dz, dz_ds, ds_dw, dz_db, dJ_dw, dJ_db.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    z = w * x + b
    ones = np.ones_like(z)
    if activation == "relu":
        a, da_dz = np.maximum(0.0, z), (z > 0).astype(np.float64)
    elif activation == "sigmoid":
        a = sigmoid(z)
        da_dz = a * (1.0 - a)
    elif activation == "identity":
        a, da_dz = z.copy(), ones.copy()
    else:
        raise ValueError(f"unknown activation {activation!r}: use 'relu', 'sigmoid' or 'identity'")
    e = y - a
    dJ_de = 2.0 * e
    de_da = -ones
    dz_ds = ones.copy()
    ds_dw = x * ones
    dz_db = ones.copy()
    dJ_dz = dJ_de * de_da * da_dz
    return {"dJ_de": dJ_de, "de_da": de_da, "da_dz": da_dz, "dz_ds": dz_ds, "ds_dw": ds_dw,
            "dz_db": dz_db, "dJ_dw": dJ_dz * dz_ds * ds_dw, "dJ_db": dJ_dz * dz_db}


def linreg_loss(w, b, x, y):
    """Linear regression's mean squared error J(w, b) = 1/n sum_i (y_i - (w x_i + b))^2."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((y - (w * x + b)) ** 2))


def linreg_grad(w, b, x, y):
    """Its gradient: with e_i = y_i - (w x_i + b), dJ/dw = -2/n sum_i x_i e_i and
    dJ/db = -2/n sum_i e_i. Returns (dJ_dw, dJ_db) as floats."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    e = y - (w * x + b)
    n = x.size
    return float(-1.0 / n * np.sum(x * e)), float(-1.0 / n * np.sum(e))


def xor_forward(params, X):
    """The network's forward pass on every row of X at once.

    a1 = X W1^T + b1 (m, k), h1 = sigma(a1), a2 = h1 w2 + b2 (m,), yhat = sigma(a2).
    Returns the cache: a dict with keys a1, h1, a2, yhat.
    """
    W1, b1, w2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    X = np.asarray(X, dtype=np.float64)
    a1 = X @ W1.T + b1
    h1 = sigmoid(a1)
    a2 = h1 @ w2 + b2
    return {"a1": a1, "h1": h1, "a2": a2, "yhat": sigmoid(a2)}


def xor_loss(params, X, y):
    """The network's squared error L = 1/2 sum_i (yhat_i - y_i)^2, a float."""
    y = np.asarray(y, dtype=np.float64)
    yhat = xor_forward(params, X)["yhat"]
    return float(0.5 * np.sum((yhat - y) ** 2))


def xor_backward(params, X, y, cache):
    """The backward pass, reading h1 and yhat from `cache` (what xor_forward returned).

    Per point: delta2 = (yhat - y) yhat (1 - yhat), delta1 = delta2 w2 * h1 (1 - h1).
    Summed over the points: dw2 = sum delta2 h1, db2 = sum delta2, dW1 = sum delta1 x^T
    (the shape of W1), db1 = sum delta1. Returns (dW1, db1, dw2, db2), db2 a float.
    """
    _, _, w2, _ = (np.asarray(p, dtype=np.float64) for p in params)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    h1 = np.asarray(cache["h1"], dtype=np.float64)
    yhat = np.asarray(cache["yhat"], dtype=np.float64)
    delta2 = (yhat - y) * yhat * (1.0 - yhat)
    delta1 = np.outer(delta2, w2) * h1 * (1.0 - h1)
    return delta1.T @ X, delta1.sum(axis=0), h1.T @ delta2, float(delta2.sum())


def numerical_gradient(f, theta, h=1e-5):
    """Central differences: entry k is (f(theta + h e_k) - f(theta - h e_k)) / (2h).

    f maps an array of theta's shape to a scalar; theta may have any shape, 0-d included.
    Returns an array of theta's shape; theta is not changed.
    """
    theta = np.array(theta, dtype=np.float64)
    grad = np.zeros_like(theta)
    for k in np.ndindex(theta.shape):
        step = np.zeros_like(theta)
        step[k] = h
        grad[k] = (f(theta + step) - f(theta - step)) / (2.0 * h)
    return grad


def gradient_check(f, grad_f, theta, h=1e-5):
    """The relative error norm(g - n) / max(norm(g) + norm(n), 1e-12) between the analytic
    gradient g = grad_f(theta) and the numerical one n = numerical_gradient(f, theta, h)."""
    g = np.asarray(grad_f(theta), dtype=np.float64).ravel()
    n = np.asarray(numerical_gradient(f, theta, h), dtype=np.float64).ravel()
    return float(np.linalg.norm(g - n) / max(np.linalg.norm(g) + np.linalg.norm(n), 1e-12))


def train_xor(params0, X, y, eta, epochs):
    """Full-batch gradient descent on L with the student's own forward and backward passes.

    Every epoch: cache = xor_forward(params, X), grads = xor_backward(params, X, y, cache),
    then all four parameters move at once, p - eta * dL/dp. params0 is not changed.
    Returns (params, losses): the final params tuple and the loss after each of the
    `epochs` updates, losses[0] the loss at params0 (shape (epochs + 1,)).
    """
    params = tuple(np.array(p, dtype=np.float64) for p in params0)
    losses = [xor_loss(params, X, y)]
    for _ in range(epochs):
        cache = xor_forward(params, X)
        grads = xor_backward(params, X, y, cache)
        params = tuple(p - eta * np.asarray(g, dtype=np.float64) for p, g in zip(params, grads))
        losses.append(xor_loss(params, X, y))
    W1, b1, w2, b2 = params
    return (W1, b1, w2, float(b2)), np.array(losses)
