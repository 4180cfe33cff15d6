"""The late policy (grader.late) and its application in a batch: from a Gradescope export's
submission times and Canvas's LATE marker, the raw score and the penalty both shown."""
from __future__ import annotations

import csv
import dataclasses
import io
from datetime import datetime, timedelta, timezone

import pytest

from grader.course import Course, CourseError
from grader.late import LatePolicy, LatePolicyError, assess, policy_from_toml

CET = timezone(timedelta(hours=1))
DEADLINE = datetime(2026, 3, 14, 23, 59, tzinfo=CET)
POLICY = LatePolicy(DEADLINE, timedelta(minutes=15), 10.0, datetime(2026, 3, 17, 23, 59, tzinfo=CET))


@pytest.mark.parametrize("submitted, late, days, fraction, cut_off", [
    (DEADLINE - timedelta(hours=2), False, 0, 0.0, False),
    (DEADLINE + timedelta(minutes=14), False, 0, 0.0, False),  # within the grace period
    (DEADLINE + timedelta(minutes=16), True, 1, 0.1, False),  # one minute past grace: a started day
    (DEADLINE + timedelta(days=1, minutes=15), True, 1, 0.1, False),  # exactly one day past grace
    (DEADLINE + timedelta(days=1, minutes=16), True, 2, 0.2, False),
    (DEADLINE + timedelta(days=3, minutes=1), True, 3, 1.0, True),  # past the cut-off: no credit
])
def test_assess_with_a_submission_time(submitted, late, days, fraction, cut_off):
    found = assess(POLICY, submitted, None)
    assert (found.late, found.days, found.cut_off) == (late, days, cut_off)
    assert found.fraction == pytest.approx(fraction)


def test_assess_with_only_the_lms_marker_or_nothing():
    marked = assess(POLICY, None, True)
    assert marked.late and marked.days == 1 and marked.fraction == pytest.approx(0.1)
    assert "no submission time" in marked.reason
    assert not assess(POLICY, None, False).late
    assert assess(POLICY, None, None) is None


def test_penalty_is_capped_at_the_whole_score():
    heavy = dataclasses.replace(POLICY, penalty_per_day=40.0, cutoff=None)
    assert assess(heavy, DEADLINE + timedelta(days=5), None).fraction == 1.0


@pytest.mark.parametrize("table, message", [
    ({}, "needs a deadline"),
    ({"deadline": datetime(2026, 3, 14, 23, 59)}, "time zone offset"),
    ({"deadline": DEADLINE, "penalty_per_day": -1}, "penalty_per_day: expected a number >= 0"),
    ({"deadline": DEADLINE, "penalty_per_day": 150}, "at most 100"),
    ({"deadline": DEADLINE, "cutoff": DEADLINE - timedelta(days=1)}, "cutoff is before the deadline"),
    ({"deadline": DEADLINE, "penalty": 10}, "unknown field 'penalty'"),
])
def test_bad_policies(table, message):
    with pytest.raises(LatePolicyError, match=message):
        policy_from_toml(table)


def copy_course(tmp_path, late_toml: str):
    """The optimizers assignment in a course of its own whose assignment.toml has `late_toml`."""
    import shutil

    from conftest import ROOT

    root = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "optimizers", root / "assignments" / "optimizers")
    toml = root / "assignments" / "optimizers" / "assignment.toml"
    toml.write_text(toml.read_text() + "\n" + late_toml)
    return root


def test_the_late_table_of_assignment_toml(tmp_path):
    root = copy_course(tmp_path, "[late]\ndeadline = 2026-03-14T23:59:00+01:00\npenalty_per_day = 10\n")
    assert Course(root).get("optimizers").late == LatePolicy(DEADLINE, timedelta(0), 10.0, None)
    root = copy_course(tmp_path / "bad", "[late]\ndeadline = 2026-03-14T23:59:00\n")
    with pytest.raises(CourseError, match=r"assignment.toml: \[late\] deadline: give the time zone offset"):
        Course(root).get("optimizers")


def test_batch_applies_the_policy_from_gradescope_times_and_canvas_markers(tmp_path, optimizers):
    from grader.batch import run_batch
    from lms_fixtures import write_canvas_zip, write_gradescope_export
    from test_batch_fakes import fake_grade

    assignment = dataclasses.replace(optimizers, late=LatePolicy(datetime(2026, 3, 11, 23, 59, tzinfo=CET),
                                                                 timedelta(0), 10.0, None))
    fakes = {"ana": "gd_step=3\nadam_step=8\n", "jose": "gd_step=3\nmomentum_step=5\n", "zoe": "gd_step=1\n"}
    # Gradescope: ana on 10 March (on time), jose on 13 March 09:00 (2 started days late)
    export = write_gradescope_export(tmp_path / "export", fakes)
    run_batch(assignment, export, tmp_path / "out-gs", workers=1, grade_fn=fake_grade, stream=io.StringIO())
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out-gs" / "grades.csv").open(newline=""))}
    assert rows["2001"]["score"] == "11" and rows["2001"]["late_penalty"] == ""
    assert rows["2002"]["raw_score"] == "8" and rows["2002"]["late_penalty"] == "8"  # 20% of 60 = 12, capped at 8
    assert rows["2002"]["score"] == "0" and "2 days late" in rows["2002"]["adjustments"]
    assert rows["2002"]["submitted_at"] == "2026-03-13T09:00:00+01:00" and rows["2002"]["lms_late"] == ""
    # Canvas: jose is LATE without a time: one day's penalty, said so
    canvas = write_canvas_zip(tmp_path / "canvas.zip", fakes)
    run_batch(assignment, canvas, tmp_path / "out-canvas", workers=1, grade_fn=fake_grade, stream=io.StringIO())
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out-canvas" / "grades.csv").open(newline=""))}
    assert rows["nunezjose_4022"]["raw_score"] == "8" and rows["nunezjose_4022"]["late_penalty"] == "6"
    assert rows["nunezjose_4022"]["score"] == "2" and "no submission time" in rows["nunezjose_4022"]["adjustments"]
    assert rows["gomezana_4021"]["late_penalty"] == "" and rows["gomezana_4021"]["score"] == "11"
    assert (rows["nunezjose_4022"]["lms_late"], rows["gomezana_4021"]["lms_late"]) == ("yes", "no")

    report = (tmp_path / "out-canvas" / "reports" / "nunezjose_4022.html").read_text()
    assert "Final score: 2 / 60" in report and "the checks gave 8" in report

def test_the_lms_late_marker_is_kept_without_a_policy(tmp_path, optimizers):
    from grader.batch import run_batch
    from lms_fixtures import write_canvas_zip
    from test_batch_fakes import fake_grade

    canvas = write_canvas_zip(tmp_path / "canvas.zip", {"jose": "gd_step=3\n"})
    run_batch(optimizers, canvas, tmp_path / "out", workers=1, grade_fn=fake_grade, stream=io.StringIO())
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open(newline=""))}
    assert rows["nunezjose_4022"]["lms_late"] == "yes" and rows["nunezjose_4022"]["score"] == "3"
    assert rows["nunezjose_4022"]["late_penalty"] == ""


def test_the_canvas_column_from_assignment_toml(tmp_path):
    from grader.batch.final_grades import FinalGrade
    from grader.batch.lms_exports import canvas_csv

    root = copy_course(tmp_path, '[lms]\ncanvas_assignment = "Optimisers (48213)"\n')
    assignment = Course(root).get("optimizers")
    assert assignment.canvas_assignment == "Optimisers (48213)"
    text = canvas_csv([FinalGrade("a", "graded", 60, 5, 5, "")], assignment, {}, {})
    assert text.splitlines()[0] == "Student,ID,SIS User ID,SIS Login ID,Section,Optimisers (48213),Grader Notes"
    root = copy_course(tmp_path / "bad", "")
    toml = root / "assignments" / "optimizers" / "assignment.toml"
    toml.write_text('lms = "x"\n' + toml.read_text())
    with pytest.raises(CourseError, match=r"\[lms\] must be a table"):
        Course(root).get("optimizers")
