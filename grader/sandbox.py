"""Run untrusted student code in a separate, limited worker process.

A :class:`Sandbox` owns one warm worker (``worker.py``) that has imported the student's
module and the assignment's probes; :meth:`Sandbox.run_probe` sends it one request and
waits for the reply with a wall-clock timeout.  The worker runs each probe in a fresh fork
of itself (see :mod:`grader.worker`), so nothing one probe does reaches the next; a probe
that dies is reported as ``"crashed"`` and the worker carries on.  When a probe times out,
the worker dies or sends anything but a well-formed reply, the worker is killed with its
whole process tree and a fresh one is started (and re-imports the student module) on the
next probe, so one broken function costs only its own probes.

Isolation (:func:`isolation_available`):

``"bubblewrap"``
    The worker runs under ``bwrap`` in new PID, network, IPC, UTS and cgroup namespaces
    and sees only: the Python runtime and its site-packages (read-only), the system
    libraries, a read-only ``/runtime`` with the worker, the protocol, the probes and the
    student's module, and size-capped tmpfs mounts at ``/scratch`` (its working directory)
    and ``/tmp``.  The environment is cleared.  When the grader runs as root, bwrap keeps
    only CAP_SETUID/CAP_SETGID and the worker drops to a random unprivileged uid before any
    student code runs (the kernel does not apply RLIMIT_NPROC to root, so this is what
    makes the process limit real); otherwise bwrap adds a user namespace.
``"rlimits"``
    Fallback when bubblewrap is missing or does not work (or ``GRADER_SANDBOX=rlimits`` /
    ``Limits(isolation="rlimits")``): the same worker with the same rlimits in its own
    session, with a clean environment, closed inherited fds and a private scratch
    directory.  Where Linux has Landlock the worker confines itself to the Python runtime
    (read-only) and its scratch directory, without TCP or signals out (by ABI); without
    Landlock it can read and write whatever the grader's user can.  When the grader runs as
    root (a Gradescope container) the worker switches to a fresh unprivileged uid, with no
    capability and no_new_privs, before any student code runs, as under bubblewrap (or
    refuses to start): it then reaches only what any user may, plus its own runtime files
    and scratch folder.  :attr:`Sandbox.warning`
    says which (:data:`RLIMITS_WARNING` or :func:`landlock_warning`); callers must show it.

Warm pool (:mod:`grader.sandbox_pool`, which builds on this module): ``Sandbox(...,
pool=SandboxPool())`` (``grader.grade`` passes the thread's pool when the environment
variable ``GRADER_SANDBOX_POOL=1`` is set) gets its worker forked by a long-lived
bubblewrap process that has already imported NumPy and the probes, instead of starting
bwrap and Python per submission; from the student's import on the worker is the same, and
so is everything above (timeouts, crashes, the sticky import error).  Only bubblewrap uses
a pool; in rlimits mode a Sandbox given one starts its own worker as without it.

In both modes the worker has rlimits on CPU seconds, address space, file size, processes
and core dumps, its stdin is /dev/null, its stdout/stderr are captured per probe up to
``Limits.output_bytes`` (the rest is discarded), and it talks to this process only over
two dedicated pipes whose every byte is treated as untrusted (see :mod:`grader.protocol`).
"""

from __future__ import annotations

import ast
import functools
import json
import logging
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from grader import protocol

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

_HERE = Path(__file__).resolve().parent


def runtime_files(probes_path: Path) -> dict[str, Path]:
    """What a worker's read-only /runtime holds, by name: the worker program, the protocol,
    the probe library and the assignment's probes (nothing else of the grader or course)."""
    return {"worker.py": _HERE / "worker.py", "protocol.py": _HERE / "protocol.py",
            "probekit.py": _HERE / "probekit.py", "probes.py": Path(probes_path)}


class PoolGone(Exception):
    """A pool process (grader.sandbox_pool) died or misbehaved; it has been killed."""
_RESERVED_MODULES = frozenset({"_grader_protocol", "_grader_probes", "numpy"})
_MESSAGE_CHARS = 2000
_TRACEBACK_CHARS = 10_000
_SIGNAL_HINTS = {
    signal.SIGKILL: "killed (SIGKILL)",
    signal.SIGXCPU: "stopped by the CPU time limit (SIGXCPU)",
    signal.SIGSEGV: "crashed with a segmentation fault (SIGSEGV), e.g. runaway recursion",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGXFSZ: "stopped by the file size limit (SIGXFSZ)",
}


class SandboxError(RuntimeError):
    """The sandbox itself cannot run (a grader or installation problem, not the student's)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker.

    ``cpu_seconds``, ``memory_bytes`` (address space), ``file_bytes`` and ``processes`` are
    rlimits of each process (every probe runs in a fresh fork, with a fresh CPU budget; the
    process limit counts the worker's uid), ``probe_timeout`` the wall-clock limit of one probe
    and of the student module's import, ``output_bytes`` how much printed output is kept
    per probe.  ``scratch_bytes`` sizes the tmpfs ``/scratch`` and ``/tmp`` under
    bubblewrap.  ``reply_bytes`` is how many bytes of replies the trusted side reads from
    one Sandbox (one submission) in all; replies beyond it are refused unread (an honest
    submission's replies add up to kilobytes).  ``isolation`` is ``"auto"`` (bubblewrap when it works, unless the
    environment variable GRADER_SANDBOX says ``rlimits``), ``"bubblewrap"`` (error if
    unavailable) or ``"rlimits"``.  ``startup_timeout`` bounds interpreter + NumPy start-up,
    which runs no student code.
    """

    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 64
    probe_timeout: float = 3.0  # per probe call; a correct probe takes milliseconds
    output_bytes: int = 1 << 20
    scratch_bytes: int = 64 << 20
    reply_bytes: int = 64 << 20
    isolation: str = "auto"
    startup_timeout: float = 30.0


@dataclass
class ProbeOutcome:
    """What one probe produced.  ``status`` is ``"ok"`` (``value`` holds the decoded result,
    see :mod:`grader.protocol`), ``"error"`` (the student's code raised: ``exc_type``,
    ``message`` and a traceback of the student's frames only), ``"timeout"`` or
    ``"crashed"`` (``message`` says how; a timeout's ``traceback`` holds the student's frames
    where the code was when the worker stopped it, when known).  ``output`` is what the
    student's code printed."""

    status: str
    value: object = None
    exc_type: str | None = None
    message: str = ""
    traceback: str = ""
    output: str = ""
    seconds: float = 0.0


#: How long past a probe's time limit the grader waits for the worker's own report of a
#: stopped probe (with the student's line) before it kills the worker.
STOP_GRACE = 0.5


# --------------------------------------------------------------------------- isolation


def is_root() -> bool:
    return os.geteuid() == 0


def _fresh_uid() -> int:
    """A random uid (and gid) no account uses, for one sandbox worker."""
    return (1 << 30) + secrets.randbelow(1 << 29)


def _reachable_by_others(folder: str) -> bool:
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


_SYSTEM_LIBRARIES = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/libx32")
_LOADER_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


def _python_dirs() -> list[str]:
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

    for path in _SYSTEM_LIBRARIES:
        if os.path.islink(path):
            args.extend(["--symlink", os.readlink(path), path])
            mounted.append(path)
        elif os.path.isdir(path):
            make_parents(path)
            args.extend(["--ro-bind", path, path])
            mounted.append(path)
    for path in _LOADER_FILES:
        if os.path.exists(path):
            make_parents(path)
            args.extend(["--ro-bind", path, path])
            mounted.append(path)

    for path in _python_dirs():
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
    logging.getLogger(__name__).warning("grader: bubblewrap does not work here, student code runs in the "
                                        "rlimits fallback: %s", reason)
    return reason


def isolation_available() -> str:
    """``"bubblewrap"`` if a bubblewrap sandbox works on this machine, else ``"rlimits"``
    (:func:`bubblewrap_failure` says why)."""
    return "bubblewrap" if bubblewrap_failure() is None else "rlimits"


def _choose_isolation(limits: Limits) -> str:
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


def _probe_names(probes_path: Path) -> frozenset[str]:
    try:
        text = Path(probes_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SandboxError(f"cannot read probes module {probes_path}: {exc}") from None
    return _probe_names_in(text, str(probes_path))


@functools.lru_cache(maxsize=16)
def _probe_names_in(text: str, origin: str) -> frozenset[str]:
    """The public functions of a probes module's source (parsed once per text: a batch
    makes a Sandbox per submission, and parsing cost ~5 ms each time)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise SandboxError(f"cannot read probes module {origin}: {exc}") from None
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    )


def _contains_opaque(json_obj) -> bool:
    kind = json_obj.get("kind")
    if kind == "other":
        return True
    if kind in ("tuple", "list"):
        return any(_contains_opaque(item) for item in json_obj["items"])
    if kind == "dict":
        return any(_contains_opaque(item) for item in json_obj["items"].values())
    return False


def _text(value, limit: int) -> str:
    """A string field of an untrusted reply, clipped, with control characters escaped."""
    return protocol.printable(value[:limit]) if type(value) is str else ""


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{size} bytes"


def _crash_message(reply: dict) -> str:
    signal_number, exit_code = reply.get("signal"), reply.get("exit_code")
    if type(signal_number) is int:
        return f"the process running your code was {_signal_hint(signal_number)}"
    if type(exit_code) is int:
        return (f"the process running your code exited with status {exit_code} before returning "
                "(os._exit()?)")
    return "the process running your code ended before returning"


# --------------------------------------------------------------------------- sandbox


class _Worker:
    """One worker process and our ends of its two pipes."""

    def __init__(self, proc: subprocess.Popen, req_fd: int, rep_fd: int, uses_bwrap: bool):
        self.proc = proc
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.uses_bwrap = uses_bwrap
        self.ready = False

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def death(self) -> str:
        """Describe how the worker ended (waits briefly for it to exit)."""
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return _death_message(None, None)
        if self.uses_bwrap and code > 128:
            code = -(code - 128)  # bwrap reports a child killed by signal N as 128 + N
        return _death_message(code, -code if code < 0 else None)

    def kill(self) -> None:
        """Kill the worker with everything it started, and reap it."""
        kill_tree(self.proc.pid)  # also what left the process group (setsid) in rlimits mode
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole group; bwrap's PID namespace
        except (ProcessLookupError, PermissionError):  # dies with its init, which dies with bwrap
            pass
        self.proc.wait()
        for fd in (self.req_fd, self.rep_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _signal_hint(number: int) -> str:
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"killed by signal {number}"
    return _SIGNAL_HINTS.get(sig) or f"killed by {sig.name}"


def _children_of(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children.extend(int(child) for child in handle.read().split())
    except (OSError, ValueError):
        pass
    return children


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in _children_of(stack.pop()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL every descendant of ``pid`` (Linux; elsewhere a no-op).  They are stopped
    first, until no new one appears, so that none can fork while the tree is being killed
    and escape by re-parenting to init."""
    stopped: set[int] = set()
    for _ in range(100):
        fresh = _descendants(pid) - stopped
        if not fresh:
            break
        for child in fresh:
            try:
                os.kill(child, signal.SIGSTOP)
            except OSError:
                pass
        stopped |= fresh
    for child in stopped:
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass


def _remove_tree(path: str, holder: list, leases: list = (), pool=None) -> None:
    for worker in holder:
        worker.kill()
    holder.clear()
    for lease in leases:  # a pool process, its worker now ended: back to the pool
        pool.release(lease)
    if leases:
        leases.clear()
    shutil.rmtree(path, ignore_errors=True)


def _death_message(code: int | None, signal_number: int | None) -> str:
    if signal_number is not None:
        return f"the worker process was {_signal_hint(signal_number)}"
    if code is None:
        return "the worker stopped answering (its reply channel closed or was corrupted)"
    return f"the worker process exited with status {code} (e.g. os._exit() or a closed channel)"


class _PooledWorker:
    """A submission's worker forked by a pool process (see :mod:`grader.sandbox_pool`)."""

    uses_bwrap = True

    def __init__(self, lease, req_fd: int, rep_fd: int):
        self.lease = lease
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.ready = False
        self._end: dict | None = None
        self._ended = False

    @property
    def proc(self):
        """The pool's bwrap process: this worker dies with it."""
        return self.lease.proc

    def exited(self) -> bool:
        """Only the pool's death is known here; a worker that ended closed its reply pipe,
        which the caller polls too."""
        return not self.lease.alive()

    def death(self) -> str:
        """Describe how the worker ended (the pool waits briefly for it to exit)."""
        reply = self._finish(wait=1.0)
        if reply is None:
            return "the sandbox's pool process ended while running your code (it was killed)"
        signal_number, code = reply.get("signal"), reply.get("exit_code")
        return _death_message(code if type(code) is int else None,
                              signal_number if type(signal_number) is int else None)

    def kill(self) -> None:
        """Have the pool kill the worker and clear everything of it away; close our ends."""
        self._finish(wait=0.0)
        for fd in (self.req_fd, self.rep_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _finish(self, wait: float) -> dict | None:
        if not self._ended:
            self._ended = True
            self._end = self.lease.end_worker(wait)
        return self._end


class Sandbox:
    """A warm worker running ``source`` as module ``module_name`` with the probes of
    ``probes_path``.  Construction starts the worker without waiting for it; the first
    :meth:`run_probe` (or reading :attr:`import_error`) waits until it has imported the
    student module.  Use as a context manager, or call :meth:`close`.

    Raises :class:`SandboxError` when the sandbox cannot run at all (not the student's fault)
    and ``ValueError`` for an unknown probe name or a bad module name.

    With ``pool`` (a :class:`grader.sandbox_pool.SandboxPool`; None: no pool) and
    bubblewrap isolation, workers are forked by a
    pool process (started on first use, held until :meth:`close`, then given back for the
    next Sandbox) and the student's source is sent to each worker on its own request pipe.

    Not thread-safe: use one Sandbox from one thread.  The worker is killed when the
    process, or more precisely the *thread*, that started it ends (Linux PR_SET_PDEATHSIG,
    also behind bwrap's --die-with-parent), so create it in the thread that uses it; the
    same holds for a pool's processes and the thread that started them.
    """

    def __init__(self, source: str, module_name: str, probes_path: Path, limits: Limits = Limits(),
                 pool=None):
        if not module_name.isidentifier() or module_name in _RESERVED_MODULES:
            raise ValueError(f"invalid student module name {module_name!r}")
        self.limits = limits
        self.module_name = module_name
        self.isolation = _choose_isolation(limits)
        # Only bubblewrap gets its workers from a pool (see grader.sandbox_pool for why).
        self._pool = pool if self.isolation == "bubblewrap" else None
        self._source = source if self._pool is not None else None
        self._probes_path = Path(probes_path)
        self.warning: str | None = RLIMITS_WARNING if self.isolation == "rlimits" else None
        #: The Landlock ABI the rlimits-mode worker confined itself with (0: none); known once
        #: a worker has started, which also refines :attr:`warning`.
        self.landlock = 0
        self._probe_names = _probe_names(probes_path)
        self._import_error: ProbeOutcome | None = None
        self._next_id = 0
        self._reply_bytes_read = 0  # of Limits.reply_bytes
        self._closed = False
        # As root the worker switches to a fresh random uid: student code never runs as uid 0
        # (with its capabilities it could prlimit() or read anything of the grader's), the
        # kernel exempts uid 0 from RLIMIT_NPROC, and a uid of its own means the process
        # limit counts only this worker's processes (each worker gets its own: processes of
        # a killed one may linger a moment and would count against the next).
        self._drops_privileges = is_root()

        self._root = Path(tempfile.mkdtemp(prefix="grader-sandbox-", dir=self._temporary_parent()))
        self._workers: list[_Worker | _PooledWorker] = []  # zero or one; lists so the finalizer sees them
        self._leases: list = []  # the pool process this sandbox holds, if any
        self._finalizer = weakref.finalize(self, _remove_tree, str(self._root), self._workers, self._leases,
                                           self._pool)
        self._scratch = self._root / "scratch"  # the working directory in rlimits mode
        self._log = self._root / "worker-startup.log"
        try:
            if self._pool is None:
                self._write_runtime(source, Path(probes_path))
                self._spawn()
        except BaseException:
            self._finalizer()
            raise

    def _temporary_parent(self) -> str | None:
        """Where the sandbox's folder goes: the usual temporary folder, unless the rlimits
        worker runs under another uid and cannot reach it (TMPDIR inside a 0700 folder), then
        /tmp.  (Under bubblewrap the folder is bound into the sandbox instead.)"""
        if not (self._drops_privileges and self.isolation == "rlimits") or _reachable_by_others(tempfile.gettempdir()):
            return None
        if not _reachable_by_others("/tmp"):
            raise SandboxError("no temporary folder that an unprivileged sandbox worker can reach "
                               "(neither TMPDIR nor /tmp): install bubblewrap")
        return "/tmp"

    def _write_runtime(self, source: str, probes_path: Path) -> None:
        """Files the worker sees read-only at /runtime (world-readable: the worker may run
        under another uid).  In the rlimits fallback as root the sandbox's folder becomes
        0711 (reachable, not listable) and the scratch folder belongs to the running worker's
        uid (see :meth:`_spawn`): the worker reads its runtime files and nothing of the course,
        which must not be readable by other users (see the README, Security)."""
        runtime = self._root / "runtime"
        (runtime / "student").mkdir(parents=True)
        for directory in (runtime, runtime / "student"):
            directory.chmod(0o755)
        for name, src in runtime_files(probes_path).items():
            shutil.copyfile(src, runtime / name)
            (runtime / name).chmod(0o644)
        student_file = runtime / "student" / f"{self.module_name}.py"
        student_file.write_text(source, encoding="utf-8")
        student_file.chmod(0o644)
        self._scratch.mkdir(mode=0o700)
        if self._drops_privileges and self.isolation == "rlimits":
            self._root.chmod(0o711)

    # ----------------------------------------------------------------- public API

    @property
    def import_error(self) -> ProbeOutcome | None:
        """The outcome of importing the student module, if it did not succeed (waits)."""
        if self._closed:
            return self._import_error
        return self._ensure_ready()

    def run_probe(self, name: str, kwargs: dict, timeout: float | None = None,
                  group: str | None = None, max_reply_bytes: int | None = None) -> ProbeOutcome:
        """Run probe ``name`` on the student's module with plain-data ``kwargs``.

        Without a ``group`` the probe runs in a fresh fork of the worker, so nothing an
        earlier probe did at call time can reach it.  Consecutive probes with the same
        ``group`` (say, the student function they test) may share one fork while each
        succeeds: cheaper, and isolated from every other group's probes.

        A reply longer than ``max_reply_bytes`` (the caller's idea of what an answer to this
        probe can need), or than what is left of ``Limits.reply_bytes``, is refused from its
        length alone: it is read past in chunks and never decoded, and the outcome is an
        ``"error"`` of type ``ResultTooLarge`` that says so (the student's result)."""
        if group is not None and type(group) is not str:
            raise TypeError("a probe group must be a string")
        if self._closed:
            raise RuntimeError("the sandbox is closed")
        if name not in self._probe_names:
            raise ValueError(f"no probe named {name!r} in the probes module")
        if type(kwargs) is not dict or not all(type(key) is str for key in kwargs):
            raise TypeError("probe kwargs must be a dict with string keys")
        kwargs_json, arrays = protocol.encode_value(kwargs)
        if _contains_opaque(kwargs_json):
            raise TypeError("probe kwargs must be plain data (numbers, arrays, strings, lists, dicts, None)")
        self._discard_worker_if_not_idle()
        failure = self._ensure_ready()
        if failure is not None:
            return replace(failure)
        timeout = self.limits.probe_timeout if timeout is None else timeout
        worker = self._workers[0]
        self._next_id += 1
        left = max(0, self.limits.reply_bytes - self._reply_bytes_read)
        limit = min(protocol.MAX_FRAME, left, max_reply_bytes if max_reply_bytes is not None else left)
        # The worker stops a probe at this limit itself, to report where the student's code
        # was (see worker.py); the deadline below still holds if it does not.  It is also told
        # the reply limit, so that it does not relay a longer reply (saving both sides the
        # transfer); whether it complies or not, nothing longer is read here.
        request = {"op": "probe", "id": self._next_id, "name": name, "kwargs": kwargs_json, "timeout": timeout,
                   "max_reply": limit}
        if group is not None:
            request["group"] = group
        started = time.monotonic()
        # the worker stops a probe at `timeout` and reports where it was; past the grace the
        # grader stops waiting for that report and kills the worker itself
        deadline = started + timeout + STOP_GRACE
        try:
            protocol.send_message(worker.req_fd, request, arrays, deadline)
            payload = protocol.read_frame(worker.rep_fd, deadline, limit)
            self._reply_bytes_read += len(payload)
            reply, reply_arrays = protocol.unpack_message(payload)
            del payload
            outcome = self._outcome(reply, reply_arrays, self._next_id)
            if outcome.status == "timeout":
                outcome.message = f"no result within {timeout:g} s"
            if reply.get("status") == "too_large":  # the worker did not relay it (the same refusal)
                size = reply.get("size")
                outcome = self._refusal(size if type(size) is int and size > limit else limit + 1, limit,
                                        out_of_budget=limit == left)
        except protocol.FrameTooLarge as exc:
            outcome = self._refused(exc, worker, deadline, out_of_budget=limit == left)
        except protocol.FrameTimeout:
            self._discard_worker()
            outcome = ProbeOutcome("timeout", message=f"no result within {timeout:g} s")
        except protocol.ProtocolError as exc:
            death = worker.death() if isinstance(exc, protocol.ChannelClosed) else (
                f"the worker's reply channel was corrupted ({exc})"
            )
            self._discard_worker()
            outcome = ProbeOutcome("crashed", message=death)
        outcome.seconds = time.monotonic() - started
        return outcome

    def close(self) -> None:
        """Kill the worker and remove the scratch directory.  Idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _refused(self, exc: "protocol.FrameTooLarge", worker, deadline: float, out_of_budget: bool) -> ProbeOutcome:
        """The outcome of a reply refused for its length; its payload is read past (the
        worker and its kept fork go on) or, if that fails, the worker is replaced."""
        try:
            protocol.skip_bytes(worker.rep_fd, exc.size, deadline)
        except (protocol.ProtocolError, protocol.FrameTimeout):
            self._discard_worker()
        return self._refusal(exc.size, exc.limit, out_of_budget)

    def _refusal(self, size: int, limit: int, out_of_budget: bool) -> ProbeOutcome:
        """The student's outcome for a reply of ``size`` bytes where ``limit`` are read."""
        size = _megabytes(size)
        if out_of_budget:
            message = (f"the result your code returned ({size}) was not read: the results of one submission "
                       f"may add up to {_megabytes(self.limits.reply_bytes)}, and earlier tests used "
                       f"{_megabytes(self._reply_bytes_read)} of that")
        else:
            message = (f"the result your code returned ({size}) was not read: this test's answer needs "
                       f"far less (at most {_megabytes(limit)} are read)")
        return ProbeOutcome("error", exc_type="ResultTooLarge", message=message)

    def _outcome(self, reply: dict, arrays: dict, request_id: int) -> ProbeOutcome:
        if reply.get("id") != request_id:
            raise protocol.ProtocolError("reply to a different request")
        status = reply.get("status")
        output = _text(reply.get("output"), self.limits.output_bytes + 200)
        if status == "ok":
            value = protocol.decode_value(reply.get("value"), arrays)
            return ProbeOutcome("ok", value=value, output=output)
        if status == "error":
            return ProbeOutcome(
                "error",
                exc_type=_text(reply.get("exc_type"), 100) or "Exception",
                message=_text(reply.get("message"), _MESSAGE_CHARS),
                traceback=_text(reply.get("traceback"), _TRACEBACK_CHARS),
                output=output,
            )
        if status == "crashed":  # from the zygote: the probe's process died without replying
            return ProbeOutcome("crashed", message=_crash_message(reply), output=output)
        if status == "timeout":  # from the zygote: stopped near its limit, with where it was
            return ProbeOutcome("timeout", traceback=_text(reply.get("traceback"), _TRACEBACK_CHARS))
        if status == "too_large":  # from the zygote: the reply was longer than the request's max_reply
            return ProbeOutcome("error", exc_type="ResultTooLarge")  # the message: see run_probe
        raise protocol.ProtocolError(f"unexpected reply status {str(status)[:40]!r}")

    def _worker_config(self, runtime: str) -> dict:
        limits = self.limits
        fields = ("cpu_seconds", "memory_bytes", "file_bytes", "processes", "output_bytes")
        config = {
            "limits": {field: getattr(limits, field) for field in fields},
            "protocol": f"{runtime}/protocol.py",
            "probes": f"{runtime}/probes.py",
            "probekit": f"{runtime}/probekit.py",
            "source": f"{runtime}/student/{self.module_name}.py",
            "module": self.module_name,
            "uid": _fresh_uid() if self._drops_privileges else None,
        }
        if self.isolation == "rlimits":  # bubblewrap's mounts do this job otherwise
            config["imports_through_fds"] = True  # (as root: see worker._reach_runtime_through_fds)
            config["landlock"] = {
                # /proc/self is the worker's own /proc/<pid> (the rule is made there): it lists
                # its children; another process's environ or maps stay out of reach.
                "read": [*_SYSTEM_LIBRARIES, *_LOADER_FILES, *_python_dirs(), runtime, "/proc/self"],
                "write": [str(self._scratch)],
                "devices": list(_DEVICES),
            }
        return config

    def _environment(self, home: str) -> dict[str, str]:
        return worker_environment(self.isolation, home)

    def _spawn(self) -> None:
        if self._pool is not None:
            self._spawn_pooled()
            return
        req_read, req_write = os.pipe()
        rep_read, rep_write = os.pipe()
        if self.isolation == "bubblewrap":
            runtime, home = "/runtime", "/scratch"
        else:
            runtime, home = str(self._root / "runtime"), str(self._scratch)
        config = self._worker_config(runtime)
        config.update(req_fd=req_read, rep_fd=rep_write)
        if self.isolation == "rlimits" and config["uid"] is not None:
            # The scratch folder outlives a worker: the next one (a fresh uid) takes it over.
            # What an earlier one left stays its (it may be removed, not changed).
            os.chown(self._scratch, config["uid"], config["uid"])
        if self.isolation == "rlimits":  # bwrap's --die-with-parent does this under bubblewrap
            config["parent_pid"] = os.getpid()
        python = [sys.executable, "-I", "-B", f"{runtime}/worker.py", json.dumps(config)]
        env = self._environment(home)
        if self.isolation == "bubblewrap":
            command = bwrap_command(self.limits, self._root / "runtime", python)
            popen_env, cwd = {"PATH": env["PATH"]}, str(self._root)
        else:
            command, popen_env, cwd = python, env, home
        try:
            with open(os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as log:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(req_read, rep_write),
                    close_fds=True,
                    start_new_session=True,
                    env=popen_env,
                    cwd=cwd,
                )
        except OSError as exc:
            for fd in (req_read, req_write, rep_read, rep_write):
                os.close(fd)
            raise SandboxError(f"cannot start the sandbox worker: {exc}") from None
        os.close(req_read)  # the worker's ends
        os.close(rep_write)
        os.set_blocking(req_write, False)
        os.set_blocking(rep_read, False)
        self._workers.append(_Worker(proc, req_write, rep_read, self.isolation == "bubblewrap"))

    def _spawn_pooled(self) -> None:
        """A worker forked by a pool process (started or replaced if need be), on fresh
        pipes; the source goes to that worker only, as the first frame of its requests."""
        config = self._worker_config("/runtime")
        config = {"limits": config["limits"], "module": self.module_name, "uid": config["uid"],
                  "source": f"/runtime/student/{self.module_name}.py"}
        for _attempt in range(2):
            if self._leases and not self._leases[0].alive():
                self._pool.release(self._leases.pop())
            if not self._leases:
                self._leases.append(self._pool.acquire(self._probes_path, self.limits, self.isolation))
            lease = self._leases[0]
            req_read, req_write = os.pipe()
            rep_read, rep_write = os.pipe()
            try:
                lease.start_worker(config, [req_read, rep_write])
            except PoolGone:
                for fd in (req_write, rep_read):
                    os.close(fd)
                continue
            finally:
                os.close(req_read)
                os.close(rep_write)
            os.set_blocking(req_write, False)
            os.set_blocking(rep_read, False)
            self._workers.append(_PooledWorker(lease, req_write, rep_read))
            try:
                protocol.send_message(req_write, {"source": self._source}, None,
                                      time.monotonic() + self.limits.startup_timeout)
            except (protocol.ProtocolError, protocol.FrameTimeout):
                pass  # the worker is gone: reading its first message says how
            return
        raise SandboxError("the sandbox pool could not start a worker")

    def _discard_worker_if_not_idle(self) -> None:
        """Between probes a ready worker must be alive and silent.  One that exited, or wrote
        or closed its channel (a student thread outliving its probe), would make the next
        probe fail for nothing, so it is replaced before the request is sent."""
        if not self._workers or not self._workers[0].ready:
            return
        worker = self._workers[0]
        poller = select.poll()
        poller.register(worker.rep_fd, select.POLLIN)
        if worker.exited() or poller.poll(0):
            self._discard_worker()

    def _discard_worker(self) -> None:
        for worker in self._workers:
            worker.kill()
        self._workers.clear()

    def _startup_failure(self, what: str) -> SandboxError:
        try:
            log = self._log.read_text(errors="replace")[-2000:].strip()
        except OSError:
            log = ""
        self._discard_worker()
        refusal = next((line.split(": ", 1)[1] for line in log.splitlines()
                        if line.startswith("RuntimeError: refusing to run student code")), None)
        if refusal:  # the worker could not shed root (see worker._drop_privileges): say just that
            return SandboxError(refusal)
        return SandboxError(f"the sandbox worker failed to start: {what}" + (f"\n{log}" if log else ""))

    def _ensure_ready(self) -> ProbeOutcome | None:
        """Start a worker if there is none and wait until it has imported the student
        module.  Returns the (sticky) import failure, or None when the worker is ready."""
        if self._import_error is not None:
            return self._import_error
        if not self._workers:
            self._spawn()
        worker = self._workers[0]
        if worker.ready:
            return None
        try:  # phase 1: interpreter, NumPy and probes; no student code has run yet
            hello, _ = protocol.recv_message(
                worker.rep_fd, time.monotonic() + self.limits.startup_timeout
            )
        except (protocol.ProtocolError, protocol.FrameTimeout) as exc:
            raise self._startup_failure(f"{type(exc).__name__}: {exc}") from None
        if hello.get("status") != "started":
            raise self._startup_failure(_text(hello.get("message"), 2000) or str(hello)[:200])
        if self.isolation == "rlimits":
            abi = hello.get("landlock")
            self.landlock = abi if type(abi) is int and abi > 0 else 0
            self.warning = landlock_warning(self.landlock) if self.landlock else RLIMITS_WARNING
        started = time.monotonic()
        try:  # phase 2: the student's module is imported; from here on, replies are untrusted
            reply, _ = protocol.recv_message(worker.rep_fd, started + self.limits.probe_timeout)
        except protocol.FrameTimeout:
            self._discard_worker()
            failure = ProbeOutcome(
                "timeout",
                message=f"importing the module took more than {self.limits.probe_timeout:g} s",
            )
        except protocol.ProtocolError as exc:
            death = worker.death() if isinstance(exc, protocol.ChannelClosed) else str(exc)
            self._discard_worker()
            failure = ProbeOutcome("crashed", message=f"while importing the module, {death}")
        else:
            if reply.get("status") == "ready":
                worker.ready = True
                return None
            self._discard_worker()
            failure = ProbeOutcome(
                "error",
                exc_type=_text(reply.get("exc_type"), 100) or "ImportError",
                message=_text(reply.get("message"), _MESSAGE_CHARS),
                traceback=_text(reply.get("traceback"), _TRACEBACK_CHARS),
                output=_text(reply.get("output"), self.limits.output_bytes + 200),
            )
        failure.seconds = time.monotonic() - started
        self._import_error = failure
        return failure
