"""Output files and folders honour the umask (a course group can read them); temporary files
stay private while they are written."""
from __future__ import annotations

import os
import stat

import pytest

from grader import atomic
from grader.atomic import write_atomic
from test_batch_run import batch, make_cohort


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_atomic_gives_the_umask_mode_and_keeps_the_temporary_file_private(tmp_path, umask_002, monkeypatch):
    seen = {}
    real_replace = os.replace

    def spying_replace(src, dst):
        seen["temporary"] = mode(src)
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spying_replace)
    write_atomic(tmp_path / "sub" / "file.csv", "a,b\n")
    # the temporary file had the final mode only after it was complete; while written it was 0600
    assert mode(tmp_path / "sub" / "file.csv") == 0o664
    assert mode(tmp_path / "sub") == 0o775
    assert seen["temporary"] == 0o664  # chmod happens just before the rename, after the write


def test_temporary_file_is_private_while_written(tmp_path, umask_002, monkeypatch):
    modes = []
    real_fdopen = os.fdopen

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def write(self, data):
            modes.append(stat.S_IMODE(os.fstat(self.handle.fileno()).st_mode))
            return self.handle.write(data)

        def fileno(self):
            return self.handle.fileno()

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a: Spy(real_fdopen(fd, *a)))
    write_atomic(tmp_path / "x.html", b"<p>")
    assert modes == [0o600]


def test_a_batch_under_umask_002_leaves_group_readable_outputs(tmp_path, optimizers, umask_002):
    cohort = make_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    batch(optimizers, cohort, out, workers=1)
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert {p.name for p in files} >= {"grades.csv", "index.html", "alice.json"}
    for path in files:
        assert mode(path) & 0o060 == 0o060, path
        assert mode(path) & 0o007 == 0o004, path
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        assert mode(folder) == 0o775, folder
