"""Generate the backprop demo cohort (demo/cohort_backprop/) from the backprop reference.

    python demo/make_backprop_cohort.py [--out FOLDER]   (default: demo/cohort_backprop)

Fifteen made-up students of the backprop assignment, built like the optimizers demo cohort
(demo/make_cohort.py, whose editing and writing helpers this reuses): the reference solution
(solutions/backprop/backprop.py, solution markers removed) changed by exact, once-only edits
a student could make:
- correct in three styles: as the reference, with explicit Python loops for the network's
  forward and backward passes, as a notebook;
- every mistake of solutions/backprop/mutants/catalogue.toml, one student each, made as an
  edit of the reference (not the mutant file pasted in);
- the untouched stub, and one partly done (the graph and linear-regression parts only).

    grader batch backprop demo/cohort_backprop --out OUT

tests/test_batch_demo_backprop.py checks that the committed cohort equals a fresh generation
and that the batch grades every student as intended.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from make_cohort import ROOT, correct, edits, partial, with_function, write_cohort

HERE = Path(__file__).resolve().parent
REFERENCE = ROOT / "solutions" / "backprop" / "backprop.py"
STUB = ROOT / "assignments" / "backprop" / "backprop.py"
NOTEBOOK = {"title": "Back-propagation assignment", "try_it": "print(add_mul_graph(-2.0, 5.0, -4.0))"}

LOOP_FUNCTIONS = {
    "xor_forward": '''
def xor_forward(params, X):
    """The forward pass one point and one hidden unit at a time."""
    W1, b1, w2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    X = np.asarray(X, dtype=np.float64)
    m, d = X.shape
    k = W1.shape[0]
    a1 = np.zeros((m, k))
    h1 = np.zeros((m, k))
    a2 = np.zeros(m)
    yhat = np.zeros(m)
    for i in range(m):
        for j in range(k):
            total = b1[j]
            for l in range(d):
                total += W1[j, l] * X[i, l]
            a1[i, j] = total
            h1[i, j] = sigmoid(total)
        out = b2
        for j in range(k):
            out = out + w2[j] * h1[i, j]
        a2[i] = out
        yhat[i] = sigmoid(out)
    return {"a1": a1, "h1": h1, "a2": a2, "yhat": yhat}
''',
    "xor_backward": '''
def xor_backward(params, X, y, cache):
    """The backward pass, accumulating every gradient point by point."""
    w2 = np.asarray(params[2], dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    h1 = np.asarray(cache["h1"], dtype=np.float64)
    yhat = np.asarray(cache["yhat"], dtype=np.float64)
    m, d = X.shape
    k = w2.shape[0]
    dW1 = np.zeros((k, d))
    db1 = np.zeros(k)
    dw2 = np.zeros(k)
    db2 = 0.0
    for i in range(m):
        delta2 = (yhat[i] - y[i]) * yhat[i] * (1.0 - yhat[i])
        db2 += delta2
        for j in range(k):
            dw2[j] += delta2 * h1[i, j]
            delta1 = delta2 * w2[j] * h1[i, j] * (1.0 - h1[i, j])
            db1[j] += delta1
            for l in range(d):
                dW1[j, l] += delta1 * X[i, l]
    return dW1, db1, dw2, float(db2)
''',
}


def loops(base: str) -> str:
    for name, definition in LOOP_FUNCTIONS.items():
        base = with_function(base, name, definition)
    return base


def unimplemented(base: str) -> str:
    return STUB.read_text(encoding="utf-8")


MUL_GATE_NO_SWAP = ("    df_dq = z\n    df_dz = q\n", "    df_dq = q\n    df_dz = z\n")
ERROR_SIGN = ("    de_da = -ones\n", "    de_da = ones.copy()\n")
MISSING_ACTIVATION_DERIVATIVE = ("    delta1 = np.outer(delta2, w2) * h1 * (1.0 - h1)\n",
                                 "    delta1 = np.outer(delta2, w2)\n")
TRANSPOSED_WEIGHT_GRAD = ("    return delta1.T @ X, delta1.sum(axis=0)", "    return X.T @ delta1, delta1.sum(axis=0)")
MEAN_VS_SUM = ("    return delta1.T @ X, delta1.sum(axis=0), h1.T @ delta2, float(delta2.sum())\n",
               "    m = X.shape[0]\n"
               "    return delta1.T @ X / m, delta1.sum(axis=0) / m, h1.T @ delta2 / m, float(delta2.sum()) / m\n")
MISSING_FACTOR_TWO = ("    return float(-2.0 / n * np.sum(x * e)), float(-2.0 / n * np.sum(e))\n",
                      "    return float(-1.0 / n * np.sum(x * e)), float(-1.0 / n * np.sum(e))\n")
ONE_SIDED_DIFFERENCE = ("        grad[k] = (f(theta + step) - f(theta - step)) / (2.0 * h)\n",
                        "        grad[k] = (f(theta + step) - f(theta)) / h\n")
STALE_FORWARD_VALUES = ("    for _ in range(epochs):\n        cache = xor_forward(params, X)\n",
                        "    cache = xor_forward(params, X)\n    for _ in range(epochs):\n")
SIGN_FLIP = ("params = tuple(p - eta * np.asarray(g", "params = tuple(p + eta * np.asarray(g")
MUTATES_INPUT_NO_COPY = ("    params = tuple(np.array(p, dtype=np.float64) for p in params0)\n",
                         "    params = tuple(np.asarray(p, dtype=np.float64) for p in params0)  # no copies: saves memory\n")
MUTATES_INPUT_IN_PLACE = ("        params = tuple(p - eta * np.asarray(g, dtype=np.float64) for p, g in zip(params, grads))\n",
                          "        for p, g in zip(params, grads):\n            p -= eta * np.asarray(g, dtype=np.float64)\n")

#: student id -> (kind of entry, how the module is made from the student base)
STUDENTS = {
    # correct, in three styles
    "aiko_tanaka": ("py", correct),
    "bruno_costa": ("py", loops),
    "clara_jensen": ("ipynb", correct),
    # every mistake of the catalogue, one student each
    "dmitri_volkov": ("py", edits(MUL_GATE_NO_SWAP)),
    "esi_boateng": ("py", edits(ERROR_SIGN)),
    "felix_wagner": ("py", edits(MISSING_ACTIVATION_DERIVATIVE)),
    "grace_kim": ("py", edits(TRANSPOSED_WEIGHT_GRAD)),
    "hugo_lefevre": ("py", edits(MEAN_VS_SUM)),
    "isla_murphy": ("py", edits(MISSING_FACTOR_TWO)),
    "jonas_berg": ("py", edits(ONE_SIDED_DIFFERENCE)),
    "kemal_aydin": ("py", edits(STALE_FORWARD_VALUES)),
    "lucia_romero": ("py", edits(SIGN_FLIP)),
    "malik_johnson": ("py", edits(MUTATES_INPUT_NO_COPY, MUTATES_INPUT_IN_PLACE)),
    # unfinished
    "nina_petrova": ("py", unimplemented),
    "oscar_lindqvist": ("py", partial(6, STUB)),  # sigmoid (given) to linreg_grad done
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "cohort_backprop", help="folder to (re)write")
    args = parser.parse_args(argv)
    written = write_cohort(args.out, STUDENTS, REFERENCE, NOTEBOOK)
    print(f"wrote {len(written)} submissions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
