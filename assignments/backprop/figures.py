"""The figures of this assignment's feedback (see grader.figures): the decision boundary of
a trained network a1 = X W1^T + b1, h1 = sigma(a1), yhat = sigma(h1 w2 + b2) over the plane
around the XOR points. A trace's row is the network's parameters flattened in the order
W1 (hidden x inputs), b1, w2, b2; the problem says `hidden` and `inputs` (2 for the plane)."""
import numpy as np

from grader.figures import Boundary


def network_output(row, points, hidden, inputs, **_):
    """yhat of the flattened network at each of the (n, 2) points."""
    hidden, inputs = int(hidden), int(inputs)
    W1 = row[:hidden * inputs].reshape(hidden, inputs)
    b1 = row[hidden * inputs:hidden * inputs + hidden]
    w2 = row[hidden * inputs + hidden:hidden * inputs + 2 * hidden]
    b2 = row[-1]
    h1 = 0.5 * (1.0 + np.tanh(0.5 * (points @ W1.T + b1)))
    return 0.5 * (1.0 + np.tanh(0.5 * (h1 @ w2 + b2)))


FIGURES = {
    "xor_network": Boundary(predict=network_output, extent=(-0.5, 1.5, -0.5, 1.5), axes=("x₁", "x₂"),
                            title="Decision boundary (yhat = 0.5)"),
}
