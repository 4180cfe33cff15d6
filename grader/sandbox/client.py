"""The client the checks talk to: :class:`Sandbox`, one submission's warm worker.

A :class:`Sandbox` owns one worker (the programs of :mod:`grader.sandbox.inside`) that has
imported the student's module and the assignment's probes; :meth:`Sandbox.run_probe` sends
it one request and waits for the reply with a wall-clock timeout, reading every byte of the
reply as untrusted (see :mod:`grader.protocol`).  When a probe times out, the worker dies or
sends anything but a well-formed reply, the worker is killed with its whole process tree
and a fresh one is started (and re-imports the student module) on the next probe, so one
broken function costs only its own probes.  How the worker is isolated is set up by
:mod:`grader.sandbox.isolation`; its processes are handled by :mod:`grader.sandbox.processes`;
with a pool (:mod:`grader.sandbox.pool`) its worker is forked by a warm pool process.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import replace
from pathlib import Path

from grader import protocol
from grader.sandbox.base import ISOLATE_FUNCTIONS_ENV, STOP_GRACE, Limits, PoolGone, ProbeOutcome, SandboxError
from grader.sandbox.isolation import (INSIDE, RLIMITS_WARNING, bwrap_command, choose_isolation, fresh_uid, is_root,
                                      landlock_rules, landlock_warning, reachable_by_others, worker_environment,
                                      write_runtime)
from grader.sandbox.processes import PooledWorker, SpawnedWorker, crash_message


_RESERVED_MODULES = frozenset({"_grader_protocol", "_grader_probes", "_grader_inside", "numpy"})


_MESSAGE_CHARS = 2000


_TRACEBACK_CHARS = 10_000


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


def _remove_tree(path: str, holder: list, leases: list = (), pool=None) -> None:
    for worker in holder:
        worker.kill()
    holder.clear()
    for lease in leases:  # a pool process, its worker now ended: back to the pool
        pool.release(lease)
    if leases:
        leases.clear()
    shutil.rmtree(path, ignore_errors=True)


class Sandbox:
    """A warm worker running ``source`` as module ``module_name`` with the probes of
    ``probes_path``.  Construction starts the worker without waiting for it; the first
    :meth:`run_probe` (or reading :attr:`import_error`) waits until it has imported the
    student module.  Use as a context manager, or call :meth:`close`.

    Raises :class:`SandboxError` when the sandbox cannot run at all (not the student's fault)
    and ``ValueError`` for an unknown probe name or a bad module name.

    With ``pool`` (a :class:`grader.sandbox.pool.SandboxPool`; None: no pool) and
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
        self.isolation = choose_isolation(limits)
        # Only bubblewrap gets its workers from a pool (see grader.sandbox.pool for why).
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
        self._reply_bytes_of: dict[str | None, int] = {}  # the same, by group
        #: Every probe the isolated way (Limits.isolate_functions or GRADER_ISOLATE_FUNCTIONS).
        self.isolate_functions = limits.isolate_functions or os.environ.get(
            ISOLATE_FUNCTIONS_ENV, "").strip().lower() in ("1", "yes", "on", "true")
        self._closed = False
        # As root the worker switches to a fresh random uid: student code never runs as uid 0
        # (with its capabilities it could prlimit() or read anything of the grader's), the
        # kernel exempts uid 0 from RLIMIT_NPROC, and a uid of its own means the process
        # limit counts only this worker's processes (each worker gets its own: processes of
        # a killed one may linger a moment and would count against the next).
        self._drops_privileges = is_root()

        self._root = Path(tempfile.mkdtemp(prefix="grader-sandbox-", dir=self._temporary_parent()))
        self._workers: list[SpawnedWorker | PooledWorker] = []  # zero or one; lists so the finalizer sees them
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
        if not (self._drops_privileges and self.isolation == "rlimits") or reachable_by_others(tempfile.gettempdir()):
            return None
        if not reachable_by_others("/tmp"):
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
        runtime.mkdir()
        write_runtime(runtime, probes_path)
        (runtime / "student").mkdir(mode=0o755)
        (runtime / "student").chmod(0o755)
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
                  group: str | None = None, max_reply_bytes: int | None = None, *,
                  isolated: bool = False) -> ProbeOutcome:
        """Run probe ``name`` on the student's module with plain-data ``kwargs``.

        Without a ``group`` the probe runs in a fresh fork of the worker, so nothing an
        earlier probe did at call time can reach it.  Probes with a ``group`` (say, the
        student function they test) are run optimistically: one fork serves them one after
        another, whatever their group, while each succeeds and leaves nothing the worker
        can see (its fingerprint, see :func:`grader.sandbox.inside.zygote.serve`); the
        outcome's ``shared`` says whether the probe ran in a fork that had served another
        group.  ``isolated`` (or ``Limits.isolate_functions``) runs it the isolated way: in
        a fork that serves only its group (consecutive probes of the group share it while
        each succeeds), as :func:`grader.grade.functions_to_rerun` asks for a function
        that did not pass every check in a shared fork.

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
        # was (see grader.sandbox.inside.zygote); the deadline below still holds if it does not.  It is also told
        # the reply limit, so that it does not relay a longer reply (saving both sides the
        # transfer); whether it complies or not, nothing longer is read here.
        request = {"op": "probe", "id": self._next_id, "name": name, "kwargs": kwargs_json, "timeout": timeout,
                   "max_reply": limit}
        if group is not None:
            request["group"] = group
        isolated = isolated or self.isolate_functions
        if isolated:
            request["isolated"] = True
        # The reply says whether the probe ran in a fork that had served another group; without
        # a reply that can be believed (a timeout here, a corrupt channel) it may have, unless isolated.
        shared = not isolated
        started = time.monotonic()
        # the worker stops a probe at `timeout` and reports where it was; past the grace the
        # grader stops waiting for that report and kills the worker itself
        deadline = started + timeout + STOP_GRACE
        try:
            protocol.send_message(worker.req_fd, request, arrays, deadline)
            payload = protocol.read_frame(worker.rep_fd, deadline, limit)
            self._reply_bytes_read += len(payload)
            self._reply_bytes_of[group] = self._reply_bytes_of.get(group, 0) + len(payload)
            reply, reply_arrays = protocol.unpack_message(payload)
            del payload
            outcome = self._outcome(reply, reply_arrays, self._next_id)
            shared = reply.get("shared") is True  # (a reply refused above leaves it as it was)
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
        outcome.shared = shared
        return outcome

    def forget_replies(self, groups) -> None:
        """Give back to ``Limits.reply_bytes`` what the replies to the probes of ``groups``
        took, before those groups' probes run again (:func:`grader.grade.functions_to_rerun`):
        the second run is charged as the isolated way alone would have been (but for the
        replies of the groups run after them, which it also counts)."""
        for group in groups:
            self._reply_bytes_read -= self._reply_bytes_of.pop(group, 0)

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
            return ProbeOutcome("crashed", message=crash_message(reply), output=output)
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
            "uid": fresh_uid() if self._drops_privileges else None,
        }
        if self.isolation == "rlimits":  # bubblewrap's mounts do this job otherwise
            config["imports_through_fds"] = True  # (as root: see inside.confine.reach_runtime_through_fds)
            config["landlock"] = landlock_rules(runtime, str(self._scratch))
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
        python = [sys.executable, "-I", "-B", f"{runtime}/{INSIDE}", json.dumps(config)]
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
        self._workers.append(SpawnedWorker(proc, req_write, rep_read, self.isolation == "bubblewrap"))

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
            self._workers.append(PooledWorker(lease, req_write, rep_read))
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
