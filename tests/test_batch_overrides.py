"""The override life cycle: add, shown in every output, kept across regrades and --force,
replaced, removed; with who and when. Bad input is a one-line error."""
from __future__ import annotations

import csv

import pytest

from grader.batch.cohort import CohortError
from grader.batch.gradebook import Gradebook
from grader.batch.overrides import override_command
from test_batch_fakes import write_fake
from test_batch_run import batch, make_cohort


def grades(out):
    return {row["student"]: row for row in csv.DictReader((out / "grades.csv").open(newline=""))}


def test_override_life_cycle(tmp_path, optimizers, capsys):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out, workers=1)
    assert grades(out)["bob"]["score"] == "1" and grades(out)["bob"]["gd_step"] == "1"

    override_command(optimizers, "bob", out, "adam_step", score=6, comment="bias correction fine, checked by hand",
                     author="ta.kim")
    assert "bob: adam_step set to 6 / 8 by ta.kim" in capsys.readouterr().out
    row = grades(out)["bob"]
    assert row["score"] == "7" and row["adam_step"] == "6" and row["raw_score"] == "1"
    assert "override adam_step: 0 -> 6 by ta.kim on" in row["adjustments"]
    assert "bias correction fine" in row["adjustments"]
    report = (out / "reports" / "bob.html").read_text()
    assert "Final score: 7 / 60" in report and "the checks gave 1" in report and "ta.kim" in report
    assert (out / "feedback" / "bob.html").read_text() == report  # the feedback file is the adjusted report
    dashboard = (out / "index.html").read_text()
    assert 'title="override"' in dashboard and "adjusted (override or late)" in dashboard
    canvas = list(csv.reader((out / "grades-canvas.csv").open(newline="")))
    assert ["bob", "", "", "", "", "7"] == canvas[[r[0] for r in canvas].index("bob")][:6]
    with Gradebook(out, optimizers.id) as book:
        assert book.result("bob").score == 1  # the stored result is the checks' own
        (active,) = book.overrides()
        assert active[:5] == ("bob", "adam_step", 6.0, "bias correction fine, checked by hand", "ta.kim")

    # a regrade (changed submission) and --force keep the override on top of the new result
    write_fake(cohort, "bob.py", gd_step=3)
    batch(optimizers, cohort, out, workers=1)
    assert grades(out)["bob"]["score"] == "9" and grades(out)["bob"]["raw_score"] == "3"
    batch(optimizers, cohort, out, workers=1, force=True)
    assert grades(out)["bob"]["score"] == "9"
    assert "Final score: 9 / 60" in (out / "reports" / "bob.html").read_text()

    # a second override of the same part replaces the first; the history keeps both
    override_command(optimizers, "bob", out, "adam_step", score=8, comment="full marks after all", author="prof")
    assert grades(out)["bob"]["score"] == "11"
    with Gradebook(out, optimizers.id) as book:
        assert len(book.overrides()) == 1 and len(book.overrides(active=False)) == 2
        assert book.overrides(active=False)[0][7] == "prof (replaced)"

    override_command(optimizers, "bob", out, "adam_step", remove=True, author="prof")
    row = grades(out)["bob"]
    assert row["score"] == "3" and row["adjustments"] == ""
    report = (out / "reports" / "bob.html").read_text()
    assert "Final score" not in report and "<!-- grader:adjustments --><!-- /grader:adjustments -->" in report
    assert (out / "feedback" / "bob.html").read_text() == report
    with Gradebook(out, optimizers.id) as book:
        assert book.overrides() == [] and book.overrides(active=False)[-1][7] == "prof"


def test_an_override_on_a_submission_that_could_not_be_graded(tmp_path, optimizers):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out, workers=1)
    assert grades(out)["carol"]["score"] == ""
    override_command(optimizers, "carol", out, "gd_step", score=2, comment="graded on paper", author="ta")
    row = grades(out)["carol"]
    assert row["score"] == "2" and row["status"] == "error" and row["adam_step"] == ""
    assert "the score counts the overridden parts only" in row["adjustments"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(part="nope", score=1, comment="x"), "--part nope: not a part of optimizers"),
    (dict(part="gd_step", score=4, comment="x"), "--score must be a number from 0 to 3"),
    (dict(part="gd_step", score=-1, comment="x"), "--score must be a number from 0 to 3"),
    (dict(part="gd_step", score=float("nan"), comment="x"), "--score must be a number"),
    (dict(part="gd_step", score=1, comment="  "), "--comment is required"),
    (dict(part="gd_step", remove=True), "no override of gd_step for 'alice' to remove"),
])
def test_bad_overrides_are_one_line_errors(tmp_path, optimizers, kwargs, message):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out, workers=1)
    part = kwargs.pop("part")
    with pytest.raises(CohortError, match=message.replace("(", r"\(")):
        override_command(optimizers, "alice", out, part, **kwargs)


def test_override_without_a_batch_or_for_an_unknown_student(tmp_path, optimizers):
    with pytest.raises(CohortError, match="no gradebook there"):
        override_command(optimizers, "alice", tmp_path / "nothing", "gd_step", score=1, comment="x")
    cohort = make_cohort(tmp_path / "cohort")
    batch(optimizers, cohort, tmp_path / "out", workers=1)
    with pytest.raises(CohortError, match="no result for student 'zed'"):
        override_command(optimizers, "zed", tmp_path / "out", "gd_step", score=1, comment="x")


def test_override_from_the_command_line(tmp_path, optimizers):
    from conftest import run_grader

    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out, workers=1)
    done = run_grader("override", "optimizers", "alice", "--out", str(out), "--part", "train", "--score", "8",
                      "--comment", "train works with my optimiser", env={"GRADER_USER": "ta.lee"})
    assert done.returncode == 0, done.stderr
    assert grades(out)["alice"]["score"] == "19" and "ta.lee" in grades(out)["alice"]["adjustments"]
    bad = run_grader("override", "optimizers", "alice", "--out", str(out), "--part", "train", "--score", "80",
                     "--comment", "x")
    assert bad.returncode == 2 and bad.stderr.startswith("grader: error: --score must be") and "Traceback" not in bad.stderr
