"""Hostile submissions, end to end: grade_submission through the real sandbox.

Each attack sits in ONE function of an otherwise correct optimizers submission (the
reference with that function's definition replaced by the attack, and the solution markers
removed so that only the real reference carries them), or at module level ("import time").
Every test asserts the promise of the contract:

* only the attacked function loses points; every other part keeps full marks;
* the grade finishes within a stated bound (``BOUND`` below, with the suite's short probe
  timeout; the README's security table reports the measured times);
* nothing outside the sandbox is harmed: the course (a private copy, so that an attack that
  works cannot damage the real one), a canary folder, the grader process, and no process
  of the sandbox survives the grade.

Attacks that read files or forge results are written so that success shows in the grade:
the attacking function returns the right answer only if it found the reference, a hidden
check, a mutant or the secret; it must end up losing its points.

The resource attacks also run with ``GRADER_SANDBOX=rlimits`` (the fallback without
bubblewrap).  Attacks that only a filesystem/PID namespace can stop (reading files,
signalling the grader, writing outside) are expected to work there: those tests assert the
warning that says so, and the README documents it.

File-level attacks on the submission itself (zip-slip, bombs, symlinks, ...) are in
test_load_hostile.py; the sandbox's own unit tests are in test_sandbox.py.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, run_grader
from grader.course import Course
from grader.grade import grade_submission
from grader.sandbox import POOL_ENV, RLIMITS_WARNING, Limits, Sandbox, isolation_available, landlock_warning

HAS_BWRAP = isolation_available() == "bubblewrap"
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap does not work here")

#: The suite's limits: a probe of the reference takes < 20 ms, so 1 s is a wide margin and
#: keeps the suite fast; memory and CPU are lowered so that the bombs go off quickly.
PROBE_TIMEOUT = 1.0
LIMITS = Limits(probe_timeout=PROBE_TIMEOUT, memory_bytes=512 << 20, cpu_seconds=20,
                output_bytes=64 << 10)
#: Bound on one grade with LIMITS when one function misbehaves: an untouched grade takes
#: ~0.5 s; each check of the attacked function may cost one probe timeout plus a fresh
#: worker (~0.3 s), ~5 s in all; the rest is slack for a 2-core machine busy with other work
#: (the bound says the grade ends, the README's table how fast).
BOUND = 60.0

#: A leaf function: no other function of the assignment calls it, so its checks are its own.
TARGET = "exponential_decay"
MARK = "# BEGIN " + "SOLUTION"  # split: this test file must not look like a reference itself


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """A private copy of the course (optimizers only): attacks aim at it, never at the repo,
    and one that works (rlimits mode) cannot spoil the next test."""
    root = tmp_path / "course"
    for part in ("assignments/optimizers", "solutions/optimizers"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def assignment(course_copy):
    return Course(course_copy).get("optimizers")


@pytest.fixture(scope="module")
def reference_source() -> str:
    return (ROOT / "solutions" / "optimizers" / "optimizers.py").read_text(encoding="utf-8")


@pytest.fixture
def canary(tmp_path) -> Path:
    """A folder outside the sandbox with files an attack would love to change."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.txt").write_text("do not touch\n")
    (folder / "results.json").write_text('{"score": 1.0}\n')
    (folder / "gradebook.csv").write_text("student,score\nalice,1.0\n")
    return folder


@pytest.fixture
def sandbox_processes(monkeypatch):
    """Records every worker the grade starts: its scratch root and (as root) its uid."""
    seen: list[tuple[str, int | None]] = []
    original = Sandbox._worker_config

    def spy(self, runtime):
        config = original(self, runtime)
        seen.append((str(self._root), config.get("uid")))
        return config

    monkeypatch.setattr(Sandbox, "_worker_config", spy)
    return seen


@pytest.fixture(params=["bubblewrap", "pool", "rlimits"])
def mode(request, monkeypatch):
    """The isolation, chosen the way a user does: GRADER_SANDBOX (or nothing: auto).  The
    rlimits fallback adds Landlock rules where the kernel has Landlock.  "pool" is bubblewrap
    with workers forked by the thread's warm pool (GRADER_SANDBOX_POOL=1); tests see it as
    "bubblewrap"."""
    return _choose(request.param, monkeypatch)


@pytest.fixture(params=["bubblewrap", "pool", "rlimits", "bare rlimits"])
def confinement(request, monkeypatch):
    """As `mode`, plus the fallback without Landlock (an older kernel, or macOS): what only
    namespaces or Landlock stop is then expected to work, and the warning must say so."""
    return _choose(request.param, monkeypatch)


def _choose(param: str, monkeypatch) -> str:
    monkeypatch.delenv(POOL_ENV, raising=False)
    if param in ("bubblewrap", "pool"):
        if not HAS_BWRAP:
            pytest.skip("bubblewrap does not work here")
        monkeypatch.delenv("GRADER_SANDBOX", raising=False)
        if param == "pool":
            monkeypatch.setenv(POOL_ENV, "1")
        return "bubblewrap"
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    if param == "bare rlimits":
        original = Sandbox._worker_config

        def without_landlock(self, runtime):
            config = original(self, runtime)
            config.pop("landlock", None)
            return config

        monkeypatch.setattr(Sandbox, "_worker_config", without_landlock)
    elif not landlock_abi():
        param = "bare rlimits"  # the fallback on this machine has no Landlock
    return param


@functools.cache
def landlock_abi() -> int:
    """The Landlock ABI the rlimits fallback gets on this machine (0: none)."""
    if not sys.platform.startswith("linux"):
        return 0
    probes = ROOT / "assignments" / "optimizers" / "probes.py"
    with Sandbox("x = 1\n", "optimizers", probes, Limits(isolation="rlimits")) as sandbox:
        sandbox.import_error  # starts the worker, which reports what it applied
        return sandbox.landlock


def fallback_warning(confinement: str) -> str:
    return landlock_warning(landlock_abi()) if confinement == "rlimits" else RLIMITS_WARNING


# --------------------------------------------------------------------------- helpers


def tree_digest(folder: Path) -> dict[str, str]:
    """Path -> sha256 of every file under `folder` (bytecode caches excepted)."""
    digest = {}
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        digest[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def submission_source(reference: str, attack: str = "", at_import: str = "", target: str = TARGET) -> str:
    """The reference without its solution markers and without `target`, then the import-time
    code, then the attack (which usually defines `target`)."""
    lines = reference.splitlines()
    for node in ast.parse(reference).body:
        if isinstance(node, ast.FunctionDef) and node.name == target:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines[first - 1 : node.end_lineno] = [""] * (node.end_lineno - first + 1)
    kept = [line for line in lines if "# BEGIN SOLUTION" not in line and "# END SOLUTION" not in line]
    if not attack:  # the target must exist; a wrong answer by default
        attack = f"def {target}(*args, **kwargs):\n    return float('nan')\n"
    return "\n".join(kept) + "\n\n" + textwrap.dedent(at_import) + "\n\n" + textwrap.dedent(attack) + "\n"


def _stray_processes(seen: list[tuple[str, int | None]]) -> list[str]:
    roots = [root for root, _ in seen]
    uids = {uid for _, uid in seen if uid is not None}
    stray = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        uid = int(fields.get("Uid", "-1").split()[0])
        if uid in uids or any(root in cmdline for root in roots):
            stray.append(f"{entry} uid={uid} {cmdline[:120]!r}")
    return stray


def assert_no_stray_processes(seen) -> None:
    assert seen, "the grade started no sandbox worker"
    deadline = time.monotonic() + 15  # a busy machine may take a moment to reap them
    while (stray := _stray_processes(seen)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stray == [], f"processes of the sandbox outlived the grade: {stray}"


@dataclass
class Graded:
    result: object
    seconds: float
    source: str
    parts: dict = field(default_factory=dict)

    def statuses(self, function: str) -> list[str]:
        return [t.status for t in self.result.tests_for(function)]

    def outputs(self, function: str | None = None) -> str:
        tests = self.result.tests if function is None else self.result.tests_for(function)
        return "\n".join(t.output for t in tests)


def grade(assignment, tmp_path, source: str, limits: Limits = LIMITS, diagnose: bool = False) -> Graded:
    path = tmp_path / "submission" / "optimizers.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source, encoding="utf-8")
    started = time.monotonic()
    result = grade_submission(assignment, path, student="mallory", limits=limits, diagnose=diagnose)
    graded = Graded(result, time.monotonic() - started, source)
    graded.parts = {p.function: (p.score, p.max_score) for p in result.parts}
    return graded


def assert_only_target_lost(graded: Graded, target: str = TARGET, statuses=None, bound: float = BOUND) -> None:
    """The contract: the attacked function loses its points, every other part keeps all."""
    result = graded.result
    assert result.status == "graded", result.error
    others = {f: s for f, s in graded.parts.items() if f != target and s[0] != s[1]}
    assert others == {}, f"other functions lost points: {others}\n" + "\n".join(
        f"{t.name}: {t.status}: {t.output[:300]}" for t in result.tests if t.function != target and t.status != "passed")
    score, _ = graded.parts[target]
    if statuses is None or "passed" not in statuses:
        assert score == 0, f"{target} kept {score} points: {graded.statuses(target)}"
    if statuses is not None:
        assert set(graded.statuses(target)) <= set(statuses), (graded.statuses(target), graded.outputs(target))
    assert graded.seconds < bound, f"the grade took {graded.seconds:.1f} s (bound {bound} s)"


def check_unharmed(graded: Graded, course_before, course_copy, canary_before, canary, seen) -> None:
    assert tree_digest(course_copy) == course_before, "the attack changed the course"
    assert tree_digest(canary) == canary_before, "the attack changed files outside the sandbox"
    assert_no_stray_processes(seen)


@pytest.fixture
def unharmed(course_copy, canary, sandbox_processes):
    """Call with the Graded after the attack: course, canary and processes are checked."""
    course_before, canary_before = tree_digest(course_copy), tree_digest(canary)

    def check(graded: Graded) -> None:
        check_unharmed(graded, course_before, course_copy, canary_before, canary, sandbox_processes)

    return check


# --------------------------------------------------------------------------- the attacks

#: name -> (source of the attacking TARGET, statuses its checks may end with).  Each runs in
#: both isolation modes.
RESOURCE_ATTACKS = {
    "infinite loop": ("""
        def exponential_decay(eta0, k, t):
            while True:
                pass
        """, {"timeout"}),
    "busy loop spawning threads": ("""
        def exponential_decay(eta0, k, t):
            import threading
            def spin():
                while True:
                    pass
            for _ in range(500):
                try:
                    threading.Thread(target=spin, daemon=True).start()
                except RuntimeError:  # the process limit counts threads too
                    break
            spin()
        """, {"timeout"}),
    "time.sleep(10**6)": ("""
        def exponential_decay(eta0, k, t):
            import time
            time.sleep(10**6)
        """, {"timeout"}),
    "unbounded memory": ("""
        def exponential_decay(eta0, k, t):
            hoard = []
            while True:
                hoard.append(bytearray(50 << 20))
        """, {"error", "timeout"}),  # MemoryError after ~0.5 s of page faults, or the timeout
    "fork bomb (at most 256 processes), all hang": ("""
        def exponential_decay(eta0, k, t):
            import os, time
            for _ in range(8):  # every process forks again: 2**8 processes if nothing stops it
                try:
                    os.fork()
                except OSError:
                    break
            time.sleep(10**6)
        """, {"timeout"}),
    "fork bomb (at most 300 children) left running after the call": ("""
        _forked = []
        def exponential_decay(eta0, k, t):
            import os, time
            for _ in range(0 if _forked else 300):  # the first call of a probe only
                _forked.append(True)
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    time.sleep(10**6)
                    os._exit(0)
            return float("nan")
        """, {"failed", "timeout"}),  # as root without bubblewrap nothing caps the forks: slow
    "children that return into the worker": ("""
        _forked = []
        def exponential_decay(eta0, k, t):
            import os
            if not _forked:  # only the first call of a probe (children would call again)
                _forked.append(True)
                for _ in range(4):  # 16 processes return from here into the probe
                    try:
                        os.fork()
                    except OSError:
                        break
            return float("nan")
        """, {"failed", "error", "timeout"}),
    "deep recursion": ("""
        def exponential_decay(eta0, k, t):
            return exponential_decay(eta0, k, t) + 1
        """, {"error"}),
    "deep recursion past a raised recursion limit (stack overflow)": ("""
        def exponential_decay(eta0, k, t):
            import sys
            sys.setrecursionlimit(10**8)
            def down(n):
                return down(n + 1) + 1
            return down(0)
        """, {"error", "timeout"}),  # RecursionError, a crash, or heap frames until the timeout
    "sys.exit()": ("""
        def exponential_decay(eta0, k, t):
            import sys
            sys.exit(0)
        """, {"error"}),
    "os._exit()": ("""
        def exponential_decay(eta0, k, t):
            import os
            os._exit(0)
        """, {"error"}),
    "raise KeyboardInterrupt": ("""
        def exponential_decay(eta0, k, t):
            raise KeyboardInterrupt
        """, {"error"}),
    "raise SystemExit": ("""
        def exponential_decay(eta0, k, t):
            raise SystemExit("done")
        """, {"error"}),
    "closing every inherited fd (the channel)": ("""
        def exponential_decay(eta0, k, t):
            import os
            for fd in os.listdir("/proc/self/fd"):
                try:
                    os.close(int(fd))
                except OSError:
                    pass
            return float("nan")
        """, {"error"}),
    "garbage written to every fd": ("""
        def exponential_decay(eta0, k, t):
            import os
            for fd in os.listdir("/proc/self/fd"):
                try:
                    os.write(int(fd), b"\\x00\\xff garbage " * 1000)
                except OSError:
                    pass
            return float("nan")
        """, {"error", "failed", "timeout"}),
    "forged frames: a reply, then replies to the next 50 requests": ("""
        def exponential_decay(eta0, k, t):
            import os, sys
            protocol = sys.modules["_grader_protocol"]
            frame, request_id = sys._getframe(), None
            while frame is not None and request_id is None:
                request_id = frame.f_locals.get("request_id")
                frame = frame.f_back
            for fd in os.listdir("/proc/self/fd"):
                for offset in range(51):
                    reply = {"status": "ok", "id": (request_id or 0) + offset, "output": "",
                             "value": {"kind": "none"}}
                    try:
                        protocol.send_message(int(fd), reply)
                    except Exception:
                        break
            return float("nan")
        """, {"failed", "error", "timeout"}),
    "a thread that outlives its call and sabotages later probes": ("""
        def exponential_decay(eta0, k, t):
            import os, threading, time
            def later():
                time.sleep(0.02)
                for fd in os.listdir("/proc/self/fd"):
                    try:
                        os.write(int(fd), b"garbage")
                    except OSError:
                        pass
                os._exit(7)
            threading.Thread(target=later, daemon=True).start()
            return float("nan")
        """, {"failed", "error"}),
    "changing numpy, builtins and signals for whoever runs next": ("""
        def exponential_decay(eta0, k, t):
            import builtins, signal
            import numpy as np
            np.asarray = lambda *a, **k: np.zeros(3)
            np.array = lambda *a, **k: np.zeros(3)
            builtins.float = lambda *a: 0.0
            np.seterr(all="raise")
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # SIGALRM, default action: terminate
            return 0.0
        """, {"failed", "error"}),
    "printing hundreds of MB to stdout and stderr": ("""
        def exponential_decay(eta0, k, t):
            import math, os, sys
            line = "spam " * 200_000
            for _ in range(100):  # 100 MB through print, 200 MB straight to fds 1 and 2
                print(line)
                sys.stderr.write(line)
                os.write(1, b"x" * 1_000_000)
                os.write(2, b"y" * 1_000_000)
            return float(eta0 * math.exp(-k * t))
        """, {"passed", "timeout"}),
}

#: name -> (import-time code, statuses every check may end with).
IMPORT_ATTACKS = {
    "infinite loop": ("while True:\n    pass\n", {"timeout"}),
    "time.sleep(10**6)": ("import time\ntime.sleep(10**6)\n", {"timeout"}),
    "unbounded memory": ("_hoard = []\nwhile True:\n    _hoard.append(bytearray(50 << 20))\n", {"error", "timeout"}),
    "fork bomb (at most 256 processes)": (
        "import os, time\nfor _ in range(8):\n    try:\n        os.fork()\n    except OSError:\n        break\n"
        "time.sleep(10**6)\n", {"timeout"}),
    "deep recursion": ("def _down(n):\n    return _down(n + 1)\n_down(0)\n", {"error"}),
    "sys.exit()": ("import sys\nsys.exit(1)\n", {"error"}),
    "os._exit()": ("import os\nos._exit(0)\n", {"error"}),
    "raise KeyboardInterrupt": ("raise KeyboardInterrupt\n", {"error"}),
    "closing every inherited fd": (
        "import os\nfor _fd in os.listdir('/proc/self/fd'):\n    try:\n        os.close(int(_fd))\n"
        "    except OSError:\n        pass\n", {"error"}),
    "garbage written to every fd": (
        "import os\nfor _fd in os.listdir('/proc/self/fd'):\n    try:\n        os.write(int(_fd), b'garbage' * 99)\n"
        "    except OSError:\n        pass\n", {"error"}),
    "import of a module that does not exist": ("import numpy_but_faster\n", {"error"}),
}


#: Attacks whose outcome could depend on the isolation (process tree, fds, /proc, signals);
#: the others are plain Python behaviour and run under bubblewrap only.
RESOURCE_ATTACKS_BOTH_MODES = {
    "infinite loop", "busy loop spawning threads", "unbounded memory", "fork bomb (at most 256 processes), all hang",
    "fork bomb (at most 300 children) left running after the call", "children that return into the worker",
    "os._exit()", "closing every inherited fd (the channel)", "garbage written to every fd",
    "a thread that outlives its call and sabotages later probes", "printing hundreds of MB to stdout and stderr",
}


@pytest.mark.parametrize("name", list(RESOURCE_ATTACKS))
def test_attack_in_one_function_costs_only_that_function(name, mode, assignment, reference_source, tmp_path, unharmed):
    if mode != "bubblewrap" and name not in RESOURCE_ATTACKS_BOTH_MODES:
        pytest.skip("plain Python behaviour: the same in both modes")
    attack, statuses = RESOURCE_ATTACKS[name]
    graded = grade(assignment, tmp_path, submission_source(reference_source, attack))
    assert_only_target_lost(graded, statuses=statuses)
    assert graded.result.isolation == mode.split()[-1]
    assert graded.result.warnings == ([] if mode == "bubblewrap" else [fallback_warning(mode)])
    unharmed(graded)
    if name.startswith("printing"):
        report = json.dumps(graded.result.to_dict())
        assert len(report) < 200_000, "the printed output must be capped"


#: Import-time attacks whose outcome could depend on the isolation (processes, fds, exits).
IMPORT_ATTACKS_BOTH_MODES = {"infinite loop", "fork bomb (at most 256 processes)", "os._exit()",
                             "closing every inherited fd", "import of a module that does not exist"}


@pytest.mark.parametrize("name", list(IMPORT_ATTACKS))
def test_attack_at_import_time_costs_every_test_but_the_grade_finishes(name, mode, assignment, reference_source,
                                                                       tmp_path, unharmed):
    if mode != "bubblewrap" and name not in IMPORT_ATTACKS_BOTH_MODES:
        pytest.skip("plain Python behaviour: the same in both modes")
    code, statuses = IMPORT_ATTACKS[name]
    graded = grade(assignment, tmp_path, submission_source(reference_source, at_import=code))
    result = graded.result
    assert result.status == "graded", result.error
    assert result.score == 0
    assert {t.status for t in result.tests} <= statuses, {t.status for t in result.tests}
    assert graded.seconds < BOUND, graded.seconds
    first = result.tests[0].output
    assert "import" in first.lower() or "module" in first.lower(), first  # says it is the import
    if name.startswith("import of a module"):
        assert all("numpy_but_faster" in t.output for t in result.tests), first
        assert all(t.status == "error" for t in result.tests)
    unharmed(graded)


# --------------------------------------------------------------------------- kill the grader


#: Whom a probe can try to kill, by the pid it can find: its parent (the sandbox's zygote),
#: its grandparent (the grader, or bwrap's init), pid 1, everyone (-1), its process group (0).
KILLS = {
    "the parent": "os.getppid()",
    "the grandparent (the grader?)": "parent_of(os.getppid())",
    "pid 1": "1",
    "every process it may signal (-1)": "-1",
    "its process group (0)": "0",
}
KILL = """
def exponential_decay(eta0, k, t):
    import os, signal
    def parent_of(pid):
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    try:
        os.kill(VICTIM, signal.SIGKILL)
    except OSError:
        pass
    return float("nan")
"""


@needs_bwrap
@pytest.mark.parametrize("victim", list(KILLS))
def test_killing_anyone_kills_at_most_the_probe(victim, monkeypatch, assignment, reference_source, tmp_path, unharmed):
    """Under bubblewrap the PID namespace holds only the sandbox's own processes, the grader
    is not in it, and bwrap's init runs as another uid."""
    monkeypatch.delenv("GRADER_SANDBOX", raising=False)
    attack = KILL.replace("VICTIM", KILLS[victim])
    graded = grade(assignment, tmp_path, submission_source(reference_source, attack))
    assert_only_target_lost(graded, statuses={"error", "failed"})  # killed, or not allowed
    assert os.getppid() > 1  # this (grading) process is alive, and so is its parent
    unharmed(graded)


def test_killing_the_grader_without_bubblewrap(course_copy, reference_source, tmp_path):
    """Without namespaces the worker runs under the grader's uid.  Landlock (ABI >= 6)
    scopes its signals to its own processes; without that it can kill the grader (the
    README says so).  Through the CLI, so that only that child process is at risk; the
    attack signals only the grader (never -1 or 1 here)."""
    attack = """
        def exponential_decay(eta0, k, t):
            import os, signal
            with open(f"/proc/{os.getppid()}/stat") as handle:
                grader = int(handle.read().rsplit(")", 1)[1].split()[1])
            os.kill(grader, signal.SIGKILL)
            return float("nan")
        """
    path = tmp_path / "optimizers.py"
    path.write_text(submission_source(reference_source, attack))
    scratch = tmp_path / "tmpdir"  # the sandbox's folders go here: its processes name it
    scratch.mkdir()
    completed = run_grader("grade", "optimizers", str(path), "--json", timeout=120,
                           env={"GRADER_COURSE": str(course_copy), "GRADER_SANDBOX": "rlimits",
                                "TMPDIR": str(scratch)})
    if landlock_abi() >= 6 or os.geteuid() == 0:  # scoped signals, or another uid (as root)
        assert completed.returncode == 1, completed.stderr[-2000:]
        result = json.loads(completed.stdout)
        assert result["score"] == 58.0 and result["warnings"] == [fallback_warning("rlimits")]
    else:  # documented risk of the bare fallback
        assert completed.returncode == -signal.SIGKILL, (completed.returncode, completed.stdout[-500:])
    assert_no_stray_processes([(str(scratch), None)])  # no worker outlived its grader


PRIVILEGES = """
def exponential_decay(eta0, k, t):
    import os, resource
    outcome = []
    for limit in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_AS):
        try:  # the grader's limits: 12 open files killed a batch worker
            resource.prlimit(GRADER_PID, limit, (12, 12))
            outcome.append("prlimit worked")
        except OSError as exc:
            outcome.append(type(exc).__name__)
    import ctypes  # not /proc/self/status: Landlock hides a probe's own /proc entry
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, twice (64 bits)
    assert libc.syscall(125, header, data) == 0  # capget (x86_64)
    effective, permitted = data[0] | data[3] << 32, data[1] | data[4] << 32
    report = ["uid", os.getuid(), os.geteuid(), "gid", os.getgid(), "groups", os.getgroups(),
              "CapEff", f"{effective:016x}", "CapPrm", f"{permitted:016x}",
              "NoNewPrivs", libc.prctl(39, 0, 0, 0, 0), *outcome]  # PR_GET_NO_NEW_PRIVS
    raise RuntimeError(" ".join(map(str, report)))  # the feedback shows it
"""


@pytest.mark.skipif(os.geteuid() != 0 or os.uname().machine != "x86_64",
                    reason="the grader runs as root here only in CI and on Gradescope (capget: x86_64)")
@pytest.mark.parametrize("fallback", ["rlimits", "bare rlimits"])
def test_the_fallback_as_root_runs_student_code_unprivileged(fallback, monkeypatch, assignment, reference_source,
                                                              tmp_path, unharmed):
    """As root without bubblewrap (a Gradescope container) student code once ran as uid 0 with
    nearly every capability and prlimit()ed the grader.  It must run under an unprivileged uid
    of its own, with no capability and no_new_privs, and the grader's limits stay as they were."""
    import resource

    _choose(fallback, monkeypatch)
    before = {limit: resource.getrlimit(limit)
              for limit in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_AS)}
    attack = PRIVILEGES.replace("GRADER_PID", str(os.getpid()))
    graded = grade(assignment, tmp_path, submission_source(reference_source, attack))
    assert {limit: resource.getrlimit(limit) for limit in before} == before
    assert_only_target_lost(graded, statuses={"error"})
    report = graded.outputs(TARGET).split("RuntimeError: ", 1)[-1].splitlines()[0]
    words = report.split()
    uid, euid, gid = int(words[1]), int(words[2]), int(words[4])
    assert uid == euid == gid and uid >= 1 << 30, report  # a fresh uid of its own, never 0
    assert "groups [] CapEff 0000000000000000 CapPrm 0000000000000000 NoNewPrivs 1" in report, report
    assert report.endswith("PermissionError PermissionError PermissionError"), report
    unharmed(graded)


# --------------------------------------------------------------------------- monkeypatching


PATCH_EVERYTHING = """
import builtins, sys, types
import numpy as np

# NumPy's comparisons, as a student who believes the grader compares in this process would
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
for _name in ("__eq__", "__ne__"):
    try:
        setattr(np.ndarray, _name, lambda self, other: True)
    except TypeError:  # a built-in type: not possible
        pass

# pytest and the grader, injected before anyone imports them
_passing = types.ModuleType("pytest")
_passing.approx = lambda value, *a, **k: value
_passing.fail = _passing.skip = lambda *a, **k: None
for _name in ("pytest", "grader", "grader.checking", "grader.expect", "grader.grade", "grader.results"):
    sys.modules[_name] = _passing
for _name in ("expect_array", "expect_true", "expect_tuple", "expect_scalar", "check", "grade_submission"):
    setattr(_passing, _name, lambda *a, **k: None)
_real_import = builtins.__import__
def _import(name, *args, **kwargs):
    if name.split(".")[0] in ("pytest", "grader"):
        return _passing
    return _real_import(name, *args, **kwargs)
builtins.__import__ = _import
builtins.AssertionError = type("AssertionError", (Exception,), {})

# the grader's own modules in here: the protocol and the probes
_protocol = sys.modules.get("_grader_protocol")
if _protocol is not None:
    _protocol.MAX_FRAME = 1 << 40
    _encode = _protocol.encode_value
    _protocol.encode_value = lambda value: _encode(value)
_probes = sys.modules.get("_grader_probes")
if _probes is not None:
    _schedule = _probes.schedule
    def _lying_schedule(mod, function, calls):
        if function == "exponential_decay":
            return [0.0 for _ in calls]
        return _schedule(mod, function, calls)
    _probes.schedule = _lying_schedule
"""


@pytest.mark.parametrize("when", ["import", "call"])
def test_monkeypatching_numpy_builtins_pytest_and_the_grader_changes_nothing(when, assignment, reference_source,
                                                                             tmp_path, unharmed):
    """Comparisons happen in the grader's own process, on plain data: patching NumPy,
    builtins, pytest or the grader's modules inside the sandbox cannot make a wrong answer
    pass.  At import time the patches are the module's own business (the other functions,
    which do not use them, still pass); at call time they vanish with the probe's process."""
    if when == "import":
        source = submission_source(reference_source, at_import=PATCH_EVERYTHING)
    else:
        body = textwrap.indent(PATCH_EVERYTHING, "    ")
        source = submission_source(reference_source, f"def exponential_decay(eta0, k, t):\n{body}\n    return 0.0\n")
    graded = grade(assignment, tmp_path, source)
    assert_only_target_lost(graded, statuses={"failed"})
    unharmed(graded)


#: The probes patched from the student's module to answer none of exponential_decay's calls,
#: while exponential_decay itself is wrong.
SHORT_ANSWERS = """
import sys as _sys
_probes = _sys.modules.get("_grader_probes")
if _probes is not None:
    _schedule = _probes.schedule
    def _no_answers(mod, function, calls):
        return [] if function == "exponential_decay" else _schedule(mod, function, calls)
    _probes.schedule = _no_answers
"""


def test_a_probe_patched_to_answer_fewer_calls_loses_the_points(assignment, reference_source, tmp_path, unharmed):
    """A check compares one answer for each call it asked for: an answer list cut short by
    probes patched in the sandbox fails the check (it once compared nothing, and passed)."""
    source = submission_source(reference_source, "def exponential_decay(eta0, k, t):\n    return 0.0\n",
                               at_import=SHORT_ANSWERS)
    graded = grade(assignment, tmp_path, source)
    assert_only_target_lost(graded, statuses={"failed"})
    assert "answer" in graded.outputs(TARGET)
    unharmed(graded)


# --------------------------------------------------------------------------- lying values


LIES = {
    "__eq__ always True": """
        class _Liar:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __float__(self): return 0.0
            def __array__(self, *a, **k): return __import__("numpy").zeros(())
            __hash__ = object.__hash__
        def exponential_decay(eta0, k, t):
            return _Liar()
        """,
    "__array__, __float__, __len__, __iter__ and __repr__ that raise": """
        class _Raiser:
            def __array__(self, *a, **k): raise SystemExit("array")
            def __float__(self): raise KeyboardInterrupt
            def __len__(self): raise RuntimeError("len")
            def __iter__(self): raise RuntimeError("iter")
            def __repr__(self): raise SystemExit("repr")
        def exponential_decay(eta0, k, t):
            return _Raiser()
        """,
    "a class that claims to be float": """
        class _Claims:
            __class__ = property(lambda self: float)
            def __float__(self): return 0.0
        def exponential_decay(eta0, k, t):
            return _Claims()
        """,
    "a float subclass equal to everything": """
        class _F(float):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = float.__hash__
        def exponential_decay(eta0, k, t):
            return _F(0.0)
        """,
    "an ndarray subclass that compares true": """
        import numpy as _np
        class _Always(_np.ndarray):
            def __eq__(self, other): return _np.ones(_np.shape(other), bool)
            def __array_ufunc__(self, *a, **k): return True
            def __array_function__(self, *a, **k): return True
        def exponential_decay(eta0, k, t):
            return _np.zeros(()).view(_Always)
        """,
    "NaN": "def exponential_decay(eta0, k, t):\n    return float('nan')\n",
    "infinity": "def exponential_decay(eta0, k, t):\n    return float('inf')\n",
    "an array of the wrong shape": "import numpy as _np\ndef exponential_decay(eta0, k, t):\n    return _np.zeros(3)\n",
    "a string array": "import numpy as _np\ndef exponential_decay(eta0, k, t):\n    return _np.array(['0.5'])\n",
    "an object array": "import numpy as _np\ndef exponential_decay(eta0, k, t):\n    return _np.array([0.5, None], dtype=object)\n",
    "a generator": "def exponential_decay(eta0, k, t):\n    return (x for x in [eta0])\n",
    "a 160 MB array": "import numpy as _np\ndef exponential_decay(eta0, k, t):\n    return _np.zeros(20_000_000)\n",
    "a list that contains itself": "def exponential_decay(eta0, k, t):\n    x = []\n    x.append(x)\n    return x\n",
    "a dict with non-string keys": "def exponential_decay(eta0, k, t):\n    return {(1, 2): eta0, None: 0}\n",
}

#: Lies for a building block: gd_step returns theta; minibatch_sgd, train and
#: line_search_step are built on it and must still pass through the probes' fakes.
GD_LIES = {
    "__eq__ always True": """
        class _Liar:
            def __eq__(self, other): return True
            def __array__(self, *a, **k): return __import__("numpy").zeros(2)
        def gd_step(theta, grad, eta):
            return _Liar()
        """,
    "__array__ that raises": """
        class _Raiser:
            def __array__(self, *a, **k): raise SystemExit("no")
        def gd_step(theta, grad, eta):
            return _Raiser()
        """,
    "an ndarray subclass that compares true": """
        import numpy as _np
        class _Always(_np.ndarray):
            def __eq__(self, other): return _np.ones(_np.shape(other), bool)
            def __array_ufunc__(self, *a, **k): return True
        def gd_step(theta, grad, eta):
            return _np.zeros(_np.shape(theta)).view(_Always)
        """,
    "NaN of the right shape": "import numpy as _np\ndef gd_step(theta, grad, eta):\n    return _np.full(_np.shape(theta), _np.nan)\n",
    "a generator": "def gd_step(theta, grad, eta):\n    return (x for x in theta)\n",
}


def test_lying_return_values_lose_their_points(assignment, reference_source, tmp_path, unharmed):
    """Every lie of LIES in one grade: each call of exponential_decay returns the next one
    (a check makes about 20 calls), so every check meets all of them."""
    parts = []
    for number, lie in enumerate(LIES.values()):
        parts.append(textwrap.dedent(lie).replace("def exponential_decay(", f"def _lie_{number}("))
    rotate = (f"_LIES = [{', '.join(f'_lie_{n}' for n in range(len(LIES)))}]\n_calls = []\n"
              "def exponential_decay(eta0, k, t):\n    _calls.append(1)\n"
              "    return _LIES[len(_calls) % len(_LIES)](eta0, k, t)\n")
    graded = grade(assignment, tmp_path, submission_source(reference_source, "\n".join(parts) + "\n" + rotate),
                   diagnose=True)
    assert_only_target_lost(graded, statuses={"failed", "error"})
    assert not any(w.startswith("internal") for w in graded.result.warnings), graded.result.warnings
    assert "could not run this check" not in graded.outputs()  # no check tripped over a lie
    unharmed(graded)


@pytest.mark.parametrize("lie", ["__eq__ always True", "__array__, __float__, __len__, __iter__ and __repr__ that raise",
                                 "a 160 MB array"])
def test_a_lie_on_its_own_loses_its_points(lie, assignment, reference_source, tmp_path, unharmed):
    graded = grade(assignment, tmp_path, submission_source(reference_source, LIES[lie]))
    assert_only_target_lost(graded, statuses={"failed", "error"})
    unharmed(graded)


@pytest.mark.parametrize("lie", list(GD_LIES))
def test_a_lying_building_block_costs_only_itself(lie, assignment, reference_source, tmp_path, unharmed):
    source = submission_source(reference_source, GD_LIES[lie], target="gd_step")
    graded = grade(assignment, tmp_path, source, diagnose=True)  # diagnosis replays these values
    assert_only_target_lost(graded, target="gd_step", statuses={"failed", "error"})
    unharmed(graded)


# --------------------------------------------------------------------------- reading secrets

#: Seconds for the probes of the reading and forging attacks: the hunt walks a lot, and it
#: must finish to prove that it found nothing (a timeout would prove nothing).  Idle it takes
#: about a second; 8 s ran out on a 2-core machine busy grading, hence the wide margin.
HUNT_LIMITS = Limits(probe_timeout=40.0, memory_bytes=512 << 20, cpu_seconds=60, output_bytes=64 << 10)
#: Bound on a grade with HUNT_LIMITS: the attacked function's probes may use their time.
HUNT_BOUND = 4 * HUNT_LIMITS.probe_timeout + BOUND

HUNT = '''
def exponential_decay(eta0, k, t):
    \"\"\"The right answer only if the hunt finds the reference, a hidden check, a mutant or
    the secret: so a grade that keeps these points means the hunt succeeded.\"\"\"
    import gc, math, os, sys
    known = KNOWN_PATHS
    wanted = ("solutions/optimizers/optimizers.py", "solutions/optimizers/secret.txt",
              "solutions/optimizers/checks/test_hidden_optimizers.py",
              "solutions/optimizers/mutants/catalogue.toml")
    loot = []

    def read(path):
        try:
            with open(path, "rb") as handle:
                return handle.read(1 << 20).decode("utf-8", "replace")
        except (OSError, ValueError):
            return None

    def under(folder):
        for name in wanted:
            if read(os.path.join(folder, name)) is not None:
                loot.append(os.path.join(folder, name))
        return bool(loot)

    def walk_up(start):
        folder = start
        for _ in range(12):
            if under(folder):
                return True
            folder = os.path.dirname(folder)
        return False

    def stages():
        # 1. where the course is known to be (the worst case: the student knows the path)
        if any(walk_up(path) for path in known):
            return
        # 2. walking up from wherever we are
        starts = [os.getcwd(), os.path.dirname(os.path.abspath(__file__)), os.environ.get("HOME", "/"),
                  *sys.path, os.path.dirname(sys.executable)]
        if any(walk_up(start) for start in starts if start):
            return
        # 3. our environment, and every process's environ, cmdline, cwd and root
        if any("SECRET" in key for key in os.environ):
            loot.append("our environment")
            return
        if any(walk_up(value) for value in os.environ.values() if value.startswith("/")):
            return
        try:
            pids = [p for p in os.listdir("/proc") if p.isdigit()]
        except OSError:  # Landlock: no /proc; try the pids we can guess
            pids = [str(pid) for pid in range(1, 100)] + [str(os.getppid())]
        for pid in pids:
            for name in ("environ", "cmdline"):
                for item in (read(f"/proc/{pid}/{name}") or "").replace("=", "\\0").split("\\0"):
                    if "SECRET" in item:
                        loot.append(f"/proc/{pid}/{name}")
                        return
                    if item.startswith("/") and walk_up(item):
                        return
            for link in ("cwd", "root"):
                if walk_up(f"/proc/{pid}/{link}") or any(under(f"/proc/{pid}/{link}{path}") for path in known):
                    return
        # 4. importing the course or the grader
        for name in ("solutions", "solutions.optimizers", "grader", "grader.course"):
            try:
                module = __import__(name)
            except BaseException:
                continue
            if walk_up(os.path.dirname(os.path.abspath(getattr(module, "__file__", None) or "/"))):
                return
        # 5. our callers' frames, and every object in memory
        frame = sys._getframe()
        while frame is not None:
            for value in [*frame.f_globals.values(), *frame.f_locals.values()]:
                if isinstance(value, str) and value.startswith("/") and walk_up(value):
                    return
            frame = frame.f_back
        for obj in gc.get_objects()[:300_000]:
            if isinstance(obj, dict):
                for value in list(obj.values())[:100]:
                    if isinstance(value, str) and "# BEGIN " + "SOLUTION" in value:  # not a local:
                        loot.append("memory")  # the frame scan above keeps our locals' dict alive
                        return
        # 6. a bounded walk of the usual places
        for root in ("/work", "/home", "/root", "/srv", "/opt", "/autograder", "/tmp", "/mnt", "/data", "/course", "/"):
            seen = 0
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in (".git", "proc", "sys", "node_modules", "__pycache__")]
                if os.path.basename(folder) == "solutions" or "secret.txt" in files:
                    loot.append(folder)
                    return
                seen += 1
                if seen > 3000:
                    break

    stages()
    return float(eta0 * math.exp(-k * t)) if loot else float("nan")
'''


def hunt_attack(*known: Path) -> str:
    return HUNT.replace("KNOWN_PATHS", repr([str(path) for path in known]))


@pytest.mark.parametrize("when", ["call", "import"])
def test_reading_the_reference_hidden_checks_mutants_or_secret_fails(when, confinement, monkeypatch, assignment,
                                                                     course_copy, reference_source, tmp_path, unharmed):
    if confinement == "bare rlimits" and when == "import":
        pytest.skip("the documented risk is shown once, at call time")
    monkeypatch.setenv("GRADER_SECRET", "hostile-suite-secret")
    cwd = tmp_path / "grader-cwd"  # the grader's working directory: inside the course's parent
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    attack = hunt_attack(course_copy, ROOT, tmp_path)
    if when == "import":  # the hunt runs once at import; the function only reports
        attack = attack.replace("def exponential_decay(eta0, k, t):", "def _hunt(eta0=1.0, k=0.0, t=0.0):", 1)
        attack += "\n_FOUND = _hunt() == 1.0\nimport math\ndef exponential_decay(eta0, k, t):\n" \
                  "    return float(eta0 * math.exp(-k * t)) if _FOUND else float('nan')\n"
    graded = grade(assignment, tmp_path, submission_source(reference_source, attack), limits=HUNT_LIMITS)
    result = graded.result
    secret = (course_copy / "solutions/optimizers/secret.txt").read_text().strip()
    everything = json.dumps(result.to_dict())
    assert "hostile-suite-secret" not in everything and secret not in everything
    if confinement != "bare rlimits":
        assert_only_target_lost(graded, statuses={"failed"}, bound=HUNT_BOUND)
    else:  # documented: bare rlimits, the worker reads whatever the grader's user can read (as
        # root: whatever other users can, and this repository is world-readable)
        assert result.warnings == [RLIMITS_WARNING]
        assert graded.parts[TARGET] == (2.0, 2.0), "expected: the hunt succeeds with bare rlimits"
        assert {f: s for f, s in graded.parts.items() if s[0] != s[1]} == {}
    unharmed(graded)


# --------------------------------------------------------------------------- writing outside

FORGE = '''
def exponential_decay(eta0, k, t):
    import json, os
    fake = json.dumps({"score": 60.0, "max_score": 60.0, "status": "graded", "forged": True})
    targets = [os.path.join(os.getcwd(), "results.json"), os.path.expanduser("~/results.json")]
    for folder in [*KNOWN_PATHS, *WRITE_ONLY]:
        for name in ("results.json", "gradebook.csv", "gradebook.sqlite", "canary.txt",
                     "solutions/optimizers/optimizers.py", "solutions/optimizers/secret.txt"):
            targets.append(os.path.join(folder, name))
    pid = os.getpid()
    for _ in range(4):  # the working folders of our parent, grandparent, ... up to the grader
        targets.append(f"/proc/{pid}/cwd/results.json")
        if pid in (GRADER_PID, 1):  # never beyond: the test runner's shell is up there
            break
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            pid = os.getppid() if pid == os.getpid() else GRADER_PID  # Landlock hides /proc/self
    targets += EXTRA_TARGETS
    for path in targets:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(fake)
        except OSError:
            pass
    # and deleting: the course, the canaries, the runtime the worker was started from
    import shutil
    for folder in KNOWN_PATHS:
        for top, dirs, files in os.walk(folder, topdown=False):
            for name in files:
                try:
                    os.remove(os.path.join(top, name))
                except OSError:
                    pass
            try:
                os.rmdir(top)
            except OSError:
                pass
    for path in ("/runtime/probes.py", "/runtime/inside/worker.py", "/runtime/student/optimizers.py", __file__):
        try:
            os.remove(path)
        except OSError:
            pass
    return float("nan")
'''

#: Where a forged results.json would matter on a grading machine; tried only under
#: bubblewrap (the rlimits run must not litter this machine when the attack works).
GLOBAL_TARGETS = ["/autograder/results/results.json", "/tmp/results.json", "/results.json"]


def forge_attack(known, write_only=(), extra=(), grader_pid: int | None = None) -> str:
    """Writes fake results into `known` and `write_only` folders and into the working folder
    of every ancestor up to the grader (`grader_pid`: this process by default), deletes what
    is in `known`."""
    return (FORGE.replace("KNOWN_PATHS", repr([str(path) for path in known]))
            .replace("WRITE_ONLY", repr([str(path) for path in write_only]))
            .replace("EXTRA_TARGETS", repr(list(extra)))
            .replace("GRADER_PID", str(grader_pid or os.getpid())))


@pytest.mark.parametrize("when", ["call", "import"])
def test_forging_results_and_deleting_files_outside_changes_nothing(when, confinement, monkeypatch, assignment,
                                                                    course_copy, canary, reference_source, tmp_path,
                                                                    unharmed):
    if confinement == "bare rlimits" and when == "import":
        pytest.skip("the documented risk is shown once, at call time")
    cwd = tmp_path / "grader-cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # As root the bare fallback runs student code under an unprivileged uid of its own: what
    # other users cannot write (here: everything under pytest's 0700 temporary folder) is safe.
    exposed = confinement == "bare rlimits" and os.geteuid() != 0
    extra = [] if confinement == "bare rlimits" else GLOBAL_TARGETS  # /tmp is writable by any uid
    existed = {path: os.path.exists(path) for path in GLOBAL_TARGETS}
    attack = forge_attack([course_copy, canary], [cwd], extra)
    if when == "import":
        attack = attack.replace("def exponential_decay(eta0, k, t):", "def _forge():", 1)
        attack += "\n_forge()\ndef exponential_decay(eta0, k, t):\n    return float('nan')\n"
    graded = grade(assignment, tmp_path, submission_source(reference_source, attack), limits=HUNT_LIMITS)
    if not exposed:
        assert_only_target_lost(graded, statuses={"failed"}, bound=HUNT_BOUND)
        assert list(cwd.iterdir()) == []
        for path, was in existed.items():
            assert os.path.exists(path) == was, f"the attack created {path}"
        unharmed(graded)
    else:  # documented: bare rlimits, the worker can write wherever the grader's user can
        assert graded.result.warnings == [RLIMITS_WARNING]
        assert (cwd / "results.json").exists()
        assert not (canary / "canary.txt").exists()


@pytest.mark.parametrize("isolation", ["bubblewrap", "rlimits"])
def test_a_fake_json_result_on_stdout_does_not_reach_grade_json(isolation, course_copy, reference_source, tmp_path):
    """`grader grade --json` prints exactly the real result, whatever the student prints, at
    import time and in a function, through print, sys.__stdout__, fds 1 and 2, /dev/stdout,
    /proc/self/fd/1, /dev/tty, and /proc/<pid>/fd/1 of its ancestors up to the grader.
    (With bare rlimits the grader's fd 1 is reachable, but while student code runs it is
    pytest's capture file, so the fake is swallowed; the README still lists it as a risk.)"""
    if isolation == "bubblewrap" and not HAS_BWRAP:
        pytest.skip("bubblewrap does not work here")
    fake = '{"score": 60.0, "max_score": 60.0, "status": "graded", "tests": [], "forged": true}'
    shout = f'''
import os, sys
_FAKE = {fake!r} + "\\n"
def _shout():
    print(_FAKE)
    sys.__stdout__.write(_FAKE)
    for fd in (1, 2):
        try:
            os.write(fd, _FAKE.encode())
        except OSError:
            pass
    paths = ["/dev/stdout", "/proc/self/fd/1", "/dev/tty", "/dev/stderr"]
    pid = os.getpid()
    while pid > 1:  # up to the grader, and not beyond (that would be the test's own stdout)
        paths.append(f"/proc/{{pid}}/fd/1")
        try:
            with open(f"/proc/{{pid}}/cmdline", "rb") as handle:
                if b"grader\\x00grade" in handle.read():
                    break
            with open(f"/proc/{{pid}}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            break
    for path in paths:
        try:
            with open(path, "w") as handle:
                handle.write(_FAKE)
        except OSError:
            pass
_shout()
'''
    attack = "def exponential_decay(eta0, k, t):\n    _shout()\n    return float('nan')\n"
    path = tmp_path / "optimizers.py"
    path.write_text(submission_source(reference_source, attack, at_import=shout))
    env = {"GRADER_COURSE": str(course_copy), "GRADER_SANDBOX": "rlimits" if isolation == "rlimits" else ""}
    completed = run_grader("grade", "optimizers", str(path), "--json", env=env, timeout=120)
    assert completed.returncode == 1, completed.stderr[-2000:]
    result = json.loads(completed.stdout)  # exactly one JSON document: nothing else on stdout
    assert result["score"] == 58.0 and result["status"] == "graded"
    assert '"forged"' not in completed.stdout
    assert result.get("warnings", []) == ([fallback_warning("rlimits")] if isolation == "rlimits" else [])


# --------------------------------------------------------------------------- the fallback


def test_the_rlimits_fallback_says_so_in_text_and_json(course_copy, reference_source, tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(submission_source(reference_source))
    env = {"GRADER_COURSE": str(course_copy), "GRADER_SANDBOX": "rlimits"}
    text = run_grader("grade", "optimizers", str(path), env=env, timeout=120)
    warning = fallback_warning("rlimits")
    assert f"warning: {warning}" in " ".join(text.stdout.split()), text.stdout[:2000]  # wrapped to 100 columns
    assert "bubblewrap is not available" in warning
    as_json = json.loads(run_grader("grade", "optimizers", str(path), "--json", env=env, timeout=120).stdout)
    assert as_json["isolation"] == "rlimits" and as_json["warnings"] == [warning]
    if HAS_BWRAP:
        quiet = json.loads(run_grader("grade", "optimizers", str(path), "--json",
                                      env={"GRADER_COURSE": str(course_copy)}, timeout=120).stdout)
        assert quiet["isolation"] == "bubblewrap" and "warnings" not in quiet


# --------------------------------------------------------------------------- time accounting


@pytest.mark.slow
@pytest.mark.parametrize("target", ["adam_step", "gd_step"])
def test_an_endless_building_block_costs_only_itself(target, assignment, reference_source, tmp_path, unharmed):
    """adam_step has the most checks (a single budget for the submission used to run out on
    it), gd_step is called by minibatch_sgd, train and line_search_step (their checks use
    the probes' fake building blocks when the real ones hang).  With the default ratio of
    timeouts: probe timeout 3 s, so this also bounds a real grade."""
    limits = Limits(probe_timeout=3.0, memory_bytes=512 << 20, cpu_seconds=20, output_bytes=64 << 10)
    attack = f"def {target}(*args, **kwargs):\n    while True:\n        pass\n"
    graded = grade(assignment, tmp_path, submission_source(reference_source, attack, target=target), limits=limits)
    result = graded.result
    assert result.status == "graded"
    lost = {f: s for f, s in graded.parts.items() if s[0] != s[1]}
    assert lost == {target: (0.0, graded.parts[target][1])}, lost
    assert set(graded.statuses(target)) == {"timeout"}
    # every function's checks may use 4 probe timeouts; the one that hangs and each of
    # its users one timeout, then short ones
    assert graded.seconds < 120, graded.seconds  # idle: 12-20 s; wide for a busy machine
    unharmed(graded)


def test_time_is_accounted_per_function():
    """StudentProbes: after a timeout, a function's probes get the short limit, and together
    at most its budget; another function's probes are not affected."""
    from grader.checking import CheckRecord, StudentProbes, StudentTimeout

    @dataclass
    class Outcome:
        status: str
        value: object = None
        message: str = ""

    asked = []

    def run(name, kwargs, timeout, group):
        asked.append((kwargs["function"], timeout))
        time.sleep(timeout if kwargs.get("hang") else 0)
        return Outcome("timeout" if kwargs.get("hang") else "ok", 1)

    probes = StudentProbes(run, probe_timeout=0.2, function_budget=0.35, retry_timeout=0.05)
    for function in ("hangs", "fine"):
        probes.record = CheckRecord(nodeid=function, function=function, weight=1, title=function, visibility="visible")
        for _ in range(5):
            try:
                probes.probe("p", function=function, hang=function == "hangs")
            except StudentTimeout:
                pass
    hangs = [timeout for function, timeout in asked if function == "hangs"]
    assert hangs[0] == 0.2 and all(t <= 0.05 + 1e-9 for t in hangs[1:]) and len(hangs) <= 5
    assert sum(hangs) <= 0.35 + 1e-9
    assert [timeout for function, timeout in asked if function == "fine"] == [0.2] * 5
