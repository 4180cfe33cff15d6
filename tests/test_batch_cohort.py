"""Cohort discovery and the hashes that decide whether a stored grade is still current."""
from __future__ import annotations

import shutil
import zipfile

import pytest

from grader.batch.cohort import CohortError, discover_cohort
from grader.batch.fingerprint import checks_hash, entry_hash
from grader.cli import main
from grader.course import Course


def test_every_kind_of_entry_is_a_student_named_without_extension(tmp_path):
    (tmp_path / "alice.py").write_text("x = 1\n")
    (tmp_path / "bob.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    with zipfile.ZipFile(tmp_path / "dave.zip", "w") as zf:
        zf.writestr("dave/optimizers.py", "x = 1\n")
    (tmp_path / "erin.txt").write_text("not code")  # still a student: grading says why it fails
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / ".hidden.py").write_text("")
    (tmp_path / "__MACOSX").mkdir()
    entries = discover_cohort(tmp_path)
    assert [(e.student, e.path.name) for e in entries] == [
        ("alice", "alice.py"), ("bob", "bob.ipynb"), ("carol", "carol"), ("dave", "dave.zip"), ("erin.txt", "erin.txt")]


def test_entries_sharing_an_id_come_back_once_with_their_problem(tmp_path):
    (tmp_path / "alice.py").write_text("x = 1\n")
    (tmp_path / "alice.zip").write_bytes(b"")
    (tmp_path / "Jos\u00e9.py").write_text("x = 1\n")  # composed, as Linux writes it
    (tmp_path / "Jose\u0301").mkdir()  # decomposed, as macOS writes it: the same student
    (tmp_path / "bob.py").write_text("x = 1\n")
    entries = {e.student: e for e in discover_cohort(tmp_path)}
    assert sorted(entries) == ["Jos\u00e9", "alice", "bob"]
    assert entries["alice"].problem == "2 entries give this student id (alice.py, alice.zip); keep one entry per student"
    assert entries["Jos\u00e9"].problem.startswith("2 entries give this student id")
    assert entries["bob"].problem == ""


@pytest.mark.parametrize("make", ["missing", "file", "empty"])
def test_unusable_cohort_folders_are_usage_errors(tmp_path, make, capsys):
    cohort = tmp_path / "cohort"
    if make == "file":
        cohort.write_text("")
    elif make == "empty":
        cohort.mkdir()
        (cohort / ".keep").write_text("")
    with pytest.raises(CohortError):
        discover_cohort(cohort)
    assert main(["batch", "optimizers", str(cohort), "--out", str(tmp_path / "out")]) == 2
    assert "grader: error:" in capsys.readouterr().err


def test_entry_hash_covers_the_whole_entry_but_not_bytecode(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "optimizers.py").write_text("x = 1\n")
    first = entry_hash(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "optimizers.cpython-311.pyc").write_bytes(b"\0\1")
    assert entry_hash(folder) == first
    (folder / "notes.txt").write_text("hello")
    second = entry_hash(folder)
    assert second != first
    (folder / "optimizers.py").write_text("x = 2\n")
    assert entry_hash(folder) != second
    # a renamed file is a different entry even with the same bytes
    single = tmp_path / "a.py"
    single.write_text("x = 1\n")
    assert entry_hash(single) == entry_hash(single)
    assert entry_hash(single) != entry_hash(folder)


def test_entry_hash_never_opens_a_fifo_or_follows_a_symlink(tmp_path):
    import os

    fifo = tmp_path / "bob.py"
    os.mkfifo(fifo)
    assert len(entry_hash(fifo)) == 64  # returns at once instead of blocking
    target = tmp_path / "secret.py"
    target.write_text("1")
    link = tmp_path / "eve.py"
    link.symlink_to(target)
    before = entry_hash(link)
    target.write_text("2")
    assert entry_hash(link) == before  # the link's target text, not the file behind it


@pytest.fixture
def toy_course(tmp_path):
    """A copy of this course's optimizers assignment (solutions included) to edit freely."""
    root = Course.find().root
    course_root = tmp_path / "course"
    for part in ("assignments/optimizers", "solutions/optimizers"):
        shutil.copytree(root / part, course_root / part, ignore=shutil.ignore_patterns("__pycache__"))
    return Course(course_root)


def test_checks_hash_changes_with_what_grading_depends_on(toy_course, monkeypatch):
    assignment = toy_course.get("optimizers")
    base = checks_hash(assignment)
    assert checks_hash(assignment) == base
    (assignment.solution_directory / "checks").mkdir(exist_ok=True)
    for path, text in [
        (assignment.solution_directory / "checks" / "test_new.py", "# a new hidden check\n"),
        (assignment.probes_path, assignment.probes_path.read_text() + "\n# edited\n"),
        (assignment.reference_path, assignment.reference_path.read_text() + "\n# edited\n"),
        (assignment.mutants_directory / "extra.py", "# a new mutant\n"),
        (assignment.directory / "assignment.toml",
         (assignment.directory / "assignment.toml").read_text().replace("points = 3", "points = 4", 1)),
    ]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        changed = checks_hash(assignment)
        assert changed != base, path
        base = changed
    monkeypatch.setenv("GRADER_SECRET", "another secret")
    assert checks_hash(assignment) != base
    # the student-facing stub is not part of it
    monkeypatch.delenv("GRADER_SECRET")
    assignment.stub_path.write_text(assignment.stub_path.read_text() + "\n# edited\n")
    assert checks_hash(assignment) == base
