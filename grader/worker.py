"""The untrusted worker: runs INSIDE the sandbox as ``python -I -B worker.py CONFIG_JSON``.

It imports only the standard library, NumPy and ``protocol.py`` (loaded by path from the
config; never the ``grader`` package, which is not visible in the sandbox).  Sequence:

1. set rlimits (core 0, CPU, address space, file size, processes), ignore SIGXFSZ so an
   oversized write fails with an error instead of killing the worker;
2. load protocol.py; in rlimits mode, confine itself with Landlock where the kernel has it
   (read-only Python runtime, writable scratch folder, no TCP, no signals out; see
   :func:`_landlock`), as root first reaching the import path through file descriptors
   (:func:`_reach_runtime_through_fds`); drop to the configured uid/gid if any (the grader
   runs as root: bubblewrap or not, student code never runs as uid 0, with a capability or
   without no_new_privs; if the switch fails the worker stops here), ask to be killed with
   the grader (rlimits mode), become a child subreaper, import the probes module (or send
   ``{"status": "fatal", ...}`` if it is broken);
3. point fds 0/1/2 at /dev/null and ``sys.stdout``/``sys.stderr`` at a capture that keeps
   the first ``output_bytes`` characters of each probe's printed output, then send
   ``{"status": "started", "landlock": ABI or 0}``.  No student code has run so far, so
   the student cannot forge these first messages;
4. import the student module and send ``{"status": "ready"}`` or ``{"status":
   "import_error", ...}`` (then exit);
5. serve as a *zygote*: for each ``{"op": "probe", "id": n, "name": ..., "kwargs": ...,
   "group": optional str}`` request, run the probe in a forked child that replies
   ``{"status": "ok", "id": n, "value": ..., "output": ..., "alone": bool}`` or
   ``{"status": "error", "id": n, "exc_type": ..., "message": ..., "traceback": ...,
   "output": ...}``; if the child dies without replying, the zygote replies ``{"status":
   "crashed", "id": n, "exit_code": c}`` (or ``"signal": s``); if its reply frame is longer
   than the request's ``"max_reply"``, the zygote kills it unread and replies ``{"status":
   "too_large", "id": n, "size": bytes}``.  After each probe the zygote kills whatever
   processes the probe left behind.  A request may carry ``"timeout"`` (its
   limit in seconds): a probe still running when it is up is stopped by the zygote,
   which asks the fork for its Python stack first (faulthandler, on a private pipe) and
   replies ``{"status": "timeout", "id": n, "seconds": s, "traceback": ...}`` with the
   student's own frames only: where the code was when it was stopped.

In pool mode (``{"pool": true, ...}``, see the section at the end and
:mod:`grader.sandbox_pool`) the process stops after step 2 (trusted code only) and forks,
per submission, a worker that applies steps 1-3 to itself (limits, its own uid, stdio),
receives the student's source as the first frame on its own request pipe, and goes on
with steps 4-5.

A child serves one probe, or consecutive probes of one group (one student function) while
each succeeds and leaves nothing running (see :func:`_serve`).  So nothing a student
function does at call time reaches the probes of another function: monkeypatching NumPy or
builtins, changing module globals or signal handlers, closing or scribbling on fds, threads
and processes left running.  Each child starts from the module as its import left it (the
trusted side also runs each reference probe on a fresh module).

Tracebacks keep only frames from the student's file (named by its base name): the probe
and worker frames never reach a student's feedback.  Everything the student's code raises,
BaseException included (SystemExit, KeyboardInterrupt), becomes an error reply; whatever
kills the process instead (os._exit, signals, limits) becomes a crashed reply.  The
student's code runs in these processes and can therefore tamper with anything here,
including the reply pipe: the trusted side treats every reply as untrusted data.
"""

import faulthandler
import gc
import importlib.util
import io
import json
import os
import resource
import select
import signal
import stat
import sys
import time
import traceback

MESSAGE_CHARS = 2000
LINE_CHARS = 200
FRAMES_KEPT = 12
#: A probe still running at its time limit is stopped here, after its stack was read, so that
#: the reply can say where the student's code was (the grader waits a little longer than the
#: limit for that reply: `grader.sandbox.STOP_GRACE`).
#: Signal that makes a probe's fork dump its Python stack (faulthandler) onto its trace pipe.
STACK_SIGNAL = signal.SIGUSR1
#: How long to wait for that dump once asked for.
STACK_WAIT = 0.3
#: At most this many of the student's frames describe where a stopped probe was.
STOPPED_FRAMES = 4


class _Capture(io.TextIOBase):
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
            raise TypeError(f"write() argument must be str, not {_type_name(text)}")
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
    def __init__(self, text: _Capture) -> None:
        self.text = text

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.text.write(data.decode("utf-8", "replace"))
        return len(data)


def _set_limit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def _apply_limits(limits: dict, own_uid: bool) -> None:
    """``own_uid``: the worker will run under a uid of its own (bubblewrap as root), so the
    process limit counts only its processes.  Otherwise the kernel counts every process of
    the user, and the limit is set that far above the user's current count (root is exempt
    from it anyway: documented)."""
    _set_limit(resource.RLIMIT_CORE, 0)
    # Soft limit sends SIGXCPU (kills), the hard one a second later SIGKILL.
    _set_limit(resource.RLIMIT_CPU, limits["cpu_seconds"], limits["cpu_seconds"] + 1)
    _set_limit(resource.RLIMIT_AS, limits["memory_bytes"])
    _set_limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    processes = limits["processes"]
    if not own_uid:
        running = _processes_of_user()
        processes = None if running is None else running + processes
    if processes is not None:
        _set_limit(resource.RLIMIT_NPROC, processes)
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


def _landlock(read: list[str], write: list[str], devices: list[str]) -> int:
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


def _redirect_stdio(capture: _Capture) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0, now /dev/null
    sys.stdout = sys.stderr = capture
    sys.__stdout__ = sys.__stderr__ = capture


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the grader (thread) that started it ends."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the request pipe's EOF still ends idle workers
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _load_probes(config: dict):
    """The assignment's probes, after the probe library they import as `grader.probekit`
    (shipped beside them; the grader package itself is not in the sandbox)."""
    import types

    package = types.ModuleType("grader")
    package.__path__ = []  # a package with nothing else in it
    sys.modules["grader"] = package
    package.probekit = _load_module("grader.probekit", config["probekit"])
    return _load_module("_grader_probes", config["probes"])


def _drop_privileges(uid: int) -> None:
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


def _reach_runtime_through_fds() -> None:
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


def _safe_str(obj, limit: int) -> str:
    try:
        text = str(obj)
    except BaseException:
        return "<unprintable>"
    if type(text) is not str:
        return "<unprintable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(obj) -> str:
    try:
        name = type(obj).__name__
    except BaseException:
        return "?"
    return name[:100] if type(name) is str else "?"


def _student_traceback(tb, student_path: str) -> str:
    """Format only the frames of ``tb`` that are in the student's file."""
    try:
        frames = [f for f in traceback.extract_tb(tb) if f.filename == student_path]
    except BaseException:
        return ""
    omitted = 0
    if len(frames) > FRAMES_KEPT:  # deep recursion: first and last frames tell the story
        omitted = len(frames) - FRAMES_KEPT
        frames = frames[:2] + frames[-(FRAMES_KEPT - 2) :]
    shown = os.path.basename(student_path)
    lines = []
    for index, frame in enumerate(frames):
        if omitted and index == 2:
            lines.append(f"  [... {omitted} more frames ...]")
        lines.append(f'  File "{shown}", line {frame.lineno}, in {frame.name[:LINE_CHARS]}')
        if frame.line:
            lines.append("    " + frame.line.strip()[:LINE_CHARS])
    return "\n".join(lines)


def _error_reply(exc: BaseException, tb, student_path: str) -> dict:
    if isinstance(exc, SyntaxError) and type(exc.msg) is str:  # str() would name our paths
        message = f"{exc.msg[:MESSAGE_CHARS]} (line {exc.lineno})"
    else:
        message = _safe_str(exc, MESSAGE_CHARS)
    return {
        "status": "error",
        "exc_type": _type_name(exc),
        "message": message,
        "traceback": _student_traceback(tb, student_path),
    }


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    if config.get("pool"):
        _pool_main(config)
        return
    req_fd, rep_fd = config["req_fd"], config["rep_fd"]
    sys.dont_write_bytecode = True
    _apply_limits(config["limits"], own_uid=config.get("uid") is not None)

    # Until "started", only trusted code runs and its errors go to the grader's startup log.
    protocol = _load_module("_grader_protocol", config["protocol"])
    if config.get("uid") is not None and config.get("imports_through_fds"):  # rlimits fallback as root
        _reach_runtime_through_fds()
    landlock = 0
    if config.get("landlock"):  # rlimits fallback; before the uid switch, so that root opens the rules' paths
        rules = config["landlock"]
        landlock = _landlock(rules["read"], rules["write"], rules["devices"])
    if config.get("uid") is not None:
        _drop_privileges(config["uid"])
    if config.get("parent_pid"):  # after the uid change, which clears the death signal
        _die_with_parent(config["parent_pid"])
    _become_subreaper()
    try:
        probes = _load_probes(config)
    except BaseException:
        message = "the probes module failed to import:\n" + traceback.format_exc()[-3000:]
        protocol.send_message(rep_fd, {"status": "fatal", "message": message})
        os._exit(3)
    capture = _Capture(config["limits"]["output_bytes"])
    _redirect_stdio(capture)
    protocol.send_message(rep_fd, {"status": "started", "landlock": landlock})

    student_path = config["source"]
    sys.path.insert(0, os.path.dirname(student_path))
    _import_and_serve(protocol, probes, config, capture, req_fd, rep_fd,
                      lambda: _load_module(config["module"], student_path))


def _import_and_serve(protocol, probes, config: dict, capture: "_Capture", req_fd: int, rep_fd: int, load) -> None:
    """Steps 4-5: import the student module with ``load()``, report, serve probes."""
    student_path = config["source"]
    try:
        student = load()
    except BaseException as exc:
        reply = _error_reply(exc, sys.exc_info()[2], student_path)
        reply.update(status="import_error", output=capture.take())
        protocol.send_message(rep_fd, reply)
        os._exit(0)
    protocol.send_message(rep_fd, {"status": "ready", "output": capture.take()})
    _serve(protocol, probes, student, student_path, capture, req_fd, rep_fd)


class _Child:
    """A forked probe process kept for the next probe of the same group."""

    def __init__(self, pid: int, request_fd: int | None, reply_fd: int, group: str | None, trace_fd: int):
        self.pid, self.request_fd, self.reply_fd, self.group = pid, request_fd, reply_fd, group
        self.trace_fd = trace_fd  # its faulthandler dumps (STACK_SIGNAL)

    def end(self) -> None:
        """Close its pipes, then kill and reap it and everything it or its probes left."""
        for fd in (self.request_fd, self.reply_fd, self.trace_fd):
            if fd is not None:
                os.close(fd)
        _kill_children()


def _serve(protocol, probes, student, student_path: str, capture: _Capture, req_fd: int, rep_fd: int) -> None:
    """The zygote loop: each request runs in a fork of this process, so whatever a probe's
    student code changes (module globals, NumPy, builtins, signal handlers, threads it
    leaves running, fds it closes, processes it starts) is gone before the probes of any
    other student function: they see the module exactly as its import left it, as the
    trusted side sees a fresh reference module per probe.

    A request without a ``"group"`` gets a fresh fork that ends with its probe.  Consecutive
    requests of the same group (one student function's probes) may share one fork, which
    saves a fork per probe: the fork is kept only while the group is unchanged, its last
    probe replied ``ok`` to the right id, and it is visibly clean (one thread, no process
    of its own, no orphan re-parented here).  Anything else (another group, an error, a
    crash, a leftover thread or process) ends it and the next probe gets a fresh fork.

    The fork never holds the real channel: it closes both ends before any student code runs,
    reads requests from, and writes replies to, private pipes.  This process reads one reply
    frame, kills whatever the probe left running (all of it, unless the fork is kept clean),
    and only then forwards the frame, so nothing a student process does can reach the grader
    between or during later probes.  A fork that ends without a whole frame gets a
    ``{"status": "crashed"}`` reply from here instead."""
    os.set_inheritable(req_fd, False)
    os.set_inheritable(rep_fd, False)
    kept: _Child | None = None
    while True:
        try:
            request_payload = protocol.read_frame(req_fd)
        except protocol.ChannelClosed:
            os._exit(0)
        request, arrays = protocol.unpack_message(request_payload)
        request_id = request.get("id")
        group = request.get("group")
        group = group if type(group) is str else None
        if kept is not None and (group is None or group != kept.group):
            kept.end()
            kept = None
        if kept is not None:
            try:
                protocol.write_frame(kept.request_fd, request_payload)
            except protocol.ChannelClosed:  # it ended between probes: start afresh
                kept.end()
                kept = None
        child = kept or _fork_probe(protocol, probes, student, student_path, capture, request, arrays,
                                    group, (req_fd, rep_fd))
        if child is None:
            protocol.send_message(rep_fd, {
                "status": "error", "id": request_id, "exc_type": "OSError", "traceback": "",
                "message": "no process could be started to run the probe (the process limit?)",
                "output": ""})
            continue
        limit = request.get("timeout")
        stop_at = None
        if type(limit) in (int, float) and limit > 0:
            stop_at = time.monotonic() + limit
        max_reply = request.get("max_reply")  # what the grader will read; a longer reply is not sent on
        if not (type(max_reply) is int and 0 <= max_reply < protocol.MAX_FRAME):
            max_reply = protocol.MAX_FRAME
        payload, status, stack = _collect_reply(child.reply_fd, child.pid, max_reply, stop_at, child.trace_fd)
        if stack is not None:  # stopped before its time limit: say where it was
            child.end()
            kept = None
            reply = {"status": "timeout", "id": request_id, "seconds": limit,
                     "traceback": _stopped_at(stack, student_path, student)}
            try:
                protocol.write_frame(rep_fd, protocol.pack_message(reply))
            except protocol.ChannelClosed:
                os._exit(0)
            continue
        if payload is not None and group is not None and _reusable(protocol, payload, request_id, child.pid):
            kept = child
        else:
            child.end()
            kept = None
        if type(status) is tuple:  # ("too_large", size): the child was killed, its reply not read
            payload = protocol.pack_message({"status": "too_large", "id": request_id, "size": status[1]})
        elif payload is None:
            reply = {"status": "crashed", "id": request_id}
            if status is not None and os.WIFSIGNALED(status):
                reply["signal"] = os.WTERMSIG(status)
            elif status is not None and os.WIFEXITED(status):
                reply["exit_code"] = os.WEXITSTATUS(status)
            payload = protocol.pack_message(reply)
        try:
            protocol.write_frame(rep_fd, payload)
        except protocol.ChannelClosed:
            os._exit(0)


def _fork_probe(protocol, probes, student, student_path, capture, request, arrays, group, channel) -> _Child | None:
    """Fork a process that runs ``request`` (and, with a group, later requests sent on its
    private request pipe).  None if no process could be started."""
    reply_read, reply_write = os.pipe()
    trace_read, trace_write = os.pipe()
    request_read = request_write = None
    if group is not None:
        request_read, request_write = os.pipe()
    gc.freeze()  # the child's garbage collections then leave our objects (pages) alone
    try:
        pid = os.fork()
    except OSError:  # e.g. the process limit, used up by the module's own import
        for fd in (reply_read, reply_write, request_read, request_write, trace_read, trace_write):
            if fd is not None:
                os.close(fd)
        return None
    if pid == 0:
        try:
            for fd in (*channel, reply_read, request_write, trace_read):
                if fd is not None:
                    os.close(fd)
            _die_with_parent(os.getppid())
            try:  # on STACK_SIGNAL, write the Python stack to the zygote (before student code runs)
                faulthandler.register(STACK_SIGNAL, file=trace_write, all_threads=True, chain=False)
            except (OSError, RuntimeError, ValueError):
                pass
            while True:
                _run_probe(protocol, probes, student, student_path, capture, request, arrays, reply_write)
                if request_read is None:
                    break
                request, arrays = protocol.recv_message(request_read)
        finally:
            os._exit(0)
    os.close(reply_write)
    os.close(trace_write)
    if request_read is not None:
        os.close(request_read)
    return _Child(pid, request_write, reply_read, group, trace_read)


def _reusable(protocol, payload: bytes, request_id, pid: int) -> bool:
    """Whether the fork that sent ``payload`` may run the next probe of its group: the probe
    succeeded, the reply answers this request, the fork found itself alone (``"alone"``,
    see :func:`_alone`; student code could forge that, but only to share its own group's
    fork), and no orphan of it was re-parented here."""
    try:
        reply, _ = protocol.unpack_message(payload)
    except protocol.ProtocolError:
        return False
    if reply.get("status") != "ok" or reply.get("id") != request_id or reply.get("alone") is not True:
        return False
    return _children() == [pid]


def _alone() -> bool:
    """In a probe's fork after its probe: no other thread, no child process (running or not
    yet reaped).  Unreadable facts count as no."""
    try:
        import _thread

        if _thread._count() != 0:
            return False
        os.waitpid(-1, os.WNOHANG)  # returns (0, 0) for a running child, a pid for a zombie
        return False
    except ChildProcessError:  # no child at all
        pass
    except BaseException:
        return False
    try:
        with open("/proc/self/status") as handle:  # threads started outside Python count too
            return "Threads:\t1\n" in handle.read()
    except OSError:  # Landlock in the fallback mode hides the fork's own /proc entry
        return True


def _collect_reply(fd: int, child: int, max_frame: int, stop_at: float | None = None,
                   trace_fd: int | None = None) -> tuple[bytes | None, int | tuple | None, str | None]:
    """Read one frame from the child's reply pipe while watching the child.  Returns
    ``(payload, None, None)`` for a whole frame, ``(None, ("too_large", size), None)`` for a
    frame longer than ``max_frame`` (the child and its leftovers are killed, the rest is
    never read), else ``(None, wait status, None)`` once the child has ended (its leftovers
    are killed so that the pipe reaches end-of-file), or ``(None, None, its stack)`` when it
    was still running at ``stop_at`` (it is left running: the caller ends it)."""
    buffer = bytearray()
    status = None
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big")
            if size > max_frame:
                try:
                    os.kill(child, signal.SIGKILL)  # it may be blocked writing the rest
                except OSError:
                    pass
                _kill_children()
                return None, ("too_large", size), None
            if len(buffer) >= 4 + size:
                return bytes(buffer[4 : 4 + size]), None, None
        if stop_at is not None and status is None and time.monotonic() >= stop_at and trace_fd is not None:
            return None, None, _stack_of(child, trace_fd)
        if poller.poll(50):
            try:
                chunk = os.read(fd, 1 << 20)
            except InterruptedError:
                continue
            if not chunk:  # every writer is gone
                break
            buffer += chunk
        elif status is None:
            try:
                ended, wait_status = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (a handler installed at import time)
                ended, wait_status = child, 0
            if ended == child:
                status = wait_status
                _kill_children()  # what it left behind may hold the pipe open
    if status is None:  # the pipe closed (or went wrong) while the child still runs
        status = _wait_for(child)
    return None, status, None


def _stack_of(child: int, trace_fd: int) -> str:
    """Ask the running child for its Python stack (faulthandler's dump on its trace pipe);
    "" when it does not answer within STACK_WAIT (student code may have replaced the handler)."""
    try:
        os.kill(child, STACK_SIGNAL)
    except OSError:
        return ""
    data = bytearray()
    deadline = time.monotonic() + STACK_WAIT
    poller = select.poll()
    poller.register(trace_fd, select.POLLIN)
    while len(data) < 1 << 16:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(max(1, int(left * 1000)) if not data else 30):
            if data or left <= 0:
                break
            continue
        try:
            chunk = os.read(trace_fd, 1 << 16)
        except (InterruptedError, BlockingIOError):
            continue
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def _stopped_at(stack: str, student_path: str, student) -> str:
    """The student's frames of a faulthandler dump, as a traceback (outermost first, the
    line the code was on last), with each line's source; no grader frame."""
    import linecache
    import re

    frame = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')
    blocks: list[tuple[bool, list[tuple[int, str]]]] = []
    for line in stack.splitlines():
        if line.startswith(("Thread ", "Current thread ")):
            blocks.append((line.startswith("Current thread "), []))
            continue
        match = frame.match(line)
        if match and blocks and match.group(1) == student_path:
            blocks[-1][1].append((int(match.group(2)), match.group(3)))
    chosen = next((frames for current, frames in blocks if current and frames), None) or \
        next((frames for _, frames in blocks if frames), [])
    shown = os.path.basename(student_path)
    lines = []
    for lineno, name in reversed(chosen[:STOPPED_FRAMES]):
        lines.append(f'  File "{shown}", line {lineno}, in {name[:LINE_CHARS]}')
        try:
            source = linecache.getline(student_path, lineno, getattr(student, "__dict__", None))
        except BaseException:
            source = ""
        if source.strip():
            lines.append("    " + source.strip()[:LINE_CHARS])
    return "\n".join(lines)


def _run_probe(protocol, probes, student, student_path, capture, request, arrays, reply_fd) -> None:
    """In the forked child: run one probe and write its reply frame on ``reply_fd``."""
    me = os.getpid()
    result = kwargs = None
    try:
        kwargs = protocol.decode_value(request["kwargs"], arrays, native=True)
        probe = getattr(probes, request["name"])
        result = probe(student, **kwargs)
    except BaseException as exc:
        reply = _error_reply(exc, sys.exc_info()[2], student_path)
        arrays = {}
    else:
        value, arrays = protocol.encode_value(result)
        reply = {"status": "ok", "value": value}
    if os.getpid() != me:  # a fork of the student's returned into this function
        os._exit(0)
    if reply["status"] == "ok":
        reply["alone"] = _alone()
    reply["id"] = request.get("id")
    reply["output"] = capture.take()
    del result, kwargs
    try:
        payload = protocol.pack_message(reply, arrays)
    except BaseException as exc:  # e.g. MemoryError while packing a large value
        reply = {"status": "error", "id": request.get("id"), "exc_type": _type_name(exc),
                 "message": "the probe's result could not be sent back", "traceback": ""}
        payload = protocol.pack_message(reply)
    protocol.write_frame(reply_fd, payload)


def _wait_for(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:  # reaped elsewhere (a handler installed at import time)
            return 0


def _read_token(fd: int) -> bool:
    """Whether the child wrote its done byte (never blocks: a grandchild may hold the pipe)."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1) == b"R"
    except OSError:
        return False


def _become_subreaper() -> None:
    """Orphaned descendants of a probe are re-parented to this process (Linux), so that
    :func:`_kill_children` finds them even if they left the process group or session.
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


def _children() -> list[int]:
    pids: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as handle:
                pids.extend(int(pid) for pid in handle.read().split())
    except OSError:  # no /proc (not Linux) or no children files: the probe's child was reaped
        return []
    return pids


def _kill_children() -> None:
    """SIGKILL and reap every remaining child (what a probe left running, and the orphans
    re-parented to us as their parents die), until none is left."""
    for _ in range(10_000):
        children = _children()
        if not children:
            break
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in children:
            _wait_for(pid)
    while True:  # zombies the children files no longer list
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except (ChildProcessError, InterruptedError):
            break


# --------------------------------------------------------------------------- pool mode
#
# ``python -I -B worker.py {"pool": true, "control_fd": N, "protocol": ..., "probes": ...}``
# (bubblewrap only, see grader.sandbox_pool): a long-lived process that has imported NumPy,
# protocol.py and the probes and, for each submission, forks a worker that then behaves
# exactly like steps 4-5 above.  The pool runs no student code and never holds a student's
# source, requests or replies: those travel on fresh pipes whose worker ends reach it over
# the control socket (SCM_RIGHTS) and are closed here right after the fork.  Between two
# submissions it kills every process of its PID namespace but itself and the namespace's
# init, removes the files the submission left in /tmp, /scratch and /dev (and its SysV IPC
# objects and keyrings) with a reaper running under the submission's uid, and checks that
# all of that is gone; if anything is left it exits, and the grader starts a fresh pool.

#: Restored after every submission to what the pool found at its start (usually nothing in
#: /tmp and /scratch; a Python runtime under /tmp is bound there read-only).
_SHARED_FOLDERS = ("/tmp", "/scratch", "/dev")
_SNAPSHOT_DEPTH = 64
_SYSVIPC = ("/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg")
_KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl syscall, where we know its number


def _pool_main(config: dict) -> None:
    import socket

    control = socket.socket(fileno=config["control_fd"])
    _set_limit(resource.RLIMIT_CORE, 0)  # the student's limits are set in each submission's fork
    protocol = _load_module("_grader_protocol", config["protocol"])
    _become_subreaper()  # also non-dumpable: a submission cannot ptrace or read this process
    try:
        probes = _load_probes(config)
    except BaseException:
        message = "the probes module failed to import:\n" + traceback.format_exc()[-3000:]
        _control_send(control, {"status": "fatal", "message": message})
        os._exit(3)
    _warm_numpy()
    me = os.getpid()
    pristine = {path: _snapshot(path) for path in _SHARED_FOLDERS}
    gc.collect()
    gc.freeze()  # forks then leave these pages shared
    _control_send(control, {"status": "ready"})
    current: tuple[int, int | None] | None = None  # (pid, uid) of the running submission
    while True:
        try:
            data, fds, _flags, _address = socket.recv_fds(control, 1 << 16, 4)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not data:  # the grader closed (or lost) the pool
            _kill_all_but(me)
            os._exit(0)
        try:
            request = json.loads(data)
        except ValueError:
            os._exit(4)
        op = request.get("op") if type(request) is dict else None
        if op == "start" and len(fds) == 2:
            if current is not None and not _clear_submission(current[1], pristine, me):
                os._exit(5)
            submission = request["config"]
            pid = _fork_submission(protocol, probes, submission, fds, control)
            for fd in fds:
                os.close(fd)
            if pid is None:
                _control_send(control, {"status": "error", "message": "the pool could not fork a worker"})
                continue
            current = (pid, submission.get("uid"))
            _control_send(control, {"status": "forked"})
        elif op == "end" and current is not None:
            status = _await_exit(current[0], float(request.get("wait") or 0.0))
            clean = _clear_submission(current[1], pristine, me)
            current = None
            reply = {"status": "clean" if clean else "dirty"}
            if status is not None and os.WIFSIGNALED(status):
                reply["signal"] = os.WTERMSIG(status)
            elif status is not None and os.WIFEXITED(status):
                reply["exit_code"] = os.WEXITSTATUS(status)
            _control_send(control, reply)
            if not clean:
                os._exit(5)
        else:
            for fd in fds:
                os.close(fd)
            os._exit(4)  # the grader does not send anything else: something is wrong


def _warm_numpy() -> None:
    """Import and initialise, once here, what probes load lazily (numpy.random with hashlib
    and friends, the BLAS): otherwise every probe's fork pays for it again (~5 ms each)."""
    try:
        import numpy
        import numpy.random

        numpy.random.default_rng(0).random(2)
        numpy.ones((2, 2)) @ numpy.ones(2)
    except Exception:  # an unusual NumPy: the probes then import it themselves
        pass


def _control_send(control, message: dict) -> None:
    try:
        control.sendall(json.dumps(message).encode())
    except OSError:
        os._exit(0)


def _snapshot(root: str) -> frozenset:
    """Everything under folder ``root`` on its file system (other mounts, such as a runtime
    bound under /tmp or /dev/pts, are entries but not entered): (path, inode, mode, device
    number) of each.  A tree deeper than _SNAPSHOT_DEPTH shows as a marker: never clean."""
    try:
        device = os.lstat(root).st_dev
    except OSError:
        return frozenset()
    found = set()
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        for name in _listdir(folder):
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            found.add((path, info.st_ino, info.st_mode, info.st_rdev))
            if stat.S_ISDIR(info.st_mode) and info.st_dev == device:
                if depth >= _SNAPSHOT_DEPTH:
                    found.add((path, "too deep", 0, 0))
                else:
                    stack.append((path, depth + 1))
    return frozenset(found)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _fork_submission(protocol, probes, config: dict, fds: list[int], control) -> int | None:
    """Fork the worker of one submission; in the fork, steps 1-5 for that submission."""
    pool = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    try:
        control.close()
        req_fd, rep_fd = fds
        for low, high in _gaps(sorted({req_fd, rep_fd}), 3, os.sysconf("SC_OPEN_MAX")):
            os.closerange(low, high)  # nothing of the pool's but the two pipes
        _apply_limits(config["limits"], own_uid=config.get("uid") is not None)
        _set_limit(resource.RLIMIT_MSGQUEUE, 0)  # POSIX queues outlive processes and cannot be listed
        if config.get("uid") is not None:
            _drop_privileges(config["uid"])
        _die_with_parent(pool)
        _become_subreaper()  # the uid change reset the non-dumpable flag
        capture = _Capture(config["limits"]["output_bytes"])
        _redirect_stdio(capture)
        sys.argv[1:] = [json.dumps({**config, "req_fd": req_fd, "rep_fd": rep_fd})]  # as without a pool
        protocol.send_message(rep_fd, {"status": "started", "landlock": 0})
        source, _ = protocol.recv_message(req_fd)  # straight from the grader, never via the pool
        text = source.get("source")
        if type(text) is not str:
            os._exit(6)
        _import_and_serve(protocol, probes, config, capture, req_fd, rep_fd,
                          lambda: _module_from_source(config["module"], config["source"], text))
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(70)


def _gaps(kept: list[int], low: int, high: int):
    """Ranges [a, b) covering low..high minus the ``kept`` numbers."""
    for fd in kept:
        if fd >= low:
            yield low, fd
            low = fd + 1
    yield low, max(low, high)


def _module_from_source(name: str, path: str, source: str):
    """Import ``source`` as module ``name`` whose file is ``path`` (which need not exist:
    tracebacks and inspect read the lines through the loader)."""
    import importlib.abc

    class Loader(importlib.abc.SourceLoader):
        def get_filename(self, fullname):
            return path

        def get_data(self, data_path):
            return source.encode("utf-8")

    loader = Loader()
    spec = importlib.util.spec_from_loader(name, loader, origin=path)
    spec.has_location = True
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def _await_exit(pid: int, seconds: float) -> int | None:
    """The wait status of ``pid`` if it ends within ``seconds``, else None (still running)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            ended, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if ended == pid:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def _namespace_pids() -> list[int]:
    return [int(entry) for entry in _listdir("/proc") if entry.isdigit()]


def _kill_all_but(me: int) -> bool:
    """SIGKILL every process of this PID namespace except ``me`` and its init, and reap them,
    until /proc shows none (a fork bomb's new children included).  kill(-1) reaches every
    process here: this pool runs as the same uid (user namespace) or with CAP_KILL."""
    import time

    deadline = time.monotonic() + 10.0
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:  # ESRCH: nothing left to signal
            pass
        while True:  # every process here descends from this subreaper, so it reaps them all
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        if not [pid for pid in _namespace_pids() if pid not in (1, me)]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _clear_submission(uid: int | None, pristine: dict, me: int) -> bool:
    """Kill the submission's processes, remove what it left (a reaper forked under its uid
    does that, as only the owner can remove a student's 0700 folder without
    CAP_DAC_OVERRIDE), then check that nothing is left.  False: not clean."""
    if not _kill_all_but(me):
        return False
    if uid is not None and _is_clean(pristine):  # nothing to remove (its keyrings die with its uid)
        return True
    try:
        reaper = os.fork()
    except OSError:
        return False
    if reaper == 0:
        try:
            if uid is not None:
                _drop_privileges(uid)
            for root, entries in pristine.items():
                _remove_new(root, {entry[0] for entry in entries})
            _remove_ipc_and_keys()
        finally:
            os._exit(0)
    if _await_exit(reaper, 10.0) is None or not _kill_all_but(me):
        return False
    return _is_clean(pristine)


def _is_clean(pristine: dict) -> bool:
    """/tmp, /scratch and /dev as the pool found them, and no SysV IPC object left."""
    if any(_snapshot(root) != entries for root, entries in pristine.items()):
        return False  # (also a device replaced by a file, under a user namespace: a fresh pool then)
    for table in _SYSVIPC:
        try:
            with open(table) as handle:
                if len(handle.read().splitlines()) > 1:
                    return False
        except OSError:
            pass
    return True


def _remove_new(folder: str, kept: set, depth: int = 0) -> None:
    """Remove what is under ``folder`` but not in ``kept`` (paths), entering kept folders."""
    for name in _listdir(folder):
        path = os.path.join(folder, name)
        if path not in kept:
            _remove_path(path)
        elif depth < _SNAPSHOT_DEPTH and os.path.isdir(path) and not os.path.islink(path):
            _remove_new(path, kept, depth + 1)


def _remove_path(path: str, depth: int = 0) -> None:
    """Remove a file or folder tree (what fails is caught by the check that follows)."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    if depth > 200:  # deeper trees leave the folder behind: the pool is then replaced
        return
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    for name in _listdir(path):
        _remove_path(os.path.join(path, name), depth + 1)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _remove_ipc_and_keys() -> None:
    """In the reaper (the submission's uid): remove every SysV IPC object it may remove (its
    own) and clear its keyrings (under a user namespace the next submission has the same uid)."""
    import ctypes
    import platform

    libc = ctypes.CDLL(None, use_errno=True)
    removers = {"shm": lambda ident: libc.shmctl(ident, 0, None),  # IPC_RMID
                "sem": lambda ident: libc.semctl(ident, 0, 0),
                "msg": lambda ident: libc.msgctl(ident, 0, None)}
    for table in _SYSVIPC:
        try:
            with open(table) as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and fields[1].isdigit():
                removers[table.rsplit("/", 1)[1]](int(fields[1]))
    keyctl = _KEYCTL.get(platform.machine())
    if keyctl is not None:
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        persistent = syscall(keyctl, 22, ctypes.c_long(-1), ctypes.c_long(-4))  # KEYCTL_GET_PERSISTENT
        for keyring in (persistent, -4, -5):  # it, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
            if keyring != -1:
                syscall(keyctl, 7, ctypes.c_long(keyring))  # KEYCTL_CLEAR


if __name__ == "__main__":
    main(sys.argv)
