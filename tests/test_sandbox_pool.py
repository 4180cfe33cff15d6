"""The warm sandbox pool: consecutive submissions share a pool process but nothing else.

The pool's plain behaviour (probes, errors, timeouts, crashes, output, fds, the fork bomb
limit) runs through tests/test_sandbox.py's "pool" mode and tests/test_hostile_submissions.py's
"pool" mode; here are the promises that only a pool can break.
"""
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from grader.sandbox import Limits, Sandbox, SandboxError, SandboxPool, isolation_available
from grader.sandbox.isolation import python_dirs
from grader.sandbox.processes import descendants

pytestmark = pytest.mark.skipif(isolation_available() != "bubblewrap", reason="bubblewrap does not work here")
ROOT = os.geteuid() == 0
#: What /tmp holds in any sandbox: nothing, unless the Python runtime lives under /tmp (a venv
#: made there), which bubblewrap then binds read-only at the same path.
PRISTINE_TMP = sorted({Path(p).parts[2] for p in python_dirs() if Path(p).parts[1:2] == ("tmp",) and len(Path(p).parts) > 2})

PROBES = '''
def call(mod, fn, args=()):
    return getattr(mod, fn)(*args)
'''

#: Submission A: leaves files, a lurking process, a fork bomb, IPC objects and a marker.
FIRST = '''
import ctypes, os, time
MARKER = "first-submission-" + "only-in-its-source-5c1e"
planted = []

def plant():
    home = os.path.expanduser("~")
    for folder in ("/tmp", "/scratch", home):
        with open(os.path.join(folder, "left-by-a.txt"), "w") as handle:
            handle.write(MARKER)
    os.makedirs("/tmp/deep/er/still", exist_ok=True)
    with open("/tmp/deep/er/still/x", "w") as handle:
        handle.write(MARKER)
    os.chmod("/tmp/deep/er", 0)  # not even its owner may enter it now
    os.makedirs("/scratch/.hidden", exist_ok=True)
    try:
        with open("/dev/shm/left-by-a", "w") as handle:
            handle.write(MARKER)
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmget(0x5C1E, 4096, 0o1666)  # IPC_CREAT | 0666: a SysV segment anyone may attach
    planted.append(MARKER)
    return 1

def lurk():
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:  # a daemon: re-parented, in its own session
            time.sleep(60)
        os._exit(0)
    os.waitpid(pid, 0)
    return uid()

def bomb():
    made = 0
    for _ in range(200):
        try:
            if os.fork() == 0:
                while True:  # each child keeps forking until the process limit stops it
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.01)
        except OSError:
            break
        made += 1
    return made

def uid():
    return os.getuid()

def slow():
    time.sleep(30)
'''

#: Submission B: looks for anything of A.
SECOND = '''
import os

def uid():
    return os.getuid()

def leftovers():
    found = {}
    for folder in ("/tmp", "/scratch", os.path.expanduser("~"), "/dev/shm"):
        try:
            found[folder] = sorted(os.listdir(folder))
        except OSError as exc:
            found[folder] = type(exc).__name__
    with open("/proc/sysvipc/shm") as handle:
        found["shm"] = handle.read().splitlines()[1:]
    return found

def processes():
    """(pid, uid) of every process this submission can see."""
    seen = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as handle:
                    uids = [line for line in handle if line.startswith("Uid:")]
            except OSError:
                continue
            seen.append((int(entry), int(uids[0].split()[1])))
    return seen

def globals_of_a():
    import sys
    return [name for name in ("MARKER", "planted", "plant", "lurk") if hasattr(sys.modules[__name__], name)]

def search(marker):
    """Where the marker can be read: files anywhere writable, other processes' memory,
    command lines and environments."""
    hits = []
    for top in ("/tmp", "/scratch", "/runtime", "/dev/shm"):
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as handle:
                        if marker.encode() in handle.read(1 << 20):
                            hits.append(path)
                except OSError:
                    pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for part in ("cmdline", "environ", "mem"):
            try:
                with open(f"/proc/{entry}/{part}", "rb") as handle:
                    data = handle.read(1 << 16) if part != "mem" else handle.read(1)
            except OSError:
                continue
            if part == "mem":
                hits.append(f"/proc/{entry}/mem is readable")
            elif marker.encode() in data:
                hits.append(f"/proc/{entry}/{part}")
    return hits
'''

MARKER = "first-submission-" + "only-in-its-source-5c1e"


@pytest.fixture
def probes(tmp_path):
    path = tmp_path / "probes.py"
    path.write_text(PROBES)
    return path


@pytest.fixture
def pool():
    with SandboxPool() as pool:
        yield pool


def make(source, probes, pool, **limits):
    limits.setdefault("probe_timeout", 10.0)  # honest probes: a wide margin on a busy machine
    return Sandbox(source, "student", probes, Limits(isolation="bubblewrap", **limits), pool=pool)


def call(sandbox, fn, *args, timeout=None):
    return sandbox.run_probe("call", {"fn": fn, "args": list(args)}, timeout=timeout)


def value(outcome):
    assert outcome.status == "ok", outcome
    return outcome.value


def pool_python(sandbox) -> int:
    """Host pid of the pool's Python (inside bwrap's PID namespace)."""
    bwrap = sandbox._leases[0].proc.pid
    for pid in sorted(descendants(bwrap)):
        try:
            if b'"pool": true' in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            pass
    raise AssertionError("no pool process found")


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            if any(line.startswith("Uid:") and int(line.split()[1]) == uid for line in status.splitlines()):
                found.append(int(entry))
    return found


def memory_contains(pid: int, needle: bytes) -> bool:
    """Whether any readable mapping of process ``pid`` holds ``needle`` (we are root)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except (OSError, ValueError, OverflowError):
                continue
    return False


def test_the_next_submission_sees_nothing_of_the_previous_one(probes, pool):
    with make(FIRST, probes, pool, processes=64) as first:
        assert value(call(first, "plant")) == 1
        lurker_uid = int(value(call(first, "lurk")))
        pool_pid = pool_python(first)
        if ROOT:  # the pool never held A's source (it went straight to A's worker)
            assert not memory_contains(pool_pid, MARKER.encode())
        lease = first._leases[0]
    if ROOT:  # closing waited until the pool had cleared A away: its processes are gone now
        assert processes_of(lurker_uid) == []
    with make(SECOND, probes, pool) as second:
        found = value(call(second, "leftovers"))
        assert second._leases[0] is lease and pool_python(second) == pool_pid  # the same pool process
        assert found["/tmp"] == PRISTINE_TMP and found["/scratch"] == [] and found["/dev/shm"] == []
        assert found["shm"] == []  # A's SysV segment is removed
        assert value(call(second, "globals_of_a")) == []
        me = int(value(call(second, "uid")))
        visible = [(int(pid), int(uid)) for pid, uid in value(call(second, "processes"))]
        assert {uid for _pid, uid in visible} <= {0, me}, visible  # bwrap's init and the pool: uid 0
        assert value(call(second, "search", MARKER)) == []
        if ROOT:
            assert me != lurker_uid and me != 0


def test_a_fork_bomb_is_gone_before_the_next_submission(probes, pool):
    with make(FIRST, probes, pool, processes=48) as first:
        bomber = int(value(call(first, "uid")))
        made = call(first, "bomb", timeout=3)  # a probe whose leftovers keep forking may time out
        assert made.status in ("ok", "timeout"), made
    if ROOT:
        assert processes_of(bomber) == []
    with make(SECOND, probes, pool) as second:
        me = int(value(call(second, "uid")))
        assert {int(uid) for _pid, uid in value(call(second, "processes"))} <= {0, me}


@pytest.mark.skipif(not ROOT, reason="own uids per submission need root")
def test_each_submission_runs_under_its_own_uid(probes, pool):
    uids = []
    for _ in range(3):
        with make(SECOND, probes, pool) as sandbox:
            uids.append(int(value(call(sandbox, "uid"))))
    assert len(set(uids)) == 3 and 0 not in uids


def test_a_killed_pool_costs_only_the_running_submission(probes, pool):
    with make(FIRST, probes, pool) as first:
        assert value(call(first, "uid"))
        victim = pool_python(first)
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        try:
            slow = call(first, "slow", timeout=10)
        finally:
            killer.join()
        assert slow.status == "crashed" and "pool" in slow.message, slow
        assert value(call(first, "uid"))  # its next probe gets a fresh pool process
        assert pool_python(first) != victim
    with make(SECOND, probes, pool) as second:
        assert value(call(second, "leftovers"))["/tmp"] == PRISTINE_TMP


def test_a_student_cannot_kill_the_pool(probes, pool):
    """As root the pool runs as another uid than the student (as non-root it may be killed:
    the test above shows that costs only the running submission)."""
    source = SECOND + '''
def kill_everyone():
    results = {}
    for pid, owner in processes():
        if owner != os.getuid():  # bwrap's init and the pool
            entry = str(pid)
            try:
                os.kill(int(entry), 9)
                results[entry] = "killed"
            except OSError as exc:
                results[entry] = type(exc).__name__
    return results
'''
    with make(source, probes, pool) as first:
        outcome = call(first, "kill_everyone")
        pool_pid = pool_python(first)
        if ROOT:
            assert outcome.status == "ok" and "killed" not in outcome.value.values(), outcome
            assert pool_python(first) == pool_pid
    with make(SECOND, probes, pool) as second:
        assert value(call(second, "leftovers"))["/tmp"] == PRISTINE_TMP


def test_timeouts_and_import_errors_behave_as_without_a_pool(probes, pool):
    with make(FIRST, probes, pool) as sandbox:
        started = time.monotonic()
        spun = call(sandbox, "slow", timeout=0.5)
        assert spun.status == "timeout" and time.monotonic() - started < 10  # ended, not waited out
        assert value(call(sandbox, "uid"))
    with make("import no_such_module_anywhere\n", probes, pool) as sandbox:
        error = sandbox.import_error
        assert error.status == "error" and error.exc_type == "ModuleNotFoundError"
        assert 'File "student.py", line 1' in error.traceback
        assert call(sandbox, "uid").exc_type == "ModuleNotFoundError"  # sticky
    with make("while True:\n    pass\n", probes, pool, probe_timeout=0.5) as sandbox:
        assert sandbox.import_error.status == "timeout"
        assert call(sandbox, "uid").status == "timeout"
    with make("import os\nos._exit(9)\n", probes, pool) as sandbox:
        assert sandbox.import_error.status == "crashed" and "status 9" in sandbox.import_error.message
    with make(SECOND, probes, pool) as sandbox:  # and the pool still serves the next one
        assert value(call(sandbox, "leftovers"))["/tmp"] == PRISTINE_TMP


def test_sandboxes_alive_together_get_their_own_pool_processes_and_close_ends_them(probes):
    pool = SandboxPool()
    one, two = make(SECOND, probes, pool), make(SECOND, probes, pool)
    try:
        assert value(call(one, "uid")) and value(call(two, "uid"))
        assert pool_python(one) != pool_python(two)
        bwraps = [one._leases[0].proc, two._leases[0].proc]
    finally:
        one.close()
        two.close()
    pool.close()
    assert [proc.poll() is not None for proc in bwraps] == [True, True]
    with pytest.raises(Exception, match="closed"):
        call(make(SECOND, probes, pool), "uid")


def test_the_rlimits_fallback_ignores_the_pool(probes, pool):
    with Sandbox(SECOND, "student", probes, Limits(isolation="rlimits"), pool=pool) as sandbox:
        assert value(call(sandbox, "uid")) is not None
        assert sandbox._leases == [] and sandbox._workers[0].proc is not None


def test_a_fork_of_the_grader_neither_uses_nor_ends_the_parents_pool(probes, pool):
    with make(SECOND, probes, pool) as sandbox:
        assert value(call(sandbox, "uid"))
        bwrap = sandbox._leases[0].proc
    child = os.fork()
    if child == 0:  # e.g. a multiprocessing worker forked while the pool exists
        code = 0
        try:
            make(SECOND, probes, pool).import_error
            code = 1  # it should have refused
        except Exception as exc:
            code = 0 if "fork" in str(exc) else 2
        finally:
            pool._finalizer()  # what the child's exit would run
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0
    assert bwrap.poll() is None  # the parent's pool process lives on and still serves
    with make(SECOND, probes, pool) as sandbox:
        assert value(call(sandbox, "uid")) and sandbox._leases[0].proc is bwrap


def test_a_broken_probes_module_is_a_sandbox_error_at_the_first_probe(tmp_path, pool):
    broken = tmp_path / "probes.py"
    broken.write_text("def call(mod):\n    pass\nraise RuntimeError('probe bug')\n")
    with Sandbox("x = 1\n", "student", broken, Limits(isolation="bubblewrap"), pool=pool) as sandbox:
        with pytest.raises(SandboxError, match="probe bug"):
            sandbox.run_probe("call", {})


def test_at_most_max_idle_pool_processes_wait(probes):
    with SandboxPool(max_idle=2) as pool:
        bwraps = []
        for timeout in (10.0, 11.0, 12.0):  # three Limits: three pool processes (wide: a busy machine)
            with make(SECOND, probes, pool, probe_timeout=timeout) as sandbox:
                assert value(call(sandbox, "uid"))
                bwraps.append(sandbox._leases[0].proc)
        assert [proc.poll() is None for proc in bwraps] == [False, True, True]  # the oldest was closed
        with make(SECOND, probes, pool, probe_timeout=12.0) as sandbox:
            assert value(call(sandbox, "uid")) and sandbox._leases[0].proc is bwraps[2]
