"""A notebook submission's record (nbconvert HTML of exactly what was submitted) is written
beside its report and linked from it: by `grader grade --report` and by batch grading."""
from __future__ import annotations

import io
import re

import nbformat

from conftest import run_grader
from grader.batch import run_batch
from grader.batch.outputs import notebook_record_path, report_path
from test_batch_fakes import fake_grade, write_fake


def write_notebook(path, source: str, marker: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {marker}"), nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, path)


def test_grade_report_links_the_notebook_record(optimizers, tmp_path):
    submission = tmp_path / "alice.ipynb"
    write_notebook(submission, optimizers.reference_path.read_text(), "Alice's distinctive heading")
    report = tmp_path / "out" / "alice.html"
    completed = run_grader("grade", "optimizers", str(submission), "--report", str(report))
    assert completed.returncode == 0, completed.stderr
    record = tmp_path / "out" / "alice.notebook.html"
    assert "Alice&#39;s distinctive heading" in record.read_text() or "Alice's distinctive heading" in record.read_text()
    assert 'href="alice.notebook.html"' in report.read_text()


def test_a_module_submission_has_no_notebook_link(optimizers, tmp_path):
    report = tmp_path / "bob.html"
    completed = run_grader("grade", "optimizers", str(optimizers.reference_path), "--report", str(report))
    assert completed.returncode == 0
    assert "notebook.html" not in report.read_text()
    assert not list(tmp_path.glob("*.notebook.html"))


def test_batch_writes_and_links_the_record_of_notebook_entries(optimizers, tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    write_fake(cohort, "bob.py", gd_step=3)
    write_notebook(cohort / "carol.ipynb", "gd_step = 3\n", "Carol's notebook")
    out = tmp_path / "out"
    run_batch(optimizers, cohort, out, grade_fn=fake_grade, stream=io.StringIO(), workers=1)
    record = notebook_record_path(out, "carol")
    assert "Carol" in record.read_text()
    links = re.findall(r'href="([^"]*notebooks[^"]*)"', report_path(out, "carol").read_text())
    assert links == ["../notebooks/carol.html"]
    assert not notebook_record_path(out, "bob").exists()
    assert "notebooks/" not in report_path(out, "bob").read_text()
