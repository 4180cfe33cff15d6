"""The SQLite gradebook: one transaction per submission, resumable fingerprints, statistics."""
from __future__ import annotations

import sqlite3

import pytest

from grader.batch.gradebook import FILENAME, Gradebook, GradebookError
from grader.results import GradingResult, PartResult
from grader import results as model


def result(student: str, scores=(3.0, 1.0), status="graded", misconceptions=()) -> GradingResult:
    parts = [PartResult("f", scores[0], 3.0, list(misconceptions)), PartResult("g", scores[1], 2.0)]
    tests = [model.TestResult("f: one", "f", scores[0], 3.0, "passed" if scores[0] == 3 else "failed", output="out <x>"),
             model.TestResult("g: one", "g", scores[1], 2.0, "passed" if scores[1] == 2 else "timeout")]
    return GradingResult("toy", student, status, sum(scores), 5.0, 0.5, parts, tests,
                         error="boom" if status == "error" else None, hints={"m.x": "a hint"})


def test_a_submission_is_stored_with_its_tests_and_parts(tmp_path):
    with Gradebook(tmp_path, "toy") as book:
        book.record(result("alice", misconceptions=["m.x"]), entry="alice.py", content_hash="c1", checks_hash="k1",
                    report="written")
        (row,) = book.rows()
        assert (row.student, row.entry, row.score, row.max_score, row.status) == ("alice", "alice.py", 4.0, 5.0, "graded")
        assert row.grader_version and row.graded_at.endswith("+00:00") and row.execution_time == 0.5
        assert [t[1] for t in book.tests("alice")] == ["f: one", "g: one"]
        assert book.parts("alice")[0][1:5] == ("f", 3.0, 3.0, ["m.x"])
        assert book.result("alice").to_dict() == result("alice", misconceptions=["m.x"]).to_dict()
        assert book.report_state("alice") == "written"
    assert (tmp_path / FILENAME).is_file()
    journal = sqlite3.connect(tmp_path / FILENAME).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_regrading_replaces_every_row_of_the_student(tmp_path):
    with Gradebook(tmp_path, "toy") as book:
        book.record(result("alice"), entry="alice.py", content_hash="c1", checks_hash="k1")
        first = book.rows()[0].graded_at
        book.record(result("alice", scores=(0.0, 2.0)), entry="alice.py", content_hash="c2", checks_hash="k1")
        (row,) = book.rows()
        assert row.score == 2.0 and row.content_hash == "c2" and row.graded_at > first
        assert len(book.tests("alice")) == 2 and len(book.parts("alice")) == 2


def test_a_failed_write_leaves_the_previous_rows_untouched(tmp_path):
    with Gradebook(tmp_path, "toy") as book:
        book.record(result("alice"), entry="alice.py", content_hash="c1", checks_hash="k1")
        broken = result("alice", scores=(0.0, 0.0))
        broken.tests.append(model.TestResult("h", "h", float("nan"), 1.0, "passed"))
        broken.tests[-1].name = None  # NOT NULL violation after the deletes and the new row
        with pytest.raises(sqlite3.IntegrityError):
            book.record(broken, entry="alice.py", content_hash="c2", checks_hash="k1")
        (row,) = book.rows()
        assert row.content_hash == "c1" and row.score == 4.0
        assert len(book.tests("alice")) == 2 and len(book.parts("alice")) == 2


def test_is_current_needs_both_hashes_and_a_real_grading(tmp_path):
    with Gradebook(tmp_path, "toy") as book:
        assert not book.is_current("alice", "c1", "k1")
        book.record(result("alice"), entry="alice.py", content_hash="c1", checks_hash="k1")
        assert book.is_current("alice", "c1", "k1")
        assert not book.is_current("alice", "c2", "k1")
        assert not book.is_current("alice", "c1", "k2")
        # a crashed grading is stored with an empty checks hash: never current
        book.record(result("bob", status="error"), entry="bob.py", content_hash="c1", checks_hash="")
        assert not book.is_current("bob", "c1", "")


def test_a_gradebook_belongs_to_one_assignment(tmp_path):
    Gradebook(tmp_path, "toy").close()
    with pytest.raises(GradebookError, match="gradebook of assignment 'toy'"):
        Gradebook(tmp_path, "other")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / FILENAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(GradebookError, match="not a usable gradebook"):
        Gradebook(tmp_path / "junk", "toy")


def test_statistics_follow_the_scope(tmp_path):
    with Gradebook(tmp_path, "toy") as book:
        book.record(result("alice", misconceptions=["m.x"]), entry="alice.py", content_hash="c", checks_hash="k")
        book.record(result("bob", scores=(0.0, 2.0), misconceptions=["m.x"]), entry="bob.py", content_hash="c",
                    checks_hash="k")
        book.record(result("carol"), entry="carol.py", content_hash="c", checks_hash="k")
        assert book.test_stats() == [("f: one", "f", 3, 2, 0, 0), ("g: one", "g", 3, 1, 0, 2)]
        assert book.misconception_counts() == [("m.x", "f", 2, ["alice", "bob"])]
        assert [p[0] for p in book.part_stats()] == ["f", "g"]
        assert book.students_outside(["alice", "bob"]) == ["carol"]
        book.limit_to(["bob", "carol"])
        assert [r.student for r in book.rows()] == ["bob", "carol"]
        assert [r.student for r in book.results()] == ["bob", "carol"]
        assert book.test_stats() == [("f: one", "f", 2, 1, 0, 0), ("g: one", "g", 2, 1, 0, 1)]
        assert book.misconception_counts() == [("m.x", "f", 1, ["bob"])]
        book.limit_to(None)
        assert len(book.rows()) == 3
