"""A notebook submission's record (nbconvert HTML of exactly what was submitted) is written
beside its report and linked from it: by `grader grade --report` and by batch grading."""
from __future__ import annotations

import html
import io
import re

import nbformat

from conftest import run_grader
from grader.batch import run_batch
from grader.batch.layout import notebook_record_path, report_path
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


def test_a_notebook_inside_a_zip_or_folder_gets_its_record_too(optimizers, tmp_path):
    """Zips are read in memory, never extracted: the record comes from the notebook's text."""
    import zipfile

    notebook = tmp_path / "optimizers.ipynb"
    write_notebook(notebook, optimizers.reference_path.read_text(), "Dan zipped this heading")
    with zipfile.ZipFile(tmp_path / "dan.zip", "w") as archive:
        archive.write(notebook, "dan/optimizers.ipynb")
    folder = tmp_path / "erin"
    folder.mkdir()
    (folder / "optimizers.ipynb").write_bytes(notebook.read_bytes())
    for entry, name in ((tmp_path / "dan.zip", "dan"), (folder, "erin")):
        report = tmp_path / "out" / f"{name}.html"
        completed = run_grader("grade", "optimizers", str(entry), "--report", str(report))
        assert completed.returncode == 0, completed.stderr
        record = (tmp_path / "out" / f"{name}.notebook.html").read_text()
        assert "Dan zipped this heading" in html.unescape(record)
        assert f'href="{name}.notebook.html"' in report.read_text()


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


# --- what the record shows (nbconvert with grader/render/record_template) -------------------

PNG_1x1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def hostile_record(tmp_path) -> str:
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

    from grader.notebooks import notebook_record_html

    markdown = new_markdown_cell("## Working\n<script>alert('md')</script>\n\n![t](https://tracker.example/x.png) "
                                 "![mine](attachment:plot.png) [link](javascript:alert%281%29)")
    markdown.attachments = {"plot.png": {"image/png": PNG_1x1}}
    nb = new_notebook(cells=[
        markdown,
        new_raw_cell("<iframe src='https://evil.example'></iframe>"),
        new_code_cell("x = 1 < 2 and '&'", execution_count=7, outputs=[
            new_output("stream", name="stderr", text="a warning\n"),
            new_output("execute_result", execution_count=7, data={"text/plain": "True"}),
            new_output("display_data", data={"image/png": PNG_1x1, "text/plain": "<Figure>"}),
            new_output("display_data", data={"text/html": "<script>alert('h')</script><b>bold</b>"
                                                          "<img src='https://tracker.example/y.png'>"}),
            new_output("display_data", data={"application/javascript": "alert('js')"}),
            new_output("error", ename="ValueError", evalue="bad", traceback=["\x1b[0;31mValueError\x1b[0m: bad"]),
        ]),
    ])
    path = tmp_path / "dana.ipynb"
    nbformat.write(nb, path)
    return notebook_record_html(path)


def visible_text(record: str) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]*>", "", record))


def test_the_record_shows_every_cell_and_output_and_runs_nothing(tmp_path):
    record = hostile_record(tmp_path)
    text = visible_text(record)
    assert "<h2>Working</h2>" in record  # Markdown is rendered
    assert "x = 1 < 2 and '&'" in text and "1 < 2" not in record  # code is escaped (and highlighted) text
    assert re.search(r'class="[^"]*\bhighlight\b', record)  # pygments' classes
    assert "In [7]:" in text and "Out[7]:" in text  # the stored counts, not re-run
    assert "a warning" in text and "True" in text and "<b>bold</b>" in record
    assert "ValueError: bad" in text and "\x1b" not in record  # ANSI colours made into classes
    assert f'src="data:image/png;base64,{PNG_1x1}"' in record  # the image output ...
    assert record.count(f"data:image/png;base64,{PNG_1x1}") == 2  # ... and the cell's attachment
    assert "&lt;iframe" in record and "<iframe" not in record  # a raw cell is text
    assert "alert('md')" in text and "alert('h')" in text  # hostile markup shown as text, not dropped
    assert "alert('js')" not in text  # JavaScript outputs are not part of a static record


def test_the_record_has_no_script_and_fetches_nothing(tmp_path):
    record = hostile_record(tmp_path)
    assert not re.search(r"<script", record, re.I)
    assert not re.search(r"<(?:img|iframe|link|script)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", record, re.I)
    assert ">link</a>" in record and not re.search(r"href\s*=\s*[\"']?\s*javascript:", record, re.I)
    assert "default-src 'none'" in record  # the CSP forbids scripts and fetches anyway
    assert "https://tracker.example/x.png" in record  # an outside image is named, not loaded


def test_an_unreadable_notebook_is_one_line_naming_the_file(tmp_path):
    from grader.notebooks import notebook_record_html

    for name, text in (("list.ipynb", "[1, 2]"), ("cut.ipynb", '{"cells": [')):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        try:
            notebook_record_html(path)
        except ValueError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        else:
            raise AssertionError(f"{name} was accepted")


def test_markdown_with_and_without_raw_html_keeps_its_structure(tmp_path):
    """The sanitiser keeps Markdown's own tags, with or without raw HTML in the cell."""
    from nbformat.v4 import new_markdown_cell, new_notebook

    from grader.notebooks import notebook_record_html

    cells = [new_markdown_cell("# Plain\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ $x^2 < 1$"),
             new_markdown_cell("# Mixed\n\nsome <b>bold</b> and <img src=x onerror=alert(1)>\n\n"
                               "<div onclick=\"alert(2)\">a block</div>")]
    nbformat.write(new_notebook(cells=cells), tmp_path / "md.ipynb")
    record = notebook_record_html(tmp_path / "md.ipynb")
    assert "<h1>Plain</h1>" in record and "<h1>Mixed</h1>" in record
    assert "<td>1</td>" in record and "<del>gone</del>" in record
    assert '<math title="x^2 &lt; 1" display="inline">' in record  # LaTeX is MathML, its source the title
    assert "<b>bold</b>" in record and "a block</div>" in record
    assert not re.search(r"<[^>]*\bon(?:error|click)\s*=", record, re.I)  # no event handlers
    assert not re.search(r"<img\b[^>]*src=\"?x", record)


def test_image_metadata_cannot_point_an_image_elsewhere_or_break_out_of_its_tag(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from grader.notebooks import notebook_record_html

    output = new_output("display_data", data={"image/png": PNG_1x1}, metadata={
        "filenames": {"image/png": "https://tracker.example/z.png"},
        "image/png": {"width": "1 onerror=alert(1)", "alt": "\"><script>x</script>"}})
    nbformat.write(new_notebook(cells=[new_code_cell("plot()", outputs=[output])]), tmp_path / "img.ipynb")
    record = notebook_record_html(tmp_path / "img.ipynb")
    assert f'src="data:image/png;base64,{PNG_1x1}"' in record and "tracker.example" not in record
    # a width that is not a small number is dropped (the sanitiser's rule), not written as given
    assert not re.search(r"<img\b[^>]*\swidth=", record) and "onerror" not in record and "<script" not in record


def test_the_exporter_is_built_once_per_process(tmp_path):
    from grader.render.notebook_record import record_exporter

    assert record_exporter() is record_exporter()


def test_records_are_the_same_with_the_cell_cache(monkeypatch):
    """Cells are highlighted and rendered once per process by their source (a cohort shares
    the handout's): every record is exactly what rendering each cell afresh gives, and an
    edited cell is rendered anew."""
    import json
    from pathlib import Path

    import grader.render.notebook_record as notebook_record

    handout = (Path(__file__).resolve().parent.parent / "assignments" / "optimizers" / "optimizers.ipynb").read_text()

    def student(number: int, heading: str) -> str:
        notebook = json.loads(handout)
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.startswith("def "):
                cell["source"] = source + f"\n# student {number}\n"
        notebook["cells"][0]["source"] = heading
        return json.dumps(notebook)

    notebooks = [student(1, "# Gradient descent"), student(2, "# Gradient descent"), student(2, "# My *own* title")]
    cached = [notebook_record.record_html(text, "x") for text in notebooks]
    monkeypatch.setattr(notebook_record, "CACHED_CELL_CHARS", -1)
    assert cached == [notebook_record.record_html(text, "x") for text in notebooks]
    assert "# student 2" in cached[1] and "student 1" not in cached[1]
    assert "<em>own</em>" in cached[2] and "<em>own</em>" not in cached[1]
