"""A warm pool of sandboxes: one long-lived bubblewrap process per (probes module, Limits,
isolation) that has imported NumPy, the protocol and the probes, and forks a fresh worker
for each submission.

Starting ``bwrap`` and a Python that imports NumPy costs ~0.1 CPU-s per submission; a fork
of a process that already did costs a few milliseconds.  Usage::

    pool = SandboxPool()                 # or thread_pool(): this thread's shared pool
    for source in submissions:
        with Sandbox(source, module_name, probes_path, limits, pool=pool) as sandbox:
            sandbox.run_probe(...)       # exactly as without a pool
    pool.close()                         # or `with SandboxPool() as pool:`; also at exit

A pool process (:mod:`grader.sandbox.inside.warm_pool`) is started lazily by the
first :class:`~grader.sandbox.client.Sandbox` that needs it and serves one Sandbox at a time (a second
Sandbox alive at the same time gets a second process).  It runs no student code, never holds a
student's source (that travels straight to the forked worker on its own request pipe), and
gets every submission's fresh pipes over a unix socket (SCM_RIGHTS), so nothing left in an
old pipe reaches the next submission.  Each submission's worker drops to a fresh random uid
before any student code runs (as root; without root the user namespace maps one uid, as
without a pool).  Between submissions, and after a timeout or a crash, the pool kills every
other process of its PID namespace (kill(-1) until /proc shows none: it keeps CAP_KILL, which
no student process has), removes what the submission left in /tmp, /scratch and /dev, its
SysV IPC objects and keyrings, and checks that all of it is gone; if not, or if the pool
process dies (only the running submission is then affected: "crashed"), the pool process is
replaced before the next submission.  The pool is non-dumpable: a student cannot ptrace it
or read its memory or fds through /proc.

Only the ``"bubblewrap"`` isolation uses a pool.  In ``"rlimits"`` mode a Sandbox given a
pool starts its own worker as before: without a PID namespace and a uid of its own per
submission there is no sound way to be sure that everything of one submission is gone
before the next runs in the same process tree.

Threads: pool processes are started by the thread that first needs them, and bwrap's
``--die-with-parent`` (PR_SET_PDEATHSIG) kills them when *that thread* ends.  Use a pool
from one thread only (it is not thread-safe either); :func:`thread_pool` gives each thread
its own.  Processes: a pool serves only the process that created it; in a fork of it
(a multiprocessing worker) it refuses to serve and its finalizer leaves the parent's pool
processes alone, and :func:`thread_pool` makes the fork a pool of its own.  With the
environment variable ``GRADER_SANDBOX_POOL=1``, grading without a session
(`grader.grade.grade_submission`) uses :func:`thread_pool` (:func:`pool_from_environment`).
"""
from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

from grader.sandbox.base import Limits, PoolGone, SandboxError
from grader.sandbox.isolation import INSIDE, bwrap_command, is_root, worker_environment, write_runtime
from grader.sandbox.processes import kill_tree


POOL_ENV = "GRADER_SANDBOX_POOL"


#: How long the pool may take to clear a submission away (a fork bomb's thousands of
#: processes included) before it is replaced.
CLEAR_SECONDS = 15.0


class PoolProcess:
    """One pool process (bwrap + grader.sandbox.inside in pool mode) and our end of its control socket."""

    def __init__(self, probes_path: Path, limits: Limits):
        self.limits = limits
        self.busy = False  # a submission's worker is running (or not yet cleared)
        self._owner = os.getpid()  # a fork of the grader must leave this process alone
        self.key: tuple | None = None  # set by the SandboxPool that owns it
        self.released = 0.0  # time.monotonic() when last given back
        self._root = Path(tempfile.mkdtemp(prefix="grader-pool-"))
        self._log = self._root / "pool.log"
        self._proc: subprocess.Popen | None = None
        self._dead = False
        runtime = self._root / "runtime"
        runtime.mkdir()
        write_runtime(runtime, probes_path)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        config = {"pool": True, "control_fd": theirs.fileno(), "protocol": "/runtime/protocol.py",
                  "probes": "/runtime/probes.py",
                  "probekit": "/runtime/probekit.py"}
        python = [sys.executable, "-I", "-B", f"/runtime/{INSIDE}", json.dumps(config)]
        # CAP_KILL for the pool only (each submission's worker loses it with its uid change);
        # the root filesystem read-only, so that only /tmp, /scratch and /dev can be written.
        extra = ("--cap-add", "CAP_KILL") if is_root() else ()
        command = bwrap_command(limits, runtime, python, (*extra, "--remount-ro", "/"))
        try:
            with open(self._log, "wb") as log:
                self._proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(theirs.fileno(),),
                    close_fds=True, start_new_session=True, cwd=str(self._root),
                    env={"PATH": worker_environment("bubblewrap", "/scratch")["PATH"]})
        except OSError as exc:
            self.kill()
            raise SandboxError(f"cannot start the sandbox pool: {exc}") from None
        finally:
            theirs.close()
        try:
            hello = self._receive(time.monotonic() + limits.startup_timeout)
        except PoolGone as exc:
            raise SandboxError(f"the sandbox pool failed to start: {exc}{self._log_tail()}") from None
        if hello.get("status") != "ready":
            message = str(hello.get("message") or hello)[:3000]
            self.kill()
            raise SandboxError(f"the sandbox pool failed to start: {message}")
        # Everything the pool needs from its files is loaded now (its bind mount keeps what
        # it still refers to): nothing is left in /tmp however this process ends, e.g. a
        # multiprocessing worker that exits without running finalizers.
        shutil.rmtree(self._root, ignore_errors=True)

    @property
    def proc(self) -> subprocess.Popen | None:
        """The bwrap process (its PID namespace holds the pool and the worker it runs)."""
        return self._proc

    def alive(self) -> bool:
        return not self._dead and self._proc is not None and self._proc.poll() is None

    def start_worker(self, config: dict, fds: list[int]) -> None:
        """Fork a worker for one submission with ``fds`` (its request-read and reply-write
        pipe ends) and the JSON-able ``config``.  Raises PoolGone."""
        self._send({"op": "start", "config": config}, fds)
        reply = self._receive(time.monotonic() + self.limits.startup_timeout)
        if reply.get("status") != "forked":
            self.kill()
            raise PoolGone(str(reply.get("message") or reply)[:300])
        self.busy = True

    def end_worker(self, wait: float) -> dict | None:
        """Have the pool wait up to ``wait`` seconds for the worker to end by itself, then
        clear everything of the submission away.  The pool's reply (with the worker's
        ``exit_code`` or ``signal`` if it had ended), or None if the pool is gone (killed)."""
        if not self.busy or os.getpid() != self._owner:
            return {}
        self.busy = False
        try:
            self._send({"op": "end", "wait": wait})
            reply = self._receive(time.monotonic() + wait + CLEAR_SECONDS)
        except PoolGone:
            return None
        if reply.get("status") != "clean":  # the pool exits itself; make sure of it
            self.kill()
        return reply

    def close(self) -> None:
        """Ask the pool to end (it kills what it runs), then make sure of it."""
        if os.getpid() != self._owner:
            return
        if self._proc is not None and self._proc.poll() is None and not self._dead:
            try:
                self._control.shutdown(socket.SHUT_RDWR)
                self._proc.wait(timeout=1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> None:
        """Kill the pool with everything in its namespace, and remove its files.  Idempotent."""
        if os.getpid() != self._owner:
            return
        self._dead = True
        if self._proc is not None:
            kill_tree(self._proc.pid)
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._proc.wait()
        self._control.close()
        shutil.rmtree(self._root, ignore_errors=True)

    def _send(self, message: dict, fds: list[int] = ()) -> None:
        if not self.alive():
            raise PoolGone("the pool process has ended")
        try:
            self._control.settimeout(self.limits.startup_timeout)
            socket.send_fds(self._control, [json.dumps(message).encode()], list(fds))
        except OSError as exc:
            self.kill()
            raise PoolGone(f"cannot reach the pool process ({exc})") from None

    def _receive(self, deadline: float) -> dict:
        poller = select.poll()
        poller.register(self._control, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise PoolGone("the pool process did not answer in time")
            if poller.poll(remaining * 1000.0):
                break
        try:
            data = self._control.recv(1 << 16)
            reply = json.loads(data) if data else None
        except (OSError, ValueError):
            reply = None
        if type(reply) is not dict:
            code = self._proc.poll() if self._proc is not None else None
            self.kill()
            raise PoolGone("the pool process ended" + (f" (status {code})" if code is not None else ""))
        return reply

    def _log_tail(self) -> str:
        try:
            log = self._log.read_text(errors="replace")[-2000:].strip()
        except OSError:
            return ""
        return f"\n{log}" if log else ""


def _close_all(processes: list[PoolProcess], owner: int) -> None:
    if os.getpid() != owner:  # a fork of the grader: the pool processes are its parent's
        return
    for process in processes:
        process.close()
    processes.clear()


class SandboxPool:
    """Warm pool processes, created lazily, one per (probes module content, Limits,
    isolation) and per Sandbox alive at the same time; at most ``max_idle`` of them wait
    idle (the least recently used beyond that are closed).  Pass it as ``Sandbox(..., pool=)``.
    Closed by :meth:`close`, as a context manager, when garbage-collected or at exit.
    Not thread-safe; see the module docstring for threads."""

    def __init__(self, max_idle: int = 4) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple, list[PoolProcess]] = {}
        self._processes: list[PoolProcess] = []
        self._owner = os.getpid()
        self._finalizer = weakref.finalize(self, _close_all, self._processes, self._owner)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def acquire(self, probes_path: Path, limits: Limits, isolation: str) -> PoolProcess:
        """An idle, live pool process for this key, started if need be (SandboxError)."""
        if self.closed:
            raise SandboxError("the sandbox pool is closed")
        if os.getpid() != self._owner:
            raise SandboxError("a SandboxPool serves the process that created it, not a fork of it "
                               "(use thread_pool() in each process)")
        key = (hashlib.sha256(Path(probes_path).read_bytes()).hexdigest(), limits, isolation)
        idle = self._idle.setdefault(key, [])
        while idle:
            process = idle.pop()
            if process.alive() and not process.busy:
                process.key = key
                return process
            self._discard(process)
        process = PoolProcess(probes_path, limits)
        process.key = key
        self._processes.append(process)
        return process

    def release(self, process: PoolProcess) -> None:
        """Give back a process a Sandbox is done with (its worker already ended)."""
        if self.closed or not process.alive() or process.busy:
            self._discard(process)
            return
        process.released = time.monotonic()
        self._idle.setdefault(process.key, []).append(process)
        idle = [p for waiting in self._idle.values() for p in waiting]
        for oldest in sorted(idle, key=lambda p: p.released)[: max(0, len(idle) - self.max_idle)]:
            self._idle[oldest.key].remove(oldest)
            self._discard(oldest)

    def close(self) -> None:
        """Stop every pool process.  Idempotent."""
        self._idle.clear()
        self._finalizer()

    def _discard(self, process: PoolProcess) -> None:
        process.close()
        if process in self._processes:
            self._processes.remove(process)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_thread_state = threading.local()


def thread_pool() -> SandboxPool:
    """This thread's shared pool, created on first use (closed when the thread ends, or at exit)."""
    pool = getattr(_thread_state, "pool", None)
    if pool is None or pool.closed or pool._owner != os.getpid():  # none yet, or the parent's (fork)
        pool = _thread_state.pool = SandboxPool()
    return pool


def pool_from_environment() -> SandboxPool | None:
    """:func:`thread_pool` if ``GRADER_SANDBOX_POOL`` is set to 1/yes/on/true, else None."""
    if os.environ.get(POOL_ENV, "").strip().lower() in ("1", "yes", "on", "true"):
        return thread_pool()
    return None
