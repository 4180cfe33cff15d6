"""Inside the sandbox: the warm pool's program (bubblewrap only, see
:mod:`grader.sandbox.pool`).

``python -I -B /runtime/inside {"pool": true, "control_fd": N, "protocol": ..., "probes": ...}``:
a long-lived process that has imported NumPy, protocol.py and the probes and, for each
submission, forks a worker that then behaves exactly like steps 4-5 of a worker.  The pool
runs no student code and never holds a student's source, requests or replies: those travel
on fresh pipes whose worker ends reach it over the control socket (SCM_RIGHTS) and are
closed here right after the fork.  Between two submissions it kills every process of its
PID namespace but itself and the namespace's init, removes the files the submission left in
/tmp, /scratch and /dev (and its SysV IPC objects and keyrings) with a reaper running under
the submission's uid, and checks that all of that is gone; if anything is left it exits,
and the grader starts a fresh pool.
"""
import gc
import json
import os
import resource
import signal
import stat
import sys
import traceback

from .confine import (Capture, apply_limits, become_subreaper, die_with_parent, drop_privileges, redirect_stdio,
                      set_limit)
from .loading import load_module, load_probes, module_from_source
from .zygote import import_and_serve


#: Restored after every submission to what the pool found at its start (usually nothing in
#: /tmp and /scratch; a Python runtime under /tmp is bound there read-only).
_SHARED_FOLDERS = ("/tmp", "/scratch", "/dev")


_SNAPSHOT_DEPTH = 64


_SYSVIPC = ("/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg")


_KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl syscall, where we know its number


def main(config: dict) -> None:
    import socket

    control = socket.socket(fileno=config["control_fd"])
    set_limit(resource.RLIMIT_CORE, 0)  # the student's limits are set in each submission's fork
    protocol = load_module("_grader_protocol", config["protocol"])
    become_subreaper()  # also non-dumpable: a submission cannot ptrace or read this process
    try:
        probes = load_probes(config)
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
        apply_limits(config["limits"], own_uid=config.get("uid") is not None)
        set_limit(resource.RLIMIT_MSGQUEUE, 0)  # POSIX queues outlive processes and cannot be listed
        if config.get("uid") is not None:
            drop_privileges(config["uid"])
        die_with_parent(pool)
        become_subreaper()  # the uid change reset the non-dumpable flag
        capture = Capture(config["limits"]["output_bytes"])
        redirect_stdio(capture)
        sys.argv[1:] = [json.dumps({**config, "req_fd": req_fd, "rep_fd": rep_fd})]  # as without a pool
        protocol.send_message(rep_fd, {"status": "started", "landlock": 0})
        source, _ = protocol.recv_message(req_fd)  # straight from the grader, never via the pool
        text = source.get("source")
        if type(text) is not str:
            os._exit(6)
        import_and_serve(protocol, probes, config, capture, req_fd, rep_fd,
                          lambda: module_from_source(config["module"], config["source"], text))
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
                drop_privileges(uid)
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
