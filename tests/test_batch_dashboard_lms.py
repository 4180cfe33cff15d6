"""The dashboard after issue 16: one denominator for every mean (said on the page), a student
x part matrix linking to each part of the reports, every table in a box that scrolls on a
phone, exact histogram bins; and the LMS files' cells neutralised like grades.csv's."""
from __future__ import annotations

import csv
import re

import pytest

from grader.batch.dashboard import histogram, histogram_bins
from grader.batch.lms_exports import feedback_name
from test_batch_run import batch, make_cohort


def test_histogram_bins_count_a_score_on_an_edge_where_the_caption_says():
    # with a maximum of 0.9 the 16th edge is 15 * 0.045 = 0.6749999999999999, and that score
    # divided by the width gives 14.999999999999998: division would count it one bin too low
    edge = 15 * (0.9 / 20)
    bins = histogram_bins([edge, 0.0, 0.9], 0.9)
    assert len(bins) == 20 and bins[-1][1] == 0.9
    assert bins[15][0] == edge and bins[15][2] == 1 and bins[14][2] == 0
    assert bins[0][2] == 1 and bins[-1][2] == 1  # full marks in the last bin
    alt = histogram([3.0, 59.0, 60.0], 60.0, 2)["alt"]
    assert "1 scored at least 3 and below 6" in alt
    assert "2 scored from 57 to 60 inclusive" in alt
    assert "2 students without a score (not graded or no submission) are not shown" in alt


@pytest.fixture
def dashboard(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out, workers=1)
    return out, (out / "index.html").read_text()


def test_one_denominator_said_and_used_for_every_mean(dashboard, optimizers):
    out, html = dashboard
    # alice 11, bob 1, dave 7, erin 10 have a score; carol could not be graded
    assert "Every mean on this page is over the 4 students with a score" in html
    assert "1 not graded and 0 with no submission have no score and are not counted as 0" in html
    assert re.search(r"<b>7\.2</b>mean of 60", html)  # (11 + 1 + 7 + 10) / 4 = 7.25, not / 5
    # gd_step: alice 3, bob 1, dave 2, erin 0 -> mean 1.50 over the same four
    row = re.search(r"<code>gd_step</code></td>\s*<td class=\"num\">([0-9.]+) / 3</td>", html)
    assert row and row.group(1) == "1.50"


def test_matrix_links_each_cell_to_the_part_in_the_report(dashboard, optimizers):
    out, html = dashboard
    matrix = html[html.index('<table class="matrix">'):]
    matrix = matrix[:matrix.index("</table>")]
    assert matrix.count("<tr>") == 1 + 5  # header and five students
    assert '<a href="reports/alice.html#part-adam_step">8</a>' in matrix
    assert (out / "reports" / "alice.html").read_text().count('id="part-adam_step') >= 1
    assert "not graded" in matrix  # carol


def test_every_table_scrolls_inside_its_own_box(dashboard):
    _, html = dashboard
    tables = html.count("<table")
    assert tables >= 6
    assert len(re.findall(r'<div class="scroll" role="region" aria-label="[^"]+" tabindex="0">\s*<table', html)) == tables
    assert ".scroll { overflow-x: auto;" in html


def test_lms_csv_cells_are_neutralised_and_feedback_names_stay_in_their_folder(tmp_path, optimizers):
    from grader.batch import run_batch
    from test_batch_fakes import fake_grade, write_fake
    import io

    cohort = tmp_path / "cohort"
    cohort.mkdir()
    write_fake(cohort, "alice.py", gd_step=3)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email,sis_id\nalice,=HYPERLINK(\"http://x\"),@evil,+1\n", encoding="utf-8")
    out = tmp_path / "out"
    run_batch(optimizers, cohort, out, workers=1, grade_fn=fake_grade, stream=io.StringIO(), roster=roster)
    canvas = list(csv.reader((out / "grades-canvas.csv").open(newline="")))
    assert canvas[2][0] == "'=HYPERLINK(\"http://x\")" and canvas[2][2] == "+1"  # a number stays a number
    moodle = list(csv.reader((out / "grades-moodle.csv").open(newline="")))
    assert moodle[1][:2] == ["'=HYPERLINK(\"http://x\")", "'@evil"]
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["alice.html"]
    from grader.batch.final_grades import FinalGrade

    grade = FinalGrade("bob", "graded", 60, 1, 1, "")
    assert feedback_name(grade, {"feedback_name": "../../etc/x_1_2_feedback.html"}) == "bob.html"
    assert feedback_name(grade, {"feedback_name": "smithjohn_1_2_feedback.html"}) == "smithjohn_1_2_feedback.html"
    long_name = "Ana " * 80 + "_1044_assignsubmission_file_feedback.html"  # over 255 bytes: no file system takes it
    assert feedback_name(grade, {"feedback_name": long_name}) == "bob.html"
