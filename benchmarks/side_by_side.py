"""Measuring two commits side by side in one run (shared by bench_batch.py and bench_grade.py).

On a shared machine an absolute figure says little: the load of the moment moves it by 2x.
Two commits measured in the same run, rounds alternating (A B A B ...), see the same load,
so their ratio is meaningful. This module gives the benchmarks:

- `checkout(root, rev)`: REV in a temporary detached git worktree, removed afterwards;
- `tree_environment(tree)`: the environment under which `python` imports `grader` from
  that tree and nothing else (PYTHONPATH wins over the editable install's finder; the
  driver checks `grader.__file__` all the same);
- `run_measured(command, ...)`: one fresh process, and the CPU time of everything it
  started, read from a CPU-accounting cgroup of its own (`CpuGroup`: cgroup v1 cpuacct, or
  cgroup v2's cpu.stat) that the process joins before it starts and its descendants
  inherit. Only a cgroup sees the sandboxes' whole time: the processes of a sandbox's PID
  namespace are killed with it, and the kernel reaps those without adding their CPU to
  any parent's (a namespace's dying init ignores SIGCHLD), so rusage misses the student's
  code, the probes and the forks (measured: a submission that burns 1 CPU-s at import
  added nothing to rusage). Where no cgroup can be made (not root, no cgroupfs) the figure
  falls back to rusage and says so (`cpu_source`). In both cases this process makes itself
  a child subreaper, so processes orphaned during the run (the multiprocessing fork
  server, a sandbox whose worker exited) are re-parented and reaped here, and waits until
  every one has ended, so nothing of one run is counted in the next. Linux only.
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


CGROUP_ROOTS = ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")


@dataclass
class Measured:
    wall: float  # seconds from start until the process itself ended
    cpu: float  # user + system CPU seconds of the process and all its descendants (see cpu_source)
    cpu_source: str  # "cgroup" (everything), or "rusage" (the sandboxes' namespaces missing)
    rusage_cpu: float  # what rusage of the reaped processes says
    peak_rss_kb: int  # the largest ru_maxrss among the reaped processes (the largest single one)
    returncode: int
    stdout: str
    stderr: str
    still_running: int  # descendants that outlived LINGER_SECONDS (their CPU may be missing)


class CpuGroup:
    """A fresh cgroup that counts the CPU of every process in it (v1 cpuacct, or v2 cpu.stat),
    or nothing (`path` None) where none can be made. Processes join with `join()`."""

    def __init__(self):
        self.path: Path | None = None
        for root in map(Path, CGROUP_ROOTS):
            if not ((root / "cpuacct.usage").is_file() or (root / "cgroup.procs").is_file()
                    and (root / "cgroup.controllers").is_file()):
                continue
            candidate = root / f"grader-bench-{os.getpid()}-{time.monotonic_ns()}"
            try:
                candidate.mkdir()
            except OSError:
                continue
            self.path = candidate
            break

    def join(self) -> None:
        """Move the calling process into the group (a child's preexec_fn, before exec)."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def cpu_seconds(self) -> float:
        if (self.path / "cpuacct.usage").is_file():
            return int((self.path / "cpuacct.usage").read_text()) / 1e9
        usage = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(usage["usage_usec"]) / 1e6

    def remove(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.rmdir()


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def run_measured(command: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Run `command` and measure it with all its descendants (see the module docstring).
    Must not run concurrently with other child processes of this process."""
    become_subreaper()
    group = CpuGroup()
    try:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, text=True,
                                    preexec_fn=group.join if group.path is not None else None)
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
            total, source = (group.cpu_seconds(), "cgroup") if group.path is not None else (cpu, "rusage")
            return Measured(wall or time.perf_counter() - started, total, source, cpu, peak, status,
                            out.read(), err.read(), still_running)
    finally:
        group.remove()


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
