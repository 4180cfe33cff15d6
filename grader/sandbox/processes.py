"""Process control on the trusted side: the handles of a running worker, killing a whole
process tree, and how a worker's or a probe's death is told to the student.

A worker is either spawned by the client itself (:class:`SpawnedWorker`: ``bwrap`` or the
rlimits fallback's Python, in a session of its own) or forked by a warm pool process
(:class:`PooledWorker`, see :mod:`grader.sandbox.pool`); both offer the same small
interface to :class:`grader.sandbox.client.Sandbox`: ``req_fd``/``rep_fd`` (our ends of its
two pipes), ``ready``, ``exited()``, ``death()`` and ``kill()``.
"""

from __future__ import annotations

import os
import signal
import subprocess


_SIGNAL_HINTS = {
    signal.SIGKILL: "killed (SIGKILL)",
    signal.SIGXCPU: "stopped by the CPU time limit (SIGXCPU)",
    signal.SIGSEGV: "crashed with a segmentation fault (SIGSEGV), e.g. runaway recursion",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGXFSZ: "stopped by the file size limit (SIGXFSZ)",
}


def _signal_hint(number: int) -> str:
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"killed by signal {number}"
    return _SIGNAL_HINTS.get(sig) or f"killed by {sig.name}"


def crash_message(reply: dict) -> str:
    signal_number, exit_code = reply.get("signal"), reply.get("exit_code")
    if type(signal_number) is int:
        return f"the process running your code was {_signal_hint(signal_number)}"
    if type(exit_code) is int:
        return (f"the process running your code exited with status {exit_code} before returning "
                "(os._exit()?)")
    return "the process running your code ended before returning"


def death_message(code: int | None, signal_number: int | None) -> str:
    if signal_number is not None:
        return f"the worker process was {_signal_hint(signal_number)}"
    if code is None:
        return "the worker stopped answering (its reply channel closed or was corrupted)"
    return f"the worker process exited with status {code} (e.g. os._exit() or a closed channel)"


def _children_of(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children.extend(int(child) for child in handle.read().split())
    except (OSError, ValueError):
        pass
    return children


def descendants(pid: int) -> set[int]:
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
        fresh = descendants(pid) - stopped
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


class SpawnedWorker:
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
            return death_message(None, None)
        if self.uses_bwrap and code > 128:
            code = -(code - 128)  # bwrap reports a child killed by signal N as 128 + N
        return death_message(code, -code if code < 0 else None)

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


class PooledWorker:
    """A submission's worker forked by a pool process (see :mod:`grader.sandbox.pool`)."""

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
        return death_message(code if type(code) is int else None,
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
