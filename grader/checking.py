"""Checks run in the trusted process; this module collects and runs them.

A check is a pytest-style test function in a checks folder (`test_*.py`), marked with
`@check(function, weight, title=..., visibility=...)`, whose arguments name the fixtures it
needs (`student`, `reference`, `rng`, `trace`). It asks `student.probe(name, **kwargs)` (run
in the sandbox, values come back as plain data) and `reference.probe(name, **kwargs)` (run
here on the reference, or served from baked values in a student bundle), then compares with
`grader.expect`. Nothing the student does can reach this process: it only ever sees the
decoded arrays.

Outcomes are data: every check becomes a `CheckRecord` (status, score, feedback, the probe
calls it made with the student's answers, the tolerances it used), which `grader.grade`
turns into the result model and `grader.diagnosis` replays on known-mistake mutants.

The checks are written for pytest but run here without it: grading needs four fixtures and
an outcome per check, not pytest's configuration, plugins, collection tree and per-test
protocol (which cost more than the checks' own comparisons, and pytest's import alone a
tenth of a second in `grader grade`). Bare `assert` works but only its message is shown
(nothing rewrites assertions, so a hidden check's source never reaches feedback).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import time
import types
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader.expect import TOLERANCES, CheckFailure, format_inputs
from grader.results import Trace

#: The attribute @check sets on a check function (its CheckSpec).
CHECK_ATTRIBUTE = "grader_check"


@dataclass(frozen=True)
class CheckSpec:
    """What @check says about a check (see `check`)."""

    function: str
    weight: float
    title: str | None = None
    visibility: str = "visible"
    timeout: float | None = None


def check(function: str, weight: float = 1.0, title: str | None = None, visibility: str = "visible",
          timeout: float | None = None):
    """Mark a test as a check of the student `function`. Points are written in one place,
    the part's `points` in assignment.toml: a hidden check earns the share `weight` / (the
    sum of the weights of its function's hidden checks) of them (`grader.grade.check_points`);
    a public check counts as one test. `title` is what the student reads (default: the
    test's docstring's first line); `visibility` follows Gradescope (visible, hidden,
    after_due_date, after_published); `timeout` overrides the per-probe wall-clock limit in
    seconds."""
    if not float(weight) > 0:
        raise ValueError(f"@check({function!r}, weight={weight!r}): a weight is a positive number")
    spec = CheckSpec(function=function, weight=float(weight), title=title, visibility=visibility, timeout=timeout)

    def mark(test: Callable) -> Callable:
        setattr(test, CHECK_ATTRIBUTE, spec)
        return test
    return mark


class StudentError(Exception):
    """The student's code raised (or crashed the worker); str() is the student-facing text."""

    def __init__(self, message: str, exc_type: str = "", traceback: str = ""):
        super().__init__(message)
        self.exc_type = exc_type
        self.traceback = traceback


class StudentTimeout(Exception):
    """The student's code ran past its time limit."""


@dataclass
class ProbeCall:
    name: str
    kwargs: dict
    status: str  # ok | error | timeout | crashed
    value: Any = None


@dataclass
class CheckRecord:
    nodeid: str
    function: str
    weight: float  # the check's share of its part's points (see `check`)
    title: str
    visibility: str
    status: str = "error"  # passed | failed | error | timeout
    output: str = ""
    duration: float = 0.0
    internal_error: str = ""  # a bug in the check itself, never blamed on the student
    not_implemented: bool = False  # the student's function raised NotImplementedError or is not defined
    timeout: float | None = None  # the check's own per-probe limit (@check(timeout=...))
    probe_calls: list[ProbeCall] = field(default_factory=list)
    tolerances: list[tuple[float, float]] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)

    @property
    def tolerance(self) -> tuple[float, float]:
        """The loosest tolerance the check used (the default when it compared nothing)."""
        if not self.tolerances:
            return (1e-7, 1e-10)
        return (max(r for r, _ in self.tolerances), max(a for _, a in self.tolerances))


# --- normalising values ------------------------------------------------------------------

def normalise(value: Any) -> Any:
    """What a value looks like after the trip through the worker protocol, so reference
    answers computed here compare like for like with the student's."""
    from grader.protocol import roundtrip

    return roundtrip(value)


def kwargs_key(name: str, kwargs: dict) -> str:
    """A stable digest of a probe call (name + arguments), for baked reference answers."""
    digest = hashlib.sha256(name.encode())

    def feed(value: Any) -> None:
        if isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value):
                digest.update(str(key).encode() + b":")
                feed(value[key])
            digest.update(b"}")
        elif isinstance(value, (list, tuple)):
            digest.update(b"[")
            for item in value:
                feed(item)
            digest.update(b"]")
        elif isinstance(value, (np.ndarray, np.generic)):
            array = np.ascontiguousarray(value)
            digest.update(f"a{array.dtype.str}{array.shape}".encode() + array.tobytes())
        else:
            digest.update(repr(value).encode())

    feed(kwargs)
    return digest.hexdigest()


def copy_inputs(value: Any) -> Any:
    """A deep copy of a probe call's arguments, which are plain data (dicts, lists, tuples,
    arrays, numbers, strings, None), at a fraction of copy.deepcopy's cost (it keeps a memo of
    every object; a probe runs ~100 times per submission). An object that appears twice is
    copied twice, as the protocol delivers it twice to the student's side; arrays keep their
    memory layout; anything else is left to copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: copy_inputs(item) for key, item in value.items()}
    if kind is list:
        return [copy_inputs(item) for item in value]
    if kind is tuple:
        return tuple(copy_inputs(item) for item in value)
    if kind is np.ndarray and value.dtype.kind != "O":
        return value.copy(order="K")
    if value is None or kind in (float, int, bool, str, complex) or isinstance(value, np.generic):
        return value  # immutable
    return copy.deepcopy(value)


# --- the modules a check can probe --------------------------------------------------------

def load_module_from(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InProcessModule:
    """Probes run here, on trusted code (the reference or a mutant). Each probe call gets a
    fresh copy of the module, so a probe that patches module functions cannot leak into the
    next call. It computes any answer when asked (`answers_on_demand`): a check need not ask
    it ahead for answers it may not need (see `grader.composites.plain_or_faked`)."""

    answers_on_demand = True

    def __init__(self, module_path: Path, probes: types.ModuleType, module_name: str):
        self.module_path = Path(module_path)
        self.module_name = module_name
        self.probes = probes
        self._code = compile(self.module_path.read_text(encoding="utf-8"), str(self.module_path), "exec")

    def fresh_module(self) -> types.ModuleType:
        module = types.ModuleType(self.module_name)
        module.__file__ = str(self.module_path)
        exec(self._code, module.__dict__)
        return module

    def probe(self, name: str, **kwargs) -> Any:
        return normalise(getattr(self.probes, name)(self.fresh_module(), **copy_inputs(kwargs)))


#: The reference's answers to the public checks, baked by `grader build` next to them.
PUBLIC_EXPECTED = "public_expected.npz"


def pack_answers(answers: dict[str, Any], prefix: str = "v") -> tuple[dict, dict[str, np.ndarray]]:
    """Probe answers (kwargs_key -> decoded value) as (a JSON-able index, named arrays) for an
    `.npz`: plain data only (the protocol's encoding), so loading it never unpickles."""
    from grader.protocol import encode_value

    arrays: dict[str, np.ndarray] = {}
    index: dict[str, Any] = {}
    for number, (key, value) in enumerate(sorted(answers.items())):
        meta, refs = encode_value(value)
        renamed = {ref: f"{prefix}{number}_{ref}" for ref in refs}
        index[key] = (_rename_refs(meta, renamed), list(renamed.values()))
        arrays.update({renamed[ref]: array for ref, array in refs.items()})
    return index, arrays


def _rename_refs(meta: Any, renamed: dict[str, str]) -> Any:
    """A copy of an encoded value whose arrays' refs are renamed; only the `ref` of an
    array is touched (a dict key or a string that happens to equal a ref stays as it is)."""
    if isinstance(meta, dict):
        if meta.get("kind") == "array" and meta.get("ref") in renamed:
            return {**meta, "ref": renamed[meta["ref"]]}
        return {key: _rename_refs(value, renamed) for key, value in meta.items()}
    if isinstance(meta, list):
        return [_rename_refs(item, renamed) for item in meta]
    return meta


def unpack_answers(index: dict, data) -> dict[str, Any]:
    """The inverse of `pack_answers` (`data` maps array names to arrays, e.g. an open npz)."""
    from grader.protocol import decode_value

    return {key: decode_value(meta, {ref: data[ref] for ref in refs}) for key, (meta, refs) in index.items()}


class BakedAnswers:
    """Answers to probe calls read from a baked table (kwargs_key -> value): the reference's
    answers to the public checks in a student bundle (which has no solutions/), or a known
    mistake's. A call it has no answer for raises RuntimeError."""

    def __init__(self, answers: dict[str, Any], origin: str):
        self._answers = answers
        self.origin = origin

    def __len__(self) -> int:
        return len(self._answers)

    def probe(self, name: str, **kwargs) -> Any:
        key = kwargs_key(name, kwargs)
        if key not in self._answers:
            raise RuntimeError(f"no baked answer for probe {name!r} in {self.origin}; "
                               "run `grader build` to regenerate it")
        return copy.deepcopy(self._answers[key])


class BakedReference(BakedAnswers):
    """The reference's answers to the public checks, read from a baked `.npz` (a student
    bundle has no solutions/)."""

    def __init__(self, path: Path):
        self.path = path
        answers: dict[str, Any] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                answers = unpack_answers(json.loads(bytes(data["__index__"]).decode()), data)
        super().__init__(answers, str(path))


class RecordingReference:
    """Wraps a reference and remembers every call and answer, to bake public checks' answers."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.answers: dict[str, Any] = {}
        self.calls: dict[str, tuple[str, dict]] = {}  # kwargs_key -> (probe name, kwargs)

    def probe(self, name: str, **kwargs) -> Any:
        value = self.inner.probe(name, **kwargs)
        key = kwargs_key(name, kwargs)
        self.answers[key] = value
        self.calls.setdefault(key, (name, copy_inputs(kwargs)))
        return copy.deepcopy(value)

    def save(self, path: Path) -> None:
        index, arrays = pack_answers(self.answers)
        arrays["__index__"] = np.frombuffer(json.dumps(index, sort_keys=True).encode(), dtype=np.uint8)
        np.savez(path, **arrays)


class StudentProbes:
    """The `student` fixture: probes in the sandbox, results recorded on the running check.
    Raises StudentError / StudentTimeout so the check stops and the plugin records why.

    Time is accounted per student function (the function of the running check), so that a
    function that hangs costs its own checks and never another function's: once one of its
    probes timed out, its later probes get `retry_timeout` instead of `probe_timeout`, and
    all its probes together may take `function_budget` seconds; past that its remaining
    probes are not run."""

    def __init__(self, run: Callable[[str, dict, float | None, str | None], Any], *,
                 probe_timeout: float | None = None, function_budget: float | None = None,
                 retry_timeout: float | None = None, reply_allowance: tuple[int, int, int] | None = None):
        # (name, kwargs, timeout, group) -> ProbeOutcome-like. The group is the student function
        # of the running check: probes of one function may share a sandbox process
        # (see Sandbox.run_probe).
        self._run = run
        self.probe_timeout = probe_timeout  # what the runner uses when given None
        self.function_budget = function_budget
        self.retry_timeout = retry_timeout
        self.record: CheckRecord | None = None
        self.timeout: float | None = None
        self._spent: dict[str, float] = {}
        self._hung: set[str] = set()
        # (floor, factor, unknown): a reply to probe `name` may take floor + factor x the
        # largest reference answer to `name` seen so far (checks ask the reference first),
        # or `unknown` bytes before any; `run` then gets the limit as a fifth argument.
        self.reply_allowance = reply_allowance
        self._reference_bytes: dict[str, int] = {}
        #: Functions some of whose probes ran in a process that had served another function's
        #: probes before (the outcome says `shared`): `grader.grade.functions_to_rerun`.
        self.shared: set[str] = set()

    def note_reference_answer(self, name: str, value: Any) -> None:
        """The reference answered probe `name` with `value` (sets the size allowed to the
        student's answers to that probe, see `reply_allowance`)."""
        from grader.protocol import value_bytes

        size = value_bytes(value)
        if size > self._reference_bytes.get(name, -1):
            self._reference_bytes[name] = size

    def reference_bytes(self, name: str) -> int | None:
        """The largest reference answer to probe `name` so far, in bytes (None: none yet)."""
        return self._reference_bytes.get(name)

    def _reply_limit(self, name: str) -> int | None:
        if self.reply_allowance is None:
            return None
        floor, factor, unknown = self.reply_allowance
        known = self._reference_bytes.get(name)
        return unknown if known is None else floor + factor * known

    def probe(self, name: str, **kwargs) -> Any:
        function = self.record.function if self.record is not None else None
        timeout, note = self._timeout_for(function)
        if timeout is not None and timeout <= 0:
            self._remember(name, kwargs, "timeout")
            raise StudentTimeout(f"not run: earlier tests of {function} used up its time (they did not finish)")
        started = time.monotonic()
        limit = self._reply_limit(name)
        outcome = (self._run(name, kwargs, timeout, function) if limit is None
                   else self._run(name, kwargs, timeout, function, limit))
        if function is not None:
            self._spent[function] = self._spent.get(function, 0.0) + time.monotonic() - started
            if outcome.status == "timeout":
                self._hung.add(function)
            if getattr(outcome, "shared", False) is True:
                self.shared.add(function)
        self._remember(name, kwargs, outcome.status, outcome.value if outcome.status == "ok" else None)
        if outcome.status == "ok":
            return outcome.value
        if outcome.status == "timeout":
            raise StudentTimeout(_timeout_text(outcome, kwargs, note))
        if outcome.status == "crashed":
            raise StudentError(outcome.message or "your code crashed the process running it "
                               "(os._exit, a signal, or running out of memory?)", exc_type="crash")
        raise StudentError(_student_error_text(outcome), exc_type=outcome.exc_type or "", traceback=outcome.traceback or "")

    def _timeout_for(self, function: str | None) -> tuple[float | None, str]:
        """The limit for the next probe of `function`'s check (None: the runner's default),
        and a note for the student when it is shorter than usual."""
        timeout = self.timeout if self.timeout is not None else self.probe_timeout
        note = ""
        if function is None:
            return self.timeout, note
        if function in self._hung and self.retry_timeout is not None and (
                timeout is None or self.retry_timeout < timeout):
            timeout = self.retry_timeout
            note = f" (a shorter limit: an earlier test of {function} did not finish either)"
        if self.function_budget is not None:
            budget = max(self.function_budget, 2 * (self.timeout or 0.0))
            left = budget - self._spent.get(function, 0.0)
            if timeout is None or left < timeout:
                timeout = left
        return timeout, note

    def _remember(self, name: str, kwargs: dict, status: str, value: Any = None) -> None:
        if self.record is not None:
            self.record.probe_calls.append(ProbeCall(name, copy_inputs(kwargs), status, value))


#: A student's answer kept on a CheckRecord once its check has compared it (for diagnosis
#: and plots) is at most this many bytes plus KEEP_FACTOR x the reference's answer; larger
#: ones (a submission padding its replies) are dropped then, so that a grade holds at most
#: one check's worth of them.  Honest answers are far smaller.
KEEP_FLOOR = 256 << 10
KEEP_FACTOR = 4


def _drop_large_answers(record: CheckRecord, student: StudentProbes) -> None:
    """Replace the record's oversized student answers (probe calls and traces) by a note."""
    from grader.protocol import Opaque, pytype_of, value_bytes

    for call in record.probe_calls:
        if call.value is None:
            continue
        size = value_bytes(call.value)
        if size > KEEP_FLOOR + KEEP_FACTOR * (student.reference_bytes(call.name) or 0):
            kind = pytype_of(call.value)
            call.value = Opaque(kind, f"<{kind} of about {size} bytes: not kept after the comparison>")
    for index, trace in enumerate(record.traces):
        if trace.student is not None and value_bytes(trace.student) > KEEP_FLOOR + KEEP_FACTOR * value_bytes(
                trace.reference):
            record.traces[index] = replace(trace, student=None)


class _MeasuredReference:
    """The `reference` fixture: the reference's probes, each answer's size told to the
    student probes (what a student's reply to the same probe may take)."""

    def __init__(self, inner: Any, student: StudentProbes):
        self._inner = inner
        self._student = student

    def probe(self, name: str, **kwargs) -> Any:
        value = self._inner.probe(name, **kwargs)
        self._student.note_reference_answer(name, value)
        return value

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._inner, attribute)


def _timeout_text(outcome, kwargs: dict, note: str) -> str:
    """A timeout in the student's terms: the inputs of the call, the limit, and (when the
    worker could tell) the line of their code it was on when it was stopped."""
    inputs = format_inputs({key: value for key, value in kwargs.items() if value is not None and key != "fakes"})
    text = inputs + (f"your code did not finish: {outcome.message} (an endless loop?){note}" if outcome.message
                     else f"your code did not finish within the time limit (an endless loop?){note}")
    if getattr(outcome, "traceback", ""):
        text += "\nIt was stopped here:\n" + outcome.traceback.rstrip()
    return text


def _student_error_text(outcome) -> str:
    if outcome.exc_type == "NotImplementedError":
        return "not implemented yet: the function still raises NotImplementedError"
    if outcome.exc_type in ("ImportError_missing_function", "ResultTooLarge"):
        return outcome.message
    text = f"your code raised {outcome.exc_type}: {outcome.message}".rstrip(": ")
    if outcome.traceback:
        text += "\n" + outcome.traceback.rstrip()
    return text


# --- collecting the checks ----------------------------------------------------------------

#: Check files are found as pytest finds test files (its default patterns), below the checks
#: folder; a check is a module-level function whose name starts with "test", marked @check.
CHECK_FILES = ("test_*.py", "*_test.py")
#: What a check's arguments may name (pytest-style fixtures): see `GraderPlugin`.
FIXTURES = ("student", "reference", "rng", "trace")


@dataclass(frozen=True)
class CollectedCheck:
    """One check found in a checks folder: `nodeid` is "<file below the folder>::<name>"."""

    nodeid: str
    name: str  # the function's name (part of its inputs' seed)
    test: Callable[..., Any]
    arguments: tuple[str, ...]  # the fixtures it asks for
    spec: CheckSpec

    @property
    def title(self) -> str:
        doc = (self.test.__doc__ or "").strip().splitlines()
        return f"{self.spec.function}: {self.spec.title or (doc[0] if doc else self.name)}"


def _check_files(checks_dir: Path) -> list[Path]:
    """The check files below `checks_dir`, in pytest's order (sorted names, depth first;
    hidden folders and __pycache__ skipped)."""
    found: list[Path] = []
    for entry in sorted(checks_dir.iterdir(), key=lambda path: path.name):
        if entry.is_dir():
            if not entry.name.startswith((".", "__pycache__")):
                found += _check_files(entry)
        elif entry.suffix == ".py" and any(entry.match(pattern) for pattern in CHECK_FILES):
            found.append(entry)
    return found


def _fixtures_asked(test: Callable) -> tuple[str, ...]:
    """The arguments a check must be given (those without a default), as pytest reads them."""
    return tuple(name for name, parameter in inspect.signature(test).parameters.items()
                 if parameter.default is inspect.Parameter.empty
                 and parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))


def collect_checks(checks_dir: Path) -> tuple[list[CollectedCheck], list[str], list[str]]:
    """(the checks in file order, collection errors, the names of the modules imported).

    Each check file is imported as a module of its own (under a name made from the folder and
    the file, so two assignments' `test_public` never meet in sys.modules; the caller removes
    them with `forget_modules`). A file that cannot be imported, a test function not marked
    with @check and a test class (checks are functions) are collection errors, one line each;
    the other checks still run."""
    checks_dir = Path(checks_dir)
    folder_key = hashlib.sha256(str(checks_dir.resolve()).encode()).hexdigest()[:12]
    checks: list[CollectedCheck] = []
    errors: list[str] = []
    modules: list[str] = []
    files = _check_files(checks_dir) if checks_dir.is_dir() else []
    if not checks_dir.is_dir():
        errors.append(f"{checks_dir}: no such checks folder")
    for path in files:
        relative = path.relative_to(checks_dir).as_posix()
        name = f"_grader_checks_{folder_key}_" + "_".join(path.relative_to(checks_dir).with_suffix("").parts)
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # what a class defined in a check (a dataclass) looks up
            modules.append(name)
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - a broken check file costs its own checks
            if isinstance(exc, KeyboardInterrupt):
                raise
            errors.append(f"{relative}: cannot be imported: {type(exc).__name__}: {exc}")
            continue
        for attribute, value in list(vars(module).items()):
            if not attribute.startswith("test") and not (isinstance(value, type) and attribute.startswith("Test")):
                continue
            if isinstance(value, type) and attribute.startswith("Test"):
                errors.append(f"{relative}::{attribute}: a class; checks are functions marked with @check")
            elif inspect.isfunction(value) and getattr(value, "__test__", True):
                marked = getattr(value, CHECK_ATTRIBUTE, None)
                if not isinstance(marked, CheckSpec):
                    errors.append(f"{relative}::{attribute}: not marked with @check(function, weight)")
                    continue
                checks.append(CollectedCheck(f"{relative}::{attribute}", attribute, value, _fixtures_asked(value),
                                             marked))
    return checks, errors, modules


def forget_modules(names: list[str]) -> None:
    for name in names:
        sys.modules.pop(name, None)


# --- running them ---------------------------------------------------------------------------

class GraderPlugin:
    """What the checks run with for one submission, and what they leave: the fixtures a check
    may ask for by argument name (`student`: the student's probes; `reference`: the
    reference's; `rng`: the check's own generator; `trace`: keeps a trajectory for the
    report's plots), and a CheckRecord per check (`records`, in file order) with its outcome.
    `only_functions` limits the checks to those student functions."""

    def __init__(self, student: StudentProbes, reference: Any, seed_material: str,
                 per_student_seed: bool = True, only_functions=None):
        self.student_probes = student
        self.reference_probes = reference
        self.seed_material = seed_material
        self.per_student_seed = per_student_seed
        self.only_functions = set(only_functions) if only_functions is not None else None
        self.records: list[CheckRecord] = []
        self.collection_errors: list[str] = []

    def selects(self, function: str) -> bool:
        return self.only_functions is None or function in self.only_functions

    def run(self, checks: list[CollectedCheck], collection_errors: list[str],
            collect_only: bool = False) -> list[CheckRecord]:
        """Run the selected `checks` in order, one record each (with `collect_only`, only the
        blank records). Warnings raised while they run are ignored (they are not outcomes)."""
        self.collection_errors = list(collection_errors)
        chosen = [c for c in checks if self.selects(c.spec.function)]
        self.records = [CheckRecord(nodeid=c.nodeid, function=c.spec.function, weight=c.spec.weight, title=c.title,
                                    visibility=c.spec.visibility, timeout=c.spec.timeout) for c in chosen]
        if not collect_only:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for collected, record in zip(chosen, self.records):
                    self._run_one(collected, record)
        return self.records

    def _run_one(self, collected: CollectedCheck, record: CheckRecord) -> None:
        token = TOLERANCES.set(record.tolerances)
        self.student_probes.record = record
        self.student_probes.timeout = record.timeout
        failure: BaseException | None = None
        started = time.perf_counter()
        try:
            collected.test(**self._fixtures(collected, record))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit or pytest.fail in a check is its own outcome
            failure = exc
        finally:
            record.duration = time.perf_counter() - started
            TOLERANCES.reset(token)
            self.student_probes.record = None
            _drop_large_answers(record, self.student_probes)
        record.status, record.output, record.internal_error = _classify(failure)
        record.not_implemented = _not_implemented(failure)

    def _fixtures(self, collected: CollectedCheck, record: CheckRecord) -> dict[str, Any]:
        values = {}
        for name in collected.arguments:
            if name == "student":
                values[name] = self.student_probes
            elif name == "reference":
                values[name] = _MeasuredReference(self.reference_probes, self.student_probes)
            elif name == "rng":
                values[name] = self._rng(collected.name)
            elif name == "trace":
                values[name] = _trace_keeper(record)
            else:
                raise LookupError(f"fixture {name!r} not found (a check may ask for {', '.join(FIXTURES)})")
        return values

    def _rng(self, name: str) -> np.random.Generator:
        """The check's generator: per student and check (`seed_material` names the student,
        never the submission's content), or per check alone for public checks."""
        material = f"{self.seed_material}|{name}" if self.per_student_seed else f"public|{name}"
        seed = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")
        return np.random.default_rng(seed)


def _trace_keeper(record: CheckRecord) -> Callable[..., None]:
    """The `trace` fixture: keep(student_value, reference_value, label, problem=None)."""

    def keep(student_value, reference_value, label: str, problem: dict | None = None) -> None:
        record.traces.append(Trace(label=label, student=student_value, reference=reference_value,
                                   problem=dict(problem or {})))
    return keep


def _not_implemented(failure: BaseException | None) -> bool:
    """Whether the check stopped because the student's code raised NotImplementedError (the
    untouched stub): a part all of whose checks did is "not attempted", not an error."""
    return isinstance(failure, StudentError) and failure.exc_type == "NotImplementedError"


def _classify(exc: BaseException | None) -> tuple[str, str, str]:
    """(status, student-facing output, internal error) for a check's outcome."""
    if exc is None:
        return "passed", "", ""
    if isinstance(exc, StudentTimeout):
        return "timeout", str(exc), ""
    if isinstance(exc, StudentError):
        return "error", str(exc), ""
    if isinstance(exc, CheckFailure):
        return "failed", str(exc), ""
    if isinstance(exc, AssertionError):
        # A bare assert: its message only. Should an assertion rewriter have rewritten the
        # check (pytest's, in a process that runs pytest), drop the explanation it adds.
        message = str(exc).split("\nassert ")[0]
        if message.startswith("assert "):
            message = ""
        return "failed", message or "the result is not what was expected", ""
    internal = f"{type(exc).__name__}: {exc}"
    return "error", "the grader could not run this check (an internal error, not your fault); your instructor can see the details", internal


def run_checks(checks_dir: Path, plugin: GraderPlugin, collect_only: bool = False) -> list[CheckRecord]:
    """Run every check under `checks_dir` with the plugin; returns the records in file order
    (`collect_only`: blank records, nothing run). The check modules are imported for this
    run only, and whatever they or the reference print is dropped (`grader grade --json`
    prints the result alone). A `CheckSession` leaves the process's output alone: it outlives
    any one caller's."""
    checks, errors, modules = collect_checks(checks_dir)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
            return plugin.run(checks, errors, collect_only)
    finally:
        forget_modules(modules)


class CheckSession:
    """The checks of `checks_dir`, collected once (on the first `run`), run for one submission
    after another, each exactly as `run_checks` would run them.

    The check modules stay imported for the session's life, so a check must not keep
    per-submission state at module level (none does; each check gets fresh fixtures).
    close() forgets them; a closed session refuses to run."""

    def __init__(self, checks_dir: Path):
        self.checks_dir = Path(checks_dir)
        self._collected: tuple[list[CollectedCheck], list[str], list[str]] | None = None
        self._closed = False

    def run(self, student: StudentProbes, reference: Any, seed_material: str, per_student_seed: bool = True,
            only_functions=None) -> tuple[list[CheckRecord], list[str]]:
        """(records, collection errors) of one submission, like `run_checks`."""
        if self._closed:
            raise RuntimeError(f"the check session of {self.checks_dir} has ended")
        if self._collected is None:
            self._collected = collect_checks(self.checks_dir)
        checks, errors, _ = self._collected
        plugin = GraderPlugin(student, reference, seed_material, per_student_seed, only_functions)
        return plugin.run(checks, errors), list(plugin.collection_errors)

    def close(self) -> None:
        self._closed = True
        if self._collected is not None:
            forget_modules(self._collected[2])
            self._collected = None
