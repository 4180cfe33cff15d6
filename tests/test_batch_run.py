"""run_batch end to end with a stand-in grading function (test_batch_fakes.fake_grade): the
gradebook, resuming, --force / --only, crashes, the CSV, the per-student files, the dashboard."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest

from grader.batch import run_batch
from grader.batch.cohort import CohortError
from grader.batch.gradebook import Gradebook
from grader.batch.outputs import csv_columns
from grader.ids import file_stem
from test_batch_fakes import fake_grade, write_fake


def make_cohort(folder):
    folder.mkdir()
    write_fake(folder, "alice.py", gd_step=3, adam_step=8, miss="adam_step:adam.no_bias_correction")
    write_fake(folder, "bob.py", gd_step=1, miss=["adam_step:adam.no_bias_correction", "nag_step:nag.no_lookahead"])
    write_fake(folder, "carol.py", broken="syntax error in carol.py line 3: expected ':'")
    (folder / "dave").mkdir()
    write_fake(folder / "dave", "optimizers.py", gd_step=2, momentum_step=5)
    with zipfile.ZipFile(folder / "erin.zip", "w") as zf:
        zf.writestr("erin/optimizers.py", "train=8\nstep_decay=2\n")
    return folder


def batch(assignment, cohort, out, **kwargs):
    stream = io.StringIO()
    kwargs.setdefault("workers", 2)
    summary = run_batch(assignment, cohort, out, grade_fn=fake_grade, stream=stream, **kwargs)
    return summary, stream.getvalue()


def graded_at(out, assignment):
    with Gradebook(out, assignment.id) as book:
        return {row.student: row.graded_at for row in book.rows()}


def test_gradebook_matches_grading_each_submission_alone(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    summary, log = batch(optimizers, cohort, tmp_path / "out")
    assert sorted(summary.graded) == ["alice", "bob", "carol", "dave", "erin"]
    assert summary.failed == ["carol"]
    with Gradebook(tmp_path / "out", optimizers.id) as book:
        for entry in sorted(cohort.iterdir()):
            student = entry.name.split(".")[0]
            alone = fake_grade(optimizers, entry, student).to_dict()
            stored = book.result(student).to_dict()
            assert stored == alone, student
            assert [t[1] for t in book.tests(student)] == [t["name"] for t in alone["tests"]]
            assert [p[1] for p in book.parts(student)] == optimizers.functions
    assert "[5/5]" in log and "carol: not graded: syntax error" in log


def test_resume_skips_unchanged_and_regrades_changed_submissions(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out)
    before = graded_at(out, optimizers)

    summary, log = batch(optimizers, cohort, out)
    assert summary.graded == [] and len(summary.skipped) == 5
    assert graded_at(out, optimizers) == before
    assert "grading 0" in log and "5 unchanged" in log

    write_fake(cohort, "bob.py", gd_step=3)  # bob edits his file
    write_fake(cohort / "dave", "notes.txt", note="a new file in a folder entry")
    summary, _ = batch(optimizers, cohort, out)
    assert sorted(summary.graded) == ["bob", "dave"]
    after = graded_at(out, optimizers)
    assert after["bob"] > before["bob"] and after["dave"] > before["dave"]
    assert {s: after[s] for s in ("alice", "carol", "erin")} == {s: before[s] for s in ("alice", "carol", "erin")}
    with Gradebook(out, optimizers.id) as book:
        assert book.result("bob").score == 3

    summary, _ = batch(optimizers, cohort, out, force=True)
    assert len(summary.graded) == 5
    assert all(graded_at(out, optimizers)[s] > after[s] for s in after)


def test_only_regrades_the_named_students_and_outputs_stay_complete(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out)
    before = graded_at(out, optimizers)
    write_fake(cohort, "alice.py", gd_step=1)  # changed, but not asked for
    summary, _ = batch(optimizers, cohort, out, only=["bob"])
    assert summary.graded == ["bob"]
    after = graded_at(out, optimizers)
    assert after["bob"] > before["bob"] and after["alice"] == before["alice"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "dave", "erin"]
    with pytest.raises(CohortError, match="no student 'zed'"):
        batch(optimizers, cohort, out, only=["zed"])


def test_a_dying_worker_or_a_grader_bug_costs_one_submission(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    write_fake(cohort, "frank.py", die=1, gd_step=3)
    write_fake(cohort, "gina.py", **{"raise": 1})
    for i in range(6):
        write_fake(cohort, f"s{i}.py", gd_step=i % 4, sleep=0.05)
    out = tmp_path / "out"
    summary, _ = batch(optimizers, cohort, out)
    assert len(summary.graded) == 13 and sorted(summary.failed) == ["carol", "frank", "gina"]
    with Gradebook(out, optimizers.id) as book:
        rows = {row.student: row for row in book.rows()}
    assert rows["frank"].error.startswith("grading crashed: the worker process grading it died")
    assert rows["gina"].error == "internal error while grading: RuntimeError: fake grader bug"
    assert all(rows[f"s{i}"].status == "graded" and rows[f"s{i}"].score == i % 4 for i in range(6))
    # crashes are not grades: the next run retries them, and only them
    summary, _ = batch(optimizers, cohort, out)
    assert sorted(summary.graded) == ["frank", "gina"]


def test_csv_has_one_column_per_part_and_the_reason_for_errors(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out)
    with (out / "grades.csv").open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = {row[0]: dict(zip(header, row)) for row in reader}
    assert header == ["student", "score", "max_score", *optimizers.functions, "raw_score", "late_penalty",
                      "lms_late", "submitted_at", "status", "error", "adjustments",
                      "not_attempted"]
    assert header == csv_columns(optimizers)
    assert rows["alice"]["score"] == "11" and rows["alice"]["max_score"] == "60"
    assert rows["alice"]["gd_step"] == "3" and rows["alice"]["adam_step"] == "8" and rows["alice"]["train"] == "0"
    assert rows["erin"]["train"] == "8"
    # could not be graded: empty score cells and the reason, never a silent 0
    assert rows["carol"]["status"] == "error" and rows["carol"]["score"] == ""
    assert rows["carol"]["gd_step"] == "" and rows["carol"]["raw_score"] == ""
    assert rows["alice"]["raw_score"] == "11" and rows["alice"]["late_penalty"] == ""
    assert rows["carol"]["error"] == "syntax error in carol.py line 3: expected ':'"
    assert not list(out.glob(".grades.csv.*"))  # no temporary file left behind


def test_per_student_json_and_dashboard(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    (cohort / "mallory<img src=x onerror=alert(1)>.py").write_text("broken=<script>alert(1)</script>\n")
    out = tmp_path / "out"
    batch(optimizers, cohort, out)
    data = json.loads((out / "results" / "alice.json").read_text())
    assert data["student"] == "alice" and data["score"] == 11 and data["parts"][5]["misconceptions"] == [
        "adam.no_bias_correction"]
    assert json.loads((out / "results" / "carol.json").read_text())["error"].startswith("syntax error")
    html = (out / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "adam.no_bias_correction" in html and "hint for adam.no_bias_correction" in html
    assert "syntax error in carol.py line 3: expected &#39;:&#39;" in html
    assert "<img src=x" not in html and "mallory&lt;img src=x onerror=alert(1)&gt;" in html
    mallory = file_stem("mallory<img src=x onerror=alert(1)>")  # the link is its safe file name
    assert re.fullmatch(r"mallory-img-src-x-onerror-alert-1-[0-9a-f]{16}", mallory)
    assert (out / "results" / f"{mallory}.json").is_file() and (out / "reports" / f"{mallory}.html").is_file()
    assert f'href="reports/{mallory}.html"' in html
    assert 'data:image/png;base64,' in html and 'alt="Histogram of the 4 scores out of 60' in html
    link = "reports/carol.html" if (out / "reports" / "carol.html").exists() else "results/carol.json"
    assert f'href="{link}"' in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_students_removed_from_the_cohort_leave_the_outputs(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out)
    (cohort / "bob.py").unlink()
    _, log = batch(optimizers, cohort, out)
    assert "1 student in the gradebook is no longer in" in log and "bob" in log
    assert "bob" not in [r["student"] for r in csv.DictReader((out / "grades.csv").open())]
    assert not (out / "results" / "bob.json").exists() and not (out / "reports" / "bob.html").exists()
    assert ">bob<" not in (out / "index.html").read_text()


def test_progress_bar_on_a_terminal(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    summary, log = batch(optimizers, cohort, tmp_path / "out", progress_bar=True)
    assert "grading" in log and "5/5" in log and "failed=1" in log and "[1/5]" not in log


def test_an_output_folder_of_another_assignment_is_refused(tmp_path, optimizers, sigmoid_neuron):
    cohort = make_cohort(tmp_path / "cohort")
    batch(optimizers, cohort, tmp_path / "out")
    with pytest.raises(CohortError, match="gradebook of assignment 'optimizers'"):
        batch(sigmoid_neuron, cohort, tmp_path / "out")


def test_an_output_folder_inside_the_cohort_is_refused(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    with pytest.raises(CohortError, match="inside the cohort folder"):
        batch(optimizers, cohort, cohort / "out")
    with pytest.raises(CohortError, match="inside the cohort folder"):
        batch(optimizers, cohort, cohort)
    assert not (cohort / "out").exists()


def test_two_batches_into_one_folder_at_once_are_refused(tmp_path, optimizers):
    from grader.batch.command import exclusive

    cohort = make_cohort(tmp_path / "cohort")
    with exclusive(tmp_path / "out"):  # as if another batch were running
        with pytest.raises(CohortError, match="another batch is writing to"):
            batch(optimizers, cohort, tmp_path / "out")
    summary, _ = batch(optimizers, cohort, tmp_path / "out")  # released: runs
    assert len(summary.graded) == 5
