"""Isolation set-up: which isolation works here, and what a worker process is given.

Nothing here starts a student's code; it decides how it will be started:

- :func:`isolation_available` / :func:`bubblewrap_failure`: whether bubblewrap works on this
  machine (found out once per process, the reason logged for the instructor);
- :func:`choose_isolation`: what a :class:`~grader.sandbox.base.Limits` asks for, checked;
- :func:`bwrap_command`: bubblewrap's arguments (namespaces, read-only mounts of the Python
  runtime and system libraries, tmpfs scratch, the read-only ``/runtime``);
- :func:`worker_environment`: the worker's whole environment;
- :func:`runtime_files` / :func:`write_runtime`: the files a worker sees at ``/runtime``
  (the programs of :mod:`grader.sandbox.inside`, the protocol, the probe library and the
  assignment's probes: nothing else of the grader or of the course);
- :func:`landlock_rules`: what the rlimits fallback's worker may reach under Landlock;
- :func:`is_root`, :func:`fresh_uid`: the uid a worker runs under.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from grader.sandbox.base import Limits, SandboxError

#: How every warning about the rlimits fallback starts (they list what the fallback does
#: not stop: for the instructor; a student-facing summary may leave them out, see
#: grader.gradescope).

#: How every warning about the rlimits fallback starts (they list what the fallback does
#: not stop: for the instructor; a student-facing summary may leave them out, see
#: grader.gradescope).
FALLBACK_WARNING_PREFIX = "bubblewrap is not available: "


#: Shown to the user whenever student code runs without bubblewrap (and without Landlock).
RLIMITS_WARNING = (
    FALLBACK_WARNING_PREFIX + "student code ran with resource limits only, "
    "without filesystem or network isolation"
)


def landlock_warning(abi: int) -> str:
    """Shown instead of RLIMITS_WARNING when the rlimits fallback could add Landlock rules."""
    missing = [what for what, since in (("TCP", 4), ("signals", 6)) if abi < since]
    kept = "files outside the Python runtime and its scratch folder" + (
        "" if missing else ", TCP connections and signals to other processes")
    return (f"{FALLBACK_WARNING_PREFIX}student code ran with resource limits and Landlock "
            f"(ABI {abi}: no access to {kept}), without PID or network namespaces"
            + (f"; this kernel's Landlock does not restrict {' or '.join(missing)}" if missing else ""))


ISOLATION_ENV = "GRADER_SANDBOX"


_GRADER = Path(__file__).resolve().parent.parent
_INSIDE = Path(__file__).resolve().parent / "inside"
#: The worker's programs, as run by ``python -I -B {RUNTIME}/{INSIDE}`` (see grader.sandbox.inside).
INSIDE = "inside"


def runtime_files(probes_path: Path) -> dict[str, Path]:
    """What a worker's read-only /runtime holds, by relative path: the programs that run in
    the sandbox (``inside/``), the protocol, the probe library and the assignment's probes
    (nothing else of the grader or course)."""
    files = {f"{INSIDE}/{path.name}": path for path in sorted(_INSIDE.glob("*.py"))}
    return {**files, "protocol.py": _GRADER / "protocol.py", "probekit.py": _GRADER / "probekit.py",
            "probes.py": Path(probes_path)}


def write_runtime(runtime: Path, probes_path: Path) -> None:
    """Fill the folder ``runtime`` (made here, with its sub-folders) with :func:`runtime_files`,
    world-readable: the worker may run under another uid."""
    for name, src in runtime_files(probes_path).items():
        target = runtime / name
        for folder in reversed([parent for parent in target.parents if parent == runtime or runtime in parent.parents]):
            if not folder.is_dir():
                folder.mkdir()
            folder.chmod(0o755)
        shutil.copyfile(src, target)
        target.chmod(0o644)


def landlock_rules(runtime: str, scratch: str) -> dict:
    """What the rlimits fallback's worker may reach once it confines itself with Landlock:
    the system libraries and the Python runtime read-only, its ``runtime`` files, its own
    /proc entry (the rule is made there: it lists its children; another process's environ or
    maps stay out of reach), its ``scratch`` folder read-write, and a few devices."""
    return {"read": [*SYSTEM_LIBRARIES, *LOADER_FILES, *python_dirs(), runtime, "/proc/self"],
            "write": [scratch], "devices": list(DEVICES)}


def is_root() -> bool:
    return os.geteuid() == 0


def fresh_uid() -> int:
    """A random uid (and gid) no account uses, for one sandbox worker."""
    return (1 << 30) + secrets.randbelow(1 << 29)


def reachable_by_others(folder: str) -> bool:
    """Whether a user with no relation to the folder's owners can enter ``folder`` (every
    folder on the way has the search bit for others)."""
    path = Path(folder).resolve()
    for step in (path, *path.parents):
        try:
            if not os.stat(step).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _namespace_args() -> list[str]:
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    args.append("--unshare-cgroup-try")
    if is_root():
        # bwrap run by root keeps ALL capabilities unless told otherwise; keep only what
        # the worker needs to switch to its unprivileged uid (then the kernel clears them).
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args.append("--unshare-user")
    return args + ["--die-with-parent", "--new-session"]


SYSTEM_LIBRARIES = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/libx32")


LOADER_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")


DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


def python_dirs() -> list[str]:
    """The Python installation and NumPy's site-packages, shortest paths first."""
    numpy_site = os.path.dirname(os.path.dirname(np.__file__))
    python_dirs = {
        sys.base_prefix,
        sys.prefix,
        sys.base_exec_prefix,
        sys.exec_prefix,
        os.path.dirname(sys.executable),
        os.path.dirname(os.path.realpath(sys.executable)),
        numpy_site,
    }
    return sorted({os.path.abspath(p) for p in python_dirs if p}, key=len)


@functools.cache
def _runtime_mount_args() -> tuple[str, ...]:
    """Read-only mounts of what the interpreter and NumPy need, and nothing else."""
    args: list[str] = []
    made: set[str] = set()
    mounted: list[str] = []

    def covered(path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounted)

    def make_parents(path: str) -> None:
        parts = Path(path).parts[1:-1]
        for i in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:i])
            if parent not in made and not covered(parent):
                args.extend(["--perms", "0755", "--dir", parent])
                made.add(parent)

    for path in SYSTEM_LIBRARIES:
        if os.path.islink(path):
            args.extend(["--symlink", os.readlink(path), path])
            mounted.append(path)
        elif os.path.isdir(path):
            make_parents(path)
            args.extend(["--ro-bind", path, path])
            mounted.append(path)
    for path in LOADER_FILES:
        if os.path.exists(path):
            make_parents(path)
            args.extend(["--ro-bind", path, path])
            mounted.append(path)

    for path in python_dirs():
        if covered(path) or not os.path.isdir(path):
            continue
        make_parents(path)
        args.extend(["--ro-bind", path, path])
        mounted.append(path)
    return tuple(args)


@functools.cache
def bubblewrap_failure() -> str | None:
    """Why a bubblewrap sandbox does not work on this machine (one line, for the instructor:
    e.g. bwrap's own message that the container may not create namespaces), or None when it
    works.  Found out once per process; the first time it fails, the reason is also logged
    (logger ``grader.sandbox``; Python's default handler prints it on stderr)."""
    bwrap = shutil.which("bwrap")
    if not sys.platform.startswith("linux"):
        reason = f"bubblewrap needs Linux (this is {sys.platform})"
    elif bwrap is None:
        reason = "bwrap is not installed (apt-get install bubblewrap)"
    else:
        command = [bwrap, *_namespace_args(), "--clearenv", *_runtime_mount_args()]
        command += ["--proc", "/proc", "--dev", "/dev", "--", sys.executable, "-I", "-S", "-c", ""]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"{bwrap} could not be run: {exc}"
        else:
            if done.returncode == 0:
                return None
            said = " ".join(done.stderr.decode("utf-8", "replace").split())[:500]
            reason = f"{bwrap} failed with status {done.returncode}" + (f": {said}" if said else "")
    logging.getLogger("grader.sandbox").warning("grader: bubblewrap does not work here, student code runs in the "
                                        "rlimits fallback: %s", reason)
    return reason


def isolation_available() -> str:
    """``"bubblewrap"`` if a bubblewrap sandbox works on this machine, else ``"rlimits"``
    (:func:`bubblewrap_failure` says why)."""
    return "bubblewrap" if bubblewrap_failure() is None else "rlimits"


def choose_isolation(limits: Limits) -> str:
    requested = limits.isolation
    if requested == "auto":
        requested = os.environ.get(ISOLATION_ENV, "").strip().lower() or "auto"
    if requested not in ("auto", "bubblewrap", "rlimits"):
        raise ValueError(f"unknown sandbox isolation {requested!r} (auto, bubblewrap or rlimits)")
    if requested == "rlimits":
        return "rlimits"
    available = isolation_available()
    if requested == "bubblewrap" and available != "bubblewrap":
        raise SandboxError(f"bubblewrap isolation was requested but bwrap does not work here: {bubblewrap_failure()}")
    return available


#: The grader's own settings that choose OpenBLAS's kernels, passed on to the worker: the
#: reference runs in the grader's process, the student's code in the sandbox, and with
#: different kernels the two round differently (a near-tie between two candidates could then
#: go either way). Only these names, and only plain values.
BLAS_KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.]{1,32}$")


def worker_environment(isolation: str, home: str) -> dict[str, str]:
    """The worker's whole environment: nothing of the grader's but its BLAS kernel choice."""
    kernels = {name: os.environ[name] for name in BLAS_KERNEL_VARIABLES
               if _PLAIN_VALUE.match(os.environ.get(name, ""))}
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp" if isolation == "bubblewrap" else home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        **kernels,
    }


def bwrap_command(limits: Limits, runtime_dir: Path, python: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    """``bwrap ... -- python ...`` with ``runtime_dir`` read-only at /runtime; ``extra``
    arguments go last, before the command (e.g. capabilities for the pool)."""
    size = str(limits.scratch_bytes)
    command = [shutil.which("bwrap"), *_namespace_args(), "--clearenv"]
    for key, value in worker_environment("bubblewrap", "/scratch").items():
        command += ["--setenv", key, value]
    # The tmpfs mounts come first: a Python runtime that lives under /tmp (a venv made
    # there) is then bound on top of the empty /tmp instead of being hidden by it.
    command += ["--perms", "1777", "--size", size, "--tmpfs", "/scratch"]
    command += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    command += [*_runtime_mount_args(), "--ro-bind", str(runtime_dir), "/runtime"]
    command += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/scratch", *extra, "--", *python]
    return command
