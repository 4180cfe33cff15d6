"""The optimistic sandbox grades exactly as the isolated one.

By default one process serves a submission's functions one after another and the trusted
side re-runs, the isolated way, every function that did not pass all its checks there
(`grader.grade.functions_to_rerun`); `Limits(isolate_functions=True)` (or
GRADER_ISOLATE_FUNCTIONS=1) runs every function the isolated way from the start.  Both must
give the same grade: scores, statuses, every check's outcome and the messages and plots the
student sees, misconceptions and hints included (a timeout's message says where the code was
stopped: that line is compared only for being there, see `STOPPED`; an object's address in a
repr is not compared either, see `ADDRESS`).  Proved here on every submission of the
hostile suite (tests/test_hostile_submissions.py), of the demo cohorts (demo/cohort,
demo/cohort_backprop) and of the styles suite (tests/test_checks_styles.py).

An attack of the hostile suite whose outcome is a race whichever way it is graded (`RACES`)
gets a second pair of grades when the first pair differs.
"""
from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

import test_checks_styles as styles
import test_hostile_submissions as hostile
from conftest import ROOT
from grader.course import Course
from grader.grade import GradingSession, grade_submission
from grader.sandbox import Limits, Sandbox, isolation_available

HAS_BWRAP = isolation_available() == "bubblewrap"
COURSE = Course(ROOT)

#: Attacks whose outcome the hostile suite itself leaves open (it allows several statuses:
#: a MemoryError or the timeout, whichever comes first; garbage reaching a reply before or
#: after it; ...): graded both ways a second time if the first grades differ.
RACES = {f"{when}: {name}" for when, attacks in (("call", hostile.RESOURCE_ATTACKS), ("import", hostile.IMPORT_ATTACKS))
         for name, (_, statuses) in attacks.items() if len(statuses) > 1}


#: How a timeout's message says where the code was stopped: that line is a race whichever way
#: a submission is graded (a loop over several lines is stopped on any of them), so only
#: whether it is there is compared.
STOPPED = "\nIt was stopped here:\n"


#: An object's address in a repr ("<generator object ... at 0x7f0bab3293c0>") differs from one
#: process to the next.
ADDRESS = re.compile(r"0x[0-9a-f]{6,}")


def view(result) -> dict:
    """Everything of a grade a student or instructor sees, without timings."""
    def traces(test):
        return [(t.label, None if t.student is None else array_bytes(t.student), t.problem is not None)
                for t in test.traces]

    def array_bytes(value):  # NaN is NaN here (a list of floats would compare it unequal)
        value = np.asarray(value)
        return value.shape, value.dtype.str, value.tobytes()

    def output(test):
        text = test.output.split(STOPPED)[0] + STOPPED if STOPPED in test.output else test.output
        return ADDRESS.sub("0x...", text)

    return {
        "status": result.status, "error": result.error, "score": result.score, "max_score": result.max_score,
        "isolation": result.isolation, "warnings": list(result.warnings), "hints": dict(result.hints),
        "parts": [part.to_dict() for part in result.parts],
        "tests": [(t.name, t.function, t.status, t.score, t.max_score, t.visibility, output(t), t.not_implemented,
                   list(t.misconceptions), traces(t)) for t in result.tests],
    }


@pytest.fixture(scope="module")
def sessions():
    """One GradingSession per assignment (warm pool, checks collected once), both ways."""
    opened: dict = {}

    def session(assignment):
        key = (str(assignment.course_root), assignment.id)
        if key not in opened:
            opened[key] = GradingSession(assignment)
        return opened[key]

    yield session
    for opened_session in opened.values():
        opened_session.close()


def both_ways(assignment, path: Path, student: str, limits: Limits, session) -> tuple[dict, dict]:
    """(optimistic, isolated) views of one submission's grade."""
    from dataclasses import replace

    optimistic = grade_submission(assignment, path, student, limits=limits, session=session)
    isolated = grade_submission(assignment, path, student, limits=replace(limits, isolate_functions=True),
                                session=session)
    return view(optimistic), view(isolated)


def assert_same(optimistic: dict, isolated: dict) -> None:
    assert optimistic["score"] == isolated["score"], (optimistic["score"], isolated["score"])
    for seen, expected in zip(optimistic["tests"], isolated["tests"]):
        assert seen == expected, f"{seen[0]}:\n{seen[2]}: {seen[6]}\n---- isolated:\n{expected[2]}: {expected[6]}"
    assert optimistic == isolated


# --------------------------------------------------------------------------- the hostile suite


@pytest.fixture(scope="module")
def hostile_course(tmp_path_factory) -> Path:
    """A private copy of the course (the forging attack deletes what it can reach)."""
    root = tmp_path_factory.mktemp("course")
    for part in ("assignments/optimizers", "solutions/optimizers"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def hostile_sources(course_root: Path, canary: Path) -> dict[str, tuple[str, str, Limits]]:
    """label -> (attacked function, submission source, limits): every submission the hostile
    suite grades (the root-only privilege probe prints a fresh random uid per worker: left out)."""
    reference = (ROOT / "solutions" / "optimizers" / "optimizers.py").read_text(encoding="utf-8")
    target = hostile.TARGET
    cases = {}
    for name, (attack, _) in hostile.RESOURCE_ATTACKS.items():
        cases[f"call: {name}"] = (target, hostile.submission_source(reference, attack), hostile.LIMITS)
    for name, (code, _) in hostile.IMPORT_ATTACKS.items():
        cases[f"import: {name}"] = (target, hostile.submission_source(reference, at_import=code), hostile.LIMITS)
    for victim, pid in hostile.KILLS.items():
        cases[f"kill {victim}"] = (target, hostile.submission_source(reference, hostile.KILL.replace("VICTIM", pid)),
                                   hostile.LIMITS)
    cases["patch everything at import"] = (target, hostile.submission_source(
        reference, at_import=hostile.PATCH_EVERYTHING), hostile.LIMITS)
    body = textwrap.indent(hostile.PATCH_EVERYTHING, "    ")
    cases["patch everything at call"] = (target, hostile.submission_source(
        reference, f"def exponential_decay(eta0, k, t):\n{body}\n    return 0.0\n"), hostile.LIMITS)
    parts = [textwrap.dedent(lie).replace("def exponential_decay(", f"def _lie_{number}(")
             for number, lie in enumerate(hostile.LIES.values())]
    rotate = (f"_LIES = [{', '.join(f'_lie_{n}' for n in range(len(hostile.LIES)))}]\n_calls = []\n"
              "def exponential_decay(eta0, k, t):\n    _calls.append(1)\n"
              "    return _LIES[len(_calls) % len(_LIES)](eta0, k, t)\n")
    cases["every lie in turn"] = (target, hostile.submission_source(reference, "\n".join(parts) + "\n" + rotate),
                                  hostile.LIMITS)
    for lie, attack in hostile.LIES.items():
        cases[f"lie: {lie}"] = (target, hostile.submission_source(reference, attack), hostile.LIMITS)
    for lie, attack in hostile.GD_LIES.items():
        cases[f"gd_step lie: {lie}"] = ("gd_step", hostile.submission_source(reference, attack, target="gd_step"),
                                        hostile.LIMITS)
    if HAS_BWRAP:  # without namespaces these attacks may work (documented): not on this machine's files
        cases["hunt for the reference"] = (target, hostile.submission_source(
            reference, hostile.hunt_attack(course_root, ROOT)), hostile.HUNT_LIMITS)
        cases["forge results, delete the course"] = (target, hostile.submission_source(
            reference, hostile.forge_attack([course_root, canary], [], hostile.GLOBAL_TARGETS)), hostile.HUNT_LIMITS)
    return cases


HOSTILE = list(hostile_sources(Path("/nowhere"), Path("/nowhere")))


@pytest.mark.slow
@pytest.mark.parametrize("label", HOSTILE)
def test_the_hostile_suite_is_graded_alike_both_ways(label, hostile_course, sessions, tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "canary.txt").write_text("canary")
    function, source, limits = hostile_sources(hostile_course, canary)[label]
    assignment = Course(hostile_course).get("optimizers")
    path = tmp_path / "optimizers.py"
    path.write_text(source, encoding="utf-8")
    optimistic, isolated = both_ways(assignment, path, "mallory", limits, sessions(assignment))
    if optimistic != isolated and label in RACES:
        optimistic, isolated = both_ways(assignment, path, "mallory", limits, sessions(assignment))
    assert_same(optimistic, isolated)
    assert (canary / "canary.txt").read_text() == "canary"


# --------------------------------------------------------------------------- demo cohorts and styles


def cohort_entries() -> list[tuple[str, str]]:
    entries = []
    for folder, assignment in (("cohort", "optimizers"), ("cohort_backprop", "backprop")):
        for entry in sorted((ROOT / "demo" / folder).iterdir()):
            entries.append((assignment, f"{folder}/{entry.name}"))
    return entries


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id, entry", cohort_entries())
def test_the_demo_cohorts_are_graded_alike_both_ways(assignment_id, entry, sessions):
    assignment = COURSE.get(assignment_id)
    optimistic, isolated = both_ways(assignment, ROOT / "demo" / entry, Path(entry).stem, Limits(),
                                     sessions(assignment))
    assert_same(optimistic, isolated)


def styles_sources() -> dict[str, tuple[str, str]]:
    """label -> (assignment, source): every module the styles suite grades."""
    cases = {f"{assignment} in another style": (assignment, source) for assignment, source in styles.STYLES.items()}
    broken = textwrap.dedent('''
        def minibatches(n, batch_size, rng=None):
            return [list(range(0, n - n % batch_size))]
        def gd_step(theta, grad, eta):
            return theta + eta * grad
    ''')
    wrong = textwrap.dedent('''
        def adam_step(theta, grad, m, v, t, eta, beta1=0.9, beta2=0.999, eps=1e-8):
            return theta - eta * np.asarray(grad), m, v
        STEPS["adam"] = adam_step
    ''')
    cases["an inline composite beside a broken block"] = ("optimizers", styles.OPTIMIZERS + broken)
    cases["a captured step function that is wrong"] = ("optimizers", styles.OPTIMIZERS + wrong)
    for assignment, extra in styles.REORDERED.items():
        reference = COURSE.get(assignment).reference_path.read_text(encoding="utf-8")
        cases[f"{assignment} reordered"] = (assignment, reference + "\n\n" + extra)
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("label", list(styles_sources()))
@pytest.mark.parametrize("student", ["ada", "grace"])
def test_the_styles_suite_is_graded_alike_both_ways(label, student, sessions, tmp_path):
    assignment_id, source = styles_sources()[label]
    assignment = COURSE.get(assignment_id)
    path = tmp_path / f"{assignment.module}.py"
    path.write_text(source, encoding="utf-8")
    optimistic, isolated = both_ways(assignment, path, student, Limits(), sessions(assignment))
    assert_same(optimistic, isolated)


# --------------------------------------------------------------------------- the mechanism

MODES = ["rlimits", pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="no bubblewrap")),
         pytest.param("pool", marks=pytest.mark.skipif(not HAS_BWRAP, reason="no bubblewrap"))]

PROBES = '''
def call(mod, fn, args=()):
    return getattr(mod, fn)(*args)
'''

STUDENT = '''
import os, sys
import numpy as np

_seen = []
_nested = {"scale": [1.0]}

def pid():
    return os.getpid()

def remember(x):
    _seen.append(x)
    return len(_seen)

def seen():
    return len(_seen)

def scale():
    return _nested["scale"][0]

def hide_a_change():  # two levels down: what the fingerprint does not look at
    _nested["scale"][0] = 2.0
    return 0

def raise_on_float_errors():
    np.seterr(all="raise")
    return 0

def float_errors():
    return np.geterr()["divide"]

def forge_and_change():
    """Blind the fingerprint (it returns the baseline of the process it runs in), then change
    a global: the next function runs beside the change."""
    frame = sys._getframe()
    while frame is not None and "own" not in frame.f_locals:  # the fork's baselines
        frame = frame.f_back
    state, own = frame.f_locals["state"], frame.f_locals["own"]
    fingerprint = sys.modules["_grader_inside.fingerprint"]
    fingerprint.take, fingerprint.own = (lambda student: state), (lambda: own)
    _seen.append("forged")
    return 0
'''


@pytest.fixture
def probes(tmp_path) -> Path:
    path = tmp_path / "probes.py"
    path.write_text(PROBES)
    return path


def sandbox(probes, mode, **limits):
    from grader.sandbox import thread_pool

    if mode == "pool":
        return Sandbox(STUDENT, "student", probes, Limits(isolation="bubblewrap", probe_timeout=10.0, **limits),
                       pool=thread_pool())
    return Sandbox(STUDENT, "student", probes, Limits(isolation=mode, probe_timeout=10.0, **limits))


def run(box, group, fn, *args, isolated=False):
    outcome = box.run_probe("call", {"fn": fn, "args": list(args)}, group=group, isolated=isolated)
    assert outcome.status == "ok", outcome
    return outcome


@pytest.mark.parametrize("mode", MODES)
def test_functions_that_leave_nothing_share_one_process(probes, mode):
    with sandbox(probes, mode) as box:
        first = run(box, "f", "pid")
        second = run(box, "g", "pid")
        again = run(box, "f", "pid")
        assert int(first.value) == int(second.value) == int(again.value)
        assert (first.shared, second.shared, again.shared) == (False, True, True)


@pytest.mark.parametrize("mode", MODES)
def test_a_function_that_leaves_something_behind_hands_over_to_a_fresh_process(probes, mode):
    with sandbox(probes, mode) as box:
        f = run(box, "f", "remember", 1)
        assert int(run(box, "f", "remember", 2).value) == 2  # its own leftovers: as before, in its group
        g = run(box, "g", "seen")
        assert int(g.value) == 0 and not g.shared and int(run(box, "g", "pid").value) != int(f.value or 0)
        run(box, "h", "raise_on_float_errors")
        assert str(run(box, "i", "float_errors").value) == "warn"  # NumPy's settings as the import left them


@pytest.mark.parametrize("mode", MODES)
def test_the_isolated_way_gives_each_function_its_own_process(probes, mode, monkeypatch):
    with sandbox(probes, mode, isolate_functions=True) as box:
        pids = [int(run(box, group, "pid").value) for group in ("f", "f", "g", "f")]
        assert pids[0] == pids[1] and len({pids[1], pids[2], pids[3]}) == 3
        assert not any(run(box, group, "pid").shared for group in ("f", "g"))
    monkeypatch.setenv("GRADER_ISOLATE_FUNCTIONS", "1")
    with sandbox(probes, mode) as box:
        assert int(run(box, "f", "pid").value) != int(run(box, "g", "pid").value)
    monkeypatch.delenv("GRADER_ISOLATE_FUNCTIONS")
    with sandbox(probes, mode) as box:  # per request: a re-run in the same sandbox
        shared = int(run(box, "f", "pid").value)
        assert int(run(box, "g", "pid").value) == shared  # f's and g's process, kept
        again = run(box, "g", "pid", isolated=True)  # never in a process that served f
        assert int(again.value) != shared and not again.shared
        assert int(run(box, "g", "pid", isolated=True).value) == int(again.value)  # g's own, kept for g


@pytest.mark.parametrize("mode", MODES)
def test_a_forged_fingerprint_reaches_only_the_forgers_own_functions(probes, mode):
    """What a forger gets: its next function runs beside its own change.  The isolated way
    does not look at fingerprints, and neither does the next submission's worker."""
    with sandbox(probes, mode) as box:
        run(box, "f", "forge_and_change")
        beside = run(box, "g", "seen")
        assert int(beside.value) == 1 and beside.shared  # shared: a failure here would be re-run
        assert int(run(box, "h", "seen", isolated=True).value) == 0
    with sandbox(probes, mode) as box:
        assert int(run(box, "f", "seen").value) == 0


def test_a_function_harmed_by_an_unseen_leftover_is_graded_from_its_isolated_run(tmp_path, monkeypatch):
    """step_decay (checked before exponential_decay) doubles a scale two levels down in a
    global, where the fingerprint does not look: exponential_decay fails beside it, is run
    again the isolated way and keeps its points, as under isolation."""
    from grader import grade as grading

    reference = (ROOT / "solutions" / "optimizers" / "optimizers.py").read_text(encoding="utf-8")
    reference = "\n".join(line for line in reference.splitlines() if "SOLUTION" not in line)
    source = reference + textwrap.dedent('''

        _nested = {"scale": [1.0]}
        _step_decay, _exponential_decay = step_decay, exponential_decay

        def step_decay(eta0, epoch, drop=0.5, every=5):
            _nested["scale"][0] = 2.0
            return _step_decay(eta0, epoch, drop, every)

        def exponential_decay(eta0, k, t):
            return _exponential_decay(eta0, k, t) * _nested["scale"][0]
        ''')
    path = tmp_path / "optimizers.py"
    path.write_text(source, encoding="utf-8")
    assignment = COURSE.get("optimizers")
    optimistic = grade_submission(assignment, path, "ada", diagnose=False)
    isolated = grade_submission(assignment, path, "ada", diagnose=False, limits=Limits(isolate_functions=True))
    assert optimistic.score == isolated.score == optimistic.max_score
    monkeypatch.setattr(grading, "functions_to_rerun", lambda records, probes: set())  # without the re-run:
    harmed = grade_submission(assignment, path, "ada", diagnose=False)
    assert {p.function for p in harmed.parts if p.score < p.max_score} == {"exponential_decay"}
