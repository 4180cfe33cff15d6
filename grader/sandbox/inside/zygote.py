"""Inside the sandbox: steps 4-5 of a worker (see the package's docstring): import the
student's module, then serve probe requests as a zygote, each probe in a fork."""
import faulthandler
import gc
import os
import select
import signal
import sys
import time

from . import fingerprint
from .confine import Capture, die_with_parent
from .replies import LINE_CHARS, error_reply, type_name


#: A probe still running at its time limit is stopped here, after its stack was read, so that
#: the reply can say where the student's code was (the grader waits a little longer than the
#: limit for that reply: `grader.sandbox.STOP_GRACE`).
#: Signal that makes a probe's fork dump its Python stack (faulthandler) onto its trace pipe.
STACK_SIGNAL = signal.SIGUSR1


#: How long to wait for that dump once asked for.
STACK_WAIT = 0.3


#: At most this many of the student's frames describe where a stopped probe was.
STOPPED_FRAMES = 4


def import_and_serve(protocol, probes, config: dict, capture: "Capture", req_fd: int, rep_fd: int, load) -> None:
    """Steps 4-5: import the student module with ``load()``, report, serve probes."""
    student_path = config["source"]
    try:
        student = load()
    except BaseException as exc:
        reply = error_reply(exc, sys.exc_info()[2], student_path)
        reply.update(status="import_error", output=capture.take())
        protocol.send_message(rep_fd, reply)
        os._exit(0)
    fingerprint.take(student)  # what it reads lazily (numpy.random) is loaded by the first one
    state = fingerprint.take(student)  # as the import left it: every fork inherits it
    protocol.send_message(rep_fd, {"status": "ready", "output": capture.take()})
    serve(protocol, probes, student, student_path, capture, req_fd, rep_fd, state)


class _Child:
    """A forked probe process, kept for later probes (see :func:`serve`)."""

    def __init__(self, pid: int, request_fd: int | None, reply_fd: int, group: str | None, trace_fd: int,
                 isolated: bool):
        self.pid, self.request_fd, self.reply_fd, self.group = pid, request_fd, reply_fd, group
        self.trace_fd = trace_fd  # its faulthandler dumps (STACK_SIGNAL)
        self.isolated = isolated  # forked for an isolated request: it serves its own group only
        self.groups = {group}  # every group it has served

    def may_serve(self, group: str | None, isolated: bool) -> bool:
        """Whether the next request, of ``group``, may go to this child (an isolated one only
        to a child forked for an isolated request of that group: never to one that served
        another group)."""
        if group is None:
            return False
        if isolated:
            return self.isolated and group == self.group
        return group == self.group or not self.isolated

    @property
    def shared(self) -> bool:
        """It has served another group: what it runs may meet that group's leftovers."""
        return len(self.groups) > 1

    def end(self) -> None:
        """Close its pipes, then kill and reap it and everything it or its probes left."""
        for fd in (self.request_fd, self.reply_fd, self.trace_fd):
            if fd is not None:
                os.close(fd)
        kill_children()


def serve(protocol, probes, student, student_path: str, capture: Capture, req_fd: int, rep_fd: int,
          state: tuple = None) -> None:
    """The zygote loop: each request runs in a fork of this process, which starts from the
    module as its import left it (as the trusted side runs each reference probe on a fresh
    module), and the zygote itself never runs a probe.

    Optimistic by default.  A request with a ``"group"`` (the student function of the
    running check) goes to the fork kept from the previous request, whatever its group,
    while that fork stays visibly clean:

    - after each probe: it replied ``ok`` to the right id, it found itself alone (one
      thread, no child process: ``"alone"``), and no orphan of it was re-parented here;
    - when the group changes: the fork compares its :mod:`.fingerprint` (the student
      module's globals, NumPy's and builtins' namespaces, ``np.seterr``, signal handlers and
      timers, threads, child processes, open fds, the random states, ...) with ``state``,
      taken here right after the import (:func:`.fingerprint.take`), and with its own fds,
      threads and children as it found them when it was forked (:func:`.fingerprint.own`),
      before any student code ran there.  If anything differs it runs nothing and replies
      ``{"status": "changed"}``; this process then ends it and runs the request in a fresh
      fork.

    Anything else (an error, a crash, a timeout, a refused reply, a leftover thread or
    process) ends the fork, and the next request gets a fresh one.  So a function's probes
    run beside earlier functions' probes only while those changed nothing the fingerprint
    sees.  Every reply says whether its probe ran in a fork that had served another group
    (``"shared": true``).  A request with ``"isolated": true`` runs the old, isolated way:
    in a fork that serves its group only (reused for the next request of the same group
    under the same conditions), as every request did before; a request without a group in a
    fork of its own.

    Why a fingerprint the student can forge is enough: it is computed in the fork, where
    student code runs, so a submission can blind it (or keep state where it does not look).
    What that buys is only that its own next functions run beside its own leftovers, in its
    own worker: whatever a leftover does to another function of the submission, code in that
    function could have done itself (the file system it shares with them already carries
    anything between its functions).  And the trusted side does not rely on it to be fair:
    every function that does not pass all its checks and ran in a ``shared`` fork has its
    checks run again, the isolated way, and is graded from that run
    (:func:`grader.grade.functions_to_rerun`).  Forging ``"shared"`` changes only which of
    the submission's own functions run again.  No other submission's worker, and nothing of
    the trusted process, ever sees or depends on a fingerprint.

    The fork never holds the real channel: it closes both ends before any student code runs,
    reads requests from, and writes replies to, private pipes.  This process reads one reply
    frame, kills whatever the probe left running (all of it, unless the fork is kept clean),
    and only then forwards the frame, so nothing a student process does can reach the grader
    between or during later probes.  A fork that ends without a whole frame gets a
    ``{"status": "crashed"}`` reply from here instead.

    Round trips: one request and one reply per probe, each way through this process (the
    grader's frame is passed on as it came, decoded here only to read its JSON part; the
    fork's reply is read in one piece and its JSON part looked at for status, id and
    ``alone``).  A function's probes are not sent as one batch: the checks ask for them one
    at a time, each after comparing the previous answer, so a batch would need every check
    run once more beforehand just to learn its inputs, and each probe's time limit (shorter
    once the function has hung, bounded per function) decided here instead of by the
    trusted side; README "Performance" has the figures behind that choice."""
    os.set_inheritable(req_fd, False)
    os.set_inheritable(rep_fd, False)
    kept: _Child | None = None
    while True:
        try:
            request_payload = protocol.read_frame(req_fd)
        except protocol.ChannelClosed:
            os._exit(0)
        # Only the JSON part: a kept fork decodes the arguments itself (a fresh fork gets them here).
        request = protocol.unpack_meta(request_payload)
        request_id = request.get("id")
        group = request.get("group")
        group = group if type(group) is str else None
        isolated = request.get("isolated") is True
        limit = request.get("timeout")
        max_reply = request.get("max_reply")  # what the grader will read; a longer reply is not sent on
        if not (type(max_reply) is int and 0 <= max_reply < protocol.MAX_FRAME):
            max_reply = protocol.MAX_FRAME
        if kept is not None and not kept.may_serve(group, isolated):
            kept.end()
            kept = None
        while True:  # twice at most: a kept fork that finds itself changed hands the request back
            child = kept
            if child is not None:
                try:
                    protocol.write_frame(child.request_fd, request_payload)
                    child.groups.add(group)
                    child.group = group
                except protocol.ChannelClosed:  # it ended between probes: start afresh
                    child.end()
                    child = kept = None
            if child is None:
                request, arrays = protocol.unpack_message(request_payload)
                child = _fork_probe(protocol, probes, student, student_path, capture, request, arrays,
                                    group, (req_fd, rep_fd), None if isolated else state)
            if child is None:
                break
            stop_at = None
            if type(limit) in (int, float) and limit > 0:
                stop_at = time.monotonic() + limit
            payload, status, stack = _collect_reply(child.reply_fd, child.pid, max_reply, stop_at, child.trace_fd)
            reply = _reply_meta(protocol, payload, request_id)
            if child is kept and reply.get("status") == "changed":
                child.end()
                kept = None
                continue
            break
        if child is None:
            protocol.send_message(rep_fd, {
                "status": "error", "id": request_id, "exc_type": "OSError", "traceback": "",
                "message": "no process could be started to run the probe (the process limit?)",
                "output": ""})
            continue
        if stack is not None:  # stopped before its time limit: say where it was
            child.end()
            kept = None
            reply = {"status": "timeout", "id": request_id, "seconds": limit, "shared": child.shared,
                     "traceback": _stopped_at(stack, student_path, student)}
            try:
                protocol.write_frame(rep_fd, protocol.pack_message(reply))
            except protocol.ChannelClosed:
                os._exit(0)
            continue
        # Kept only if it succeeded, found itself alone (student code could forge that, but
        # only to share its own submission's fork), and no orphan of it was re-parented here.
        if group is not None and reply.get("status") == "ok" and reply.get("alone") is True \
                and child_pids() == [child.pid]:
            kept = child
        else:
            child.end()
            kept = None
        if type(status) is tuple:  # ("too_large", size): the child was killed, its reply not read
            payload = protocol.pack_message({"status": "too_large", "id": request_id, "size": status[1],
                                             "shared": child.shared})
        elif payload is None:
            reply = {"status": "crashed", "id": request_id, "shared": child.shared}
            if status is not None and os.WIFSIGNALED(status):
                reply["signal"] = os.WTERMSIG(status)
            elif status is not None and os.WIFEXITED(status):
                reply["exit_code"] = os.WEXITSTATUS(status)
            payload = protocol.pack_message(reply)
        try:
            protocol.write_frame(rep_fd, payload)
        except protocol.ChannelClosed:
            os._exit(0)


def _fork_probe(protocol, probes, student, student_path, capture, request, arrays, group, channel,
                state: tuple | None) -> _Child | None:
    """Fork a process that runs ``request`` (and, with a group, later requests sent on its
    private request pipe: see :func:`serve`), of other groups too while ``state`` (None: an
    isolated request, its own group only) still holds.  None if no process could be started."""
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
            die_with_parent(os.getppid())
            try:  # on STACK_SIGNAL, write the Python stack to the zygote (before student code runs)
                faulthandler.register(STACK_SIGNAL, file=trace_write, all_threads=True, chain=False)
            except (OSError, RuntimeError, ValueError):
                pass
            # Its own fds, threads and children before any student code runs here.
            own = None if state is None or group is None else fingerprint.own()
            groups = {group}
            while True:
                _run_probe(protocol, probes, student, student_path, capture, request, arrays, reply_write,
                           shared=len(groups) > 1)
                if request_read is None:
                    break
                request, arrays = protocol.recv_message(request_read)
                if request.get("group") not in groups:  # another function: only if nothing changed
                    if own is None or fingerprint.own() != own or fingerprint.take(student) != state:
                        protocol.send_message(reply_write, {"status": "changed", "id": request.get("id")})
                        break
                    groups.add(request.get("group"))
        finally:
            os._exit(0)
    os.close(reply_write)
    os.close(trace_write)
    if request_read is not None:
        os.close(request_read)
    return _Child(pid, request_write, reply_read, group, trace_read, state is None)


def _reply_meta(protocol, payload: bytes | None, request_id) -> dict:
    """The JSON part of a fork's reply frame (its arrays left unread) if it answers
    ``request_id``, else {}."""
    if payload is None:
        return {}
    try:
        reply = protocol.unpack_meta(payload)
    except protocol.ProtocolError:
        return {}
    return reply if reply.get("id") == request_id else {}


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
                kill_children()
                return None, ("too_large", size), None
            if len(buffer) >= 4 + size:
                return bytes(buffer[4 : 4 + size]), None, None
        if stop_at is not None and status is None and time.monotonic() >= stop_at and trace_fd is not None:
            return None, None, _stack_of(child, trace_fd)
        if poller.poll(50):
            try:  # (a larger buffer is a fresh mmap per read: three more system calls a probe)
                chunk = os.read(fd, 1 << 16)
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
                kill_children()  # what it left behind may hold the pipe open
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


def _run_probe(protocol, probes, student, student_path, capture, request, arrays, reply_fd, shared: bool) -> None:
    """In the forked child: run one probe and write its reply frame on ``reply_fd``
    (``shared``: this fork has served another group before, see :func:`serve`)."""
    me = os.getpid()
    result = kwargs = None
    try:
        kwargs = protocol.decode_value(request["kwargs"], arrays, native=True)
        probe = getattr(probes, request["name"])
        result = probe(student, **kwargs)
    except BaseException as exc:
        reply = error_reply(exc, sys.exc_info()[2], student_path)
        arrays = {}
    else:
        value, arrays = protocol.encode_value(result)
        reply = {"status": "ok", "value": value}
    if os.getpid() != me:  # a fork of the student's returned into this function
        os._exit(0)
    if reply["status"] == "ok":
        reply["alone"] = _alone()
    reply["id"] = request.get("id")
    reply["shared"] = shared
    reply["output"] = capture.take()
    del result, kwargs
    try:
        payload = protocol.pack_message(reply, arrays)
    except BaseException as exc:  # e.g. MemoryError while packing a large value
        reply = {"status": "error", "id": request.get("id"), "exc_type": type_name(exc),
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


def child_pids() -> list[int]:
    """This process's children, from /proc (read with bare system calls: asked after every
    probe, and a buffered text file costs five more of them)."""
    pids: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            fd = os.open(f"/proc/self/task/{task}/children", os.O_RDONLY | os.O_CLOEXEC)
            try:
                text = chunk = os.read(fd, 1 << 16)
                while len(chunk) == 1 << 16:  # (a short read was all of it)
                    chunk = os.read(fd, 1 << 16)
                    text += chunk
            finally:
                os.close(fd)
            pids.extend(int(pid) for pid in text.split())
    except OSError:  # no /proc (not Linux) or no children files: the probe's child was reaped
        return []
    return pids


def kill_children() -> None:
    """SIGKILL and reap every remaining child (what a probe left running, and the orphans
    re-parented to us as their parents die), until none is left."""
    for _ in range(10_000):
        children = child_pids()
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
