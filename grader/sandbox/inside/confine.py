"""Inside the sandbox: how a worker confines itself before any student code runs (rlimits,
Landlock in the rlimits fallback, the uid switch as root, no_new_privs, death with its
parent, subreaper and non-dumpable) and captures what the student's code prints."""
import importlib
import io
import os
import resource
import signal
import sys

from .replies import type_name


class Capture(io.TextIOBase):
    """A text sink that keeps the first ``limit`` characters written to it and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0
        self.buffer = _BinaryCapture(self)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type_name(text)}")
        text = str.__str__(text)  # an exact str, whatever a subclass overrides
        room = self.limit - self.kept
        if room > 0:
            part = text[:room]
            self.parts.append(part)
            self.kept += len(part)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output not kept]"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


class _BinaryCapture(io.RawIOBase):
    def __init__(self, text: Capture) -> None:
        self.text = text

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.text.write(data.decode("utf-8", "replace"))
        return len(data)


def set_limit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def apply_limits(limits: dict, own_uid: bool) -> None:
    """``own_uid``: the worker will run under a uid of its own (bubblewrap as root), so the
    process limit counts only its processes.  Otherwise the kernel counts every process of
    the user, and the limit is set that far above the user's current count (root is exempt
    from it anyway: documented)."""
    set_limit(resource.RLIMIT_CORE, 0)
    # Soft limit sends SIGXCPU (kills), the hard one a second later SIGKILL.
    set_limit(resource.RLIMIT_CPU, limits["cpu_seconds"], limits["cpu_seconds"] + 1)
    set_limit(resource.RLIMIT_AS, limits["memory_bytes"])
    set_limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    processes = limits["processes"]
    if not own_uid:
        running = _processes_of_user()
        processes = None if running is None else running + processes
    if processes is not None:
        set_limit(resource.RLIMIT_NPROC, processes)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _processes_of_user() -> int | None:
    """Processes (threads included, as the kernel counts them) of this real uid, or None
    without /proc."""
    uid, count = str(os.getuid()), 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


# Landlock (Linux >= 5.13): unprivileged, per-process access control, for the rlimits mode.
_LANDLOCK_FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}


_LANDLOCK_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir


_LANDLOCK_DEVICE = (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # write, read, truncate, ioctl


def landlock(read: list[str], write: list[str], devices: list[str]) -> int:
    """Confine this process and its future children: read-only ``read`` trees, full access
    to ``write`` trees, read/write ``devices``, nothing else of the filesystem; no TCP bind
    or connect (ABI >= 4); no signals to, nor abstract-socket connections with, processes
    outside (ABI >= 6).  Landlock also denies ptrace (and so /proc/<pid>/fd, cwd, root,
    environ, mem) of processes outside.  Returns the ABI applied, 0 if unavailable."""
    if not sys.platform.startswith("linux"):  # the syscall numbers below are Linux's (all architectures)
        return 0
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        abi = syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
        if abi < 1:
            return 0
        handled_fs = _LANDLOCK_FS_RIGHTS[min(abi, 5)]
        attr = (ctypes.c_uint64 * 3)(handled_fs, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)
        size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        ruleset = syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
        if ruleset < 0:
            return 0

        class PathBeneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

        def allow(path: str, rights: int) -> None:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return
            try:
                if not os.path.isdir(path):
                    rights &= _LANDLOCK_DEVICE | _LANDLOCK_READ
                rule = PathBeneath(rights & handled_fs, fd)
                syscall(445, ruleset, 1, ctypes.byref(rule), ctypes.c_uint32(0))  # PATH_BENEATH
            finally:
                os.close(fd)

        for path in read:
            allow(path, _LANDLOCK_READ)
        for path in devices:
            allow(path, _LANDLOCK_DEVICE)
        for path in write:
            allow(path, handled_fs)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required by Landlock
            return 0
        if syscall(446, ruleset, ctypes.c_uint32(0)) != 0:  # landlock_restrict_self
            return 0
        os.close(ruleset)
        return abi
    except (OSError, AttributeError, ValueError):
        return 0


def redirect_stdio(capture: Capture) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0, now /dev/null
    sys.stdout = sys.stderr = capture
    sys.__stdout__ = sys.__stderr__ = capture


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the grader (thread) that started it ends."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the request pipe's EOF still ends idle workers
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def drop_privileges(uid: int) -> None:
    """Become ``uid``/``uid`` with no supplementary group, real, effective and saved alike, so
    that the kernel clears every capability, and set no_new_privs so that no setuid binary or
    file capability gives any back.  Raises RuntimeError if the process is not then
    unprivileged: student code must never run as uid 0 (the caller refuses to go on)."""
    try:
        os.setgroups([])
        if hasattr(os, "setresuid"):  # Linux, BSD
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        else:  # macOS: setgid/setuid as root set real, effective and saved ids alike
            os.setgid(uid)
            os.setuid(uid)
    except OSError as exc:
        raise RuntimeError(f"refusing to run student code as root: cannot switch to an unprivileged uid "
                           f"({exc.strerror}); install bubblewrap or run the grader as another user") from None
    ids = (os.getresuid() + os.getresgid()) if hasattr(os, "getresuid") else (os.getuid(), os.geteuid(),
                                                                               os.getgid(), os.getegid())
    if set(ids) != {uid} or os.getgroups():
        raise RuntimeError("refusing to run student code as root: the switch to an unprivileged uid did not hold")
    _no_new_privileges()
    if _effective_capabilities() not in (0, None):
        raise RuntimeError("refusing to run student code: capabilities remain after the uid switch")


def _no_new_privileges() -> None:
    """PR_SET_NO_NEW_PRIVS: execve() never grants privileges (setuid bits, file capabilities)."""
    try:
        import ctypes

        if ctypes.CDLL(None).prctl(38, 1, 0, 0, 0) != 0:
            raise RuntimeError("refusing to run student code: PR_SET_NO_NEW_PRIVS failed")
    except (OSError, AttributeError):  # not Linux: no such flag
        pass


def _effective_capabilities() -> int | None:
    """CapEff of this process (Linux), None where /proc does not say."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def reach_runtime_through_fds() -> None:
    """Before the switch to an unprivileged uid in the rlimits fallback: the Python
    installation may sit where only root can reach it (say /root/.pyenv, /root being 0700).
    Open each folder of the import path (O_PATH, while still root) and import through
    ``/proc/self/fd/N`` from then on: that link leads into the folder without passing its
    parents, so the worker reads the interpreter's own files (as far as their own modes let
    any user) and nothing beside them.  Package ``__path__`` lists are rewritten too, for
    the submodules NumPy and the standard library import lazily.  Linux only (elsewhere the
    Python installation must be readable by any user)."""
    if not sys.platform.startswith("linux"):
        return
    aliases: list[tuple[str, str]] = []
    for entry in sorted({p for p in sys.path if p and os.path.isdir(p)}, key=len, reverse=True):
        fd = os.open(entry, os.O_PATH | os.O_DIRECTORY)  # inherited by the probes' forks
        aliases.append((entry.rstrip("/"), f"/proc/self/fd/{fd}"))

    def through(path):
        if type(path) is not str:
            return path
        for entry, alias in aliases:
            if path == entry or path.startswith(entry + "/"):
                return alias + path[len(entry):]
        return path

    sys.path[:] = [through(path) for path in sys.path]
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if type(search) is list:
            search[:] = [through(path) for path in search]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def become_subreaper() -> None:
    """Orphaned descendants of a probe are re-parented to this process (Linux), so that
    :func:`kill_children` finds them even if they left the process group or session.
    Also make this process (and its forks) non-dumpable: a probe's process running under
    the same uid cannot then open this one's channel through /proc/<pid>/fd, nor ptrace it
    (without CAP_SYS_PTRACE; bubblewrap drops that)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
        libc.prctl(4, 0)  # PR_SET_DUMPABLE
    except (OSError, AttributeError):
        pass
