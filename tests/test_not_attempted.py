"""An untouched stub is its own state (contract: a part whose every test raised
NotImplementedError has `"attempted": false`), and every rendering says "not attempted":
JSON, terminal, Markdown, the HTML report (one line, no plots), the dashboard and the CSV."""
from __future__ import annotations

import csv
import io

import numpy as np

from grader.batch.dashboard import dashboard_context
from grader.batch.final_grades import final_grades
from grader.batch.gradebook import Gradebook
from grader.batch.outputs import grades_csv
from grader.render.html import render_report
from grader.render.markdown import render_markdown
from grader.render.text import render_text
from grader.results import GradingResult, PartResult, Trace
from grader.results import TestResult as ResultOfTest  # not "Test*": pytest would collect it

STUB = "not implemented yet: the function still raises NotImplementedError"


def half_done(student: str = "nina") -> GradingResult:
    reference = np.cumsum(np.ones((30, 2)), axis=0)
    tests = [
        ResultOfTest("gd_step: 3 steps", "gd_step", 3.0, 3.0, "passed"),
        ResultOfTest("adam_step: 200 steps", "adam_step", 0.0, 4.0, "error", output=STUB, not_implemented=True,
                   traces=[Trace("adam_step, 200 steps", None, reference, problem={"kind": "quadratic",
                           "A": [[1.0, 0.0], [0.0, 2.0]], "b": [0.0, 0.0]})]),
        ResultOfTest("adam_step: 3 steps", "adam_step", 0.0, 4.0, "error", output=STUB, not_implemented=True),
    ]
    parts = [PartResult("gd_step", 3.0, 3.0), PartResult("adam_step", 0.0, 8.0, attempted=False)]
    return GradingResult("optimizers", student, "graded", 3.0, 11.0, parts=parts, tests=tests)


def test_json_says_attempted_false_and_reads_back():
    data = half_done().to_dict()
    assert [(p["function"], p["attempted"]) for p in data["parts"]] == [("gd_step", True), ("adam_step", False)]
    assert [t["status"] for t in data["tests"]] == ["passed", "error", "error"]
    assert GradingResult.from_dict(data).parts[1].attempted is False


def test_text_and_markdown_say_not_attempted_not_error():
    text = render_text(half_done())
    assert "adam_step                0 / 8  (not attempted)" in text
    assert "raised an error" not in text and "[ERR" not in text
    markdown = render_markdown(half_done())
    assert "| `adam_step` | 0 / 8 | not attempted |" in markdown and "raised an error" not in markdown


def test_report_of_a_stub_is_one_line_without_plots():
    html = render_report(half_done())
    section = html[html.index('id="part-adam_step"'):]
    section = section[:section.index("</section>")]
    assert "not attempted: the function still raises NotImplementedError" in section
    assert "<img" not in html and "<article" not in section and "your code raised" not in html
    assert "Not attempted yet:" in html


def test_dashboard_and_csv_count_parts_not_attempted(tmp_path, optimizers):
    with Gradebook(tmp_path, optimizers.id) as book:
        book.record(half_done("nina"), entry="nina.py", content_hash="a", checks_hash="c")
        done = half_done("omar")
        done.parts[1] = PartResult("adam_step", 8.0, 8.0)
        book.record(done, entry="omar.py", content_hash="b", checks_hash="c")
        context = dashboard_context(book, optimizers, tmp_path)
        grades = list(final_grades(book, optimizers, ["nina", "omar"]))
        rows = {row["student"]: row for row in csv.DictReader(io.StringIO(grades_csv(grades, optimizers)))}
    parts = {p["function"]: p["not_attempted"] for p in context["parts"]}
    assert parts["adam_step"] == 1 and parts["gd_step"] == 0
    assert rows["nina"]["not_attempted"] == "adam_step" and rows["omar"]["not_attempted"] == ""
    assert rows["nina"]["adam_step"] == "0"  # scores stay numbers for an LMS import
