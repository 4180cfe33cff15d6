"""The generated notebooks run top to bottom in a real Jupyter kernel with the reference filled
in, self-check cells included (grader.check inside the kernel, public tests in the sandbox)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.course import Course
from grader.notebooks import METADATA_KEY, split_module

COURSE = Course.find(Path(__file__).resolve().parent)
RUNNABLE = [a for a in COURSE.assignments()
            if a.has_solutions and (a.public_checks / "public_expected.npz").is_file() and a.probes_path.is_file()]


def _role(cell) -> str | None:
    return cell.get("metadata", {}).get(METADATA_KEY, {}).get("role")


def _with_reference(assignment) -> nbformat.NotebookNode:
    """The committed notebook with every function cell replaced by the reference's function."""
    nb = nbformat.read(assignment.directory / f"{assignment.module}.ipynb", as_version=4)
    reference = split_module(assignment.reference_path.read_text(encoding="utf-8")).functions
    for cell in nb.cells:
        if _role(cell) == "function":
            cell.source = reference[cell.metadata[METADATA_KEY]["function"]]
    return nb


def _run(nb, assignment, allow_errors: bool = False) -> nbformat.NotebookNode:
    # the kernel starts where a student opens the notebook: the assignment's folder
    client = NotebookClient(nb, timeout=240, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(assignment.directory)}})
    client.execute()
    return nb


def _html(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", RUNNABLE, ids=[a.id for a in RUNNABLE])
def test_notebook_runs_top_to_bottom_with_the_reference(assignment):
    nb = _run(_with_reference(assignment), assignment)  # raises CellExecutionError on any error

    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"]
    checks = [c for c in nb.cells if _role(c) == "check"]
    assert len(checks) == len(assignment.functions) + 1
    for cell in checks:
        html = _html(cell)
        assert "grader-self-check" in html, cell.source
        assert "Public tests only" in html and "hidden checks" in html
        assert "all tests passed" not in html.lower()
        passed, total = map(int, re.search(r"(\d+) of (\d+) public tests passed", html).groups())
        assert passed == total > 0, html
        # the returned GradingResult adds no `Out[n]:` under the summary
        assert not [o for o in cell.outputs if o.output_type == "execute_result"], cell.outputs
    function = checks[0].metadata[METADATA_KEY]["function"]
    assert f"Self-check of <code>{function}</code>" in _html(checks[0])
    assert f"Self-check of {assignment.id}" in _html(checks[-1])

    plots = [c for c in nb.cells if _role(c) == "code" and "matplotlib" in c.source]
    assert any("image/png" in o.get("data", {}) for o in plots[0].outputs), "the trajectory plot is drawn"


@pytest.mark.slow
def test_run_all_on_a_half_done_notebook_reaches_the_final_check():
    """Demo cells that need unfinished functions say so in one line instead of stopping "Run
    all"; the final grader.check() runs, names the known mistake and shows its columns in a
    monospace block; unfinished parts are "not attempted"."""
    assignment = COURSE.get("optimizers") if "optimizers" in [a.id for a in RUNNABLE] else pytest.skip("no optimizers")
    nb = nbformat.read(assignment.directory / f"{assignment.module}.ipynb", as_version=4)
    reference = split_module(assignment.reference_path.read_text(encoding="utf-8")).functions
    mutant = split_module((assignment.solution_directory / "mutants" / "adam_no_bias_correction.py")
                          .read_text(encoding="utf-8")).functions
    for cell in nb.cells:
        if _role(cell) == "function" and cell.metadata[METADATA_KEY]["function"] == "gd_step":
            cell.source = reference["gd_step"]
        if _role(cell) == "function" and cell.metadata[METADATA_KEY]["function"] == "adam_step":
            cell.source = mutant["adam_step"]
    nb = _run(nb, assignment)  # raises CellExecutionError if any cell stops "Run all"

    demos = [c for c in nb.cells if _role(c) == "code"]
    printed = "".join(o.get("text", "") for c in demos for o in c.outputs if o.output_type == "stream")
    assert re.search(r"Skipped: this cell needs \w+, which is not written yet", printed), printed
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))
    final = [c for c in nb.cells if _role(c) == "check"][-1]
    html = _html(final)
    assert f"Self-check of {assignment.id}" in html and "Likely mistake" in html and "adam.no_bias_correction" in html
    assert "font-family:ui-monospace" in html and "not attempted" in html
    assert not [o for o in final.outputs if o.output_type == "execute_result"]


@pytest.mark.slow
def test_self_check_of_the_untouched_stub_reports_failures_without_raising():
    assignment = RUNNABLE[0] if RUNNABLE else pytest.skip("no assignment built yet")
    nb = nbformat.read(assignment.directory / f"{assignment.module}.ipynb", as_version=4)
    first = assignment.functions[0]
    keep = [c for c in nb.cells if _role(c) == "imports"
            or (_role(c) in ("function", "check") and c.metadata[METADATA_KEY].get("function") == first)]
    nb.cells = keep
    nb = _run(nb, assignment)
    html = _html(keep[-1])
    assert re.search(r"0 of \d+ public tests passed", html)
    assert "NotImplementedError" in html and "not attempted" in html and "Public tests only" in html


@pytest.mark.parametrize("assignment", RUNNABLE, ids=[a.id for a in RUNNABLE])
def test_the_filled_in_notebook_as_a_submission_scores_full_marks(assignment, tmp_path):
    """Self-check cells (generated or typed by the student) and demo cells are not part of the
    submission: the sandbox has no grader to import, and the plot must not run at import."""
    from grader.grade import grade_submission

    nb = _with_reference(assignment)
    nb.cells.append(nbformat.v4.new_code_cell("import grader\ngrader.check()"))  # no metadata: typed
    path = tmp_path / f"{assignment.module}.ipynb"
    nbformat.write(nb, path)
    result = grade_submission(assignment, path, student="nb")
    assert result.status == "graded", result.error
    failed = [(t.name, t.output[:200]) for t in result.tests if t.status != "passed"]
    assert not failed and result.score == assignment.max_score
