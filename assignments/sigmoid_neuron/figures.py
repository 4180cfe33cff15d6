"""The figures of this assignment's feedback (see grader.figures): the lecture's error
surface of the toy neuron sigma(w x + b), L(w, b) = 1/2 sum_i (sigma(w x_i + b) - y_i)^2 over
the points (x_i, y_i) of the check's problem, drawn on the lecture's w, b in [-6, 6]."""
import numpy as np

from grader.figures import Surface


def neuron_loss(w, b, x, y):
    """L over equal-shaped arrays w, b, for the points x, y (sigma via tanh: no overflow)."""
    z = np.multiply.outer(w, x) + np.multiply.outer(b, np.ones_like(x))
    return 0.5 * ((0.5 * (1.0 + np.tanh(0.5 * z)) - y) ** 2).sum(axis=-1)


FIGURES = {
    "sigmoid_neuron": Surface(loss=neuron_loss, extent=(-6.0, 6.0, -6.0, 6.0), axes=("w (weight)", "b (bias)"),
                              title="Path on the error surface L(w, b)", loss_label="loss L(w, b)"),
}
