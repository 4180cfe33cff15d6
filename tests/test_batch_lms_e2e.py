"""End to end, from the real command line and the real grader: an instructor's Canvas zip
and Moodle folder, a roster, to importable Canvas and Moodle gradebooks and feedback files
named for the LMS's bulk upload, in one command each."""
from __future__ import annotations

import csv

import pytest

from conftest import ROOT, run_grader
from lms_fixtures import write_canvas_zip, write_moodle_folder, write_roster

pytestmark = pytest.mark.slow

DEMO = ROOT / "demo" / "cohort"
CONTENTS = {
    "ana": (DEMO / "amara_okafor.py").read_text(),  # correct: 60 / 60
    "jose": (DEMO / "nadia_rahman.py").read_text(),  # adam.no_bias_correction
    "zoe": (DEMO / "uma_patel.py").read_text(),  # a syntax error: cannot be graded
    "li": "",
}


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_zip_to_canvas_gradebook_and_feedback(tmp_path):
    download = write_canvas_zip(tmp_path / "submissions.zip", CONTENTS)
    roster = write_roster(tmp_path)
    out = tmp_path / "out"
    done = run_grader("batch", "optimizers", str(download), "--out", str(out), "--roster", str(roster),
                      "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "Canvas download: 4 students, 1 marked late" in done.stdout
    assert "liwei_4024_90034_report.pdf -> liwei_4024: not in the roster" in done.stdout
    assert "handed nothing in: s-kim" in done.stdout

    grades = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open(newline=""))}
    assert grades["s-ana"]["score"] == "60"
    assert 0 < float(grades["s-jose"]["score"]) < 60
    assert grades["s-zoe"]["score"] == "" and "syntax error" in grades["s-zoe"]["error"]
    assert grades["s-kim"]["status"] == "missing" and grades["s-kim"]["score"] == ""

    rows = read_csv(out / "grades-canvas.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Gradient-descent optimisers", "Grader Notes"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5:] == ["60", "(read only)"]
    canvas = {row[1] or row[0]: row for row in rows[2:]}
    assert canvas["4021"][:6] == ["Ana María Gómez", "4021", "2001", "", "A", "60"]
    assert canvas["4022"][5] == grades["s-jose"]["score"]
    # no lms_id in the roster: the Canvas id from the downloaded file's name; no score, the reason
    assert canvas["4023"][:2] == ["Zoë Brown", "4023"]
    assert canvas["4023"][5] == "" and "syntax error" in canvas["4023"][6]
    assert canvas["4024"][:2] == ["liwei", "4024"]  # not in the roster: the Canvas id from the file name
    assert canvas["4030"][5] == "" and canvas["4030"][6] == "no submission"

    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert feedback == ["brownzoe_4023_90023_feedback.html", "gomezana_4021_90007_feedback.html",
                        "liwei_4024_90034_feedback.html", "nunezjose_LATE_4022_90011_feedback.html"]
    assert "adam" in (out / "feedback" / "nunezjose_LATE_4022_90011_feedback.html").read_text()


def test_moodle_folder_to_moodle_gradebook_and_feedback(tmp_path):
    download = write_moodle_folder(tmp_path / "Optimisers-Assignment 1-12345", CONTENTS)
    roster = write_roster(tmp_path)
    out = tmp_path / "out"
    done = run_grader("batch", "optimizers", str(download), "--out", str(out), "--roster", str(roster),
                      "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "Moodle download: 4 students" in done.stdout

    rows = read_csv(out / "grades-moodle.csv")
    assert rows[0] == ["Full name", "Email address", "ID number", "Gradient-descent optimisers", "Feedback",
                       "Grader notes"]
    moodle = {row[0]: row for row in rows[1:]}
    assert moodle["Ana María Gómez"][1:4] == ["ana@uni.example", "2001", "60"]
    assert moodle["José Núñez"][3] == "0" or 0 < float(moodle["José Núñez"][3]) < 60  # graded (the later file)
    assert moodle["Zoë Brown"][3] == "" and "syntax error" in moodle["Zoë Brown"][5]
    assert moodle["Kim Lee"][3] == "" and moodle["Kim Lee"][5] == "no submission"

    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert "Ana María Gómez_1044_assignsubmission_file_feedback.html" in feedback
    assert "José Núñez_1045_assignsubmission_file_feedback.html" in feedback
    assert len(feedback) == 4
