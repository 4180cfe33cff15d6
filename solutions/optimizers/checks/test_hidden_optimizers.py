"""Hidden checks of the optimizers assignment.

Inputs are drawn from the per-student `rng`; every trajectory is compared with the reference
on the same inputs, with the tolerance given at each comparison. Only the parameter
trajectory of a step function is graded (the state may take any equivalent form).
minibatch_sgd, train and line_search_step are built from the other functions; they also
pass when their run with the probes' fake building blocks matches the reference's run with
the same fakes, so a broken step function costs only its own points.
"""
import numpy as np

from grader.checking import StudentError, StudentTimeout, check
from grader.composites import plain_or_faked, plot_rows
from grader.expect import as_numeric_array, expect_array, expect_true, expect_tuple

NEURON = {"kind": "sigmoid_neuron", "x": [0.5, 2.5], "y": [0.2, 0.9]}
TRAJECTORY = dict(rtol=1e-6, atol=1e-9)
RETURNS = {"gd_step": "theta", "momentum_step": "(theta, update)", "nag_step": "(theta, update)",
           "adagrad_step": "(theta, v)", "rmsprop_step": "(theta, v)", "adam_step": "(theta, m, v)",
           "line_search_step": "(theta, eta)"}
STEPS = ["gd_step", "momentum_step", "nag_step", "adagrad_step", "rmsprop_step", "adam_step"]
#: Checks of Adagrad, RMSProp and Adam that are not about eps pass eps = 0: with the default
#: 1e-8, where eps sits (or whether it is there) changes theta by about 1e-8 / sqrt(v), which
#: crosses the tolerance for some draws and not others (a small v, a theta passing near 0).
#: With eps = 0 the placements agree exactly, so those checks judge the rest of the formula
#: and eps costs the same checks for every student: the zero-gradient and eps checks (and
#: the lecture's neuron, whose flat start makes v tiny for every draw).
NO_EPS = {"eps": 0.0}


# --- helpers -------------------------------------------------------------------------------


def for_plot(problem):
    """The problem as plain lists, for the report's contour plots."""
    return {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in problem.items()}


def describe(problem):
    """The problem in the student's terms, for feedback."""
    kind = problem["kind"]
    if kind == "quadratic":
        return {"grad(theta)": "A @ theta - b", "A": problem["A"], "b": problem["b"]}
    if kind == "diagonal" and "floor" in problem:
        return {"grad(theta)": "a * theta - c (element-wise)", "a": problem["a"], "c": problem["c"],
                "loss_fn(theta)": f"max(sum(a/2 * theta**2 - c * theta), {problem['floor']:g})"}
    if kind == "diagonal":
        return {"grad(theta)": "a * theta - c (element-wise)", "a": problem["a"], "c": problem["c"]}
    if kind == "sigmoid_neuron":
        return {"grad(theta)": "gradient of L(w, b) of the sigmoid neuron at theta = (w, b)",
                "x": problem["x"], "y": problem["y"]}
    return {"grads (one row per step)": problem["grads"]}


def expect_untouched(got, function, inputs):
    expect_true(not got["mutated"], f"{function} changed one of its input arrays in place; return new "
                "arrays instead (theta = theta - ..., not theta -= ...)", inputs)


def expect_rows(got, want, function, inputs, tolerance=TRAJECTORY, untouched=False):
    """A run of a step function (or of line search) agrees with the reference (and, when
    `untouched`, left its input arrays alone: one check per function judges that)."""
    if got["theta"] is None:
        returned = got["returned"]
        if RETURNS[function].startswith("("):
            count = RETURNS[function].count(",") + 1
            returned = expect_tuple(returned, count, name=function, parts=RETURNS[function], inputs=inputs)[0]
        theta = as_numeric_array(returned, name=f"theta returned by {function}", inputs=inputs)
        expect_true(False, f"at step {int(got['step'])}, {function} returned theta of shape {theta.shape}; "
                    f"theta has shape {np.shape(want['theta'][0])} and must keep it", inputs)
    expect_array(got["theta"], want["theta"], name="theta after each step (row 0 is theta0)", inputs=inputs,
                 **tolerance)
    if untouched:
        expect_untouched(got, function, inputs)


def steps_match(student, reference, step, theta0, steps, problem, hyper, trace=None, label="",
                tolerance=TRAJECTORY, untouched=False):
    """`steps` calls of `step` from theta0 agree with the reference (and are plotted)."""
    kwargs = dict(step=step, theta0=theta0, steps=steps, problem=problem, hyper=hyper)
    inputs = {"theta0": theta0, **describe(problem), **hyper, "steps": steps}
    want = reference.probe("run_steps", **kwargs)
    try:
        got = student.probe("run_steps", **kwargs)
    except (StudentError, StudentTimeout):
        if trace is not None:
            trace(None, want["theta"], label=label, problem=for_plot(problem))
        raise
    if trace is not None:
        trace(plot_rows(got["theta"], want["theta"]), want["theta"], label=label, problem=for_plot(problem))
    expect_rows(got, want, step, inputs, tolerance, untouched)


def near_start(rng):
    """A start near the lecture's (-2, 2)."""
    return np.array([-2.0, 2.0]) + rng.uniform(-0.2, 0.2, 2)


def neuron_run(student, reference, trace, rng, step, hyper, steps):
    theta0 = near_start(rng)
    label = f"{step}, {steps} steps from ({theta0[0]:.2f}, {theta0[1]:.2f})"
    steps_match(student, reference, step, theta0, steps, NEURON, hyper, trace, label)


def ill_conditioned(rng, condition):
    """A 2-parameter quadratic whose Hessian has eigenvalues 1 and `condition`, rotated."""
    angle = rng.uniform(0.0, np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    A = rotation @ np.diag([1.0, condition]) @ rotation.T
    return {"kind": "quadratic", "A": (A + A.T) / 2, "b": rng.normal(0.0, 1.0, 2)}


def quadratic_run(student, reference, trace, rng, step, hyper, steps, condition=20.0):
    problem = ill_conditioned(rng, condition)
    theta0 = rng.normal(0.0, 2.0, 2)
    label = f"{step}, {steps} steps on an ill-conditioned quadratic"
    steps_match(student, reference, step, theta0, steps, problem, hyper, trace, label)


def diagonal(rng, shape):
    """An element-wise quadratic for theta of any shape (0-d and 2-d included)."""
    return {"kind": "diagonal", "a": rng.uniform(0.5, 3.0, shape), "c": rng.normal(0.0, 1.0, shape)}


def given_gradients(rng, steps, shape, scale=1.0):
    return {"kind": "sequence", "grads": rng.normal(0.0, scale, (steps, *shape))}


def with_zeros(rng, steps, shape):
    """Gradients with exact zeros (a whole first step, then some components) and a tiny one.

    Whatever the draw, the first component is 0, 0, then tiny (1e-5) while its v is still 0,
    so where eps sits (inside the square root, outside, or nowhere) shows; then one of size
    0.5 to 2 and zeros again, so whether v decays while the gradient is 0 shows too. (Drawn
    freely, these showed for some students only.)"""
    grads = rng.normal(0.0, 1.0, (steps, *shape))
    grads[0] = 0.0
    grads[1:][rng.random((steps - 1, *shape)) < 0.4] = 0.0
    first = grads.reshape(steps, -1)  # a view: the first component of every step
    first[:, 0] = 0.0
    first[2, 0] = float(rng.choice([-1e-5, 1e-5]))
    first[3, 0] = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    return {"kind": "sequence", "grads": grads}


def sparse_points(rng, n=100):
    """The lecture's Adagrad data: n random (x, y) with x set to 0 for about 80% of them."""
    x = rng.uniform(0.0, 1.0, n)
    x[rng.random(n) < 0.8] = 0.0
    return x, rng.uniform(0.0, 1.0, n)


# --- gd_step (3) ---------------------------------------------------------------------------


@check("gd_step", 1, title="100 steps on the lecture's sigmoid neuron from near (-2, 2), eta = 1")
def test_gd_neuron(student, reference, rng, trace):
    neuron_run(student, reference, trace, rng, "gd_step", {"eta": 1.0}, 100)


@check("gd_step", 1, title="50 steps on an ill-conditioned quadratic")
def test_gd_quadratic(student, reference, rng, trace):
    quadratic_run(student, reference, trace, rng, "gd_step", {"eta": 0.09}, 50)


@check("gd_step", 1, title="a 0-d theta and a 2-d theta; theta and grad left unchanged")
def test_gd_shapes(student, reference, rng):
    for shape in [(), (3, 2)]:
        steps_match(student, reference, "gd_step", rng.normal(0.0, 1.0, shape), 5, diagonal(rng, shape),
                    {"eta": float(rng.uniform(0.05, 0.3))}, untouched=True)


# --- momentum_step (5) ---------------------------------------------------------------------


@check("momentum_step", 2, title="200 steps on the lecture's sigmoid neuron from near (-2, 2), eta = 1, gamma = 0.9")
def test_momentum_neuron(student, reference, rng, trace):
    neuron_run(student, reference, trace, rng, "momentum_step", {"eta": 1.0, "gamma": 0.9}, 200)


@check("momentum_step", 1, title="the first 3 steps from update = 0, with given gradients")
def test_momentum_first_steps(student, reference, rng):
    steps_match(student, reference, "momentum_step", rng.normal(0.0, 1.0, 3), 3, given_gradients(rng, 3, (3,)),
                {"eta": float(rng.uniform(0.05, 0.5)), "gamma": float(rng.uniform(0.5, 0.95))})


@check("momentum_step", 1, title="100 steps with a 2-d theta; inputs left unchanged")
def test_momentum_2d(student, reference, rng):
    steps_match(student, reference, "momentum_step", rng.normal(0.0, 1.0, (2, 3)), 100, diagonal(rng, (2, 3)),
                {"eta": 0.05, "gamma": 0.8}, untouched=True)


@check("momentum_step", 1, title="a 0-d theta, with the default gamma")
def test_momentum_0d(student, reference, rng):
    steps_match(student, reference, "momentum_step", np.array(rng.normal()), 20, diagonal(rng, ()), {"eta": 0.1})


# --- nag_step (6) --------------------------------------------------------------------------


@check("nag_step", 2, title="100 steps on the lecture's sigmoid neuron from near (-2, 2), eta = 1, gamma = 0.9")
def test_nag_neuron(student, reference, rng, trace):
    neuron_run(student, reference, trace, rng, "nag_step", {"eta": 1.0, "gamma": 0.9}, 100)


@check("nag_step", 2, title="100 steps on an ill-conditioned quadratic")
def test_nag_quadratic(student, reference, rng, trace):
    quadratic_run(student, reference, trace, rng, "nag_step", {"eta": 0.02, "gamma": 0.9}, 100)


@check("nag_step", 1, title="the first 3 steps from update = 0, with a 2-d theta; inputs left unchanged")
def test_nag_first_steps(student, reference, rng):
    steps_match(student, reference, "nag_step", rng.normal(0.0, 1.0, (3, 2)), 3, diagonal(rng, (3, 2)),
                {"eta": float(rng.uniform(0.05, 0.3)), "gamma": float(rng.uniform(0.5, 0.95))}, untouched=True)


@check("nag_step", 1, title="a 0-d theta, with the default gamma")
def test_nag_0d(student, reference, rng):
    steps_match(student, reference, "nag_step", np.array(rng.normal()), 20, diagonal(rng, ()), {"eta": 0.1})


# --- adagrad_step (5) ----------------------------------------------------------------------


@check("adagrad_step", 2, title="100 steps on the lecture's sigmoid neuron from near (-2, 2), eta = 0.5")
def test_adagrad_neuron(student, reference, rng, trace):
    neuron_run(student, reference, trace, rng, "adagrad_step", {"eta": 0.5}, 100)


@check("adagrad_step", 1, title="zero gradients while v = 0 (no division by zero), and tiny ones; inputs left unchanged")
def test_adagrad_zero(student, reference, rng):
    steps_match(student, reference, "adagrad_step", rng.normal(0.0, 1.0, 4), 6, with_zeros(rng, 6, (4,)),
                {"eta": 0.1}, untouched=True)


@check("adagrad_step", 1, title="eps = 0.01 passed explicitly, small gradients")
def test_adagrad_eps(student, reference, rng):
    steps_match(student, reference, "adagrad_step", rng.normal(0.0, 1.0, 3), 5, given_gradients(rng, 5, (3,), 0.1),
                {"eta": 0.1, "eps": 0.01})


@check("adagrad_step", 1, title="100 steps on the lecture's sparse data (x = 0 for about 80% of the points), eps = 0")
def test_adagrad_sparse(student, reference, rng, trace):
    x, y = sparse_points(rng)
    problem = {"kind": "sigmoid_neuron", "x": x, "y": y}
    steps_match(student, reference, "adagrad_step", near_start(rng), 100, problem, {"eta": 0.5, **NO_EPS}, trace,
                label="adagrad_step, 100 steps on sparse data")


# --- rmsprop_step (5) ----------------------------------------------------------------------


@check("rmsprop_step", 2, title="100 steps on the lecture's sigmoid neuron from near (-2, 2), eta = 0.05, beta = 0.99")
def test_rmsprop_neuron(student, reference, rng, trace):
    # (With beta = 0.9 RMSProp keeps bouncing around the minimum, and rounding differences
    # between correct implementations grow beyond any sensible tolerance.)
    neuron_run(student, reference, trace, rng, "rmsprop_step", {"eta": 0.05, "beta": 0.99}, 100)


@check("rmsprop_step", 1, title="zero gradients while v = 0 (no division by zero), and tiny ones")
def test_rmsprop_zero(student, reference, rng):
    steps_match(student, reference, "rmsprop_step", rng.normal(0.0, 1.0, 4), 6, with_zeros(rng, 6, (4,)),
                {"eta": 0.1})


@check("rmsprop_step", 1, title="eps = 0.01 passed explicitly, small gradients")
def test_rmsprop_eps(student, reference, rng):
    steps_match(student, reference, "rmsprop_step", rng.normal(0.0, 1.0, 3), 5, given_gradients(rng, 5, (3,), 0.1),
                {"eta": 0.1, "eps": 0.01})


@check("rmsprop_step", 1, title="20 steps with a 2-d theta, beta = 0.5 and eps = 0; inputs left unchanged")
def test_rmsprop_2d(student, reference, rng):
    steps_match(student, reference, "rmsprop_step", rng.normal(0.0, 1.0, (2, 2)), 20, given_gradients(rng, 20, (2, 2)),
                {"eta": 0.05, "beta": 0.5, **NO_EPS}, untouched=True)


# --- adam_step (8) -------------------------------------------------------------------------


@check("adam_step", 1, title="the first 3 steps from m = v = 0, with given gradients and eps = 0")
def test_adam_first_steps(student, reference, rng):
    steps_match(student, reference, "adam_step", rng.normal(0.0, 1.0, 3), 3, given_gradients(rng, 3, (3,)),
                {"eta": 0.1, **NO_EPS})


@check("adam_step", 2, title="100 steps on the lecture's sigmoid neuron from near (-2, 2), eta = 0.1")
def test_adam_neuron(student, reference, rng, trace):
    neuron_run(student, reference, trace, rng, "adam_step", {"eta": 0.1}, 100)


@check("adam_step", 2, title="100 steps on an ill-conditioned quadratic, eps = 0")
def test_adam_quadratic(student, reference, rng, trace):
    quadratic_run(student, reference, trace, rng, "adam_step", {"eta": 0.05, **NO_EPS}, 100, condition=50.0)


@check("adam_step", 1, title="eps = 0.01 passed explicitly, small gradients")
def test_adam_eps(student, reference, rng):
    steps_match(student, reference, "adam_step", rng.normal(0.0, 1.0, 3), 5, given_gradients(rng, 5, (3,), 0.1),
                {"eta": 0.1, "eps": 0.01})


@check("adam_step", 1, title="10 steps with a 2-d theta, beta1 = 0.8, beta2 = 0.99, eps = 0; inputs left unchanged")
def test_adam_2d(student, reference, rng):
    steps_match(student, reference, "adam_step", rng.normal(0.0, 1.0, (2, 3)), 10, given_gradients(rng, 10, (2, 3)),
                {"eta": 0.05, "beta1": 0.8, "beta2": 0.99, **NO_EPS}, untouched=True)


@check("adam_step", 1, title="a 0-d theta with zero gradients while m = v = 0")
def test_adam_0d(student, reference, rng):
    steps_match(student, reference, "adam_step", np.array(rng.normal()), 6, with_zeros(rng, 6, ()), {"eta": 0.1})


# --- minibatches (5) -----------------------------------------------------------------------


def batches_match(student, reference, n, batch_size, seed=None):
    kwargs = dict(n=n, batch_size=batch_size, seed=seed)
    inputs = {"n": n, "batch_size": batch_size, "rng": "None" if seed is None else f"np.random.default_rng({seed})"}
    want = reference.probe("batches", **kwargs)["batches"]
    got = student.probe("batches", **kwargs)
    expect_true(got["batches"] is not None, "minibatches should return a list of index arrays, but returned "
                f"{got['returned']!r}", inputs)
    got = got["batches"]
    sizes = [int(np.size(batch)) for batch in got]
    expect_true(len(got) == len(want), f"minibatches returned {len(got)} batches of sizes {sizes}, expected "
                f"{len(want)} batches of sizes {[len(batch) for batch in want]}", inputs)
    for number, (batch, expected) in enumerate(zip(got, want)):
        array = expect_array(batch, expected, name=f"batch {number}", rtol=0.0, atol=0.0, inputs=inputs)
        expect_true(np.asarray(batch).dtype.kind in "iu", f"batch {number} holds {np.asarray(batch).dtype} "
                    f"values {array.tolist()}; index arrays must hold integers", inputs)


@check("minibatches", 1, title="batch_size divides n: batches in order")
def test_minibatches_divides(student, reference, rng):
    batch_size = int(rng.integers(2, 6))
    batches_match(student, reference, batch_size * int(rng.integers(2, 5)), batch_size)


@check("minibatches", 1, title="batch_size does not divide n: the last batch keeps the remainder (2 or more)")
def test_minibatches_remainder(student, reference, rng):
    # A remainder from 2 to batch_size - 2, whatever the draw: near-equal batches
    # (np.array_split) then differ from full batches and a remainder (they agree when the
    # remainder is batch_size - 1), and a remainder of 1 is left to the shuffled check.
    batch_size = int(rng.integers(4, 8))
    batches_match(student, reference, batch_size * int(rng.integers(2, 4)) + int(rng.integers(2, batch_size - 1)),
                  batch_size)


@check("minibatches", 1, title="shuffled with rng: in the order rng.permutation(n), a last batch of 1")
def test_minibatches_shuffled(student, reference, rng):
    # n = k * batch_size + 1 for every draw: a loop that stops one index early (range(0, n - 1,
    # batch_size)) loses the last batch here, and near-equal batches differ.
    batch_size = int(rng.integers(3, 8))
    batches_match(student, reference, batch_size * int(rng.integers(20 // batch_size, 40 // batch_size)) + 1,
                  batch_size, seed=int(rng.integers(0, 2**31)))


@check("minibatches", 1, title="batch_size 1 (stochastic gradient descent)")
def test_minibatches_one(student, reference, rng):
    batches_match(student, reference, int(rng.integers(3, 9)), 1)


@check("minibatches", 1, title="batch_size at least n: one batch")
def test_minibatches_whole(student, reference, rng):
    n = int(rng.integers(3, 9))
    batches_match(student, reference, n, n)
    batches_match(student, reference, n, n + int(rng.integers(1, 5)), seed=int(rng.integers(0, 2**31)))


# --- minibatch_sgd (5) and train (8) -------------------------------------------------------


def history_match(student, reference, probe, kwargs, function, inputs, fake_sets, trace=None, label="",
                  problem=None, tolerance=TRAJECTORY, untouched=False):
    """A training run's history agrees with the reference's (plain, or with fake helpers)."""
    def show(got, want):
        if trace is not None:
            rows = None if got is None else plot_rows(got["history"], want["history"])
            trace(rows, np.asarray(want["history"], dtype=float), label=label, problem=problem)

    def compare(got, want):
        expect_array(got["history"], want["history"], name="the history of theta (row 0 is theta0)",
                     inputs=inputs, **tolerance)
        if untouched:
            expect_untouched(got, function, inputs)

    plain_or_faked(student, reference, probe, kwargs, compare, show, fake_sets)


def linear_data(rng, n, d, outputs=None):
    X = rng.normal(0.0, 1.0, (n, d))
    shape = (d,) if outputs is None else (d, outputs)
    Y = X @ rng.normal(0.0, 1.0, shape) + 0.1 * rng.normal(0.0, 1.0, (n, *shape[1:]))
    return X, Y, shape


#: grad_fn(theta, X_batch, Y_batch) of the probes, in the student's terms.
GRAD_FN = {"linear": "X_batch.T @ (X_batch @ theta - Y_batch)",
           "sigmoid_neuron": "the gradient of the sigmoid neuron's L, summed over the batch"}
SGD_FAKES = (True, ["minibatches"], ["gd_step"])


def sgd_match(student, reference, kwargs, trace=None, label="", problem=None, untouched=False):
    inputs = {"grad_fn": GRAD_FN[kwargs["kind"]], **{k: v for k, v in kwargs.items() if k not in ("kind", "seed")}}
    if kwargs.get("seed") is not None:
        inputs["rng"] = f"np.random.default_rng({kwargs['seed']})"
    history_match(student, reference, "sgd", kwargs, "minibatch_sgd", inputs, SGD_FAKES, trace, label, problem,
                  untouched=untouched)


@check("minibatch_sgd", 2, title="the lecture's sigmoid neuron, one point per batch, 75 epochs from near (-2, 2), eta = 3")
def test_sgd_neuron(student, reference, rng, trace):
    kwargs = dict(theta0=near_start(rng), X=np.array(NEURON["x"]), Y=np.array(NEURON["y"]), eta=3.0, epochs=75,
                  batch_size=1, kind="sigmoid_neuron")
    sgd_match(student, reference, kwargs, trace, label="minibatch_sgd, batch_size 1, 75 epochs, eta = 3",
              problem=NEURON)


@check("minibatch_sgd", 1, title="10 points in batches of 4 (the last batch has 2), 3 epochs; inputs left unchanged")
def test_sgd_remainder(student, reference, rng):
    X, Y, shape = linear_data(rng, 10, 3)
    sgd_match(student, reference, dict(theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y, eta=0.05, epochs=3,
                                       batch_size=4, kind="linear"), untouched=True)


@check("minibatch_sgd", 1, title="shuffled with rng: 7 points in batches of 3, 3 epochs")
def test_sgd_shuffled(student, reference, rng):
    X, Y, shape = linear_data(rng, 7, 2)
    sgd_match(student, reference, dict(theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y, eta=0.05, epochs=3,
                                       batch_size=3, kind="linear", seed=int(rng.integers(0, 2**31))))


@check("minibatch_sgd", 1, title="a 2-d theta, one batch per epoch (batch_size = n)")
def test_sgd_2d(student, reference, rng):
    X, Y, shape = linear_data(rng, 6, 3, outputs=2)
    sgd_match(student, reference, dict(theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y, eta=0.02, epochs=5,
                                       batch_size=6, kind="linear"))


TRAIN_FAKES = (True, STEPS, ["minibatches"])


def train_match(student, reference, kwargs, trace=None, label="", problem=None, untouched=False):
    inputs = {"optimizer": kwargs["optimizer"],
              "grad_fn": GRAD_FN[kwargs["kind"]],
              **{k: v for k, v in kwargs.items() if k not in ("optimizer", "kind", "seed", "hyper")},
              **kwargs.get("hyper", {})}
    if kwargs.get("seed") is not None:
        inputs["rng"] = f"np.random.default_rng({kwargs['seed']})"
    history_match(student, reference, "train_run", kwargs, "train", inputs, TRAIN_FAKES, trace, label, problem,
                  untouched=untouched)


@check("train", 2, title="adam on the lecture's sigmoid neuron, full batch, 100 epochs from near (-2, 2)")
def test_train_adam_neuron(student, reference, rng, trace):
    kwargs = dict(optimizer="adam", theta0=near_start(rng), X=np.array(NEURON["x"]), Y=np.array(NEURON["y"]),
                  epochs=100, kind="sigmoid_neuron", hyper={"eta": 0.1})
    train_match(student, reference, kwargs, trace, label="train('adam'), full batch, 100 epochs", problem=NEURON)


@check("train", 1, title="gd with the full batch (batch_size None) and a 2-d theta; inputs left unchanged")
def test_train_gd(student, reference, rng):
    X, Y, shape = linear_data(rng, 8, 3, outputs=2)
    train_match(student, reference, dict(optimizer="gd", theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y, epochs=5,
                                         kind="linear", hyper={"eta": 0.02}), untouched=True)


@check("train", 1, title="momentum, shuffled batches of 3 of 7 points, 3 epochs")
def test_train_momentum(student, reference, rng):
    X, Y, shape = linear_data(rng, 7, 2)
    train_match(student, reference, dict(optimizer="momentum", theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y,
                                         epochs=3, kind="linear", batch_size=3, seed=int(rng.integers(0, 2**31)),
                                         hyper={"eta": 0.05, "gamma": 0.8}))


@check("train", 1, title="nag, batches of 2 of 5 points of the sigmoid neuron, 4 epochs")
def test_train_nag(student, reference, rng):
    train_match(student, reference, dict(optimizer="nag", theta0=near_start(rng), X=rng.uniform(-1.0, 3.0, 5),
                                         Y=rng.uniform(0.0, 1.0, 5), epochs=4, kind="sigmoid_neuron", batch_size=2,
                                         hyper={"eta": 0.5, "gamma": 0.9}))


@check("train", 1, title="adagrad on the lecture's sparse data, batches of 32, 2 epochs, eps = 0.001")
def test_train_adagrad(student, reference, rng):
    x, y = sparse_points(rng)
    train_match(student, reference, dict(optimizer="adagrad", theta0=near_start(rng), X=x, Y=y, epochs=2,
                                         kind="sigmoid_neuron", batch_size=32, hyper={"eta": 0.5, "eps": 1e-3}))


@check("train", 1, title="rmsprop, batches of 4 of 10 points, beta = 0.8, eps = 0.001")
def test_train_rmsprop(student, reference, rng):
    X, Y, shape = linear_data(rng, 10, 3)
    train_match(student, reference, dict(optimizer="rmsprop", theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y,
                                         epochs=2, kind="linear", batch_size=4,
                                         hyper={"eta": 0.05, "beta": 0.8, "eps": 1e-3}))


@check("train", 1, title="adam, batches of 3 of 7 points, 3 epochs: t counts on across epochs")
def test_train_adam_batches(student, reference, rng):
    X, Y, shape = linear_data(rng, 7, 2)
    train_match(student, reference, dict(optimizer="adam", theta0=rng.normal(0.0, 1.0, shape), X=X, Y=Y, epochs=3,
                                         kind="linear", batch_size=3,
                                         hyper={"eta": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-3}))


# --- learning-rate schedules (2 + 2 + 2) ---------------------------------------------------


def schedule_match(student, reference, function, calls, names):
    want = np.asarray(reference.probe("schedule", function=function, calls=calls), dtype=float)
    got = student.probe("schedule", function=function, calls=calls)
    # one answer per call (the list is built in the sandbox, where it can be cut short)
    expect_true(isinstance(got, list) and len(got) == len(calls), f"{function}: {len(calls)} calls were made, but "
                f"{len(got) if isinstance(got, list) else 'no list of'} answers came back", None)
    for args, value, expected in zip(calls, got, want):
        inputs = dict(zip(names, args))
        number = as_numeric_array(value, name=f"{function}(...)", inputs=inputs)
        expect_true(number.size == 1, f"{function} returned an array of shape {number.shape}, expected one "
                    "number (a float)", inputs)
        expect_array(number.reshape(()), expected, name=f"{function}({', '.join(names)})", rtol=1e-9,
                     atol=1e-15, inputs=inputs)


@check("step_decay", 1, title="epochs 0 to 30 with the defaults (halve every 5 epochs)")
def test_step_decay_defaults(student, reference, rng):
    eta0 = float(rng.uniform(0.01, 1.0))
    schedule_match(student, reference, "step_decay", [[eta0, epoch] for epoch in range(31)], ["eta0", "epoch"])


@check("step_decay", 1, title="drop and an odd every given, epochs 0 to 24")
def test_step_decay_given(student, reference, rng):
    # Every epoch, and an odd every of at least 3, whatever the draw: true division (epoch /
    # every) shows at epoch 1 and counting from 1 ((epoch + 1) // every) at epoch every - 1.
    eta0, drop, every = float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.1, 0.9)), int(rng.choice([3, 5, 7]))
    schedule_match(student, reference, "step_decay", [[eta0, epoch, drop, every] for epoch in range(25)],
                   ["eta0", "epoch", "drop", "every"])


@check("exponential_decay", 1, title="t from 0 to 20")
def test_exponential_decay(student, reference, rng):
    eta0, k = float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.01, 0.5))
    schedule_match(student, reference, "exponential_decay", [[eta0, k, t] for t in range(21)], ["eta0", "k", "t"])


@check("exponential_decay", 1, title="k = 0, and large k t")
def test_exponential_decay_edges(student, reference, rng):
    eta0 = float(rng.uniform(0.01, 1.0))
    calls = [[eta0, 0.0, 7], [eta0, float(rng.uniform(0.5, 2.0)), 100], [eta0, 0.3, 1000]]
    schedule_match(student, reference, "exponential_decay", calls, ["eta0", "k", "t"])


@check("inverse_time_decay", 1, title="t from 0 to 20")
def test_inverse_time_decay(student, reference, rng):
    eta0, k = float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.01, 0.5))
    schedule_match(student, reference, "inverse_time_decay", [[eta0, k, t] for t in range(21)], ["eta0", "k", "t"])


@check("inverse_time_decay", 1, title="k = 0, and large k t")
def test_inverse_time_decay_edges(student, reference, rng):
    eta0 = float(rng.uniform(0.01, 1.0))
    calls = [[eta0, 0.0, 7], [eta0, float(rng.uniform(0.5, 2.0)), 100], [eta0, 0.3, 10**6]]
    schedule_match(student, reference, "inverse_time_decay", calls, ["eta0", "k", "t"])


# --- line_search_step (4) ------------------------------------------------------------------


def search_match(student, reference, theta0, steps, problem, etas, trace=None, label="", untouched=False):
    kwargs = dict(theta0=theta0, steps=steps, problem=problem, etas=etas)
    inputs = {"theta0": theta0, "loss_fn(theta)": "the loss whose gradient is grad(theta)", **describe(problem),
              "etas": etas, "steps": steps}

    def show(got, want):
        if trace is not None:
            rows = None if got is None else plot_rows(got["theta"], want["theta"])
            trace(rows, want["theta"], label=label, problem=for_plot(problem))

    def compare(got, want):
        expect_rows(got, want, "line_search_step", inputs, untouched=untouched)
        expect_array(got["etas"], want["etas"], name="the eta chosen at each step", rtol=0.0, atol=0.0,
                     inputs=inputs)

    plain_or_faked(student, reference, "line_search", kwargs, compare, show)


#: Line search inputs are drawn again until, at every step of the reference's run, the best
#: candidate's loss beats every other by at least this much (relative to the loss): a
#: near-tie would be settled by rounding, which differs between correct implementations
#: (loops or vectorised, another BLAS kernel in the sandbox), and cost some students a point.
#: Exact ties are drawn on purpose, by one check only.
LOSS_MARGIN = 1e-7
DRAWS = 200


def clearly_separated(reference, theta0, steps, problem, etas):
    """Whether the reference's line search from theta0, plain and with the probes' fake
    gd_step (the run that judges a student whose gd_step is wrong), never meets a near-tie."""
    for fakes in (False, True):
        kwargs = dict(theta0=theta0, steps=steps, problem=problem, etas=etas, fakes=fakes)
        rows = reference.probe("line_search", **kwargs)["theta"][:-1]
        losses = np.sort(np.asarray(reference.probe("candidate_losses", rows=rows, problem=problem, etas=etas,
                                                    fakes=fakes)), axis=1)
        if not np.all(losses[:, 1] - losses[:, 0] > LOSS_MARGIN * np.maximum(1.0, np.abs(losses[:, 0]))):
            return False
    return True


def separated_draw(reference, draw, steps, etas):
    """(theta0, problem) from `draw()`, redrawn until `clearly_separated` (same rng, so the
    same student always gets the same inputs)."""
    for _ in range(DRAWS):
        theta0, problem = draw()
        if clearly_separated(reference, theta0, steps, problem, etas):
            return theta0, problem
    raise RuntimeError(f"no line-search draw without near-ties in {DRAWS} tries")


@check("line_search_step", 1, title="30 steps on the lecture's sigmoid neuron from near (-2, 2)")
def test_line_search_neuron(student, reference, rng, trace):
    etas = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0]
    theta0, _ = separated_draw(reference, lambda: (near_start(rng), NEURON), 30, etas)
    search_match(student, reference, theta0, 30, NEURON, etas, trace,
                 label="line_search_step, 30 steps, etas 0.1 to 10")


@check("line_search_step", 1, title="a tie between two etas (the loss has a floor): the earliest wins")
def test_line_search_tie(student, reference, rng):
    # On max(a/2 theta^2 - a theta, -0.3 a) from theta0 = 0 the two middle candidates both
    # reach the floor (and, with the fake gd_step of the probes, the two last ones do).
    a = float(rng.choice([1.0, 2.0, 4.0]))
    problem = {"kind": "diagonal", "a": np.array([a]), "c": np.array([a]), "floor": -0.3 * a}
    search_match(student, reference, np.zeros(1), 1, problem, [0.25 / a, 0.5 / a, 1.5 / a, 3.0 / a])


@check("line_search_step", 1, title="10 steps on an ill-conditioned quadratic")
def test_line_search_quadratic(student, reference, rng, trace):
    # No eta is 1 / an eigenvalue (1 and 10), nor are two symmetric about one (a step of eta =
    # 1 / lambda removes that direction at once; then every later candidate ties at the
    # minimum); and 10 steps, before the run gets so close to the minimum that all tie.
    etas = [0.01, 0.03, 0.12, 0.35, 0.9]
    theta0, problem = separated_draw(reference, lambda: (rng.normal(0.0, 2.0, 2), ill_conditioned(rng, 10.0)), 10,
                                     etas)
    search_match(student, reference, theta0, 10, problem, etas, trace,
                 label="line_search_step, 10 steps on an ill-conditioned quadratic")


@check("line_search_step", 1, title="a 2-d theta where the best eta is not the first; inputs left unchanged")
def test_line_search_2d(student, reference, rng):
    etas = [0.01, 0.1, 0.3, 0.2]
    theta0, problem = separated_draw(reference, lambda: (rng.normal(0.0, 1.0, (2, 2)), diagonal(rng, (2, 2))), 3,
                                     etas)
    search_match(student, reference, theta0, 3, problem, etas, untouched=True)
