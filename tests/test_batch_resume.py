"""A batch killed with SIGKILL mid-run loses no finished result, leaves no half-written
submission, and the next run grades exactly what was missing."""
from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from grader.batch import run_batch
from grader.batch.gradebook import FILENAME, Gradebook
import test_batch_fakes
from test_batch_fakes import fake_grade, write_fake

TESTS = Path(__file__).resolve().parent
STUDENTS = 24

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_batch_fakes import fake_grade
from grader.course import Course
from grader.batch import run_batch
run_batch(Course.find().get("optimizers"), Path({cohort!r}), Path({out!r}), workers=2,
          grade_fn=fake_grade, progress_bar=False)
"""


def stored_rows(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / FILENAME}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_kill_9_mid_run_then_resume(tmp_path, optimizers, monkeypatch):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for i in range(STUDENTS):
        write_fake(cohort, f"student{i:02d}.py", gd_step=i % 4, adam_step=i % 9, sleep=0.15,
                   miss="adam_step:adam.no_bias_correction" if i % 3 else [])
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tests=str(TESTS), cohort=str(cohort), out=str(out))],
                               cwd=TESTS.parent, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while stored_rows(out) < 6:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the batch never stored 6 results"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the parent, its workers and the fork server
    process.wait()
    assert process.returncode == -signal.SIGKILL

    db = sqlite3.connect(out / FILENAME)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    survivors = dict(db.execute("SELECT student, graded_at FROM submissions"))
    assert 6 <= len(survivors) < STUDENTS, "the kill should land mid-run"
    for student in survivors:  # all rows of a submission, never some
        assert db.execute("SELECT COUNT(*) FROM tests WHERE student = ?", (student,)).fetchone()[0] == len(optimizers.parts)
        assert db.execute("SELECT COUNT(*) FROM parts WHERE student = ?", (student,)).fetchone()[0] == len(optimizers.parts)
    assert db.execute("SELECT COUNT(*) FROM tests WHERE student NOT IN (SELECT student FROM submissions)").fetchone()[0] == 0
    for student, report in db.execute("SELECT student, report FROM submissions"):
        if report == "written":
            assert (out / "reports" / f"{student}.html").is_file()
    db.close()

    summary = run_batch(optimizers, cohort, out, workers=2, grade_fn=fake_grade, stream=io.StringIO())
    assert sorted(summary.graded) == sorted(set(f"student{i:02d}" for i in range(STUDENTS)) - set(survivors))
    assert sorted(summary.skipped) == sorted(survivors)
    monkeypatch.setattr(test_batch_fakes.time, "sleep", lambda seconds: None)  # for grading alone below
    with Gradebook(out, optimizers.id) as book:
        rows = {row.student: row for row in book.rows()}
        assert len(rows) == STUDENTS
        assert {s: rows[s].graded_at for s in survivors} == survivors  # not regraded
        for student, row in rows.items():
            alone = fake_grade(optimizers, cohort / f"{student}.py", student).to_dict()
            assert book.result(student).to_dict() == alone
    assert len((out / "grades.csv").read_text().splitlines()) == STUDENTS + 1
