"""`--scheduler` without a shared file system: a Dask worker whose file system holds neither
the course nor the cohort (a bubblewrap view of the system, the Python installation and the
grader package alone, with a fresh empty /tmp as its working directory) grades a cohort
exactly as a local batch does, from the bytes each job carries and the course bundle it
fetched once into its private cache, and a later batch reuses that cache."""
from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from grader.batch import run_batch
from test_batch_dask import gradebook_contents

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "cohort"
#: The view's folders: the system (programs, libraries, /etc) and the Python installation.
SYSTEM = ["/usr", "/etc"]


def _view(worker_tmp: Path) -> list[str]:
    """bwrap arguments for a view holding SYSTEM, the Python installation, the grader package
    (alone: the checkout around it holds the course) and `worker_tmp` as /tmp."""
    args = ["bwrap", "--die-with-parent"]
    for path in SYSTEM:
        args += ["--ro-bind", path, path]
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}"):
            args += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            args += ["--ro-bind", f"/{name}", f"/{name}"]
    for prefix in dict.fromkeys(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)):
        if not any(prefix.startswith(path + "/") for path in SYSTEM):
            args += ["--ro-bind", prefix, prefix]
    args += ["--ro-bind", str(ROOT / "grader"), "/opt/grader-code/grader",
             "--proc", "/proc", "--dev", "/dev", "--bind", str(worker_tmp), "/tmp", "--chdir", "/tmp",
             "--clearenv", "--setenv", "PATH", f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
             "--setenv", "PYTHONPATH", "/opt/grader-code", "--setenv", "HOME", "/tmp/no-home",
             "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLBACKEND", "Agg"]
    return args


def bwrap_works(tmp: Path) -> bool:
    if shutil.which("bwrap") is None:
        return False
    try:
        done = subprocess.run([*_view(tmp), sys.executable, "-c", "import grader.batch.work"],
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextmanager
def isolated_worker(scheduler: str, worker_tmp: Path, client):
    """A `dask worker` (one process, one thread) inside the view, connected to `scheduler`."""
    log = open(worker_tmp.parent / "worker.log", "wb")
    process = subprocess.Popen([*_view(worker_tmp), sys.executable, "-m", "distributed.cli.dask_worker", scheduler,
                                "--nworkers", "1", "--nthreads", "1", "--local-directory", "/tmp/dask",
                                "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)
    try:
        client.wait_for_workers(1, timeout=120)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def make_cohort(folder: Path) -> Path:
    """A module, a notebook, a zip, a folder entry and a submission that fails to load."""
    folder.mkdir()
    for name in ["amara_okafor.py", "eva_novak.ipynb", "farah_haddad.zip", "uma_patel.py"]:
        shutil.copy(DEMO / name, folder / name)
    (folder / "nadia").mkdir()
    shutil.copy(DEMO / "nadia_rahman.py", folder / "nadia" / "optimizers.py")
    return folder


def test_a_worker_without_the_course_or_the_cohort_grades_like_a_local_batch(tmp_path, optimizers):
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    if not bwrap_works(worker_tmp):
        pytest.skip("bubblewrap cannot make the worker's view here")
    cohort = make_cohort(tmp_path / "cohort")
    run_batch(optimizers, cohort, tmp_path / "local", workers=1, stream=io.StringIO())

    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster.scheduler_address) as client, \
            isolated_worker(cluster.scheduler_address, worker_tmp, client):
        # the premise: that worker sees neither the cohort nor the course
        seen = client.run(lambda paths: [os.path.exists(p) for p in paths],
                          [str(cohort), str(optimizers.directory), str(optimizers.solution_directory), str(ROOT)])
        assert list(seen.values()) == [[False, False, False, False]]
        log = io.StringIO()
        remote = run_batch(optimizers, cohort, tmp_path / "dask", scheduler=cluster.scheduler_address, stream=log)
        assert sorted(remote.graded) == ["amara_okafor", "eva_novak", "farah_haddad", "nadia", "uma_patel"]
        assert remote.failed == ["uma_patel"] and all(w.split(":")[0] for w in remote.workers)
        assert gradebook_contents(tmp_path / "dask", optimizers) == gradebook_contents(tmp_path / "local", optimizers)
        assert (tmp_path / "dask" / "grades.csv").read_text() == (tmp_path / "local" / "grades.csv").read_text()
        for name in ["reports/nadia.html", "reports/eva_novak.html", "notebooks/eva_novak.html"]:
            assert _timeless(tmp_path / "dask" / name) == _timeless(tmp_path / "local" / name), name

        # the course, once, in the worker's private cache (its home folder, or its /tmp, is under worker_tmp)
        versions = [p for p in worker_tmp.rglob("*") if p.is_dir() and len(p.name) == 64]
        assert len(versions) == 1, versions
        version = versions[0]
        cache = version.parent
        assert cache.name in ("courses", f"grader-courses-{os.getuid()}")
        for folder in [cache, version, version / "solutions" / "optimizers"]:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        secret = version / "solutions" / "optimizers" / "secret.txt"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert secret.read_text().strip() == optimizers.secret()
        assert (version / "assignments" / "optimizers" / "probes.py").read_bytes() == optimizers.probes_path.read_bytes()
        installed = version.stat().st_ino, version.stat().st_mtime_ns

        # a later batch (a new client, a new Variable) reuses the worker's copy
        again = run_batch(optimizers, cohort, tmp_path / "dask", scheduler=cluster.scheduler_address, force=True,
                          stream=io.StringIO())
        assert len(again.graded) == 5
        assert gradebook_contents(tmp_path / "dask", optimizers) == gradebook_contents(tmp_path / "local", optimizers)
        assert [p.name for p in cache.iterdir()] == [version.name]
        assert (version.stat().st_ino, version.stat().st_mtime_ns) == installed
        # the batch took its Variable away when it ended
        assert not any("grader-course" in name for name in _variables(client))


def _timeless(path: Path) -> str:
    """A report without the one thing that differs between two gradings: how long it took."""
    return re.sub(r"Graded in [0-9.]+ s", "Graded in ... s", path.read_text(encoding="utf-8"))


def _variables(client) -> list[str]:
    """The names of the Variables the scheduler holds."""
    def names(dask_scheduler):
        extension = dask_scheduler.extensions.get("variables")
        return list(getattr(extension, "variables", {}) or {})

    deadline = time.monotonic() + 30
    while True:  # the delete is sent asynchronously by the closing client
        held = client.run_on_scheduler(names)
        if not any("grader-course" in name for name in held) or time.monotonic() > deadline:
            return held
        time.sleep(0.2)
