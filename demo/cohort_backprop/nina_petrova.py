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
    raise NotImplementedError


def neuron_forward(w, b, x, y, activation="relu"):
    """The forward pass of the deck's one-unit graph, every entry of x, y its own graph.

    s = w x, z = s + b, a = act(z) (relu: max(0, z); sigmoid; identity), e = y - a, J = e^2.
    Returns a dict with keys s, z, a, e, J, each of the shape of x and y.
    """
    raise NotImplementedError


def neuron_backward(w, b, x, y, activation="relu"):
    """The local gradient of every edge of the one-unit graph, and their chain-rule products.

    dJ/de = 2e, de/da = -1, da/dz (relu: 1 for z > 0 else 0; sigmoid: a (1 - a); identity: 1),
    dz/ds = 1, ds/dw = x, dz/db = 1; dJ/dw = dJ/de de/da da/dz dz/ds ds/dw and
    dJ/db = dJ/de de/da da/dz dz/db. Constants come back as arrays of the shape of x and y.
    Returns a dict with keys dJ_de, de_da, da_dz, dz_ds, ds_dw, dz_db, dJ_dw, dJ_db.
    """
    raise NotImplementedError


def linreg_loss(w, b, x, y):
    """Linear regression's mean squared error J(w, b) = 1/n sum_i (y_i - (w x_i + b))^2."""
    raise NotImplementedError


def linreg_grad(w, b, x, y):
    """Its gradient: with e_i = y_i - (w x_i + b), dJ/dw = -2/n sum_i x_i e_i and
    dJ/db = -2/n sum_i e_i. Returns (dJ_dw, dJ_db) as floats."""
    raise NotImplementedError


def xor_forward(params, X):
    """The network's forward pass on every row of X at once.

    a1 = X W1^T + b1 (m, k), h1 = sigma(a1), a2 = h1 w2 + b2 (m,), yhat = sigma(a2).
    Returns the cache: a dict with keys a1, h1, a2, yhat.
    """
    raise NotImplementedError


def xor_loss(params, X, y):
    """The network's squared error L = 1/2 sum_i (yhat_i - y_i)^2, a float."""
    raise NotImplementedError


def xor_backward(params, X, y, cache):
    """The backward pass, reading h1 and yhat from `cache` (what xor_forward returned).

    Per point: delta2 = (yhat - y) yhat (1 - yhat), delta1 = delta2 w2 * h1 (1 - h1).
    Summed over the points: dw2 = sum delta2 h1, db2 = sum delta2, dW1 = sum delta1 x^T
    (the shape of W1), db1 = sum delta1. Returns (dW1, db1, dw2, db2), db2 a float.
    """
    raise NotImplementedError


def numerical_gradient(f, theta, h=1e-5):
    """Central differences: entry k is (f(theta + h e_k) - f(theta - h e_k)) / (2h).

    f maps an array of theta's shape to a scalar; theta may have any shape, 0-d included.
    Returns an array of theta's shape; theta is not changed.
    """
    raise NotImplementedError


def gradient_check(f, grad_f, theta, h=1e-5):
    """The relative error norm(g - n) / max(norm(g) + norm(n), 1e-12) between the analytic
    gradient g = grad_f(theta) and the numerical one n = numerical_gradient(f, theta, h)."""
    raise NotImplementedError


def train_xor(params0, X, y, eta, epochs):
    """Full-batch gradient descent on L with the student's own forward and backward passes.

    Every epoch: cache = xor_forward(params, X), grads = xor_backward(params, X, y, cache),
    then all four parameters move at once, p - eta * dL/dp. params0 is not changed.
    Returns (params, losses): the final params tuple and the loss after each of the
    `epochs` updates, losses[0] the loss at params0 (shape (epochs + 1,)).
    """
    raise NotImplementedError
