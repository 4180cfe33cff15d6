"""Which mutants are equivalent to the reference: the same answers on a large randomised
probe set, so no check could ever tell them apart and grading them proves nothing.

The probe set is what the checks themselves ask: the hidden checks are run with the
reference as the "student" (in this process: the reference is trusted) under many seeds,
and the public checks once; every probe call they make is kept (name, arguments, and the
student function of the check that made it), plus, for probes that can fake a function's
building blocks (a `fakes` parameter), the same call with `fakes=True`, which the checks
make only when a plain run fails, and a randomised neighbour of every call (its numbers
perturbed): the checks' own draws alone would call a mistake that they never exercise
"equivalent", when it is an escape. The reference's answers are taken in the sandbox, the
same way as a mutant's, twice: a call whose two answers differ is not deterministic and is
left out.

A mutant is then run on the whole probe set in ONE sandbox (the assignment's probe drivers
plus one batch driver, `audit_batch`, that runs a list of calls and returns every answer),
in a few chunks with a time limit each, since a mutant may loop. It is equivalent when
every answer matches the reference's: the same structure and Python types, numbers within
`EQUIVALENT_RTOL` (a reordering of floating-point operations is not a mistake). Otherwise
the outcome says how it differs (numbers, an exception, a timeout), by how much at most,
and which functions' checks saw a difference.

Only the calls that can see the mistake are run: while the probe set is built, each call is
traced on the reference (a profile hook notes which of the module's top-level functions it
ran), and a mutant of `f` reruns only the calls that ran `f`. Every other call runs exactly
the reference's code (a mutant is the reference with one function edited), so its answer is
the reference's. A mutant of a step-size schedule thus costs its own few calls, not the
thousand of the whole set.

Mutant code never runs in this process: only the sandbox runs it, under its limits.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.batch.course_bundle import CourseRef
from grader.checking import CheckSession, StudentProbes, kwargs_key
from grader.course import Assignment
from grader.protocol import Opaque, TypedArray, decode_value, encode_value, pytype_of
from grader.errors import UsageError
from grader.sandbox import Limits, ProbeOutcome, Sandbox

#: Relative difference below which two numbers are the same answer (float reordering).
EQUIVALENT_RTOL = 1e-9
#: Absolute floor of that comparison, for answers near zero.
EQUIVALENT_ATOL = 1e-12
#: Probe calls per sandbox request (a reply stays far below the protocol's frame limit).
CHUNK_CALLS = 80
#: A chunk may take this many times the reference's time on it, and at least CHUNK_MIN_SECONDS.
CHUNK_TIME_FACTOR = 20.0
CHUNK_MIN_SECONDS = 5.0
NOT_RUN = "not run"  # the answer of a call after a chunk that hung or crashed
NOT_REACHED = "not reached"  # a call that never runs the mutated function: the reference's answer
BATCH_PROBE = "audit_batch"
#: Randomised neighbours of every probe call the checks make (see `perturb`).
PERTURBED_VARIANTS = 1
PERTURBATION_SEED = 20240917

_BATCH_DRIVER = f'''


# --- appended by grader.audit: one request runs many probe calls ---------------------------

def {BATCH_PROBE}(mod, calls):
    """Run each [name, kwargs] of `calls` on `mod`; [[True, answer] or [False, exception
    type name], ...] in order."""
    answers = []
    for name, kwargs in calls:
        try:
            answers.append([True, globals()[name](mod, **kwargs)])
        except Exception as exc:
            answers.append([False, type(exc).__name__])
    return answers
'''


class ProbeSetError(UsageError):
    """The course's reference cannot answer its own probe set; str() is one line."""


@dataclass(frozen=True)
class ProbeCall:
    function: str  # the student function whose check made the call
    name: str
    kwargs: dict
    uses: tuple[str, ...] | None = None  # the module's top-level functions the call ran (None: unknown)

    def reaches(self, function: str | None) -> bool:
        """Whether a change to `function` can change this call's answer: only if the
        reference ran it (the rest of a mutant's module is the reference's, byte for byte)."""
        return function is None or self.uses is None or function in self.uses


@dataclass
class ProbeSet:
    calls: list[ProbeCall]
    answers: list[Any]  # the reference's [ok, value] per call
    chunk_timeouts: list[float]
    probes_path: Path  # the audit's probes module (the assignment's plus the batch driver)

    def chunks(self) -> list[range]:
        return [range(start, min(start + CHUNK_CALLS, len(self.calls))) for start in range(0, len(self.calls), CHUNK_CALLS)]


@dataclass
class EquivalenceOutcome:
    """How a mutant's answers compare with the reference's on the probe set."""

    key: str
    status: str  # equivalent | differs | raises | hangs | broken (does not import)
    functions: list[str] = field(default_factory=list)  # whose checks' calls differ
    differing_calls: int = 0
    max_deviation: float = 0.0  # largest relative difference of a differing number (inf: not numbers)
    detail: str = ""
    seconds: float = 0.0

    @property
    def equivalent(self) -> bool:
        return self.status == "equivalent"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["max_deviation"] = None if math.isinf(self.max_deviation) else self.max_deviation
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "EquivalenceOutcome":
        data = dict(data)
        data["max_deviation"] = math.inf if data.get("max_deviation") is None else data["max_deviation"]
        return cls(**data)


# --- the probe set --------------------------------------------------------------------------

def audit_probes_text(assignment: Assignment) -> str:
    """The assignment's probe drivers with the batch driver appended."""
    return assignment.probes_path.read_text(encoding="utf-8") + _BATCH_DRIVER


def collect_calls(assignment: Assignment, seeds: int, perturbed: int = PERTURBED_VARIANTS) -> list[ProbeCall]:
    """Every distinct probe call of the hidden checks under `seeds` seeds and of the public
    checks, the reference answering (in this process), plus faked variants and `perturbed`
    randomised neighbours of each (see the module docstring)."""
    from grader.grade import reference_module  # the grading module; imported late (it is large)

    reference = reference_module(assignment)
    calls: dict[str, ProbeCall] = {}

    def answer(name, kwargs, timeout, group):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # as the checks run (grader.checking)
                return ProbeOutcome("ok", value=reference.probe(name, **kwargs))
        except Exception as exc:  # a check may probe a failure on purpose
            return ProbeOutcome("error", exc_type=type(exc).__name__, message=str(exc))

    runs = [(assignment.hidden_checks, f"grader-audit-probe-set|{number}", True) for number in range(seeds)]
    runs.append((assignment.public_checks, "public", False))
    sessions: dict[Path, CheckSession] = {}
    try:
        for checks_dir, material, per_student in runs:
            session = sessions.setdefault(checks_dir, CheckSession(checks_dir))
            records, _ = session.run(StudentProbes(answer), reference, material, per_student)
            for record in records:
                for call in record.probe_calls:
                    calls.setdefault(kwargs_key(call.name, call.kwargs), ProbeCall(record.function, call.name, call.kwargs))
    finally:
        for session in sessions.values():
            session.close()
    fakeable = {name for name, driver in vars(reference.probes).items()
                if callable(driver) and not name.startswith("_") and _takes_fakes(driver)}
    for call in list(calls.values()):
        if call.name in fakeable and not call.kwargs.get("fakes"):
            faked = dict(call.kwargs, fakes=True)
            calls.setdefault(kwargs_key(call.name, faked), ProbeCall(call.function, call.name, faked))
    rng = np.random.default_rng(PERTURBATION_SEED)
    for call in list(calls.values()):
        for _ in range(perturbed):
            kwargs = perturb(call.kwargs, rng)
            calls.setdefault(kwargs_key(call.name, kwargs), ProbeCall(call.function, call.name, kwargs))
    return [ProbeCall(c.function, c.name, c.kwargs, _functions_run(reference, c)) for c in calls.values()]


def _functions_run(reference, call: ProbeCall) -> tuple[str, ...]:
    """The reference module's top-level functions that `call` runs (code nested in one, a
    lambda or a local function, counts as that function), traced here on the trusted
    reference with a profile hook."""
    origin = str(reference.module_path)
    seen: set[str] = set()

    def hook(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == origin:
            seen.add(frame.f_code.co_qualname.split(".")[0])

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a perturbed input may overflow: its answer is data
            reference.probe(call.name, **call.kwargs)
    except Exception:
        pass
    finally:
        sys.setprofile(previous)
    return tuple(sorted(seen - {"<module>"}))


def perturb(value: Any, rng: np.random.Generator) -> Any:
    """A random neighbour of a probe argument: floats scaled and shifted (x (1 + 0.3 z1) +
    0.1 z2), positive ints moved by -2..2 (staying at least 1), everything else (strings,
    bools, None, the `fakes` switch) as it is. It takes the inputs away from whatever the
    checks happened to draw, so a mistake the checks never exercise still differs here."""
    if isinstance(value, dict):
        return {k: v if k == "fakes" else perturb(v, rng) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(perturb(v, rng) for v in value)
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return max(1, int(value) + int(rng.integers(-2, 3))) if value >= 1 else value
    if isinstance(value, (float, np.floating)):
        return float(value * (1 + 0.3 * rng.standard_normal()) + 0.1 * rng.standard_normal())
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value * (1 + 0.3 * rng.standard_normal(value.shape)) + 0.1 * rng.standard_normal(value.shape)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size and value.min() >= 1:
        return np.maximum(1, value + rng.integers(-2, 3, size=value.shape)).astype(value.dtype)
    return value


def _takes_fakes(driver) -> bool:
    try:
        return "fakes" in inspect.signature(driver).parameters
    except (TypeError, ValueError):
        return False


def build_probe_set(assignment: Assignment, seeds: int, out: Path, limits: Limits | None = None) -> ProbeSet:
    """Collect the calls, take the reference's answers twice in the sandbox, keep the
    deterministic calls, and save it all under `out` (for worker processes). Raises
    ProbeSetError when the reference does not answer every call (SandboxError when the
    sandbox itself cannot run)."""
    out.mkdir(parents=True, exist_ok=True)
    probes_path = out / "audit_probes.py"
    probes_path.write_text(audit_probes_text(assignment), encoding="utf-8")
    calls = collect_calls(assignment, seeds)
    reference = assignment.reference_path.read_text(encoding="utf-8")
    limits = limits or Limits(probe_timeout=600.0)
    draft = ProbeSet(calls, [], [600.0], probes_path)
    first, seconds = _answers(reference, assignment.module, draft, limits)
    second, _ = _answers(reference, assignment.module, draft, limits)
    if first is None or second is None or any(_failure(a) in ("timeout", "crashed") for a in first):
        raise ProbeSetError(f"{assignment.reference_path}: the reference does not run on its own checks' probe "
                            f"calls in the sandbox (it does not import, or hung or crashed); fix it or its probes first")
    keep = [n for n in range(len(calls)) if _deviation(first[n], second[n]) == 0.0]
    probe_set = ProbeSet([calls[n] for n in keep], [first[n] for n in keep], [], probes_path)
    per_call = [seconds[n // CHUNK_CALLS] / CHUNK_CALLS for n in keep]
    probe_set.chunk_timeouts = [max(CHUNK_MIN_SECONDS, CHUNK_TIME_FACTOR * sum(per_call[c.start:c.stop]))
                                for c in probe_set.chunks()]
    save_probe_set(probe_set, out / "probe_set.npz")
    return probe_set


def _answers(source: str, module: str, probe_set: ProbeSet, limits: Limits, pool=None,
             function: str | None = None) -> tuple[list[Any] | None, list[float]]:
    """[ok, value] per call of `source` run in one sandbox, and the seconds each request
    took; None when the module does not import. Only the calls that reach `function` (all
    for None) are run; the others answer [False, NOT_REACHED]. After a request that hung or
    crashed, its calls answer [False, "timeout"/"crashed"] and the rest [False, NOT_RUN]."""
    wanted = [n for n, call in enumerate(probe_set.calls) if call.reaches(function)]
    answers: list[Any] = [[False, NOT_REACHED]] * len(probe_set.calls)
    seconds: list[float] = []
    timeout = max(probe_set.chunk_timeouts, default=CHUNK_MIN_SECONDS)
    with Sandbox(source, module, probe_set.probes_path, limits, pool=pool) as sandbox:
        if sandbox.import_error is not None:
            return None, []
        for start in range(0, len(wanted), CHUNK_CALLS):
            chunk = wanted[start:start + CHUNK_CALLS]
            batch = [[probe_set.calls[n].name, probe_set.calls[n].kwargs] for n in chunk]
            outcome = sandbox.run_probe(BATCH_PROBE, {"calls": batch}, timeout=timeout, group="audit")
            seconds.append(outcome.seconds)
            if outcome.status == "ok" and isinstance(outcome.value, list) and len(outcome.value) == len(chunk):
                for n, value in zip(chunk, outcome.value):
                    answers[n] = value
                continue
            reason = outcome.status if outcome.status != "ok" else "malformed"
            for n in chunk:
                answers[n] = [False, reason]
            if outcome.status in ("timeout", "crashed"):  # it would hang again: the rest are not run
                for n in wanted[start + CHUNK_CALLS:]:
                    answers[n] = [False, NOT_RUN]
                break
    return answers, seconds


# --- saving (worker processes read the probe set from disk) ----------------------------------

_PYTYPE, _OPAQUE = "__audit_pytype__", "__audit_opaque__"


def _pack(value: Any) -> Any:
    """A decoded answer as plain data that keeps what a second encoding would lose: the
    Python type each array stood for (TypedArray.pytype) and Opaque descriptions."""
    if isinstance(value, TypedArray):
        return {_PYTYPE: value.pytype, "array": value.view(np.ndarray)}
    if isinstance(value, Opaque):
        return {_OPAQUE: value.pytype, "repr": value.repr}
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(v) for v in value)
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, dict) and _PYTYPE in value:
        typed = np.asarray(value["array"]).view(TypedArray)
        typed.pytype = value[_PYTYPE]
        return typed
    if isinstance(value, dict) and _OPAQUE in value:
        return Opaque(value[_OPAQUE], value["repr"])
    if isinstance(value, dict):
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_unpack(v) for v in value)
    return value


def save_probe_set(probe_set: ProbeSet, path: Path) -> None:
    value = {"calls": [[c.function, c.name, c.kwargs, None if c.uses is None else list(c.uses)] for c in probe_set.calls],
             "answers": _pack(probe_set.answers),
             "chunk_timeouts": probe_set.chunk_timeouts, "probes_path": str(probe_set.probes_path)}
    meta, arrays = encode_value(value)
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)


_LOADED: dict[tuple, ProbeSet] = {}


def load_probe_set(path: Path) -> ProbeSet:
    """The probe set saved at `path` (cached per file version in a worker process)."""
    stat = Path(path).stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["__meta__"]).decode())
            # native: the calls' arguments as the checks passed them (a float stays a float)
            value = decode_value(meta, {name: data[name] for name in data.files if name != "__meta__"}, native=True)
        _LOADED[key] = ProbeSet(
            calls=[ProbeCall(str(f), str(n), dict(k), None if u is None else tuple(u)) for f, n, k, u in value["calls"]],
            answers=_unpack(value["answers"]),
            chunk_timeouts=[float(t) for t in value["chunk_timeouts"]], probes_path=Path(value["probes_path"]))
    return _LOADED[key]


# --- comparing ------------------------------------------------------------------------------

def _deviation(left: Any, right: Any) -> float:
    """0.0 when two decoded answers are the same (numbers within EQUIVALENT_RTOL), else the
    largest relative difference of their numbers, or inf when they differ otherwise."""
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        if not (isinstance(left, np.ndarray) and isinstance(right, np.ndarray)) or pytype_of(left) != pytype_of(right):
            return math.inf
        if left.shape != right.shape or left.dtype.kind not in "biufc" or right.dtype.kind not in "biufc":
            return math.inf
        a, b = np.asarray(left, dtype=np.complex128), np.asarray(right, dtype=np.complex128)
        if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(np.isinf(a), np.isinf(b)):
            return math.inf
        finite = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(a[~finite], b[~finite], equal_nan=True):
            return math.inf
        if not finite.any():
            return 0.0
        relative = np.abs(a[finite] - b[finite]) / np.maximum(np.abs(b[finite]), EQUIVALENT_ATOL / EQUIVALENT_RTOL)
        worst = float(relative.max())
        return 0.0 if worst <= EQUIVALENT_RTOL else worst
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        if type(left) is not type(right) or len(left) != len(right):
            return math.inf
        return max((_deviation(a, b) for a, b in zip(left, right)), default=0.0)
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return math.inf
        return max((_deviation(left[k], right[k]) for k in left), default=0.0)
    if isinstance(left, Opaque) or isinstance(right, Opaque):
        return 0.0 if isinstance(left, Opaque) and isinstance(right, Opaque) and left.pytype == right.pytype else math.inf
    return 0.0 if left == right and type(left) is type(right) else math.inf


def _failure(answer: Any) -> str:
    """The exception (or "timeout", "crashed") of a failed [ok, value] answer; "" if it ran."""
    try:
        ran = bool(answer[0])
    except (TypeError, ValueError, IndexError):
        return "malformed"
    return "" if ran else str(answer[1]) if isinstance(answer[1], str) else "malformed"


def compare(key: str, answers: list[Any] | None, probe_set: ProbeSet, seconds: float = 0.0) -> EquivalenceOutcome:
    """The outcome of a mutant whose answers (None: it did not import) are `answers`."""
    if answers is None:
        return EquivalenceOutcome(key, "broken", sorted({c.function for c in probe_set.calls}),
                                  len(probe_set.calls), math.inf, "the module does not import", seconds)
    functions: set[str] = set()
    differing = 0
    worst = 0.0
    first = ""
    status = "equivalent"
    for call, mine, theirs in zip(probe_set.calls, answers, probe_set.answers):
        if _failure(mine) in (NOT_RUN, NOT_REACHED):
            continue
        deviation = _deviation(mine, theirs)
        if deviation == 0.0:
            continue
        differing += 1
        functions.add(call.function)
        worst = max(worst, deviation)
        failure = _failure(mine)
        if failure == "timeout":
            status = "hangs"
        elif failure and status in ("equivalent", "differs"):
            status = "raises"
        elif status == "equivalent":
            status = "differs"
        if not first:
            first = f"{call.name} ({call.function}'s checks): " + (
                f"raised {failure}" if failure else "a different answer" if math.isinf(deviation)
                else f"relative difference {deviation:.3g}")
    return EquivalenceOutcome(key, status, sorted(functions), differing, worst, first, seconds)


# --- the job a batch worker runs --------------------------------------------------------------

#: Where the probe set and the audit's probes module sit in a course bundle sent to Dask
#: workers (`grader.audit.run`, `grader.batch.course_bundle`).
SHIPPED_PROBE_SET = "audit/probe_set.npz"
SHIPPED_PROBES = "audit/audit_probes.py"


@dataclass(frozen=True)
class EquivalenceJob:
    """One mutant's equivalence run (the shape `grader.batch.runner.run_jobs` expects:
    `assignment` and `student`, here the mutant's key)."""

    assignment: Assignment
    student: str
    source: str  # the mutant's module text
    probe_set: str  # the saved probe set (its path here, when `course` is None)
    function: str | None = None  # the function the mutant changes: only calls that run it can differ
    course: CourseRef | None = None  # on Dask: the course bundle holding the probe set (SHIPPED_*)


def equivalence_job(job: EquivalenceJob):
    """Run one mutant on the probe set in a sandbox of this worker thread's warm pool (a Dask
    worker may run jobs on several threads; a pool serves the thread that made it); the
    outcome's `result` is the EquivalenceOutcome as a dict."""
    from grader.batch.work import GradeOutcome
    from grader.sandbox import thread_pool

    if job.course is not None:  # this machine's copy (grader.batch.course_bundle)
        root = job.course.root()
        probe_set = dataclasses.replace(load_probe_set(root / SHIPPED_PROBE_SET), probes_path=root / SHIPPED_PROBES)
    else:
        probe_set = load_probe_set(Path(job.probe_set))
    pool = thread_pool()
    started = time.monotonic()
    answers, _ = _answers(job.source, job.assignment.module, probe_set, Limits(probe_timeout=max(probe_set.chunk_timeouts)),
                          pool=pool, function=job.function)
    outcome = compare(job.student, answers, probe_set, time.monotonic() - started)
    return GradeOutcome(job.student, outcome.to_dict())
