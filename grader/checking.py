"""Checks are pytest tests run in the trusted process; this module is their pytest plugin.

A check asks `student.probe(name, **kwargs)` (run in the sandbox, values come back as
plain data) and `reference.probe(name, **kwargs)` (run here on the reference, or served
from baked values in a student bundle), then compares with `grader.expect`. Nothing the
student does can reach this process: it only ever sees the decoded arrays.

Outcomes are data: every check becomes a `CheckRecord` (status, score, feedback, the probe
calls it made with the student's answers, the tolerances it used), which `grader.grade`
turns into the result model and `grader.diagnosis` replays on known-mistake mutants.

A check is marked with `@check(function, weight, title=..., visibility=...)`. Bare
`assert` works but only its message is shown (assertion rewriting is off, so a hidden
check's source never reaches feedback).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import json
import os
import queue
import sys
import threading
import time
import types
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from grader.expect import TOLERANCES, CheckFailure, format_inputs
from grader.results import Trace

MARKER = "grader_check"


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
    return getattr(pytest.mark, MARKER)(function=function, weight=float(weight), title=title,
                                         visibility=visibility, timeout=timeout)


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


# --- the modules a check can probe --------------------------------------------------------

def load_module_from(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InProcessModule:
    """Probes run here, on trusted code (the reference or a mutant). Each probe call gets a
    fresh copy of the module, so a probe that patches module functions cannot leak into the
    next call."""

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
        return normalise(getattr(self.probes, name)(self.fresh_module(), **copy.deepcopy(kwargs)))


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
        self.calls.setdefault(key, (name, copy.deepcopy(kwargs)))
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
            self.record.probe_calls.append(ProbeCall(name, copy.deepcopy(kwargs), status, value))


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


# --- the plugin ---------------------------------------------------------------------------

class GraderPlugin:
    """Registered with `pytest.main(plugins=[...])`: provides the fixtures and turns every
    check into a CheckRecord."""

    def __init__(self, student: StudentProbes, reference: Any, seed_material: str,
                 per_student_seed: bool = True, only_functions=None):
        self.collection_errors: list[str] = []
        self._collected: list[tuple[str, CheckRecord]] = []  # (nodeid, blank record) per check
        self.begin(student, reference, seed_material, per_student_seed, only_functions)

    def begin(self, student: StudentProbes, reference: Any, seed_material: str,
              per_student_seed: bool = True, only_functions=None) -> None:
        """Aim the plugin at one submission: the fixtures serve these probes and seeds, and
        `records` starts afresh (a `CheckSession` calls this once per submission)."""
        self.student_probes = student
        self.reference_probes = reference
        self.seed_material = seed_material
        self.per_student_seed = per_student_seed
        self.only_functions = set(only_functions) if only_functions is not None else None
        self.records: list[CheckRecord] = []
        self._by_nodeid: dict[str, CheckRecord] = {}
        for nodeid, blank in self._collected:
            if self.selects(blank.function):
                self._add_record(nodeid, blank)

    def selects(self, function: str) -> bool:
        return self.only_functions is None or function in self.only_functions

    def _add_record(self, nodeid: str, blank: CheckRecord) -> None:
        record = CheckRecord(nodeid=nodeid, function=blank.function, weight=blank.weight, title=blank.title,
                             visibility=blank.visibility, timeout=blank.timeout)
        self.records.append(record)
        self._by_nodeid[nodeid] = record

    # fixtures ---------------------------------------------------------------------------
    @pytest.fixture
    def student(self, request):
        return self.student_probes

    @pytest.fixture
    def reference(self):
        return _MeasuredReference(self.reference_probes, self.student_probes)

    @pytest.fixture
    def rng(self, request) -> np.random.Generator:
        """The check's generator: per student and check (`seed_material` names the student,
        never the submission's content), or per check alone for public checks."""
        material = f"{self.seed_material}|{request.node.name}" if self.per_student_seed else f"public|{request.node.name}"
        seed = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")
        return np.random.default_rng(seed)

    @pytest.fixture
    def trace(self, request):
        record = self._by_nodeid[request.node.nodeid]

        def keep(student_value, reference_value, label: str, problem: dict | None = None) -> None:
            record.traces.append(Trace(label=label, student=student_value, reference=reference_value,
                                       problem=dict(problem or {})))
        return keep

    # hooks ------------------------------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", f"{MARKER}: a grading check (grader.checking.check)")

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext.splitlines()[-1] if report.longreprtext else 'collection failed'}")

    def pytest_collection_modifyitems(self, config, items):
        if self.only_functions is not None:
            keep = [i for i in items if (m := i.get_closest_marker(MARKER)) is None
                    or self.selects(m.kwargs.get("function"))]
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep
        for item in items:
            marker = item.get_closest_marker(MARKER)
            if marker is None:
                self.collection_errors.append(f"{item.nodeid}: not marked with @check(function, weight)")
                continue
            meta = marker.kwargs
            doc = (getattr(item.obj, "__doc__", None) or "").strip().splitlines()
            title = meta.get("title") or (doc[0] if doc else item.name)
            blank = CheckRecord(nodeid=item.nodeid, function=meta["function"], weight=meta["weight"],
                                title=f"{meta['function']}: {title}", visibility=meta.get("visibility", "visible"),
                                timeout=meta.get("timeout"))
            self._collected.append((item.nodeid, blank))
            self._add_record(item.nodeid, blank)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        record = self._by_nodeid.get(item.nodeid)
        token = TOLERANCES.set(record.tolerances if record else None)
        self.student_probes.record = record
        self.student_probes.timeout = record.timeout if record else None
        try:
            yield
        finally:
            TOLERANCES.reset(token)
            self.student_probes.record = None
            if record is not None:
                _drop_large_answers(record, self.student_probes)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """Record the outcome, and answer for pytest with a plain report: pytest's own
        renders a source-annotated traceback of every failure (parsing the check's source,
        ~5 ms a failure, more than half a failing submission's grading), which nothing
        reads: feedback comes from the CheckRecord."""
        record = self._by_nodeid.get(item.nodeid)
        skipped = call.excinfo is not None and isinstance(call.excinfo.value, pytest.skip.Exception)
        if record is not None:
            if call.when == "call":
                record.duration = call.duration
            if call.when == "call" or (call.when == "setup" and call.excinfo is not None and not skipped):
                record.status, record.output, record.internal_error = _classify(call.excinfo)
                record.not_implemented = _not_implemented(call.excinfo)
        if call.excinfo is None:
            outcome, longrepr = "passed", None
        elif skipped:
            outcome, longrepr = "skipped", (str(item.path), item.location[1] or 0, str(call.excinfo.value))
        else:
            outcome, longrepr = "failed", "(see the check's record)"
        return pytest.TestReport(item.nodeid, item.location, {}, outcome, longrepr, call.when, [],
                                 call.duration, call.start, call.stop)


def _not_implemented(excinfo) -> bool:
    """Whether the check stopped because the student's code raised NotImplementedError (the
    untouched stub): a part all of whose checks did is "not attempted", not an error."""
    return excinfo is not None and isinstance(excinfo.value, StudentError) \
        and excinfo.value.exc_type == "NotImplementedError"


def _classify(excinfo) -> tuple[str, str, str]:
    """(status, student-facing output, internal error) for a check's outcome."""
    if excinfo is None:
        return "passed", "", ""
    exc = excinfo.value
    if isinstance(exc, StudentTimeout):
        return "timeout", str(exc), ""
    if isinstance(exc, StudentError):
        return "error", str(exc), ""
    if isinstance(exc, CheckFailure):
        return "failed", str(exc), ""
    if isinstance(exc, AssertionError):
        # A bare assert: its message only. Should an assertion rewriter be active (a check
        # imported under an outer pytest), drop the "assert <source>" explanation it adds.
        message = str(exc).split("\nassert ")[0]
        if message.startswith("assert "):
            message = ""
        return "failed", message or "the result is not what was expected", ""
    internal = f"{type(exc).__name__}: {exc}"
    return "error", "the grader could not run this check (an internal error, not your fault); your instructor can see the details", internal


def _pytest_args(checks_dir: Path, terminal: bool = True) -> list[str]:
    """`terminal=False`: without pytest's terminal reporter, which prints nothing then
    (and whose options -q, --no-header and --tb go with it)."""
    # --tb=no: pytest renders a source-annotated traceback of every failed test (~0.2 s each,
    # a stub's 50 failures 9 s); feedback comes from the CheckRecord, never from it.
    output = ["-q", "--no-header", "--tb=no"] if terminal else ["-p", "no:terminal"]
    return [
        str(checks_dir), *output, "-p", "no:cacheprovider", "-p", "no:randomly",
        "--assert=plain", "--import-mode=importlib", "--rootdir", str(checks_dir),
        "-c", str(_EMPTY_INI), "-W", "ignore", "-p", "no:warnings",
        # These plugins cost ~0.1 s a run (unraisableexception forces gc.collect five
        # times) and guard nothing the trusted checks need.
        "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:faulthandler",
        "-p", "no:doctest", "-p", "no:pastebin", "-p", "no:nose", "-p", "no:junitxml",
        # Checks print nothing (the student's output comes back in the probe's reply):
        # per-test log handlers and fd capture cost ~20 ms a submission for nothing.
        "-p", "no:logging", "--capture=no",
    ]


@contextlib.contextmanager
def _no_plugin_autoload():
    """Third-party pytest plugins installed beside us (autoloaded by entry point) have no
    business in grading; pytest reads this variable while it configures itself."""
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


@contextlib.contextmanager
def _quiet_pytest():
    """pytest's own output silenced, without third-party plugins."""
    devnull = open(os.devnull, "w")
    saved = sys.stdout, sys.stderr
    try:
        sys.stdout = sys.stderr = devnull
        with _no_plugin_autoload():
            yield
    finally:
        sys.stdout, sys.stderr = saved
        devnull.close()


def run_checks(checks_dir: Path, plugin: GraderPlugin, collect_only: bool = False) -> list[CheckRecord]:
    """Run every check under `checks_dir` with the plugin; returns the records in file order.
    pytest's own output is silenced; outcomes are data."""
    try:
        with _quiet_pytest():
            pytest.main(["--collect-only"] * collect_only + _pytest_args(checks_dir), plugins=[plugin])
    finally:
        _forget_check_modules(checks_dir)
    return plugin.records


class CheckSession:
    """The checks of `checks_dir`, collected once, run for one submission after another.

    A batch worker grades hundreds of submissions against the same checks, and a pytest
    session per submission (configuration, plugins, collection: ~40 ms) is a large part of
    its budget. Here one pytest session lives in a background thread: its runtestloop
    takes one submission at a time (`run`), aims the plugin at it (`GraderPlugin.begin`) and
    runs every selected check through pytest's own runtest protocol (fixtures, hooks,
    reports), exactly as `run_checks` would, minus the session set-up.

    The check modules stay imported for the session's life, so a check must not keep
    per-submission state at module level (none does; each check gets fresh fixtures).
    `run` blocks the caller while the checks run in the session's thread: the student
    probes (a Sandbox) are then used from that thread, one submission at a time. The
    session runs without pytest's terminal reporter, so it prints nothing, and leaves the
    process's stdout alone. close() ends it. Not for use from several threads at once.
    """

    def __init__(self, checks_dir: Path):
        self.checks_dir = Path(checks_dir)
        self._inbox: queue.Queue = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._waiting = threading.Event()  # set once the session's loop waits for submissions
        self._plugin = GraderPlugin(StudentProbes(_no_probes), None, seed_material="")

    def run(self, student: StudentProbes, reference: Any, seed_material: str, per_student_seed: bool = True,
            only_functions=None) -> tuple[list[CheckRecord], list[str]]:
        """(records, collection errors) of one submission, like `run_checks`."""
        if self._thread is None:
            self._start()
        if not self._thread.is_alive():
            raise RuntimeError(f"the check session of {self.checks_dir} has ended")
        self._inbox.put((student, reference, seed_material, per_student_seed, only_functions))
        while True:
            try:
                outcome = self._outbox.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError(f"the check session of {self.checks_dir} has ended") from None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._inbox.put(None)
            self._thread.join()

    def _start(self) -> None:
        # Not _quiet_pytest(): sys.stdout belongs to the whole process and the session
        # outlives this call; without its terminal reporter pytest prints nothing. The
        # environment variable matters only while pytest configures itself, so it is
        # restored as soon as the session is collected and waiting.
        self._thread = threading.Thread(target=self._serve, name=f"checks:{self.checks_dir}", daemon=True)
        with _no_plugin_autoload():
            self._thread.start()
            self._waiting.wait()

    def _serve(self) -> None:
        try:
            pytest.main(_pytest_args(self.checks_dir, terminal=False), plugins=[self._plugin, self])
        finally:
            self._waiting.set()  # pytest ended before its loop (it could not start): run() says so
            _forget_check_modules(self.checks_dir)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        from _pytest.runner import runtestprotocol  # what `pytest_runtest_protocol` runs, minus logging

        items = session.items
        self._waiting.set()
        while (job := self._inbox.get()) is not None:
            try:
                self._plugin.begin(*job)
                chosen = [item for item in items if item.nodeid in self._plugin._by_nodeid]
                for index, item in enumerate(chosen):
                    runtestprotocol(item, nextitem=chosen[index + 1] if index + 1 < len(chosen) else None, log=False)
                self._outbox.put((self._plugin.records, list(self._plugin.collection_errors)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, never lost
                self._outbox.put(exc)
        return True


def _no_probes(name, kwargs, timeout, group):
    raise RuntimeError("no submission is being checked")


def _forget_check_modules(checks_dir: Path) -> None:
    """pytest's importlib mode names a check file after its path below --rootdir (every
    assignment has a `test_public`) and reuses any module of that name in sys.modules; drop
    the checks' modules so the next run, of another assignment, imports its own."""
    prefixes = tuple({os.path.join(str(Path(checks_dir)), ""), os.path.join(str(Path(checks_dir).resolve()), "")})
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(prefixes):
            del sys.modules[name]


_EMPTY_INI = Path(__file__).with_name("checks_pytest.ini")
