"""Public checks of the backprop assignment: run them with `grader check backprop`.

They work like the hidden checks the grader runs (which use other inputs): your function is
called on the inputs shown in the feedback and compared with the expected values, with the
tolerance shown there. The inputs are the handout's own numbers. A function that uses your
other functions (xor_loss and train_xor use xor_forward and xor_backward, gradient_check uses
numerical_gradient) also passes when it is right but one of the functions it uses is not:
each function earns its own points.
"""
import numpy as np

from grader.checking import check
from grader.composites import plain_or_faked
from grader.expect import expect_array, expect_dict, expect_scalar, expect_true, expect_tuple

VALUES = dict(rtol=1e-7, atol=1e-12)
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])
P0 = [[[0.5, -0.4], [0.3, 0.8]], [0.1, -0.2], [0.7, -0.6], 0.05]
P0_INPUTS = {"W1": np.array(P0[0]), "b1": np.array(P0[1]), "w2": np.array(P0[2]), "b2": P0[3], "X": XOR_X}


@check("add_mul_graph", 1, title="the deck's graph at x = -2, y = 5, z = -4")
def test_add_mul_deck(student, reference):
    inputs = {"x": -2.0, "y": 5.0, "z": -4.0}
    want = reference.probe("call", function="add_mul_graph", args=[-2.0, 5.0, -4.0])["value"]
    got = student.probe("call", function="add_mul_graph", args=[-2.0, 5.0, -4.0])["value"]
    f, grads = expect_tuple(got, 2, name="add_mul_graph(x, y, z)", parts="(f, (df_dx, df_dy, df_dz))", inputs=inputs)
    expect_scalar(f, want[0], name="f", inputs=inputs, **VALUES)
    grads = expect_tuple(grads, 3, name="the gradients", parts="(df_dx, df_dy, df_dz)", inputs=inputs)
    for name, g, w in zip(("df_dx", "df_dy", "df_dz"), grads, want[1]):
        expect_scalar(g, w, name=name, inputs=inputs, **VALUES)


@check("neuron_forward", 1, title="the deck's ReLU unit, w = b = 1 on the point (5, 4)")
def test_forward_deck(student, reference):
    args = [1.0, 1.0, 5.0, 4.0, "relu"]
    want = reference.probe("call", function="neuron_forward", args=args)["value"]
    got = student.probe("call", function="neuron_forward", args=args)["value"]
    expect_dict(got, want, ("s", "z", "a", "e", "J"), name="neuron_forward(1, 1, 5, 4, 'relu')",
                inputs={"w": 1.0, "b": 1.0, "x": 5.0, "y": 4.0}, **VALUES)


@check("neuron_backward", 1, title="the deck's ReLU unit, w = b = 1 on (5, 4), and its sigmoid version")
def test_backward_deck(student, reference):
    keys = ("dJ_de", "de_da", "da_dz", "dz_ds", "ds_dw", "dz_db", "dJ_dw", "dJ_db")
    for args in ([1.0, 1.0, 5.0, 4.0, "relu"], [0.5, 0.0, 0.5, 0.2, "sigmoid"]):
        want = reference.probe("call", function="neuron_backward", args=args)["value"]
        got = student.probe("call", function="neuron_backward", args=args)["value"]
        expect_dict(got, want, keys, name=f"neuron_backward(w, b, x, y, {args[4]!r})",
                    inputs=dict(zip(("w", "b", "x", "y", "activation"), args)), **VALUES)


@check("linreg_loss", 1, title="the handout's batch x = [1, 2, 3, 4], y = [3, 5, 7, 9] at w = b = 1")
def test_linreg_loss(student, reference):
    args = [1.0, 1.0, np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 5.0, 7.0, 9.0])]
    want = reference.probe("call", function="linreg_loss", args=args)["value"]
    got = student.probe("call", function="linreg_loss", args=args)["value"]
    expect_scalar(got, want, name="linreg_loss(w, b, x, y)", inputs=dict(zip("wbxy", args)), **VALUES)


@check("linreg_grad", 1, title="the handout's batch at w = b = 1, and the deck's point (5, 4)")
def test_linreg_grad(student, reference):
    for args in ([1.0, 1.0, np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 5.0, 7.0, 9.0])],
                 [1.0, 1.0, np.array([5.0]), np.array([4.0])]):
        inputs = dict(zip("wbxy", args))
        want = reference.probe("call", function="linreg_grad", args=args)["value"]
        got = student.probe("call", function="linreg_grad", args=args)["value"]
        parts = expect_tuple(got, 2, name="linreg_grad(w, b, x, y)", parts="(dJ_dw, dJ_db)", inputs=inputs)
        for name, g, w in zip(("dJ_dw", "dJ_db"), parts, want):
            expect_scalar(g, w, name=name, inputs=inputs, **VALUES)


@check("xor_forward", 1, title="the XOR data at the start point P0")
def test_xor_forward(student, reference):
    want = reference.probe("network_call", function="xor_forward", params=P0, args=[XOR_X])["value"]
    got = student.probe("network_call", function="xor_forward", params=P0, args=[XOR_X])["value"]
    expect_dict(got, want, ("a1", "h1", "a2", "yhat"), name="xor_forward(params, X)", inputs=P0_INPUTS, **VALUES)


@check("xor_loss", 1, title="the XOR data at P0")
def test_xor_loss(student, reference):
    inputs = {**P0_INPUTS, "y": XOR_Y}

    def compare(got, want):
        expect_scalar(got["value"], want["value"], name="xor_loss(params, X, y)", inputs=inputs, **VALUES)

    plain_or_faked(student, reference, "network_call", dict(function="xor_loss", params=P0, args=[XOR_X, XOR_Y]),
                   compare)


@check("xor_backward", 1, title="the XOR data at P0 (dW1 is not symmetric there)")
def test_xor_backward(student, reference):
    cache = reference.probe("network_call", function="xor_forward", params=P0, args=[XOR_X])["value"]
    cache = {key: np.asarray(cache[key], dtype=float) for key in ("a1", "h1", "a2", "yhat")}
    inputs = {**P0_INPUTS, "y": XOR_Y, "cache": "xor_forward(params, X)"}
    want = reference.probe("network_call", function="xor_backward", params=P0, args=[XOR_X, XOR_Y, cache])["value"]
    got = student.probe("network_call", function="xor_backward", params=P0, args=[XOR_X, XOR_Y, cache])["value"]
    parts = expect_tuple(got, 4, name="xor_backward(params, X, y, cache)", parts="(dW1, db1, dw2, db2)", inputs=inputs)
    for name, g, w in zip(("dW1", "db1", "dw2", "db2"), parts, want):
        expect_array(g, w, name=name, inputs=inputs, **VALUES)


@check("numerical_gradient", 1, title="the deck's f = 2x^2 + y^2 at (0.5, 0.5) with h = 0.1")
def test_numerical_gradient(student, reference):
    kwargs = dict(problem={"kind": "deck"}, theta=[0.5, 0.5], h=0.1)
    inputs = {"f(x, y)": "2 x^2 + y^2", "theta": np.array([0.5, 0.5]), "h": 0.1}
    want = reference.probe("numgrad", **kwargs)["value"]
    got = student.probe("numgrad", **kwargs)
    expect_array(got["value"], want, name="numerical_gradient(f, theta, h)", inputs=inputs, rtol=1e-9, atol=1e-9)
    expect_true(not got["mutated"], "numerical_gradient changed theta in place; work on a copy", inputs)


@check("gradient_check", 1, title="a gradient 1% too large on the deck's f")
def test_gradient_check(student, reference):
    kwargs = dict(problem={"kind": "deck", "grad_error": "scaled"}, theta=[0.5, 0.5], h=1e-4)
    inputs = {"f(x, y)": "2 x^2 + y^2", "grad_f": "1.01 times the gradient (4x, 2y)",
              "theta": np.array([0.5, 0.5]), "h": 1e-4}

    def compare(got, want):
        expect_scalar(got["value"], want["value"], name="gradient_check(f, grad_f, theta, h)", inputs=inputs,
                      rtol=1e-6, atol=1e-10)

    plain_or_faked(student, reference, "gradcheck", kwargs, compare)


@check("train_xor", 1, title="30 epochs from P0 on the XOR data, eta = 2; params0 left unchanged")
def test_train_xor(student, reference):
    kwargs = dict(params0=P0, X=XOR_X, y=XOR_Y, eta=2.0, epochs=30)
    inputs = {**P0_INPUTS, "y": XOR_Y, "eta": 2.0, "epochs": 30}

    def compare(got, want):
        expect_array(got["losses"], want["losses"], name="losses (entry t is L after t updates)", inputs=inputs,
                     rtol=1e-6, atol=1e-10)
        params = expect_tuple(got["params"], 4, name="the trained params", parts="(W1, b1, w2, b2)", inputs=inputs)
        for name, p, w in zip(("W1", "b1", "w2", "b2"), params, want["params"]):
            expect_array(p, w, name=f"the trained {name}", inputs=inputs, rtol=1e-6, atol=1e-9)
        expect_true(not got["mutated"], "train_xor changed params0 in place; work on copies "
                    "(W1 = W1 - eta * dW1, not W1 -= eta * dW1)", inputs)

    plain_or_faked(student, reference, "train", kwargs, compare)
