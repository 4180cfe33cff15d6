"""Self-check parity: every known mistake in a misconception catalogue fails at least one
PUBLIC check, and `grader check` names it with its hint, from answers baked for the public
probe calls (no mutant or reference code is needed: the test hides solutions/ from the
self-check to prove it).

Each mutant is handed in as a student's file (the reference with the mutant appended, as
diagnosis builds it) and run through the real `grader check` command and sandbox.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from grader.cli import main
from grader.course import Course
from grader.diagnosis import PUBLIC_MUTANTS, load_catalogue, load_public_mutants

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
CASES = [(a.id, m) for a in COURSE.assignments() if a.has_solutions for m in load_catalogue(a)]


@pytest.fixture(scope="module")
def student_course(tmp_path_factory) -> Path:
    """A copy of the course without solutions/: what a student bundle holds."""
    root = tmp_path_factory.mktemp("bundle")
    shutil.copytree(ROOT / "assignments", root / "assignments",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "templates", root / "templates")
    return root


@pytest.mark.parametrize("assignment_id, mutant", CASES, ids=[f"{a}-{m.label}" for a, m in CASES])
def test_every_known_mistake_fails_a_public_check_and_is_named(assignment_id, mutant, student_course, tmp_path,
                                                                 monkeypatch, capsys):
    assignment = COURSE.get(assignment_id)
    source = assignment.reference_path.read_text(encoding="utf-8") + "\n\n" + mutant.path.read_text(encoding="utf-8")
    submission = tmp_path / f"{assignment.module}.py"
    submission.write_text(source, encoding="utf-8")
    monkeypatch.setenv("GRADER_COURSE", str(student_course))

    code = main(["check", assignment_id, str(submission)])
    out = capsys.readouterr().out

    assert code == 1, f"{mutant.label} passes every public check:\n{out}"
    assert f"likely mistake ({mutant.id})" in out, out
    assert mutant.hint in " ".join(out.split()), out


@pytest.mark.parametrize("assignment", [a for a in COURSE.assignments() if a.has_solutions], ids=lambda a: a.id)
def test_baked_mistakes_hold_answers_and_hints_only(assignment):
    """The baked file lists the catalogue's ids and hints, and no line of any mutant's source."""
    mutants, answers = load_public_mutants(assignment.public_checks / PUBLIC_MUTANTS)
    catalogue = load_catalogue(assignment)
    assert [(m.id, m.hint, m.functions) for m in mutants] == [(m.id, m.hint, m.functions) for m in catalogue]
    assert all(len(answers[m]) for m in mutants)
    with zipfile.ZipFile(assignment.public_checks / PUBLIC_MUTANTS) as archive:
        raw = b"".join(archive.read(name) for name in archive.namelist())
    for mutant in catalogue:
        body = [line.strip() for line in mutant.path.read_text(encoding="utf-8").splitlines()
                if line.strip().startswith(("return", "theta", "v ", "m "))]
        assert not any(line.encode() in raw for line in body if len(line) > 12)
