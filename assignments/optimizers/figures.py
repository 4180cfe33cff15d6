"""The figures of this assignment's feedback (see grader.figures): the lecture's error
surface of the toy neuron sigma(w x + b) over the check's points, on the lecture's w, b in [-6, 6]."""
from grader.figures import Surface, logistic_squared_error

FIGURES = {
    "sigmoid_neuron": Surface(loss=logistic_squared_error, extent=(-6.0, 6.0, -6.0, 6.0), axes=("w (weight)", "b (bias)"),
                              title="Path on the error surface L(w, b)", loss_label="loss L(w, b)"),
}
