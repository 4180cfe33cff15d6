"""The sandbox against normal, broken and hostile student code, in both isolation modes."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import (RLIMITS_WARNING, Limits, Sandbox, SandboxError, isolation_available, landlock_warning,
                            thread_pool)

HAS_BWRAP = isolation_available() == "bubblewrap"
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap does not work here")
MODES = ["rlimits", pytest.param("bubblewrap", marks=needs_bwrap), pytest.param("pool", marks=needs_bwrap)]
#: "pool": bubblewrap with the worker forked by this thread's warm pool (grader.sandbox.pool).
BWRAP_MODES = [pytest.param("bubblewrap", marks=needs_bwrap), pytest.param("pool", marks=needs_bwrap)]
REPO = Path(__file__).resolve().parents[1]

PROBES = '''
import numpy as np

def call(mod, fn, args=(), kwargs=None):
    """Call one function of the module under test."""
    return getattr(mod, fn)(*args, **(kwargs or {}))

def _private(mod):
    return 1
'''

STUDENT = '''
import json, os, sys, time
import numpy as np

def double(x):
    return np.asarray(x) * 2

def shout(text):
    print("hello", text)
    return text.upper()

def not_done(x):
    raise NotImplementedError("fill me in")

def nested_error(x):
    return _helper(x)

def _helper(x):
    raise ValueError(f"bad value {x}")

def spin():
    while True:
        pass

def eat_memory():
    hoard = []
    while True:
        hoard.append(np.ones(10**7))

def recurse(n):
    return recurse(n + 1) + 1

def hard_exit():
    os._exit(3)

def soft_exit():
    sys.exit(0)

def interrupt():
    raise KeyboardInterrupt

def kill_parent():
    os.kill(os.getppid(), 9)
    return "still here"

def spam(megabytes):
    line = "x" * 1_000_000
    for _ in range(megabytes):
        print(line)
        os.write(1, b"y" * 1_000_000)
        os.write(2, b"z" * 1_000_000)
    return "done"

def write_big_file(megabytes):
    outcome = "ok"
    try:
        with open("big.bin", "wb") as handle:
            for _ in range(megabytes):
                handle.write(b"x" * 1_000_000)
    except OSError as exc:
        outcome = type(exc).__name__
    return outcome, os.path.getsize("big.bin")

def reply_fd():
    return json.loads(sys.argv[1])["rep_fd"]

def channel_reachable():
    """Whether the grader's reply channel is open in this (probe) process."""
    try:
        os.fstat(reply_fd())
    except OSError:
        return False
    return True

def scribble_on_fds():
    for fd in os.listdir("/proc/self/fd"):
        try:
            os.write(int(fd), b"garbage!" * 100)
        except OSError:
            pass
    return 1

def fake_frames():
    for fd in os.listdir("/proc/self/fd"):
        try:
            os.write(int(fd), (8).to_bytes(4, "big") + b"notanpz!")
        except OSError:
            pass
    return 1

def close_fds():
    for fd in os.listdir("/proc/self/fd"):
        if int(fd) > 2:
            try:
                os.close(int(fd))
            except OSError:
                pass
    return 1

def read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as exc:
        return type(exc).__name__

def overwrite(path):
    try:
        with open(path, "w") as handle:
            handle.write("pwned")
    except OSError as exc:
        return type(exc).__name__
    return "written"

def environment():
    return dict(os.environ)

def open_fds():
    """Open fds but the O_PATH handles on the import path's folders that the worker opens as
    root in the rlimits fallback (they give no read or write access by themselves); those
    must be folders."""
    import fcntl, stat
    found = []
    for fd in range(1024):  # by fstat: Landlock may hide /proc/self
        try:
            info = os.fstat(fd)
        except OSError:
            continue
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_PATH and stat.S_ISDIR(info.st_mode):
            continue
        found.append(fd)
    return found

def grader_pid():
    with open(f"/proc/{os.getppid()}/stat") as handle:  # the zygote's parent
        return int(handle.read().rsplit(")", 1)[1].split()[1])

def signal_grader():
    try:
        os.kill(grader_pid(), 0)
    except OSError as exc:
        return type(exc).__name__
    return "allowed"

def whoami():
    return os.getuid(), os.getcwd()

def capabilities():
    with open("/proc/self/status") as handle:
        return {line.split(":")[0]: int(line.split()[1], 16)
                for line in handle if line.startswith("Cap")}

def exit_later(seconds):
    import threading
    threading.Thread(target=lambda: (time.sleep(seconds), os._exit(5)), daemon=True).start()
    return "bye"

def write_later(seconds):
    import threading
    fd = reply_fd()
    threading.Thread(target=lambda: (time.sleep(seconds), os.write(fd, b"junk")), daemon=True).start()
    return "bye"

def connect(host, port):
    import socket
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError as exc:
        return type(exc).__name__
    return "connected"

def fork_bomb(attempts):
    made = 0
    for _ in range(attempts):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        made += 1
    return made
'''


@pytest.fixture
def probes(tmp_path):
    path = tmp_path / "probes.py"
    path.write_text(PROBES)
    return path


def make(probes, mode, source=STUDENT, **limits):
    limits.setdefault("probe_timeout", 10.0)  # honest probes: a wide margin on a busy machine
    if mode == "pool":
        return Sandbox(source, "student", probes, Limits(isolation="bubblewrap", **limits), pool=thread_pool())
    return Sandbox(source, "student", probes, Limits(isolation=mode, **limits))


def call(sandbox, fn, *args, timeout=None):
    return sandbox.run_probe("call", {"fn": fn, "args": list(args)}, timeout=timeout)


@pytest.mark.parametrize("mode", MODES)
def test_normal_probes_errors_and_output(probes, mode):
    with make(probes, mode) as sandbox:
        assert sandbox.isolation == ("bubblewrap" if mode == "pool" else mode)
        assert sandbox.warning == (RLIMITS_WARNING if mode == "rlimits" else None)
        assert sandbox.import_error is None
        ok = call(sandbox, "double", [1.0, 2.5])
        assert ok.status == "ok" and ok.value.pytype == "ndarray"
        np.testing.assert_array_equal(ok.value, [2.0, 5.0])

        shout = call(sandbox, "shout", "hi")
        assert shout.status == "ok" and shout.value == "HI" and shout.output == "hello hi\n"

        todo = call(sandbox, "not_done", 1)
        assert todo.status == "error" and todo.exc_type == "NotImplementedError"
        assert todo.message == "fill me in"

        bad = call(sandbox, "nested_error", 7)
        assert bad.status == "error" and bad.exc_type == "ValueError"
        assert bad.message == "bad value 7"
        assert 'File "student.py"' in bad.traceback and "in _helper" in bad.traceback
        assert "worker" not in bad.traceback and "probes" not in bad.traceback

        big = call(sandbox, "double", np.ones(2_000_000))  # 16 MB each way
        assert big.status == "ok" and big.value.shape == (2_000_000,) and big.value[0] == 2

        missing = call(sandbox, "no_such_function")
        assert missing.status == "error" and missing.exc_type == "AttributeError"

        with pytest.raises(ValueError):
            sandbox.run_probe("_private", {})
        with pytest.raises(TypeError):
            sandbox.run_probe("call", {"fn": object()})


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_times_out_and_the_next_probe_gets_a_fresh_worker(probes, mode):
    with make(probes, mode) as sandbox:
        started = time.monotonic()
        spun = call(sandbox, "spin", timeout=0.5)
        assert spun.status == "timeout" and "0.5 s" in spun.message
        assert time.monotonic() - started < 10  # ended at its limit, not waited out (wide: a busy machine)
        assert call(sandbox, "double", 2).status == "ok"


@pytest.mark.parametrize("mode", MODES)
def test_exits_crashes_and_interrupts(probes, mode):
    with make(probes, mode, memory_bytes=512 << 20) as sandbox:
        hard = call(sandbox, "hard_exit")
        assert hard.status == "crashed" and "status 3" in hard.message
        soft = call(sandbox, "soft_exit")
        assert soft.status == "error" and soft.exc_type == "SystemExit"
        interrupted = call(sandbox, "interrupt")
        assert interrupted.status == "error" and interrupted.exc_type == "KeyboardInterrupt"
        memory = call(sandbox, "eat_memory", timeout=20)  # page faults are slow on a busy machine
        assert memory.status in ("error", "crashed")
        assert memory.status == "crashed" or memory.exc_type == "MemoryError"
        deep = call(sandbox, "recurse", 0)
        assert deep.status in ("error", "crashed")
        assert deep.status == "crashed" or deep.exc_type == "RecursionError"
        assert call(sandbox, "double", 1).value == 2


@pytest.mark.parametrize("mode", MODES)
def test_probes_cannot_reach_the_channel_and_scribbling_costs_only_their_own_probe(probes, mode):
    with make(probes, mode) as sandbox:
        assert call(sandbox, "channel_reachable").value == False  # noqa: E712 (a 0-d array)
        for fn in ("scribble_on_fds", "fake_frames", "close_fds"):
            outcome = call(sandbox, fn)  # only the probe's private reply pipe can be hit
            assert outcome.status in ("crashed", "ok", "error"), (fn, outcome)  # error: no /proc
            assert call(sandbox, "double", 3).value == 6


@pytest.mark.parametrize("fn", ["exit_later", "write_later"])
def test_threads_a_probe_leaves_running_die_with_its_process(probes, fn):
    with make(probes, "rlimits") as sandbox:
        assert call(sandbox, fn, 0.05).value == "bye"
        time.sleep(0.3)
        assert call(sandbox, "double", 5).value == 10


GROUPED = STUDENT + '''
_calls = [0]

def count():
    _calls[0] += 1
    return _calls[0]

def count_and_fail():
    count()
    raise ValueError("no")

def count_and_leave_a_thread():
    import threading
    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
    return count()

def count_and_leave_a_process():
    if os.fork() == 0:
        time.sleep(5)
        os._exit(0)
    return count()
'''


@pytest.mark.parametrize("mode", MODES)
def test_probes_of_one_group_may_share_a_process_that_no_other_probe_sees(probes, mode):
    with make(probes, mode, source=GROUPED) as sandbox:
        def grouped(fn, group):
            outcome = sandbox.run_probe("call", {"fn": fn}, group=group)
            return outcome.value if outcome.status == "ok" else outcome.status

        assert [grouped("count", "f") for _ in range(3)] == [1, 2, 3]  # one process, its state kept
        assert grouped("count", "g") == 1  # another group: a fresh process
        assert grouped("count", "f") == 1  # and back: fresh again
        assert [call(sandbox, "count").value for _ in range(2)] == [1, 1]  # no group: always fresh
        # after an error, a thread or a process left running, the next probe starts afresh
        assert grouped("count", "h") == 1
        assert grouped("count_and_fail", "h") == "error"
        assert [grouped("count", "h") for _ in range(2)] == [1, 2]
        assert grouped("count_and_leave_a_thread", "h") == 3
        assert [grouped("count", "h") for _ in range(2)] == [1, 2]
        assert grouped("count_and_leave_a_process", "h") == 3
        assert [grouped("count", "h") for _ in range(2)] == [1, 2]
        with pytest.raises(TypeError):
            sandbox.run_probe("call", {"fn": "count"}, group=3)


IMPORT_TIME_SABOTAGE = STUDENT + '''
import threading
if not os.path.exists("sabotaged"):  # the scratch folder outlives the worker (rlimits mode)
    open("sabotaged", "w").close()
    threading.Thread(target=lambda: (time.sleep(0.1), os._exit(5)), daemon=True).start()
'''


def test_a_worker_broken_between_probes_is_replaced_before_the_next(probes):
    with make(probes, "rlimits", source=IMPORT_TIME_SABOTAGE) as sandbox:
        first = sandbox._workers[0]
        assert call(sandbox, "double", 1).value == 2
        first.proc.wait(timeout=30)  # the import-time thread ends the worker 0.1 s after its import
        assert call(sandbox, "double", 5).value == 10
        assert sandbox._workers[0] is not first


@pytest.mark.parametrize("mode", MODES)
def test_huge_output_neither_hangs_nor_fills_the_disk(probes, mode):
    with make(probes, mode, output_bytes=4096, file_bytes=4 << 20) as sandbox:
        started = time.monotonic()
        spam = call(sandbox, "spam", 200)  # 200 MB print() + 200 MB each on fds 1 and 2
        assert spam.status == "ok" and spam.value == "done"
        assert time.monotonic() - started < 60  # finished (wide: a busy machine)
        assert len(spam.output) < 4096 + 200 and "not kept" in spam.output
        written = call(sandbox, "write_big_file", 100)
        assert written.status == "ok"
        reason, size = written.value
        assert reason == "OSError" and 0 < int(size) <= 4 << 20  # EFBIG, not a killed worker


@pytest.mark.parametrize("mode", MODES)
def test_environment_and_file_descriptors_are_clean(probes, mode, monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_SECRET", "hunter2")
    leaky = os.open(tmp_path / "gradebook.csv", os.O_RDWR | os.O_CREAT)  # an fd the grader holds
    os.set_inheritable(leaky, True)  # even one marked inheritable is closed for the worker
    with make(probes, mode) as sandbox:
        env = call(sandbox, "environment").value
        assert "GRADER_SECRET" not in env
        assert not any("hunter2" in str(value) for value in env.values())
        fds = [int(fd) for fd in call(sandbox, "open_fds").value]
        # 0, 1, 2, the probe's private reply pipe and its trace pipe (where faulthandler writes
        # the stack of a probe stopped at its time limit)
        assert len(fds) <= 5, fds
        assert call(sandbox, "overwrite", f"/proc/self/fd/{leaky}").value in (
            "FileNotFoundError", "PermissionError")
    os.close(leaky)
    assert (tmp_path / "gradebook.csv").read_text() == ""


@pytest.mark.parametrize("mode", MODES[:2])  # (a shared pool keeps the environment it started with)
def test_the_blas_kernel_choice_reaches_the_worker_and_nothing_else(probes, mode, monkeypatch):
    # The reference (here) and the student (in there) must round alike: same OpenBLAS kernel.
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "$(touch /tmp/x)")  # not a plain value: left out
    monkeypatch.setenv("OPENBLAS_VERBOSE", "2")  # not a kernel choice: left out
    with make(probes, mode) as sandbox:
        env = call(sandbox, "environment").value
    assert env.get("OPENBLAS_CORETYPE") == "Haswell"
    assert "OPENBLAS_L2_SIZE" not in env and "OPENBLAS_VERBOSE" not in env


def test_import_errors_are_sticky_outcomes(probes):
    source = "import numpy\nimport no_such_module_anywhere\n"
    with make(probes, "rlimits", source=source) as sandbox:
        error = sandbox.import_error
        assert error.status == "error" and error.exc_type == "ModuleNotFoundError"
        assert "no_such_module_anywhere" in error.message
        assert 'File "student.py", line 2' in error.traceback
        assert "importlib" not in error.traceback and "worker" not in error.traceback
        assert call(sandbox, "double", 1).exc_type == "ModuleNotFoundError"

    with make(probes, "rlimits", source="while True:\n    pass\n", probe_timeout=0.5) as sandbox:
        assert sandbox.import_error.status == "timeout"
        assert call(sandbox, "double", 1).status == "timeout"

    with make(probes, "rlimits", source="import os\nos._exit(9)\n") as sandbox:
        assert sandbox.import_error.status == "crashed"


def test_syntax_error_names_the_line_but_no_paths(probes):
    with make(probes, "rlimits", source="x = 1\ny = (\n") as sandbox:
        error = sandbox.import_error
        assert error.exc_type == "SyntaxError" and "line 2" in error.message
        assert "/" not in error.message


@pytest.mark.parametrize("mode", MODES)
def test_worker_dies_with_the_grader(probes, mode, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from grader.sandbox import Sandbox, Limits\n"
        "from grader.sandbox import SandboxPool\n"
        f"pool = SandboxPool() if {mode == 'pool'!r} else None\n"
        f"sandbox = Sandbox({STUDENT!r}, 'student', Path({str(probes)!r}), "
        f"Limits(isolation={'bubblewrap' if mode == 'pool' else mode!r}), pool=pool)\n"
        "assert sandbox.import_error is None\n"
        "print(sandbox._workers[0].proc.pid, sandbox._root, flush=True)\n"
        "sandbox.run_probe('call', {'fn': 'spin'}, timeout=60)\n"
    )
    root = None
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pid_text, root = parent.stdout.readline().split()
        worker_pid = int(pid_text)
        time.sleep(0.2)  # the worker is now spinning inside a probe
        assert _alive(worker_pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15  # wide: a busy machine
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker_pid)
    finally:
        parent.kill()
        parent.wait()
        if root:
            shutil.rmtree(root, ignore_errors=True)  # a killed grader cannot clean up after itself


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_broken_probes_module_is_a_sandbox_error(tmp_path):
    probes = tmp_path / "probes.py"
    probes.write_text("def call(mod):\n    pass\nraise RuntimeError('probe bug')\n")
    with Sandbox("x = 1\n", "student", probes, Limits(isolation="rlimits")) as sandbox:
        with pytest.raises(SandboxError, match="probe bug"):
            sandbox.run_probe("call", {})


def test_environment_variable_forces_rlimits(probes, monkeypatch):
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    with Sandbox(STUDENT, "student", probes) as sandbox:
        assert sandbox.isolation == "rlimits" and sandbox.warning == RLIMITS_WARNING


def test_close_removes_the_scratch_directory(probes):
    sandbox = make(probes, "rlimits")
    root = sandbox._root
    assert call(sandbox, "write_big_file", 1).status == "ok"
    sandbox.close()
    assert not root.exists()
    with pytest.raises(RuntimeError):
        call(sandbox, "double", 1)


# --------------------------------------------------------------------------- bubblewrap only


@pytest.mark.parametrize("mode", BWRAP_MODES)
def test_student_cannot_see_files_outside_its_sandbox(probes, tmp_path, mode):
    secret = tmp_path / "secret.txt"
    secret.write_text("the answer")
    with make(probes, mode) as sandbox:
        for path in (secret, REPO / "pyproject.toml", REPO / "solutions", Path.home() / ".ssh"):
            assert call(sandbox, "read_file", str(path)).value in (
                "FileNotFoundError",
                "PermissionError",
            ), path
        assert call(sandbox, "read_file", "/etc/passwd").value == "FileNotFoundError"
        uid, cwd = call(sandbox, "whoami").value
        assert cwd == "/scratch"
        if os.geteuid() == 0:
            assert int(uid) != 0  # dropped to an unprivileged uid
        caps = call(sandbox, "capabilities").value
        assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == 0
        assert call(sandbox, "connect", "1.1.1.1", 53).value == "OSError"
        assert call(sandbox, "connect", "127.0.0.1", 22).value == "ConnectionRefusedError"
        for path in ("/runtime/probes.py", "/runtime/student/student.py", "/usr/lib/os-release"):
            assert call(sandbox, "write_big_file", 1).status == "ok"  # scratch is writable
            # (with a pool the source is not a file there at all: FileNotFoundError)
            assert call(sandbox, "overwrite", path).value in ("OSError", "PermissionError", "FileNotFoundError"), path
        # The probe's parent is the sandbox's own zygote: killing it ends only this probe.
        killed = call(sandbox, "kill_parent")
        assert killed.status == "crashed" and "SIGKILL" in killed.message
        assert call(sandbox, "double", 4).value == 8


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("mode", BWRAP_MODES)
def test_fork_bomb_is_stopped_by_the_process_limit(probes, mode):
    with make(probes, mode, processes=16) as sandbox:
        uid = int(call(sandbox, "whoami").value[0])
        made = call(sandbox, "fork_bomb", 500)
        assert made.status == "ok" and 0 < int(made.value) < 16
        if os.geteuid() == 0:  # the zygote killed the sleeping children when the probe ended
            assert len(_processes_of(uid)) == 1
        assert call(sandbox, "fork_bomb", 500).value == made.value  # the limit is not used up
        assert call(sandbox, "spin", timeout=0.3).status == "timeout"  # kills the namespace
    if os.geteuid() == 0:
        deadline = time.monotonic() + 15  # wide: a busy machine
        while _processes_of(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_of(uid) == []


# --------------------------------------------------------------------------- rlimits + Landlock


def test_the_fallback_confines_itself_with_landlock_where_the_kernel_has_it(probes, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the answer")
    with make(probes, "rlimits") as sandbox:
        assert sandbox.import_error is None
        if not sandbox.landlock:
            assert sandbox.warning == RLIMITS_WARNING
            pytest.skip("no Landlock in this kernel: the bare fallback (see the README)")
        assert sandbox.warning == landlock_warning(sandbox.landlock)
        assert call(sandbox, "read_file", str(secret)).value == "PermissionError"
        assert call(sandbox, "read_file", str(REPO / "solutions" / "optimizers" / "optimizers.py")).value == \
            "PermissionError"
        assert call(sandbox, "overwrite", str(secret)).value == "PermissionError"
        assert call(sandbox, "overwrite", str(tmp_path / "new.txt")).value == "PermissionError"
        assert call(sandbox, "write_big_file", 1).status == "ok"  # its scratch folder
        assert call(sandbox, "read_file", f"/proc/{os.getpid()}/environ").value == "PermissionError"
        if sandbox.landlock >= 4:
            assert call(sandbox, "connect", "127.0.0.1", 22).value == "PermissionError"
        if sandbox.landlock >= 6:
            assert int(call(sandbox, "grader_pid").value) == os.getpid()
            assert call(sandbox, "signal_grader").value == "PermissionError"
        assert call(sandbox, "double", 4).value == 8
    assert secret.read_text() == "the answer" and not (tmp_path / "new.txt").exists()


def test_why_bubblewrap_does_not_work_reaches_the_instructor(tmp_path, monkeypatch, caplog):
    """A container that may not create namespaces: bwrap's own reason is kept and logged
    (the instructor's log), not discarded."""
    from grader import sandbox as sandbox_module

    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    sandbox_module.bubblewrap_failure.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="grader.sandbox"):
            reason = sandbox_module.bubblewrap_failure()
            assert sandbox_module.isolation_available() == "rlimits"
        assert "failed with status 1: bwrap: No permissions to create a new namespace" in reason
        assert [r.getMessage() for r in caplog.records].count(
            "grader: bubblewrap does not work here, student code runs in the rlimits fallback: " + reason) == 1
        with pytest.raises(SandboxError, match="No permissions to create a new namespace"):
            Sandbox("x = 1\n", "student", REPO / "assignments" / "optimizers" / "probes.py",
                    Limits(isolation="bubblewrap"))
    finally:
        sandbox_module.bubblewrap_failure.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch happens only as root")
def test_a_worker_that_cannot_shed_root_refuses_in_one_line(probes, monkeypatch):
    """A container that maps only uid 0 (setresuid fails): student code must not run at all,
    and the grader says why in one line."""
    from grader.sandbox.inside import confine as worker

    def refuse(*ids):
        raise PermissionError(1, "Operation not permitted")

    for name in ("setgroups", "setresgid"):  # as the real calls would, before the one that fails
        monkeypatch.setattr(worker.os, name, lambda *args: None)
    monkeypatch.setattr(worker.os, "setresuid", refuse)
    with pytest.raises(RuntimeError, match="refusing to run student code as root: cannot switch"):
        worker.drop_privileges(1 << 30)
    monkeypatch.undo()

    original = Sandbox._worker_config

    def unmappable(self, runtime):
        config = original(self, runtime)
        config["uid"] = (1 << 32) - 1  # (uid_t)-1 means "leave unchanged": the worker stays root
        return config

    monkeypatch.setattr(Sandbox, "_worker_config", unmappable)
    with pytest.raises(SandboxError) as refused:
        with make(probes, "rlimits") as sandbox:
            call(sandbox, "double", 1)
    message = str(refused.value)
    assert message == "refusing to run student code as root: the switch to an unprivileged uid did not hold"
    assert "\n" not in message
