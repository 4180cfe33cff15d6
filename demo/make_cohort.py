"""Generate the demo cohort (demo/cohort/) for `grader demo` from the optimizers reference.

    python demo/make_cohort.py [--out FOLDER]     (default: demo/cohort next to this script)

Thirty made-up students of the optimizers assignment, each built from the reference solution
(solutions/optimizers/optimizers.py, solution markers removed, as a student's filled-in
stub looks) by small edits a student could make:
- correct in several styles: as the reference, with explicit loops, with the optimiser state
  kept in another form, with Python lists where the handout allows them, with debug prints,
  as a notebook (with IPython magics), as a zip of a folder (as an LMS downloads it), as a folder;
- every known mistake of the optimizers catalogue (assignment-api.md), one student each,
  plus one student with two of them and a notebook with one;
- an untouched stub, two partly done submissions, a syntax error, an endless loop in one
  function, a missing helper module, in-place updates, a list returned where an array is
  due, float32 arithmetic, state reset every epoch and a wrong schedule.

Every edit must match the reference exactly once, so a changed reference fails loudly here
instead of silently producing a correct "mistake". The output is deterministic (fixed zip
timestamps, fixed notebook cell ids): tests/test_batch_demo.py checks that the committed
cohort equals a fresh generation.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REFERENCE = ROOT / "solutions" / "optimizers" / "optimizers.py"
STUB = ROOT / "assignments" / "optimizers" / "optimizers.py"
MODULE = "optimizers.py"
ZIP_TIME = (2026, 1, 15, 23, 58, 0)


# --- editing helpers ---------------------------------------------------------------------

def student_base(reference: Path = REFERENCE) -> str:
    """The reference as a student hands it in: the solution markers removed."""
    lines = reference.read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if line.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION"))


def replace_once(source: str, old: str, new: str) -> str:
    count = source.count(old)
    if count != 1:
        raise SystemExit(f"make_cohort: expected exactly one {old!r} in the reference, found {count}")
    return source.replace(old, new)


def function_span(source: str, name: str) -> tuple[int, int]:
    """(start, end) offsets of the top-level `def name(...)` up to the next top-level def."""
    start = source.find(f"\ndef {name}(")
    if start < 0:
        raise SystemExit(f"make_cohort: no function {name} in the source")
    start += 1
    end = source.find("\ndef ", start + 1)
    return start, (len(source) if end < 0 else end + 1)


def with_function(source: str, name: str, definition: str) -> str:
    """Replace the whole function `name` (signature, docstring, body) by `definition`."""
    start, end = function_span(source, name)
    tail = "\n\n" if end < len(source) else ""
    return source[:start] + definition.strip("\n") + "\n" + tail + source[end:].lstrip("\n")


def with_stub(source: str, names: list[str], stub_path: Path = STUB) -> str:
    """Put the untouched stub's version of each function back (not done yet)."""
    stub = stub_path.read_text(encoding="utf-8")
    for name in names:
        start, end = function_span(stub, name)
        source = with_function(source, name, stub[start:end])
    return source


# --- the students --------------------------------------------------------------------------

LOOP_FUNCTIONS = {
    "gd_step": '''
def gd_step(theta, grad, eta):
    """One step of gradient descent, element by element."""
    theta = np.array(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    new_theta = np.empty_like(theta)
    for index in np.ndindex(theta.shape):
        new_theta[index] = theta[index] - eta * grad[index]
    return new_theta
''',
    "minibatches": '''
def minibatches(n, batch_size, rng=None):
    """Mini-batches of indices, built one index at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if rng is None:
        order = list(range(n))
    else:
        order = list(rng.permutation(n))
    batches = []
    current = []
    for i in order:
        current.append(i)
        if len(current) == batch_size:
            batches.append(np.array(current, dtype=int))
            current = []
    if current:
        batches.append(np.array(current, dtype=int))
    return batches
''',
    "minibatch_sgd": '''
def minibatch_sgd(grad_fn, theta0, X, Y, eta, epochs, batch_size, rng=None):
    """Mini-batch SGD with explicit loops."""
    theta = np.array(theta0, dtype=float)
    history = [theta.copy()]
    for epoch in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            g = grad_fn(theta, X[idx], Y[idx])
            theta = theta - eta * g
            history.append(theta.copy())
    return np.stack(history)
''',
    "train": '''
def train(optimizer, grad_fn, theta0, X, Y, epochs, batch_size=None, rng=None, **hyper):
    """Any optimiser on mini-batches, dispatching on a dictionary of state."""
    if optimizer not in ("gd", "momentum", "nag", "adagrad", "rmsprop", "adam"):
        raise ValueError("unknown optimizer: " + str(optimizer))
    if batch_size is None:
        batch_size = len(X)
    theta = np.array(theta0, dtype=float)
    state = {"u": np.zeros_like(theta), "m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": 0}
    history = [theta]
    for epoch in range(epochs):
        for idx in minibatches(len(X), batch_size, rng):
            Xb, Yb = X[idx], Y[idx]
            state["t"] += 1
            if optimizer == "gd":
                theta = gd_step(theta, grad_fn(theta, Xb, Yb), **hyper)
            elif optimizer == "momentum":
                theta, state["u"] = momentum_step(theta, grad_fn(theta, Xb, Yb), state["u"], **hyper)
            elif optimizer == "nag":
                look = lambda point, Xb=Xb, Yb=Yb: grad_fn(point, Xb, Yb)
                theta, state["u"] = nag_step(theta, look, state["u"], **hyper)
            elif optimizer == "adagrad":
                theta, state["v"] = adagrad_step(theta, grad_fn(theta, Xb, Yb), state["v"], **hyper)
            elif optimizer == "rmsprop":
                theta, state["v"] = rmsprop_step(theta, grad_fn(theta, Xb, Yb), state["v"], **hyper)
            else:
                theta, state["m"], state["v"] = adam_step(theta, grad_fn(theta, Xb, Yb), state["m"],
                                                          state["v"], state["t"], **hyper)
            history.append(theta)
    return np.array(history)
''',
    "line_search_step": '''
def line_search_step(theta, grad, loss_fn, etas):
    """Try every eta; keep the first one with the lowest loss."""
    best_theta, best_eta, best_loss = None, None, None
    for i in range(len(etas)):
        candidate = np.asarray(theta, dtype=float) - etas[i] * np.asarray(grad, dtype=float)
        loss = loss_fn(candidate)
        if best_loss is None or loss < best_loss:
            best_theta, best_eta, best_loss = candidate, etas[i], loss
    return best_theta, best_eta
''',
}

STATE_FORMS = {
    # momentum keeps the velocity (minus the update): theta + velocity
    "momentum_step": '''
def momentum_step(theta, grad, update, eta, gamma=0.9):
    """Momentum with the state kept as a velocity (= -update)."""
    velocity = np.asarray(update, dtype=float)
    velocity = gamma * velocity - eta * np.asarray(grad, dtype=float)
    return np.asarray(theta, dtype=float) + velocity, velocity
''',
    "nag_step": '''
def nag_step(theta, grad_fn, update, eta, gamma=0.9):
    """NAG with the state kept as a velocity (= -update)."""
    theta = np.asarray(theta, dtype=float)
    velocity = np.asarray(update, dtype=float)
    look_ahead = theta + gamma * velocity
    velocity = gamma * velocity - eta * np.asarray(grad_fn(look_ahead), dtype=float)
    return theta + velocity, velocity
''',
    # Adam keeps the moments together in one stacked array, passed back as m; v unused
    "adam_step": '''
def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam with both moments stacked in one array (returned as m; v is passed through)."""
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    m = np.asarray(m, dtype=float)
    if m.shape == theta.shape:  # the caller's zeros on the first step
        moments = np.zeros((2,) + theta.shape)
    else:
        moments = m.copy()
    moments[0] = beta1 * moments[0] + (1 - beta1) * grad
    moments[1] = beta2 * moments[1] + (1 - beta2) * grad ** 2
    m_hat = moments[0] / (1 - beta1 ** t)
    v_hat = moments[1] / (1 - beta2 ** t)
    return theta - eta * m_hat / np.sqrt(v_hat + eps), moments, v
''',
}

LIST_FRIENDLY = {
    "minibatches": '''
def minibatches(n, batch_size, rng=None):
    """Batches built from a Python list of indices."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    order = list(range(n)) if rng is None else rng.permutation(n).tolist()
    return [np.array(order[i:i + batch_size]) for i in range(0, n, batch_size)]
''',
    "line_search_step": '''
def line_search_step(theta, grad, loss_fn, etas):
    """Candidates kept in a list, the best picked with min()."""
    candidates = [gd_step(theta, grad, eta) for eta in etas]
    losses = [loss_fn(c) for c in candidates]
    best = losses.index(min(losses))
    return candidates[best], etas[best]
''',
    "step_decay": '''
def step_decay(eta0, epoch, drop=0.5, every=5):
    """Step decay with numpy (returns a NumPy float)."""
    return np.float64(eta0) * np.power(drop, epoch // every)
''',
    "exponential_decay": '''
def exponential_decay(eta0, k, t):
    """Exponential decay with numpy (returns a NumPy float)."""
    return eta0 * np.exp(-k * t)
''',
}


def correct(base: str) -> str:
    return base


def loops(base: str) -> str:
    for name, definition in LOOP_FUNCTIONS.items():
        base = with_function(base, name, definition)
    return base


def state_forms(base: str) -> str:
    for name, definition in STATE_FORMS.items():
        base = with_function(base, name, definition)
    return base


def list_friendly(base: str) -> str:
    for name, definition in LIST_FRIENDLY.items():
        base = with_function(base, name, definition)
    return base


def debug_prints(base: str) -> str:
    base = replace_once(base, "    return theta - eta * grad\n",
                        '    print("gd_step: theta", theta, "grad", grad)\n    return theta - eta * grad\n')
    return replace_once(base, "    return theta - update, update\n\n\ndef nag_step",
                        '    print("momentum update", update)\n    return theta - update, update\n\n\ndef nag_step')


def edits(*pairs: tuple[str, str]):
    def apply(base: str) -> str:
        for old, new in pairs:
            base = replace_once(base, old, new)
        return base
    return apply


SIGN_FLIP_GD = ("    return theta - eta * grad\n", "    return theta + eta * grad\n")
NAG_NO_LOOKAHEAD = ("eta * np.asarray(grad_fn(theta_look), dtype=np.float64)",
                    "eta * np.asarray(grad_fn(theta), dtype=np.float64)")
ADAGRAD_NO_SQRT = ("    v = np.asarray(v, dtype=np.float64) + grad**2\n    return theta - eta / np.sqrt(v + eps) * grad, v",
                   "    v = np.asarray(v, dtype=np.float64) + grad**2\n    return theta - eta / (v + eps) * grad, v")
EPS_OUTSIDE_SQRT_ADAM = ("    return theta - eta / np.sqrt(v_hat + eps) * m_hat, m, v",
                         "    return theta - eta / (np.sqrt(v_hat) + eps) * m_hat, m, v")
EPS_OUTSIDE_SQRT_RMSPROP = ("    v = beta * np.asarray(v, dtype=np.float64) + (1.0 - beta) * grad**2\n"
                            "    return theta - eta / np.sqrt(v + eps) * grad, v",
                            "    v = beta * np.asarray(v, dtype=np.float64) + (1.0 - beta) * grad**2\n"
                            "    return theta - eta / (np.sqrt(v) + eps) * grad, v")
RMSPROP_NO_DECAY_WEIGHT = ("beta * np.asarray(v, dtype=np.float64) + (1.0 - beta) * grad**2",
                           "beta * np.asarray(v, dtype=np.float64) + grad**2")
RMSPROP_ACCUMULATES = ("beta * np.asarray(v, dtype=np.float64) + (1.0 - beta) * grad**2",
                       "np.asarray(v, dtype=np.float64) + grad**2")
ADAM_NO_BIAS_CORRECTION = ("    m_hat = m / (1.0 - beta1**t)\n    v_hat = v / (1.0 - beta2**t)\n",
                           "    m_hat = m\n    v_hat = v\n")
ADAM_T_OFF_BY_ONE = ("    m_hat = m / (1.0 - beta1**t)\n    v_hat = v / (1.0 - beta2**t)\n",
                     "    m_hat = m / (1.0 - beta1 ** (t + 1))\n    v_hat = v / (1.0 - beta2 ** (t + 1))\n")
DROPS_LAST = ("    return [order[start : start + batch_size] for start in range(0, n, batch_size)]",
              "    return [order[start : start + batch_size] for start in range(0, n - batch_size + 1, batch_size)]")
ONE_STEP_PER_EPOCH = ("""        for idx in minibatches(len(X), batch_size, rng):
            theta = gd_step(theta, grad_fn(theta, X[idx], Y[idx]), eta)
            history.append(theta)""", """        theta = gd_step(theta, grad_fn(theta, X, Y), eta)
        history.append(theta)""")
SIGN_FLIP_MOMENTUM = ("    return theta - update, update\n\n\ndef nag_step", "    return theta + update, update\n\n\ndef nag_step")


def unimplemented(base: str) -> str:
    return STUB.read_text(encoding="utf-8")


def partial(done: int, stub_path: Path = STUB):
    """The first `done` functions written, the rest as the stub left them."""
    def apply(base: str) -> str:
        names = [line[4:line.index("(")] for line in base.splitlines() if line.startswith("def ")]
        return with_stub(base, names[done:], stub_path)
    return apply


def partial_except(*names: str):
    return lambda base: with_stub(base, list(names))


def syntax_error(base: str) -> str:
    return replace_once(base, "def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8):\n",
                        "def rmsprop_step(theta, grad, v, eta, beta=0.9, eps=1e-8)\n")


def endless_loop(base: str) -> str:
    return with_function(base, "line_search_step", '''
def line_search_step(theta, grad, loss_fn, etas):
    """Line search with a while loop (the counter is never advanced)."""
    i = 0
    best_theta, best_eta = None, None
    best_loss = float("inf")
    while i < len(etas):
        candidate = gd_step(theta, grad, etas[i])
        loss = loss_fn(candidate)
        if loss < best_loss:
            best_theta, best_eta, best_loss = candidate, etas[i], loss
    return best_theta, best_eta
''')


def missing_helper(base: str) -> str:
    return replace_once(base, "import numpy as np\n", "import numpy as np\nfrom my_utils import check_shapes\n")


def in_place(base: str) -> str:
    return with_function(base, "gd_step", '''
def gd_step(theta, grad, eta):
    """Gradient descent, updating theta in place to save memory."""
    theta = np.asarray(theta, dtype=np.float64)
    theta -= eta * np.asarray(grad, dtype=np.float64)
    return theta
''')


def returns_list(base: str) -> str:
    return with_function(base, "gd_step", '''
def gd_step(theta, grad, eta):
    """Gradient descent on each coordinate, collected in a list."""
    return [t - eta * g for t, g in zip(np.ravel(theta), np.ravel(grad))]
''')


def float32(base: str) -> str:
    return base.replace("dtype=np.float64", "dtype=np.float32")


def state_reset_every_epoch(base: str) -> str:
    return edits(("""    state = np.zeros_like(theta)
    second_moment = np.zeros_like(theta)
    t = 0
    history = [theta]
    for _ in range(epochs):
""", """    t = 0
    history = [theta]
    for _ in range(epochs):
        state = np.zeros_like(theta)
        second_moment = np.zeros_like(theta)
"""))(base)


def wrong_schedule(base: str) -> str:
    return replace_once(base, "    return float(eta0 * drop ** (epoch // every))",
                        "    return float(eta0 * drop ** (epoch / every))")


#: student id -> (kind of entry, how the module is made from the student base)
STUDENTS = {
    # correct, in several styles
    "amara_okafor": ("py", correct),
    "ben_carter": ("py", loops),
    "chen_wei": ("py", state_forms),
    "diego_ramos": ("py", list_friendly),
    "eva_novak": ("ipynb", correct),
    "farah_haddad": ("zip", loops),
    "gabriel_silva": ("folder", correct),
    "zoe_martin": ("py", debug_prints),
    # every known mistake of the catalogue
    "hana_sato": ("py", edits(SIGN_FLIP_GD)),
    "ivan_petrov": ("py", edits(NAG_NO_LOOKAHEAD)),
    "jasmine_lee": ("py", edits(ADAGRAD_NO_SQRT)),
    "kofi_mensah": ("py", edits(EPS_OUTSIDE_SQRT_ADAM)),
    "lena_fischer": ("py", edits(RMSPROP_NO_DECAY_WEIGHT)),
    "mateo_garcia": ("py", edits(RMSPROP_ACCUMULATES)),
    "nadia_rahman": ("py", edits(ADAM_NO_BIAS_CORRECTION)),
    "omar_farouk": ("py", edits(ADAM_T_OFF_BY_ONE)),
    "priya_nair": ("py", edits(DROPS_LAST)),
    "quinn_obrien": ("py", edits(ONE_STEP_PER_EPOCH)),
    "wen_zhang": ("py", edits(SIGN_FLIP_MOMENTUM, EPS_OUTSIDE_SQRT_RMSPROP)),
    "elif_yilmaz": ("ipynb", edits(ADAM_NO_BIAS_CORRECTION)),
    # unfinished, broken or otherwise wrong
    "ruth_adeyemi": ("py", unimplemented),
    "sam_taylor": ("py", partial(6)),
    "tara_singh": ("py", partial_except("train", "line_search_step")),
    "uma_patel": ("py", syntax_error),
    "victor_hugo": ("py", endless_loop),
    "bella_rossi": ("py", missing_helper),
    "xavier_dubois": ("py", in_place),
    "yara_haddad": ("py", returns_list),
    "amir_khan": ("py", float32),
    "carlos_mendez": ("py", state_reset_every_epoch),
    "dana_white": ("py", wrong_schedule),
}


# --- writing entries -----------------------------------------------------------------------

TRY_IT = "theta = np.array([1.0, -2.0])\nprint(gd_step(theta, 2 * theta, 0.1))"


def notebook_json(source: str, student: str, title: str = "Optimisers assignment", try_it: str = TRY_IT) -> str:
    """The module as a notebook a student would hand in: a title, the imports, a magic, one
    cell per function, and a cell trying things out (`try_it`, after a shell line)."""
    header, _, rest = source.partition("\ndef ")
    imports = "\n".join(line for line in header.splitlines() if line.startswith(("import ", "from ")))
    functions = ["def " + chunk.strip("\n") for chunk in ("\ndef " + rest).split("\ndef ")[1:]]
    cells = [
        ("markdown", f"# {title}\n\n{student.replace('_', ' ').title()}"),
        ("code", "%matplotlib inline\n" + imports),
        *(("code", function) for function in functions),
        ("markdown", "## Trying it out"),
        ("code", "!python --version\n" + try_it),
    ]
    notebook = {
        "cells": [
            {"cell_type": kind, "id": f"cell-{number:02d}", "metadata": {},
             "source": text.splitlines(keepends=True),
             **({"execution_count": None, "outputs": []} if kind == "code" else {})}
            for number, (kind, text) in enumerate(cells, start=1)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_zip(path: Path, student: str, source: str) -> None:
    """A zip of a folder, as an LMS download: a top folder, the module, a stray README and
    the __MACOSX clutter of a Mac's archiver."""
    members = [
        (f"{student}/{MODULE}", source.encode("utf-8")),
        (f"{student}/README.txt", b"My optimisers assignment. Run the file to see a quick test.\n"),
        (f"__MACOSX/{student}/._{MODULE}", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "),
    ]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def write_cohort(out: Path, students: dict | None = None, reference: Path = REFERENCE,
                 notebook: dict | None = None) -> list[Path]:
    """Write every student's entry into `out` (emptied first); returns the entries.
    `students` (default STUDENTS) maps an id to (kind, make) as STUDENTS does, each made from
    `reference` without its solution markers; `notebook` holds notebook_json's keywords.
    The zip and folder kinds hold the optimizers module (their clutter speaks of it)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    base = student_base(reference)
    written = []
    for student, (kind, make) in (STUDENTS if students is None else students).items():
        source = make(base)
        if kind == "py":
            path = out / f"{student}.py"
            path.write_text(source, encoding="utf-8")
        elif kind == "ipynb":
            path = out / f"{student}.ipynb"
            path.write_text(notebook_json(source, student, **(notebook or {})), encoding="utf-8")
        elif kind == "zip":
            path = out / f"{student}.zip"
            write_zip(path, student, source)
        else:
            path = out / student
            path.mkdir()
            (path / MODULE).write_text(source, encoding="utf-8")
            (path / "notes.txt").write_text("Tried momentum with gamma 0.5 first; 0.9 converges faster.\n",
                                            encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "cohort", help="folder to (re)write")
    args = parser.parse_args(argv)
    written = write_cohort(args.out)
    print(f"wrote {len(written)} submissions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
