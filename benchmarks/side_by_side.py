"""Measuring two commits side by side in one run (shared by bench_batch.py and bench_grade.py).

On a shared machine an absolute figure says little: the load of the moment moves it by 2x.
Two commits measured in the same run, rounds alternating (A B A B ...), see the same load,
so their ratio is meaningful. This module gives the benchmarks:

- `checkout(root, rev)`: REV in a temporary detached git worktree, removed afterwards;
- `tree_environment(tree)`: the environment under which `python` imports `grader` from
  that tree and nothing else (PYTHONPATH wins over the editable install's finder; the
  driver checks `grader.__file__` all the same);
- `run_measured(command, ...)`: one fresh process, and the CPU time of everything it
  started. This process makes itself a child subreaper, so processes orphaned during the
  run (the multiprocessing fork server and its workers, a sandbox whose worker exited)
  are re-parented here instead of to init and reaped here; `os.wait4` then yields every
  process's CPU including the children it reaped itself (a sandbox's PID namespace is
  reaped by its init), so grader and sandbox time are both counted whatever the shape of
  the process tree. Linux only.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
#: After the measured process ended: how long its orphaned descendants may take to exit.
LINGER_SECONDS = 30.0


@dataclass
class Measured:
    wall: float  # seconds from start until the process itself ended
    cpu: float  # user + system CPU seconds of the process and of every descendant reaped
    peak_rss_kb: int  # the largest ru_maxrss among them (the largest single process)
    returncode: int
    stdout: str
    stderr: str
    still_running: int  # descendants that outlived LINGER_SECONDS (their CPU is missing)


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def run_measured(command: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Run `command` and measure it with all its descendants (see the module docstring).
    Must not run concurrently with other child processes of this process."""
    become_subreaper()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        cpu, peak, wall, status = 0.0, 0, None, 0
        deadline = None
        while True:
            try:
                pid, wstatus, usage = os.wait4(-1, 0 if wall is None else os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:  # descendants still running after the process itself ended
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.05)
                continue
            cpu += usage.ru_utime + usage.ru_stime
            peak = max(peak, usage.ru_maxrss)
            if pid == proc.pid:
                wall = time.perf_counter() - started
                status = os.waitstatus_to_exitcode(wstatus)
                proc.returncode = status  # reaped here, not by Popen
                deadline = time.perf_counter() + LINGER_SECONDS
        still_running = _children_count()
        out.seek(0)
        err.seek(0)
        return Measured(wall or time.perf_counter() - started, cpu, peak, status, out.read(), err.read(),
                        still_running)


def _children_count() -> int:
    me = str(os.getpid())
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            count += fields[1] == me
    return count


def tree_environment(tree: Path) -> dict[str, str]:
    """os.environ with `grader` importable from `tree` only, and no course override."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.pop("GRADER_COURSE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches, like a normal installation's
    return env


@contextlib.contextmanager
def checkout(root: Path, rev: str | None):
    """`rev` of the repository at `root`, checked out in a temporary detached worktree
    (None when `rev` is None: nothing to compare with)."""
    if rev is None:
        yield None
        return
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        sys.exit(f"--compare {rev}: not a commit of {root}: {commit.stderr.strip().splitlines()[-1:]}")
    parent = Path(tempfile.mkdtemp(prefix="grader-compare-"))
    tree = parent / commit.stdout.strip()[:12]
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), commit.stdout.strip()],
                   check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(root), "worktree", "prune"], capture_output=True)


def short_commit(tree: Path) -> str:
    """The tree's commit, with "+changes" when its work tree differs from it."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def spread(values) -> str:
    """'min-max' of the values, for a line that quotes their median."""
    values = list(values)
    return f"{min(values):.3g}-{max(values):.3g}" if values else "-"
