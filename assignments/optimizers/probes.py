"""Probe drivers of the optimizers assignment.

The grader calls these functions on the module under test: your module inside the sandbox,
and the instructor's reference in the grader's own process, with the same arguments. A probe
runs your functions (e.g. 300 calls of adam_step, passing back the state each call returned)
and hands back what they produced, plus whether they changed their inputs in place; the
grader compares the answers elsewhere. Only NumPy, the standard library and the grader's probe library
(`grader.probekit`, which ships with the probes) are used here.

The problems the optimisers run on (`problem` arguments):
  {"kind": "quadratic", "A": A, "b": b}      loss 1/2 theta^T A theta - b^T theta
  {"kind": "diagonal", "a": a, "c": c}       the same element-wise, for theta of any shape
                                             (line search: "floor": f makes the loss max(loss, f))
  {"kind": "sigmoid_neuron", "x": x, "y": y} the lecture's toy neuron, theta = [w, b]
  {"kind": "sequence", "grads": G}           step k gets the gradient G[k], wherever theta is
and the per-batch gradients grad_fn(theta, X_batch, Y_batch) (`kind` arguments):
  "sigmoid_neuron" (X, Y the points (x_i, y_i)) and "linear" (1/2 sum ||X_i theta - Y_i||^2).

Fake building blocks. minibatch_sgd, train and line_search_step are built from the other
functions. So that one broken function does not cost the points of the functions built on
it, a probe called with `fakes=True` (or a list of names) temporarily swaps those functions
of the module for the stand-ins below and restores them afterwards. The stand-ins are
deliberately NOT the optimisers of the handout: they only show whether a function calls its
building blocks correctly (state carried over, t counted, hyper-parameters passed on).

Cost. Every probe runs twice per submission (on your module in the sandbox and on the
reference), and a batch grades many submissions, so the drivers keep their own work per step
small: each problem's gradient and loss are built once per probe (the lecture's two-point
neuron in plain floats, which is several times faster than NumPy on two elements), and
in-place changes are looked for only on sampled steps (next paragraph).

In-place changes ("mutated"). Copying and comparing every input array on every step would
cost more than the steps themselves, so `run_steps` and `line_search` snapshot the inputs of
the first MUTATION_FIRST_STEPS calls and of every MUTATION_EVERY-th call after them only. A
step function that changes its inputs in place (theta -= ..., v += ...) does so on every call,
so the first calls already show it; the sample after them catches one that starts later.
The other probes call the function under test once and compare all of its inputs.
"""
import math

import numpy as np

from grader.probekit import changed, faked, snapshot


def _floats(value):
    return np.asarray(value, dtype=float)


# --- problems ----------------------------------------------------------------------------

#: Up to this many points the neuron's gradient and loss are summed in plain floats (a NumPy
#: operation on a two-element array costs more than the arithmetic itself).
SMALL_DATA = 8


def _logistic(z):
    """The logistic function, in its tanh form (which never overflows)."""
    return 0.5 * np.tanh(0.5 * z) + 0.5


def _neuron_gradient(theta, x, y):
    """Gradient of 1/2 sum_i (f(x_i) - y_i)^2, f(x) = logistic(w x + b), at theta = [w, b]
    (x, y arrays of the points)."""
    w, b = _floats(theta)
    out = _logistic(w * x + b)
    slope = (out - y) * out * (1.0 - out)
    return np.array([slope @ x, slope.sum()])


def _small_neuron_gradient(theta, points):
    """_neuron_gradient for a few points, given as a tuple of (x_i, y_i) float pairs."""
    w, b = _floats(theta).tolist()
    grad_w = grad_b = 0.0
    for x, y in points:
        out = 0.5 * math.tanh(0.5 * (w * x + b)) + 0.5
        slope = (out - y) * out * (1.0 - out)
        grad_w += slope * x
        grad_b += slope
    return np.array([grad_w, grad_b])


def _neuron_loss(theta, x, y):
    w, b = _floats(theta)
    return 0.5 * float(np.square(_logistic(w * x + b) - y).sum())


def _small_neuron_loss(theta, points):
    w, b = _floats(theta).tolist()
    total = 0.0
    for x, y in points:
        error = 0.5 * math.tanh(0.5 * (w * x + b)) + 0.5 - y
        total += error * error
    return 0.5 * total


def _few_points(x, y):
    """Whether the points (x, y arrays) are few enough for the plain-float sums."""
    return x.ndim == 1 and x.shape == y.shape and x.size <= SMALL_DATA


def _neuron(x, y, small, large):
    """`small` over (x_i, y_i) pairs for a few points, else `large` over the arrays; both
    as functions of theta."""
    x, y = _floats(x), _floats(y)
    if not _few_points(x, y):
        return lambda theta: large(theta, x, y)
    points = tuple(zip(x.tolist(), y.tolist()))

    def either(theta):
        theta = _floats(theta)
        return small(theta, points) if theta.shape == (2,) else large(theta, x, y)
    return either


def _gradient(problem):
    """The gradient of a problem whose gradient depends on theta alone (not "sequence"), as a
    function of theta, built once per probe."""
    kind = problem["kind"]
    if kind == "quadratic":
        A, b = _floats(problem["A"]), _floats(problem["b"])
        return lambda theta: A @ _floats(theta) - b
    if kind == "diagonal":
        a, c = _floats(problem["a"]), _floats(problem["c"])
        return lambda theta: a * _floats(theta) - c
    if kind == "sigmoid_neuron":
        return _neuron(problem["x"], problem["y"], _small_neuron_gradient, _neuron_gradient)
    raise ValueError(f"unknown problem kind {kind!r}")


def _gradients(problem):
    """grads(theta, k): the problem's gradient at theta for step k = 0, 1, ... (a "sequence"
    gives G[k] wherever theta is, as a fresh copy the step function may do anything with)."""
    if problem["kind"] == "sequence":
        grads = _floats(problem["grads"])
        return lambda theta, k: grads[k].copy()
    gradient = _gradient(problem)
    return lambda theta, k: gradient(theta)


def _loss(problem):
    """The problem's loss as a function of theta (for line search); with a "floor" in the
    problem, the loss is never below it (a plateau on which candidates tie)."""
    loss = _unfloored_loss(problem)
    if "floor" not in problem:
        return loss
    floor = float(problem["floor"])
    return lambda theta: max(loss(theta), floor)


def _unfloored_loss(problem):
    kind = problem["kind"]
    if kind == "quadratic":
        A, b = _floats(problem["A"]), _floats(problem["b"])

        def quadratic(theta):
            theta = _floats(theta)
            return float(0.5 * theta @ A @ theta - b @ theta)
        return quadratic
    if kind == "diagonal":
        a, c = _floats(problem["a"]), _floats(problem["c"])

        def diagonal(theta):
            theta = _floats(theta)
            return float(np.sum(0.5 * a * theta ** 2 - c * theta))
        return diagonal
    if kind == "sigmoid_neuron":
        return _neuron(problem["x"], problem["y"], _small_neuron_loss, _neuron_loss)
    raise ValueError(f"problem kind {kind!r} has no loss")


def _batch_gradient(kind):
    """grad_fn(theta, X_batch, Y_batch): the gradient of the loss summed over the batch."""
    if kind == "sigmoid_neuron":
        def neuron(theta, X, Y):
            theta, X, Y = _floats(theta), _floats(X), _floats(Y)
            if theta.shape == (2,) and _few_points(X, Y):
                return _small_neuron_gradient(theta, zip(X.tolist(), Y.tolist()))
            return _neuron_gradient(theta, X, Y)
        return neuron
    if kind == "linear":
        def linear(theta, X, Y):
            X = _floats(X)
            return X.T @ (X @ _floats(theta) - _floats(Y))
        return linear
    raise ValueError(f"unknown gradient kind {kind!r}")


# --- fake building blocks (NOT the handout's optimisers!) --------------------------------


def _fake_gd_step(theta, grad, eta):
    return _floats(theta) - 0.5 * eta * _floats(grad) + 0.01 * eta


def _fake_momentum_step(theta, grad, update, eta, gamma=0.9):
    carried = 0.5 * gamma * _floats(update) + eta * _floats(grad) + 0.001
    return _floats(theta) - 0.7 * carried, carried


def _fake_nag_step(theta, grad_fn, update, eta, gamma=0.9):
    peek = _floats(theta) + 0.25 * gamma * _floats(update)
    carried = 0.5 * gamma * _floats(update) + eta * _floats(grad_fn(peek))
    return _floats(theta) - 0.7 * carried, carried


def _fake_adagrad_step(theta, grad, v, eta, eps=1e-8):
    total = _floats(v) + np.abs(grad) + eps
    return _floats(theta) - eta * _floats(grad) / (1.0 + total), total


def _fake_rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):
    total = beta * _floats(v) + np.abs(grad) + eps
    return _floats(theta) - eta * _floats(grad) / (1.0 + total), total


def _fake_adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    first = beta1 * _floats(m) + _floats(grad)
    second = beta2 * _floats(v) + np.abs(grad) + eps
    return _floats(theta) - eta * (first + 0.1 * second) / (t + 1.0), first, second


def _fake_minibatches(n, batch_size, rng=None):
    """Every index once, but in reverse order and with the remainder FIRST."""
    order = np.arange(n)[::-1] if rng is None else rng.permutation(n)[::-1]
    size = n if batch_size is None else int(batch_size)
    return np.split(order, list(range(n % size or size, n, size)))


STEP_FUNCTIONS = ["gd_step", "momentum_step", "nag_step", "adagrad_step", "rmsprop_step", "adam_step"]
FAKES = {
    "gd_step": _fake_gd_step,
    "momentum_step": _fake_momentum_step,
    "nag_step": _fake_nag_step,
    "adagrad_step": _fake_adagrad_step,
    "rmsprop_step": _fake_rmsprop_step,
    "adam_step": _fake_adam_step,
    "minibatches": _fake_minibatches,
}


#: `run_steps` and `line_search` look for in-place changes on the first MUTATION_FIRST_STEPS
#: calls and then on every MUTATION_EVERY-th call (see the module docstring).
MUTATION_FIRST_STEPS = 3
MUTATION_EVERY = 25


def _sampled(k):
    """Whether the inputs of call k (0-based) are checked for in-place changes."""
    return k < MUTATION_FIRST_STEPS or k % MUTATION_EVERY == 0


def _array_bytes(values):
    """(array, its shape, its bytes) for every array among `values`: what `_touched` compares."""
    return [(v, v.shape, v.tobytes()) for v in values if isinstance(v, np.ndarray)]


def _touched(saved):
    """Whether any array saved by `_array_bytes` has changed since."""
    return any(v.shape != shape or v.tobytes() != data for v, shape, data in saved)


def _rng(seed):
    return None if seed is None else np.random.default_rng(seed)


# --- probes ------------------------------------------------------------------------------

#: How many state arrays each step function takes and returns after theta.
STATE_SIZE = {"gd_step": 0, "momentum_step": 1, "nag_step": 1, "adagrad_step": 1, "rmsprop_step": 1,
              "adam_step": 2}


def run_steps(mod, step, theta0, steps, problem, hyper=None):
    """Call the step function `step` `steps` times from theta0 on `problem`, passing back the
    theta and state each call returned (the state starts as zeros of theta's shape; Adam's t
    counts from 1; NAG's grad_fn is the problem's gradient at a point).

    Returns {"theta": rows (steps + 1, *theta0.shape), row 0 = theta0, "mutated": whether a
    sampled call changed an input array}; when a call returns something that is not
    (theta, state...) with theta of theta0's shape, "theta" is None, "returned" is that return
    value and "step" its 1-based number.
    """
    hyper = dict(hyper or {})
    function = getattr(mod, step)
    state_size = STATE_SIZE[step]
    theta = _floats(theta0).copy()
    shape = theta.shape
    state = [np.zeros_like(theta) for _ in range(state_size)]
    rows = np.empty((steps + 1, *shape))
    rows[0] = theta
    mutated = False
    sequence = problem["kind"] == "sequence"
    if sequence:
        grads = _floats(problem["grads"])
    else:
        gradient = _gradient(problem)
    for k in range(steps):
        if step == "nag_step":
            # A sequence's grad_fn gives this step's gradient wherever it is asked.
            first = (lambda point, g=grads[k]: g.copy()) if sequence else gradient
        else:
            first = grads[k].copy() if sequence else gradient(theta)
        args = (theta, first, *state, k + 1) if step == "adam_step" else (theta, first, *state)
        if _sampled(k):
            saved = _array_bytes(args)
            returned = function(*args, **hyper)
            mutated = mutated or _touched(saved)
        else:
            returned = function(*args, **hyper)
        if state_size:
            if not isinstance(returned, (tuple, list)) or len(returned) != 1 + state_size:
                return {"theta": None, "returned": returned, "step": k + 1, "mutated": mutated}
            theta, *state = returned
        else:
            theta = returned
        try:
            row = _floats(theta)
        except (TypeError, ValueError):
            row = None
        if row is None or row.shape != shape:
            return {"theta": None, "returned": returned, "step": k + 1, "mutated": mutated}
        rows[k + 1] = row
    return {"theta": rows, "returned": None, "step": steps, "mutated": mutated}


def batches(mod, n, batch_size, seed=None):
    """minibatches(n, batch_size[, rng]) with rng = default_rng(seed) when a seed is given.
    Returns {"batches": the batches as arrays} or, when the result is not iterable,
    {"batches": None, "returned": it}."""
    rng = _rng(seed)
    returned = mod.minibatches(n, batch_size) if rng is None else mod.minibatches(n, batch_size, rng)
    if isinstance(returned, (str, bytes, dict)) or not hasattr(returned, "__iter__"):
        return {"batches": None, "returned": returned}
    return {"batches": [np.asarray(batch) for batch in returned], "returned": None}


def sgd(mod, theta0, X, Y, eta, epochs, batch_size, kind, seed=None, fakes=False):
    """minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size[, rng=default_rng(seed)])
    with the per-batch gradient of `kind`. Returns {"history": as returned, "mutated": ...}."""
    theta0, X, Y = _floats(theta0), _floats(X), _floats(Y)
    args = [_batch_gradient(kind), theta0, X, Y, eta, epochs, batch_size]
    extra = {} if seed is None else {"rng": _rng(seed)}
    before = snapshot(args)
    with faked(mod, "minibatch_sgd", fakes, FAKES):
        history = mod.minibatch_sgd(*args, **extra)
    return {"history": history, "mutated": changed(before, args)}


def train_run(mod, optimizer, theta0, X, Y, epochs, kind, batch_size=None, seed=None, hyper=None, fakes=False):
    """train(optimizer, grad_fn, theta0, X, Y, epochs[, batch_size][, rng], **hyper); batch_size
    and rng are left out when None (to use train's defaults). Returns {"history", "mutated"}."""
    theta0, X, Y = _floats(theta0), _floats(X), _floats(Y)
    args = [optimizer, _batch_gradient(kind), theta0, X, Y, epochs]
    extra = dict(hyper or {})
    if batch_size is not None:
        extra["batch_size"] = batch_size
    if seed is not None:
        extra["rng"] = _rng(seed)
    before = snapshot(args)
    with faked(mod, "train", fakes, FAKES):
        history = mod.train(*args, **extra)
    return {"history": history, "mutated": changed(before, args)}


def line_search(mod, theta0, steps, problem, etas, fakes=False):
    """`steps` calls of line_search_step(theta, grad, loss_fn, etas) from theta0 on `problem`,
    passing back the theta each call returned. Returns {"theta": rows, "etas": the etas
    chosen, "mutated"} (in-place changes looked for on sampled calls, as in `run_steps`), or
    "theta" None with "returned" and "step" as in `run_steps`."""
    gradients, loss = _gradients(problem), _loss(problem)
    theta = _floats(theta0).copy()
    shape = theta.shape
    rows = np.empty((steps + 1, *shape))
    rows[0] = theta
    chosen = []
    mutated = False
    with faked(mod, "line_search_step", fakes, FAKES):
        for k in range(steps):
            args = [theta, gradients(theta, k), loss, list(etas)]
            if _sampled(k):
                before = snapshot(args)
                returned = mod.line_search_step(*args)
                mutated = mutated or changed(before, args)
            else:
                returned = mod.line_search_step(*args)
            if not isinstance(returned, (tuple, list)) or len(returned) != 2:
                return {"theta": None, "returned": returned, "step": k + 1, "mutated": mutated}
            theta, eta = returned
            try:
                row = _floats(theta)
            except (TypeError, ValueError):
                row = None
            if row is None or row.shape != shape:
                return {"theta": None, "returned": returned, "step": k + 1, "mutated": mutated}
            rows[k + 1] = row
            chosen.append(eta)
    return {"theta": rows, "etas": chosen, "returned": None, "step": steps, "mutated": mutated}


def candidate_losses(mod, rows, problem, etas, fakes=False):
    """The loss of every line-search candidate theta - eta * grad(theta) (with `fakes`, the
    fake gd_step's candidate) at each of `rows` (a trajectory), shape (len(rows), len(etas)).
    It does not call the module: the grader uses it on the reference's trajectory to draw
    inputs whose candidates are told apart by a clear margin (no near-ties that rounding
    could settle either way)."""
    gradients, loss = _gradients(problem), _loss(problem)
    step = _fake_gd_step if fakes else (lambda theta, grad, eta: theta - eta * grad)
    rows = _floats(rows)
    return np.array([[loss(step(row, gradients(row, k), eta)) for eta in etas] for k, row in enumerate(rows)])


def schedule(mod, function, calls):
    """The raw return of `function(*args)` for each argument list in `calls`."""
    return [getattr(mod, function)(*args) for args in calls]
