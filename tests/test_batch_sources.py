"""Reading cohorts as LMSs download them (grader.batch.sources) and the roster (grader.roster):
detection, the file that counts, lateness, mapping to student ids and what could not be mapped."""
from __future__ import annotations

import pytest

from grader.batch.cohort import CohortError
from grader.batch.sources import read_source
from grader.roster import RosterError, read_roster
from lms_fixtures import (write_canvas_folder, write_canvas_zip, write_gradescope_export, write_moodle_folder,
                          write_moodle_zip, write_roster)

CONTENTS = {"ana": "ANA", "jose": "JOSE", "zoe": "ZOE", "li": "LI"}


def by_student(source):
    return {e.student: e for e in source.entries}


@pytest.mark.parametrize("make", [write_canvas_zip, write_canvas_folder], ids=["zip", "folder"])
def test_canvas_download_with_a_roster(tmp_path, make, optimizers):
    download = make(tmp_path / ("canvas.zip" if make is write_canvas_zip else "canvas"), CONTENTS)
    roster = read_roster(write_roster(tmp_path))
    source = read_source(download, optimizers.module, roster, tmp_path / "scratch")
    assert source.kind == "canvas"
    entries = by_student(source)
    assert sorted(entries) == ["liwei_4024", "s-ana", "s-jose", "s-zoe"]
    ana, jose, zoe = entries["s-ana"], entries["s-jose"], entries["s-zoe"]
    # the re-upload (optimizers-1.py, larger attachment id) counts, not the first upload
    assert ana.path.read_text() == "ANA" and ana.label == "gomezana_4021_90007_optimizers-1.py"
    assert ana.superseded == ("gomezana_4021_90000_optimizers.py",)
    assert (ana.late, jose.late, zoe.late) == (False, True, False)
    assert jose.path.read_text() == "JOSE" and jose.superseded == ("nunezjose_LATE_4022_90012_notes.txt",)
    assert zoe.path.read_text() == "ZOE"  # a name with spaces and parentheses, matched by name (no lms_id)
    assert ana.feedback_name == "gomezana_4021_90007_feedback.html"
    assert jose.feedback_name == "nunezjose_LATE_4022_90011_feedback.html"
    assert ana.lms_user == "4021"
    # li handed in a PDF and a text entry: still an entry (the loader will say why it is not gradable)
    assert entries["liwei_4024"].label == "liwei_4024_90034_report.pdf"
    assert [(u.student, u.label) for u in source.unmapped] == [("liwei_4024", "liwei_4024_90034_report.pdf")]
    assert "not in the roster" in source.unmapped[0].reason
    assert [s.id for s in source.missing] == ["s-kim"]
    if make is write_canvas_zip:  # copied out of the zip into the private scratch folder
        assert ana.path.is_relative_to(tmp_path / "scratch") and ana.path.name == "optimizers.py"
        assert (ana.path.parent.stat().st_mode & 0o077) == 0


def test_canvas_without_a_roster_keeps_the_lms_prefix_as_id(tmp_path, optimizers):
    source = read_source(write_canvas_zip(tmp_path / "c.zip", CONTENTS), optimizers.module, None, tmp_path / "s")
    assert sorted(by_student(source)) == ["brownzoe_4023", "gomezana_4021", "liwei_4024", "nunezjose_4022"]
    assert source.unmapped == [] and source.missing == []


@pytest.mark.parametrize("new_style", [True, False], ids=["moodle4.1", "moodle-older"])
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_moodle_download(tmp_path, optimizers, new_style, as_zip):
    if as_zip:
        download = write_moodle_zip(tmp_path / "moodle.zip", CONTENTS, new_style)
    else:
        download = write_moodle_folder(tmp_path / "Optimisers-Assignment 1-12345", CONTENTS, new_style)
    roster = read_roster(write_roster(tmp_path))
    source = read_source(download, optimizers.module, roster, tmp_path / "scratch")
    assert source.kind == "moodle"
    entries = by_student(source)
    assert sorted(entries) == ["Wei Li_1047", "s-ana", "s-jose", "s-zoe"]
    assert entries["s-ana"].path.read_text() == "ANA"  # not the online text
    assert entries["s-jose"].path.read_text() == "JOSE"  # the later of two .py files
    assert entries["s-jose"].superseded == ("José Núñez_1045_assignsubmission_file"
                                            + ("" if new_style else "_") + "/optimizers_old.py",)
    assert entries["s-zoe"].path.read_text() == "ZOE"
    assert entries["s-ana"].feedback_name == "Ana María Gómez_1044_assignsubmission_file_feedback.html"
    assert entries["s-ana"].lms_user == "1044" and entries["s-ana"].late is None
    assert [u.student for u in source.unmapped] == ["Wei Li_1047"]


def test_moodle_download_zipped_again_inside_a_folder_is_unwrapped(tmp_path, optimizers):
    outer = tmp_path / "download"
    write_moodle_folder(outer / "Optimisers-Assignment 1-12345", CONTENTS)
    source = read_source(outer, optimizers.module, None, tmp_path / "scratch")
    assert source.kind == "moodle" and len(source.entries) == 4


def test_gradescope_export_latest_submission_and_time(tmp_path, optimizers):
    export = write_gradescope_export(tmp_path / "assignment_123_export", CONTENTS)
    roster = read_roster(write_roster(tmp_path))
    source = read_source(export, optimizers.module, roster, tmp_path / "scratch")
    assert source.kind == "gradescope"
    entries = by_student(source)
    assert sorted(entries) == ["s-ana", "s-jose"]
    assert entries["s-jose"].path.read_text() == "JOSE"  # the 13 March submission, not the 9 March one
    assert entries["s-jose"].submitted_at == "2026-03-13T09:00:00+01:00"
    assert entries["s-jose"].lms_user == "submission_1002"
    assert entries["s-ana"].submitted_at == "2026-03-10T21:14:03.123456+01:00"


def test_plain_folder_is_still_a_plain_folder(tmp_path, optimizers):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "alice.py").write_text("A")
    (cohort / "bob_2_3_x.py").write_text("B")  # one Canvas-like name among others is not a Canvas download
    (cohort / "carol.ipynb").write_text("{}")
    source = read_source(cohort, optimizers.module, None, tmp_path / "scratch")
    assert source.kind == "folder"
    assert [e.student for e in source.entries] == ["alice", "bob_2_3_x", "carol"]


def test_a_zip_that_is_no_lms_download_is_a_one_line_error(tmp_path, optimizers):
    import zipfile

    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        zf.writestr("alice.py", "A")
    with pytest.raises(CohortError, match="not a Canvas, Moodle or Gradescope download"):
        read_source(tmp_path / "x.zip", optimizers.module, None, tmp_path / "scratch")


def test_two_entries_for_one_roster_student_the_later_counts(tmp_path, optimizers):
    download = tmp_path / "canvas"
    download.mkdir()
    (download / "gomezana_4021_500_optimizers.py").write_text("OLD ACCOUNT")
    (download / "gomezanamaria_7777_600_optimizers.py").write_text("NEW ACCOUNT")
    roster_path = tmp_path / "r.csv"
    roster_path.write_text("id,name,email,lms_id\ns-ana,Ana María Gómez,a@x,4021\n", encoding="utf-8")
    source = read_source(download, optimizers.module, read_roster(roster_path), tmp_path / "scratch")
    assert [e.path.read_text() for e in source.entries] == ["NEW ACCOUNT"]
    assert any("also student 's-ana'" in u.reason for u in source.unmapped)


def test_roster_errors_are_one_line(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("id,name\nx,y\n")
    with pytest.raises(RosterError, match="no 'email' column"):
        read_roster(bad)
    bad.write_text("id,name,email\nx,y,z\nx,w,v\n")
    with pytest.raises(RosterError, match="line 3: id 'x' is already on line 2"):
        read_roster(bad)
    bad.write_bytes(b"id,name,email\nx,\xff,z\n")
    with pytest.raises(RosterError, match="not UTF-8"):
        read_roster(bad)
    with pytest.raises(RosterError, match="no such roster"):
        read_roster(tmp_path / "missing.csv")


def test_roster_name_shared_by_two_students_matches_neither(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,name,email\na,Wei Li,a@x\nb,Li Wei,b@x\n", encoding="utf-8")
    roster = read_roster(path)
    student, why = roster.match(name="liwei")
    assert student is None and "matches 2 roster students" in why
    assert roster.match(email="B@X")[0].id == "b"


FAKES = {"ana": "gd_step=3\nadam_step=8\n", "jose": "gd_step=2\n", "zoe": "momentum_step=5\n", "li": ""}


def test_batch_from_a_canvas_zip_lists_what_it_could_not_map(tmp_path, optimizers, monkeypatch):
    import io
    import tempfile

    from grader.batch import command

    scratches = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        scratches.append(real_mkdtemp(*args, **kwargs))
        return scratches[-1]

    monkeypatch.setattr(command.tempfile, "mkdtemp", recording_mkdtemp)

    from grader.batch import run_batch
    from grader.batch.gradebook import Gradebook
    from test_batch_fakes import fake_grade

    download = write_canvas_zip(tmp_path / "submissions.zip", FAKES)
    stream = io.StringIO()
    out = tmp_path / "out"
    summary = run_batch(optimizers, download, out, workers=1, grade_fn=fake_grade, stream=stream,
                        roster=write_roster(tmp_path))
    log = stream.getvalue()
    assert sorted(summary.graded) == ["liwei_4024", "s-ana", "s-jose", "s-zoe"]
    assert "Canvas download: 4 students, 1 marked late" in log
    assert "liwei_4024_90034_report.pdf -> liwei_4024: not in the roster" in log
    assert "1 roster student handed nothing in: s-kim" in log
    with Gradebook(out, optimizers.id) as book:
        assert book.result("s-ana").score == 11
        sources = book.sources()
        assert sources["s-jose"]["late"] is True and sources["s-ana"]["late"] is False
        assert sources["s-ana"]["label"] == "gomezana_4021_90007_optimizers-1.py"
        assert [row.entry for row in book.rows() if row.student == "s-ana"] == ["gomezana_4021_90007_optimizers-1.py"]
        assert [r[0] for r in book.roster_rows()] == ["s-ana", "s-jose", "s-zoe", "s-kim"]
    # the copies of the zip's files are gone once the batch is over
    lms_scratches = [p for p in scratches if "grader-lms-" in p]
    assert len(lms_scratches) == 1 and not __import__("os").path.exists(lms_scratches[0])
    # a second run without --roster keeps the roster's ids (stored in the gradebook)
    stream = io.StringIO()
    summary = run_batch(optimizers, download, out, workers=1, grade_fn=fake_grade, stream=stream)
    assert sorted(summary.skipped) == ["liwei_4024", "s-ana", "s-jose", "s-zoe"]
    assert "roster: 4 students from" in stream.getvalue() and "the roster of an earlier run" in stream.getvalue()
