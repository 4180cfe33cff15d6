"""Hostile entry names through the batch and `grader grade`: every honest student graded,
every output well-formed (the CSV parses with one row per id and no formula cell, the JSON
parses, output file names are safe, index.html is there), the terminal shows nothing a
student's name could act with, and no one student's failure stops the batch."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from grader.batch import run_batch
from grader.batch import gradebook as gradebook_module
from grader.batch.gradebook import Gradebook
from grader.ids import file_stem, student_id
from grader.untrusted import csv_cell
from conftest import ROOT, run_grader
from test_batch_fakes import fake_grade
from test_ids import assert_safe_stem

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: What a terminal acts on: escape sequences (ESC, 8-bit CSI/OSC), carriage returns, bidi overrides.
TERMINAL_ACTIVE = ("\x1b", "\r", "\x9b", "\x9d", "\u202e", "\u2066", "\u2067")
ESCAPE_NAME = "x\x1b[2K\rsigmoid_neuron \u2215 mallory: 30 \u2215 30 points\x1b[8m"

HOSTILE_NAMES = {  # file name (bytes: any a Linux file system takes) -> fake submission
    b"alice.py": "gd_step=3\n",
    b"caf\xe9.py": "gd_step=2\n",  # not UTF-8
    b"a" * 249 + b".py": "gd_step=1\n",  # 252 bytes: reports/<name>.html was ENAMETOOLONG
    ESCAPE_NAME.encode() + b".py": "broken=nothing to see\x1b[2K\r here\n",
    b'=HYPERLINK("evil.example","click").py': "gd_step=3\n",
    b"-2+3.py": "gd_step=3\n",
    b"@SUM(A1).py": "gd_step=3\n",
    b"\tTAB.py": "gd_step=3\n",
    b"evil\\..\\..\\x.py": "gd_step=3\n",  # backslashes: separators elsewhere
    b"con.py": "gd_step=3\n",
    b"Alice.py": "gd_step=2\n",  # "alice" on a case-insensitive file system
    b"bidi\xe2\x80\xaeyp.exe.py": "gd_step=3\n",
    unicodedata.normalize("NFC", "Jos\u00e9").encode() + b".py": "gd_step=3\n",
    unicodedata.normalize("NFD", "Jos\u00e9").encode() + b".py": "gd_step=3\n",  # the same id, decomposed
    b"dup.py": "gd_step=3\n",
    b"dup.zip": None,  # a second entry for the id "dup"
}


def write_entries(cohort: Path, names: dict[bytes, str | None]) -> None:
    cohort.mkdir()
    for name, content in names.items():
        path = os.path.join(os.fsencode(cohort), name)
        if content is None:
            with zipfile.ZipFile(os.fsdecode(path), "w") as zf:
                zf.writestr("x/optimizers.py", "gd_step=1\n")
        else:
            with open(path, "w") as f:
                f.write(content)


def read_csv(out: Path) -> list[list[str]]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_well_formed(out: Path, ids: set[str]) -> dict[str, dict]:
    """The batch's outputs for the cohort of `ids`: returns the CSV rows by student."""
    for other in out.glob("*.csv"):  # the LMS exports too: one row per student, no formula
        with other.open(newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
        assert len({len(row) for row in table}) == 1, other.name
        assert len(table) == len(ids) + (2 if other.name == "grades-canvas.csv" else 1), other.name
        for cell in (cell for row in table for cell in row):
            assert not cell.startswith(FORMULA_PREFIXES) or csv_cell(cell) == cell, (other.name, cell)
    rows = read_csv(out)
    header, body = rows[0], rows[1:]
    assert len(body) == len(ids), body
    for row in rows:
        assert len(row) == len(header)
        for cell in row:  # no live formula: a number, or text not starting a formula
            assert not cell.startswith(FORMULA_PREFIXES) or csv_cell(cell) == cell, cell
    by_student = {}
    for row in body:
        record = dict(zip(header, row))
        student = record["student"][1:] if record["student"].startswith("'") else record["student"]
        by_student[student] = record
    assert set(by_student) == ids
    results = sorted((out / "results").iterdir())
    assert len(results) == len(ids)
    for path in results:
        assert_safe_stem(path.stem)
        assert json.loads(path.read_text(encoding="utf-8"))["student"] in ids
    for student in ids:
        assert (out / "results" / f"{file_stem(student)}.json").is_file()
    for folder in ("reports", "notebooks"):
        for path in (out / folder).iterdir() if (out / folder).is_dir() else ():
            assert_safe_stem(path.stem)
    assert (out / "index.html").is_file()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    return by_student


def test_hostile_names_are_graded_or_listed_and_every_output_is_well_formed(tmp_path, optimizers):
    cohort = tmp_path / "cohort"
    write_entries(cohort, HOSTILE_NAMES)
    out, log = tmp_path / "out", io.StringIO()
    summary = run_batch(optimizers, cohort, out, workers=2, grade_fn=fake_grade, stream=log)
    ids = {student_id(os.path.join(os.fsencode(cohort), name)) for name in HOSTILE_NAMES}
    assert len(ids) == len(HOSTILE_NAMES) - 2  # José twice, dup twice
    rows = assert_well_formed(out, ids)
    assert rows["alice"]["score"] == "3" and rows["Alice"]["score"] == "2"
    assert rows["caf\\xe9"]["score"] == "2" and rows["a" * 249]["score"] == "1"
    assert rows['=HYPERLINK("evil.example","click")']["status"] == "graded"
    for formula in ('=HYPERLINK("evil.example","click")', "-2+3", "@SUM(A1)", "\tTAB"):
        assert rows[formula]["score"] == "3"
    graded = {s for s, r in rows.items() if r["status"] == "graded"}
    assert graded == ids - {ESCAPE_NAME, "dup", "Jos\u00e9"}
    assert rows["dup"]["error"] == "2 entries give this student id (dup.py, dup.zip); keep one entry per student"
    assert rows["Jos\u00e9"]["error"].startswith("2 entries give this student id")
    assert set(summary.failed) == {ESCAPE_NAME, "dup", "Jos\u00e9"}
    # the dashboard links every student to a file that exists
    html = (out / "index.html").read_text(encoding="utf-8")
    for student in ids:
        stem = file_stem(student)
        target = "reports" if (out / "reports" / f"{stem}.html").is_file() else "results"
        assert f'href="{target}/{stem}.' in html
    # the progress log: one line per entry, nothing a terminal acts on
    text = log.getvalue()
    assert not any(ch in text for ch in TERMINAL_ACTIVE), text
    assert sum(line.startswith("[") for line in text.splitlines()) == len(ids)
    # a second run changes nothing and still lists the unusable ids
    summary = run_batch(optimizers, cohort, out, workers=2, grade_fn=fake_grade, stream=io.StringIO())
    assert set(summary.graded) == {"dup", "Jos\u00e9"}  # unusable ids are listed again, nobody regraded
    assert_well_formed(out, ids)


def test_a_report_that_cannot_be_written_costs_only_that_report(tmp_path, optimizers):
    cohort = tmp_path / "cohort"
    write_entries(cohort, {b"alice.py": "gd_step=3\n", b"bob.py": "gd_step=2\n"})
    out = tmp_path / "out"
    (out / "reports" / "bob.html").mkdir(parents=True)  # in the way of bob's report
    log = io.StringIO()
    summary = run_batch(optimizers, cohort, out, workers=1, grade_fn=fake_grade, stream=log)
    assert sorted(summary.graded) == ["alice", "bob"] and summary.failed == []
    rows = assert_well_formed(out, {"alice", "bob"})
    assert rows["bob"]["score"] == "2"
    with Gradebook(out, optimizers.id) as book:
        assert book.report_state("bob").startswith("failed: cannot write it")
        assert book.report_state("alice") == "written"
    assert "warning: no report for bob: cannot write it" in log.getvalue()


def test_a_result_that_cannot_be_stored_becomes_that_students_error_row(tmp_path, optimizers, monkeypatch):
    cohort = tmp_path / "cohort"
    write_entries(cohort, {b"alice.py": "gd_step=3\n", b"bob.py": "gd_step=2\n", b"carol.py": "gd_step=1\n"})
    real_record = gradebook_module.Gradebook.record

    def record(self, result, **kwargs):
        if result.student == "bob" and result.status == "graded":
            raise ValueError("a value the gradebook cannot store")
        return real_record(self, result, **kwargs)

    monkeypatch.setattr(gradebook_module.Gradebook, "record", record)
    summary = run_batch(optimizers, cohort, tmp_path / "out", workers=1, grade_fn=fake_grade, stream=io.StringIO())
    assert summary.failed == ["bob"]
    rows = assert_well_formed(tmp_path / "out", {"alice", "bob", "carol"})
    assert rows["alice"]["score"] == "3" and rows["carol"]["score"] == "1"
    assert rows["bob"]["status"] == "error"
    assert rows["bob"]["error"] == "could not record the result: ValueError: a value the gradebook cannot store"
    assert not (tmp_path / "out" / "reports" / "bob.html").exists()  # no page shows a grade that was not stored
    assert (tmp_path / "out" / "reports" / "alice.html").is_file()


def test_grade_with_an_escape_sequence_name_shows_the_real_score(tmp_path):
    stub = ROOT / "assignments" / "sigmoid_neuron" / "sigmoid_neuron.py"
    hostile = tmp_path / f"{ESCAPE_NAME}.py"
    shutil.copy(stub, hostile)
    done = run_grader("grade", "sigmoid_neuron", str(hostile))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not any(ch in done.stdout + done.stderr for ch in TERMINAL_ACTIVE)
    first = done.stdout.splitlines()[0]
    assert first.startswith("sigmoid_neuron / x") and first.endswith(": 0 / 30 points"), first


def test_grade_a_non_utf8_and_a_252_byte_name(tmp_path):
    reference = (ROOT / "solutions" / "sigmoid_neuron" / "sigmoid_neuron.py").read_bytes()
    for name in (b"caf\xe9.py", b"b" * 249 + b".py"):
        path = os.path.join(os.fsencode(tmp_path), name)
        with open(path, "wb") as f:
            f.write(reference)
        done = run_grader("grade", "sigmoid_neuron", os.fsdecode(path), "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["score"] == 30 and result["student"] == student_id(path)
        assert (result["student"] == "caf\\xe9") == (name == b"caf\xe9.py")


# --- arbitrary names through a real batch ---------------------------------------------------

_NAME = st.binary(min_size=1, max_size=248).filter(
    lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b".")
    and b not in (b"__MACOSX", b"__pycache__"))


@pytest.mark.slow
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(entries=st.lists(st.tuples(_NAME, st.sampled_from(["py", "folder", "zip"])), min_size=1, max_size=5,
                        unique_by=lambda entry: entry[0]))
def test_arbitrary_names_through_a_real_batch(tmp_path_factory, sigmoid_neuron, entries):
    """Every honest student graded 30/30 whatever bytes their entry's name holds; ids shared
    by several entries listed as not graded; every output well-formed."""
    reference = (ROOT / "solutions" / "sigmoid_neuron" / "sigmoid_neuron.py").read_bytes()
    base = tmp_path_factory.mktemp("names")
    cohort = os.path.join(os.fsencode(base), b"cohort")
    os.mkdir(cohort)
    paths = []
    for name, kind in entries:
        if kind == "py":
            path = os.path.join(cohort, name + b".py")
            with open(path, "wb") as f:
                f.write(reference)
        elif kind == "folder":
            path = os.path.join(cohort, name)
            os.mkdir(path)
            with open(os.path.join(path, b"sigmoid_neuron.py"), "wb") as f:
                f.write(reference)
        else:
            path = os.path.join(cohort, name + b".zip")
            with zipfile.ZipFile(os.fsdecode(path), "w") as zf:
                zf.writestr("submission/sigmoid_neuron.py", reference)
        if os.path.exists(path) and path not in paths:
            paths.append(path)
    by_id: dict[str, int] = {}
    for path in os.listdir(cohort):
        by_id[student_id(os.path.join(cohort, path))] = by_id.get(student_id(os.path.join(cohort, path)), 0) + 1
    out = base / "out"
    log = io.StringIO()
    run_batch(sigmoid_neuron, Path(os.fsdecode(cohort)), out, workers=1, stream=log)
    rows = assert_well_formed(out, set(by_id))
    for student, count in by_id.items():
        if count == 1:
            assert (rows[student]["status"], rows[student]["score"]) == ("graded", "30"), rows[student]
            assert (out / "reports" / f"{file_stem(student)}.html").is_file()
        else:
            assert rows[student]["error"].startswith(f"{count} entries give this student id")
    assert not any(ch in log.getvalue() for ch in TERMINAL_ACTIVE)


def test_a_notebook_the_exporter_fails_on_keeps_its_grade_and_report(tmp_path, optimizers, monkeypatch):
    import grader.notebooks
    from grader.batch.work import GradeJob, grade_job
    from grader.load import read_submission_file

    def exporter_fails(path, module):
        raise RecursionError("maximum recursion depth exceeded (a hostile notebook)")

    monkeypatch.setattr(grader.notebooks, "submitted_notebook_record", exporter_fails)
    entry = tmp_path / "alice.py"
    entry.write_text("gd_step=3\n")
    outcome = grade_job(GradeJob(optimizers, "alice", read_submission_file(entry, "optimizers"), True, fake_grade))
    assert not outcome.crashed and outcome.result["status"] == "graded" and outcome.result["score"] == 3
    assert outcome.notebook_html is None and outcome.report_html is not None
