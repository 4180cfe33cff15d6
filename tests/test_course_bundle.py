"""The course bundle a Dask worker fetches when its cache lacks that version
(grader.batch.course_bundle): named by its content, private on the worker, and checked like
hostile input before anything is written."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from grader.batch.course_bundle import CACHE_ENV, CourseRef, course_bundle, install_course
from grader.course import Course, CourseError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def toy_course(tmp_path) -> Course:
    """A copy of the optimizers assignment's course files, free to edit."""
    root = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__")
    for rel in ["assignments/optimizers", "solutions/optimizers", "templates"]:
        shutil.copytree(ROOT / rel, root / rel, ignore=ignore)
    (root / "assignments" / "optimizers" / "__pycache__").mkdir()
    (root / "assignments" / "optimizers" / "__pycache__" / "probes.cpython-311.pyc").write_bytes(b"\0")
    (root / "solutions" / "optimizers" / "secret.txt").write_text("the-file-secret\n")
    return Course(root)


@pytest.fixture
def course_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def members(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        return {m.name: tar.extractfile(m).read() if m.isfile() else None for m in tar}


def test_the_bundle_is_named_by_its_content_and_holds_what_grading_reads(toy_course, monkeypatch):
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    assignment = toy_course.get("optimizers")
    first = course_bundle(assignment)
    assert first.hash == hashlib.sha256(first.data).hexdigest()
    probes = assignment.probes_path
    os.utime(probes, (1, 1))  # a touched file is the same version
    assert course_bundle(assignment) == first
    names = members(first.data)
    for rel in ["assignments/optimizers/assignment.toml", "assignments/optimizers/probes.py",
                "solutions/optimizers/optimizers.py", "templates/report.html.j2"]:
        assert names[rel] == (toy_course.root / rel).read_bytes(), rel
    assert any(name.startswith("solutions/optimizers/checks/test_") for name in names)
    assert not any("__pycache__" in name for name in names)
    assert names["solutions/optimizers/secret.txt"] == b"the-file-secret\n"

    probes.write_text(probes.read_text() + "\n# edited\n")
    assert course_bundle(assignment).hash != first.hash
    # the secret as resolved on the instructor's machine travels with the course
    monkeypatch.setenv("GRADER_SECRET", "from-the-environment")
    assert members(course_bundle(assignment).data)["solutions/optimizers/secret.txt"] == b"from-the-environment\n"


def test_a_symlink_to_a_file_is_sent_as_the_file_and_one_to_a_folder_is_refused(toy_course, tmp_path):
    assignment = toy_course.get("optimizers")
    outside = tmp_path / "shared_check.py"
    outside.write_text("SHARED = 1\n")
    (assignment.hidden_checks / "shared_check.py").symlink_to(outside)
    assert members(course_bundle(assignment).data)["solutions/optimizers/checks/shared_check.py"] == b"SHARED = 1\n"
    (assignment.hidden_checks / "more").symlink_to(tmp_path)
    with pytest.raises(CourseError) as info:
        course_bundle(assignment)
    assert "\n" not in str(info.value) and "more" in str(info.value)


def test_a_worker_fetches_a_version_once_into_a_private_cache(toy_course, course_cache, monkeypatch):
    assignment = toy_course.get("optimizers")
    bundle = course_bundle(assignment)
    fetched = []

    def fetch():
        fetched.append(1)
        return bundle.data

    ref = CourseRef(bundle.hash, fetch)
    root = ref.root()
    assert root == course_cache / bundle.hash and fetched == [1]
    for folder in [course_cache, root, root / "solutions", root / "solutions" / "optimizers" / "checks"]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in root.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    local = ref.assignment(assignment)
    assert local.course_root == root and local.secret() == "the-file-secret"
    monkeypatch.setenv("GRADER_SECRET", "the-worker's-own")  # a worker's environment cannot re-roll inputs
    assert local.secret() == "the-file-secret" and assignment.secret() == "the-worker's-own"
    assert local.probes_path.read_bytes() == assignment.probes_path.read_bytes()
    assert ref.root() == root and fetched == [1]  # a later job: no fetch

    def must_not_fetch():
        raise AssertionError("fetched a version the cache holds")

    assert CourseRef(bundle.hash, must_not_fetch).root() == root  # a later batch
    assert install_course(bundle.hash, bundle.data) == root  # installing again (a race lost) is harmless
    assert sorted(p.name for p in course_cache.iterdir()) == [bundle.hash]


def test_a_bundle_that_does_not_match_its_hash_is_refused(course_cache):
    data = gzip.compress(b"")
    with pytest.raises(CourseError, match="does not match its hash"):
        install_course("0" * 64, data)
    with pytest.raises(CourseError, match="not a course hash"):
        install_course("../../etc", data)
    assert not course_cache.exists() or list(course_cache.iterdir()) == []


def hostile_tar(add) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        ok = tarfile.TarInfo("assignments/fine.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        add(tar)
    return gzip.compress(buffer.getvalue())


def _file(name: str, data: bytes = b"x"):
    def add(tar):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return add


def _special(name: str, kind: bytes, target: str = ""):
    def add(tar):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)
    return add


@pytest.mark.parametrize("add, says", [
    (_file("../escaped.txt"), "unsafe member name"),
    (_file("assignments/../../escaped.txt"), "unsafe member name"),
    (_file("/tmp/escaped.txt"), "unsafe member name"),
    (_file("assignments\\..\\escaped.txt"), "unsafe member name"),
    (_special("assignments/link", tarfile.SYMTYPE, "/etc/passwd"), "not a regular file or folder"),
    (_special("assignments/hard", tarfile.LNKTYPE, "assignments/fine.txt"), "not a regular file or folder"),
    (_special("assignments/fifo", tarfile.FIFOTYPE), "not a regular file or folder"),
    (_special("assignments/dev", tarfile.CHRTYPE), "not a regular file or folder"),
])
def test_a_hostile_bundle_is_refused_in_one_line_before_anything_is_written(course_cache, tmp_path, add, says):
    data = hostile_tar(add)
    with pytest.raises(CourseError) as info:
        install_course(hashlib.sha256(data).hexdigest(), data)
    message = str(info.value)
    assert says in message and "\n" not in message and message.startswith("course bundle ")
    assert list(course_cache.iterdir()) == []  # no version, no staging left behind
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/tmp/escaped.txt").exists()


def test_a_member_named_twice_is_refused(course_cache):
    data = hostile_tar(_file("assignments/fine.txt", b"no"))
    with pytest.raises(CourseError, match="cannot unpack"):
        install_course(hashlib.sha256(data).hexdigest(), data)
    assert list(course_cache.iterdir()) == []


def test_a_cache_folder_of_another_user_or_a_symlink_is_refused(tmp_path, monkeypatch, toy_course):
    bundle = course_bundle(toy_course.get("optimizers"))
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    monkeypatch.setenv(CACHE_ENV, str(loose))
    install_course(bundle.hash, bundle.data)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700  # ours, made private

    link = tmp_path / "link"
    link.symlink_to(loose)
    monkeypatch.setenv(CACHE_ENV, str(link))
    with pytest.raises(CourseError, match="not a folder"):
        CourseRef(bundle.hash, lambda: bundle.data).root()
    if os.getuid() == 0:  # only root can give a folder away
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        monkeypatch.setenv(CACHE_ENV, str(theirs))
        with pytest.raises(CourseError, match="belongs to another user"):
            install_course(bundle.hash, bundle.data)


def test_a_job_whose_course_cannot_be_installed_is_one_crashed_outcome(course_cache, optimizers, tmp_path):
    """A bad bundle costs that job a one-line error, flagged crashed (retried next run)."""
    import dataclasses

    from grader.batch.work import GradeJob, grade_job
    from grader.load import read_submission_file
    from test_batch_fakes import fake_grade, write_fake

    entry = write_fake(tmp_path, "alice.py", gd_step=3)
    bundle = course_bundle(optimizers)
    job = GradeJob(optimizers, "alice", read_submission_file(entry, "optimizers"), False, fake_grade,
                   course=CourseRef(bundle.hash, lambda: b"not the bundle"))
    outcome = grade_job(job)
    assert outcome.crashed and outcome.result["status"] == "error"
    error = outcome.result["error"]
    assert "CourseError" in error and "does not match its hash" in error and "\n" not in error
    good = grade_job(dataclasses.replace(job, course=CourseRef(bundle.hash, lambda: bundle.data)))
    assert not good.crashed and good.result["score"] == 3
    assert list(course_cache.iterdir()) == [course_cache / bundle.hash]
