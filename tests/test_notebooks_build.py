"""The generated notebooks and handouts: drift from the generator, structure, determinism,
template errors, and the HTML record of a submitted notebook."""
from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grader.course import Course
from grader.notebooks import (METADATA_KEY, NotebookBuildError, export_notebook_html, handout_text,
                              notebook_cells, notebook_text, split_module)
from grader.stubs import stub_for

COURSE = Course.find(Path(__file__).resolve().parent)
ASSIGNMENTS = COURSE.assignments()
IDS = [a.id for a in ASSIGNMENTS]

#: What each notebook's one plot cell draws, from the lecture's figures: the error surface
#: of the two points over [-6, 6]^2, or XOR's loss curve and decision boundary.
ERROR_SURFACE = ("contourf", "np.linspace(-6, 6", "np.array([0.5, 2.5])", "np.array([0.2, 0.9])")
LECTURE_PLOT = {"sigmoid_neuron": ERROR_SURFACE, "optimizers": ERROR_SURFACE,
                "backprop": ("semilogy(losses", "contour(", "levels=[0.5]", "np.linspace(-0.5, 1.5")}


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_committed_notebook_and_handout_match_the_generator(assignment):
    """Drift test: `grader build` regenerates these; a stale commit fails here."""
    committed = assignment.directory / f"{assignment.module}.ipynb"
    assert committed.read_text(encoding="utf-8") == notebook_text(assignment), \
        f"{committed} differs from the generator: run `grader build {assignment.id}`"
    handout = assignment.directory / "handout.md"
    assert handout.read_text(encoding="utf-8") == handout_text(assignment), \
        f"{handout} differs from the generator: run `grader build {assignment.id}`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_notebook_has_one_code_cell_per_stub_function_in_order_imports_first(assignment):
    nb = nbformat.reads(notebook_text(assignment), as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata[METADATA_KEY] == {"assignment": assignment.id, "module": assignment.module}
    assert [c.id for c in nb.cells] == [f"cell-{i}" for i in range(len(nb.cells))]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[0].metadata[METADATA_KEY]["role"] == "imports"
    assert "import numpy as np" in code[0].source

    stub = split_module(stub_for(assignment))
    function_cells = [c for c in code if c.metadata[METADATA_KEY]["role"] == "function"]
    assert [c.metadata[METADATA_KEY]["function"] for c in function_cells] == list(stub.functions)
    # the graded parts appear in assignment.toml's order (helpers may sit between them)
    assert [f for f in stub.functions if f in assignment.functions] == assignment.functions
    for cell in function_cells:
        name = cell.metadata[METADATA_KEY]["function"]
        assert cell.source == stub.functions[name]
        (node,) = ast.parse(cell.source).body
        assert node.name == name and ast.get_docstring(node)
        # a graded part is a stub; a helper the handout gives (backprop's sigmoid) is whole
        assert ("raise NotImplementedError" in cell.source) == (name in assignment.functions)


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_notebook_has_self_checks_a_plot_and_the_lecture_formulas(assignment):
    cells = notebook_cells(assignment)
    checks = [c.source for c in cells if c.role == "check"]
    for function in assignment.functions:
        assert f'import grader\ngrader.check("{function}")' in checks
    assert checks[-1] == "import grader\ngrader.check()"
    plots = [c.source for c in cells if c.role == "code" and "matplotlib" in c.source]
    assert len(plots) == 1
    assert all(piece in plots[0] for piece in LECTURE_PLOT[assignment.id])
    ast.parse(plots[0])
    markdown = "\n".join(c.source for c in cells if c.kind == "markdown")
    assert "$$" in markdown
    # the derivation of why the step goes against the gradient, in both assignments
    assert "Taylor" in markdown and r"\theta_{t+1} = \theta_t - \eta\, \nabla \mathcal{L}(\theta_t)" in markdown


def test_the_lecture_formulas_each_assignment_needs():
    sigmoid = "\n".join(c.source for c in notebook_cells(COURSE.get("sigmoid_neuron")) if c.kind == "markdown")
    assert r"\sigma(z)\,\big(1 - \sigma(z)\big)" in sigmoid  # sigmoid derivative
    assert r"\big(f(x) - y\big)\, f(x)\, \big(1 - f(x)\big)\, x" in sigmoid  # dL/dw
    optimizers = "\n".join(c.source for c in notebook_cells(COURSE.get("optimizers")) if c.kind == "markdown")
    assert r"\hat m_t = \frac{m_t}{1 - \beta_1^t}" in optimizers  # Adam's bias correction
    assert r"\mathbb{E}[m_t] = \mathbb{E}[g]\, (1 - \beta_1) \sum" in optimizers
    for rule in (r"u_t = \gamma\, u_{t-1} + \eta\, g_t", r"v_t = v_{t-1} + g_t^2",
                 r"v_t = \beta\, v_{t-1} + (1 - \beta)\, g_t^2", r"\theta_{\text{look}} = \theta_t - \gamma\, u_{t-1}"):
        assert rule in optimizers


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=IDS)
def test_handout_is_markdown_without_cells_and_shows_every_signature(assignment):
    text = handout_text(assignment)
    assert "\x00" not in text and "grader.check(" in text  # prose mentions it, no check cells
    assert "raise NotImplementedError" not in text
    for function in assignment.functions:
        assert re.search(rf"^def {function}\(", text, re.M), function
    assert "matplotlib" not in text
    assert text.count("```") % 2 == 0
    assert "public tests only" in text.lower()


def test_generation_is_deterministic():
    assignment = ASSIGNMENTS[0]
    assert notebook_text(assignment) == notebook_text(assignment)


def _course_copy(tmp_path: Path, assignment_id: str) -> Path:
    for sub in ("assignments", "solutions"):
        shutil.copytree(COURSE.root / sub / assignment_id, tmp_path / sub / assignment_id)
    shutil.copytree(COURSE.root / "templates" / "notebook", tmp_path / "templates" / "notebook")
    return tmp_path


def test_a_stub_function_missing_from_the_template_is_an_error(tmp_path):
    root = _course_copy(tmp_path, "sigmoid_neuron")
    template = root / "assignments/sigmoid_neuron/handout.md.j2"
    template.write_text(template.read_text().replace('{{ function("grad_b") }}', ""))
    with pytest.raises(NotebookBuildError, match="grad_b have no function"):
        notebook_text(Course(root).get("sigmoid_neuron"))


def test_an_unknown_function_in_the_template_is_an_error(tmp_path):
    root = _course_copy(tmp_path, "sigmoid_neuron")
    template = root / "assignments/sigmoid_neuron/handout.md.j2"
    template.write_text(template.read_text() + '\n{{ function("no_such_thing") }}\n')
    with pytest.raises(NotebookBuildError, match="no_such_thing"):
        notebook_text(Course(root).get("sigmoid_neuron"))


def test_split_module_keeps_imports_and_constants_and_decorators():
    source = '"""doc"""\nimport math\n\nimport numpy as np\nK = 3\n\n\n# helper\n@staticmethod\ndef f(x):\n    """d"""\n    return x\n\n\ndef g():\n    pass\n'
    parts = split_module(source)
    assert parts.preamble == "import math\n\nimport numpy as np\nK = 3"
    assert parts.functions == {"f": "# helper\n@staticmethod\ndef f(x):\n    \"\"\"d\"\"\"\n    return x",
                               "g": "def g():\n    pass"}


# --- the HTML record of a submitted notebook ---------------------------------------------

def _hostile_notebook(path: Path) -> Path:
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

    nb = new_notebook(cells=[
        new_markdown_cell("# My answers $x^2$\n<script>alert('md')</script> ![t](https://tracker.example/x.png)"),
        new_raw_cell("<script>alert('raw')</script>", metadata={"format": "text/html"}),
        new_code_cell("def gd_step(theta, grad, eta):\n    return theta - eta * grad", execution_count=3, outputs=[
            new_output("stream", name="stdout", text="printed by the student\n"),
            new_output("display_data", data={"application/javascript": "alert('js')", "text/plain": "js"}),
            new_output("display_data", data={"text/html": "<script>alert('html')</script><b>bold</b>"}),
        ]),
    ])
    nbformat.write(nb, path)
    return path


def test_export_notebook_html_is_a_faithful_static_record(tmp_path):
    source = _hostile_notebook(tmp_path / "alice.ipynb")
    out = export_notebook_html(source, tmp_path / "records" / "alice.html")
    assert out == tmp_path / "records" / "alice.html"
    html = out.read_text(encoding="utf-8")
    assert "gd_step" in html and "printed by the student" in html and "My answers" in html
    assert re.search(r"In\s\[3\]", html)  # the stored execution count: shown as submitted, not re-run
    assert not re.search(r"<script", html, re.I), "no script at all: nothing runs, nothing loads"
    assert not re.search(r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html, re.I)
    assert "@import url(http" not in html


def test_export_notebook_html_refuses_a_broken_notebook_in_one_line(tmp_path):
    broken = tmp_path / "bob.ipynb"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bob.ipynb: not a readable notebook") as info:
        export_notebook_html(broken, tmp_path / "bob.html")
    assert "\n" not in str(info.value)


def test_export_of_the_generated_notebook_keeps_every_cell(tmp_path):
    assignment = COURSE.get("sigmoid_neuron")
    html = export_notebook_html(assignment.directory / "sigmoid_neuron.ipynb", tmp_path / "nb.html").read_text()
    for function in assignment.functions:
        assert f"{function}" in html
    cells = json.loads((assignment.directory / "sigmoid_neuron.ipynb").read_text())["cells"]
    assert html.count("jp-Cell ") >= len(cells)
