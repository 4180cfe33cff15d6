"""Public checks of the optimizers assignment: run them with `grader check optimizers`.

They work like the hidden checks the grader runs (which use other inputs): your functions
are run on the inputs shown in the feedback (a step function many times, passing back the
state it returned) and the parameters after each step are compared with the expected ones,
with the tolerance shown there. Only theta is compared: keep the state in any form you like.
minibatch_sgd, train and line_search_step also pass when they are right but a function they
use is not: each function earns its own points.
"""
import numpy as np

from grader.checking import StudentError, StudentTimeout, check
from grader.composites import plain_or_faked
from grader.expect import as_numeric_array, expect_array, expect_true, expect_tuple

NEURON = {"kind": "sigmoid_neuron", "x": [0.5, 2.5], "y": [0.2, 0.9]}
TRAJECTORY = dict(rtol=1e-6, atol=1e-9)
RETURNS = {"gd_step": "theta", "momentum_step": "(theta, update)", "nag_step": "(theta, update)",
           "adagrad_step": "(theta, v)", "rmsprop_step": "(theta, v)", "adam_step": "(theta, m, v)",
           "line_search_step": "(theta, eta)"}
QUADRATIC = {"kind": "quadratic", "A": np.array([[3.0, 1.0], [1.0, 2.0]]), "b": np.array([1.0, -1.0])}


def expect_rows(got, want, function, inputs):
    """A run of a step function (or of line search) agrees with the expected one."""
    if got["theta"] is None:
        returned = got["returned"]
        if RETURNS[function].startswith("("):
            count = RETURNS[function].count(",") + 1
            returned = expect_tuple(returned, count, name=function, parts=RETURNS[function], inputs=inputs)[0]
        theta = as_numeric_array(returned, name=f"theta returned by {function}", inputs=inputs)
        expect_true(False, f"at step {int(got['step'])}, {function} returned theta of shape {theta.shape}; "
                    f"theta has shape {np.shape(want['theta'][0])} and must keep it", inputs)
    expect_array(got["theta"], want["theta"], name="theta after each step (row 0 is theta0)", inputs=inputs,
                 **TRAJECTORY)
    expect_true(not got["mutated"], f"{function} changed one of its input arrays in place; return new "
                "arrays instead (theta = theta - ..., not theta -= ...)", inputs)


def steps_match(student, reference, step, theta0, steps, problem, hyper, trace=None, label=""):
    kwargs = dict(step=step, theta0=theta0, steps=steps, problem=problem, hyper=hyper)
    if problem["kind"] == "sequence":
        described = {"grads (one row per step)": problem["grads"]}
    elif problem["kind"] == "quadratic":
        described = {"grad(theta)": "A @ theta - b", "A": problem["A"], "b": problem["b"]}
    else:
        described = {"grad(theta)": "gradient of L(w, b) of the sigmoid neuron", "x": problem["x"], "y": problem["y"]}
    inputs = {"theta0": theta0, **described, **hyper, "steps": steps}
    want = reference.probe("run_steps", **kwargs)
    plot = {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in problem.items()}
    try:
        got = student.probe("run_steps", **kwargs)
    except (StudentError, StudentTimeout):
        if trace is not None:
            trace(None, want["theta"], label=label, problem=plot)
        raise
    if trace is not None:
        rows = got["theta"]
        trace(None if rows is None or np.shape(rows) != np.shape(want["theta"]) else np.asarray(rows, dtype=float),
              want["theta"], label=label, problem=plot)
    expect_rows(got, want, step, inputs)


GRADIENTS = {"kind": "sequence", "grads": np.array([[0.0, -1.0], [0.5, 2.0], [0.25, 0.5]])}


@check("gd_step", 1, title="3 steps with given gradients")
def test_gd(student, reference):
    steps_match(student, reference, "gd_step", np.array([1.0, 2.0]), 3, GRADIENTS, {"eta": 0.1})


@check("momentum_step", 1, title="the first 3 steps from update = 0, with given gradients")
def test_momentum(student, reference):
    steps_match(student, reference, "momentum_step", np.array([1.0, 2.0]), 3, GRADIENTS, {"eta": 0.1, "gamma": 0.9})


@check("nag_step", 1, title="3 steps on a quadratic")
def test_nag(student, reference):
    steps_match(student, reference, "nag_step", np.array([1.0, 2.0]), 3, QUADRATIC, {"eta": 0.1, "gamma": 0.9})


@check("adagrad_step", 1, title="3 steps with given gradients (one of them 0 while v = 0)")
def test_adagrad(student, reference):
    steps_match(student, reference, "adagrad_step", np.array([1.0, 2.0]), 3, GRADIENTS, {"eta": 0.1})


@check("adagrad_step", 1, title="3 steps with given gradients and a large eps = 0.5")
def test_adagrad_eps(student, reference):
    steps_match(student, reference, "adagrad_step", np.array([1.0, 2.0]), 3, GRADIENTS, {"eta": 0.1, "eps": 0.5})


@check("rmsprop_step", 1, title="3 steps with given gradients")
def test_rmsprop(student, reference):
    steps_match(student, reference, "rmsprop_step", np.array([1.0, 2.0]), 3, GRADIENTS, {"eta": 0.1, "beta": 0.9})


@check("rmsprop_step", 1, title="3 steps with given gradients and a large eps = 0.5")
def test_rmsprop_eps(student, reference):
    steps_match(student, reference, "rmsprop_step", np.array([1.0, 2.0]), 3, GRADIENTS,
                {"eta": 0.1, "beta": 0.9, "eps": 0.5})


@check("adam_step", 1, title="300 steps on the lecture's sigmoid neuron from (-2, 2), eta = 0.1")
def test_adam_neuron(student, reference, trace):
    steps_match(student, reference, "adam_step", np.array([-2.0, 2.0]), 300, NEURON, {"eta": 0.1}, trace,
                label="adam_step, 300 steps from (-2, 2)")


@check("minibatches", 1, title="10 points in batches of 4, in order")
def test_minibatches(student, reference):
    inputs = {"n": 10, "batch_size": 4}
    want = reference.probe("batches", n=10, batch_size=4)["batches"]
    got = student.probe("batches", n=10, batch_size=4)
    expect_true(got["batches"] is not None, f"minibatches should return a list of index arrays, but returned "
                f"{got['returned']!r}", inputs)
    expect_true(len(got["batches"]) == len(want), f"minibatches returned {len(got['batches'])} batches, "
                f"expected {len(want)}: {[b.tolist() for b in want]}", inputs)
    for number, (batch, expected) in enumerate(zip(got["batches"], want)):
        expect_array(batch, expected, name=f"batch {number}", rtol=0.0, atol=0.0, inputs=inputs)


def history_match(student, reference, probe, kwargs, function, inputs):
    def compare(got, want):
        expect_array(got["history"], want["history"], name="the history of theta (row 0 is theta0)",
                     inputs=inputs, **TRAJECTORY)
        expect_true(not got["mutated"], f"{function} changed one of its input arrays in place", inputs)

    plain_or_faked(student, reference, probe, kwargs, compare)


X_LINEAR = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [0.5, 0.5], [-1.0, 2.0]])
Y_LINEAR = np.array([1.0, -1.0, 0.0, 3.0, 0.0, -3.0])
LINEAR_GRAD = "X_batch.T @ (X_batch @ theta - Y_batch)"


@check("minibatch_sgd", 1, title="6 points in batches of 4, 2 epochs")
def test_minibatch_sgd(student, reference):
    kwargs = dict(theta0=np.zeros(2), X=X_LINEAR, Y=Y_LINEAR, eta=0.1, epochs=2, batch_size=4, kind="linear")
    inputs = {"grad_fn": LINEAR_GRAD, **{k: v for k, v in kwargs.items() if k != "kind"}}
    history_match(student, reference, "sgd", kwargs, "minibatch_sgd", inputs)


@check("train", 1, title="momentum on the full batch (batch_size None), 3 epochs")
def test_train(student, reference):
    kwargs = dict(optimizer="momentum", theta0=np.zeros(2), X=X_LINEAR, Y=Y_LINEAR, epochs=3, kind="linear",
                  hyper={"eta": 0.05, "gamma": 0.9})
    inputs = {"optimizer": "momentum", "grad_fn": LINEAR_GRAD, "theta0": kwargs["theta0"], "X": X_LINEAR,
              "Y": Y_LINEAR, "epochs": 3, "eta": 0.05, "gamma": 0.9}
    history_match(student, reference, "train_run", kwargs, "train", inputs)


def schedule_match(student, reference, function, calls, names):
    want = np.asarray(reference.probe("schedule", function=function, calls=calls), dtype=float)
    got = student.probe("schedule", function=function, calls=calls)
    for args, value, expected in zip(calls, got, want):
        inputs = dict(zip(names, args))
        number = as_numeric_array(value, name=f"{function}(...)", inputs=inputs)
        expect_true(number.size == 1, f"{function} returned an array of shape {number.shape}, expected one "
                    "number (a float)", inputs)
        expect_array(number.reshape(()), expected, name=f"{function}({', '.join(names)})", rtol=1e-9,
                     atol=1e-15, inputs=inputs)


@check("step_decay", 1, title="eta0 = 0.1, epochs 0 to 12")
def test_step_decay(student, reference):
    schedule_match(student, reference, "step_decay", [[0.1, epoch] for epoch in range(13)], ["eta0", "epoch"])


@check("exponential_decay", 1, title="eta0 = 0.1, k = 0.5, t = 0 to 4")
def test_exponential_decay(student, reference):
    schedule_match(student, reference, "exponential_decay", [[0.1, 0.5, t] for t in range(5)], ["eta0", "k", "t"])


@check("inverse_time_decay", 1, title="eta0 = 0.1, k = 0.5, t = 0 to 4")
def test_inverse_time_decay(student, reference):
    schedule_match(student, reference, "inverse_time_decay", [[0.1, 0.5, t] for t in range(5)], ["eta0", "k", "t"])


@check("line_search_step", 1, title="one step on a quadratic, etas = [0.01, 0.1, 1.0]")
def test_line_search(student, reference):
    kwargs = dict(theta0=np.array([1.0, 2.0]), steps=1, problem=QUADRATIC, etas=[0.01, 0.1, 1.0])
    inputs = {"theta0": kwargs["theta0"], "grad": "A @ theta - b", "loss_fn(theta)": "1/2 theta^T A theta - b^T theta",
              "A": QUADRATIC["A"], "b": QUADRATIC["b"], "etas": kwargs["etas"]}

    def compare(got, want):
        expect_rows(got, want, "line_search_step", inputs)
        expect_array(got["etas"], want["etas"], name="the eta chosen", rtol=0.0, atol=0.0, inputs=inputs)

    plain_or_faked(student, reference, "line_search", kwargs, compare)
