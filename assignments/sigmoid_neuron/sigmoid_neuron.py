"""The toy sigmoid neuron f(x) = sigma(w x + b), fitted to points (x_i, y_i) by gradient descent.

Notation follows the lecture: w and b are the two parameters, eta is the learning rate and
L(w, b) = 1/2 * sum_i (f(x_i) - y_i)^2 is the loss. Every function returns float64 values and
leaves its inputs untouched.
"""

import numpy as np


def sigmoid(z):
    """The logistic function sigma(z) = 1 / (1 + exp(-z)), element-wise.

    Finite and free of warnings for abs(z) up to 1e4 and beyond.
    """
    raise NotImplementedError


def sigmoid_grad(z):
    """The derivative of the sigmoid, sigma'(z) = sigma(z) * (1 - sigma(z)), element-wise."""
    raise NotImplementedError


def predict(w, b, x):
    """The neuron's output f(x) = sigma(w x + b), element-wise over the array x."""
    raise NotImplementedError


def squared_error_loss(w, b, x, y):
    """The loss L(w, b) = 1/2 * sum_i (f(x_i) - y_i)^2 over the points (x_i, y_i)."""
    raise NotImplementedError


def grad_w(w, b, x, y):
    """dL/dw = sum_i (f(x_i) - y_i) * f(x_i) * (1 - f(x_i)) * x_i."""
    raise NotImplementedError


def grad_b(w, b, x, y):
    """dL/db = sum_i (f(x_i) - y_i) * f(x_i) * (1 - f(x_i))."""
    raise NotImplementedError


def cross_entropy_grad(w, b, X, y):
    """Gradient of the mean cross-entropy of a logistic unit, as the tuple (dE_dw, dE_db).

    yhat = sigma(X w + b) with w of shape (n,), X of shape (m, n) and labels y in {0, 1}^m;
    E = -1/m sum_i [y_i ln yhat_i + (1 - y_i) ln(1 - yhat_i)].
    Per point the gradient is the error times (x_i, 1): -(y_i - yhat_i) * (x_i, 1), so
    dE_dw = 1/m sum_i (yhat_i - y_i) x_i (shape (n,)) and dE_db = 1/m sum_i (yhat_i - y_i).
    """
    raise NotImplementedError


def gradient_descent(w0, b0, x, y, eta, epochs):
    """Full-batch gradient descent on L(w, b), starting at (w0, b0).

    Every epoch both gradients are taken at the current point (w_t, b_t), then
    w_{t+1} = w_t - eta * dL/dw and b_{t+1} = b_t - eta * dL/db.
    Returns an array of shape (epochs + 1, 2) whose rows are (w_t, b_t), row 0 the start.
    """
    raise NotImplementedError
