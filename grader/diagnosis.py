"""Name the student's mistake: match a failed part against known-mistake mutants.

Every assignment may keep a catalogue of known mistakes in
`solutions/<id>/mutants/catalogue.toml`, one `[[mutant]]` entry per way of making one:

```toml
[[mutant]]
id = "adam.no_bias_correction"       # what the part's `misconceptions` will say
functions = ["adam_step", "train"]   # the parts on which it may be named
file = "adam_no_bias_correction.py"  # only the rewritten function(s)
hint = "Your Adam steps match the update without bias correction: ..."
```

A mutant file holds only the function(s) it rewrites. The mutant module is the reference
source with the mutant source appended, so the later definitions replace the reference's;
everything else stays the reference's, and its callers now call the rewritten function.
`functions` lists the rewritten functions (the catalogue is refused otherwise) and may add
callers, where a student who writes the building block inline makes the same mistake (a
train loop that batches by itself and drops the last batch is named by the minibatches
mutant). An instructor adds a mistake by adding a file and an entry; nothing here names an
assignment.

Diagnosis runs in the trusted process after the checks. For each part that lost points, it
replays on each mutant concerning that function every probe call that the part's failed
checks made and the student's code answered (status "ok"), and compares the answers within
the check's own tolerance. A mutant matches when
  - in at least one failed check it reproduces an answer in which the student differs from
    the reference (a wrong trajectory reproduced step by step is evidence, not a guess), and
  - it agrees with every answer of those checks in which the student agrees with the
    reference (a mistake the student did not make there is not theirs).
Other wrong answers may differ from the mutant. A check can run a function once plainly and
again with stand-ins for its building blocks (the probes' fakes), and a student who inlines
a building block answers the faked run like the plain one, where a mutant built on the
reference's structure does not; an unstable mistake (gradient descent with a large eta)
turns rounding differences into a different trajectory after some steps; and a student may
have made a second mistake. Every matching mutant is reported; when none matches the
feedback says so plainly. A part with full marks, or whose checks only failed because the
student's code raised or timed out, is not diagnosed.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import tomllib
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.checking import (PUBLIC_EXPECTED, BakedAnswers, BakedReference, CheckRecord, InProcessModule, kwargs_key,
                             load_module_from, unpack_answers)
from grader.course import Assignment
from grader.protocol import Opaque
from grader.errors import UsageError

CATALOGUE = "catalogue.toml"
#: The known mistakes' answers to the public checks' probe calls, baked by `grader build` into
#: `assignments/<id>/checks/` so a self-check can name a mistake without mutant code.
PUBLIC_MUTANTS = "public_mutants.npz"
_ENTRY_KEYS = {"id", "functions", "file", "hint"}
_ID_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")

UNRECOGNISED = ("The grader does not recognise this mistake: your results match none of the "
                "common mistakes it knows, so it will not guess at the cause. Compare your code "
                "with the formula in the handout, term by term.")


class CatalogueError(UsageError):
    """An instructor's mistake in a misconception catalogue; str() is one line naming the file."""


@dataclass(frozen=True)
class Mutant:
    """One way of making one known mistake."""

    id: str
    functions: tuple[str, ...]  # the parts on which it may be named (its own, and callers')
    path: Path | None  # the mutant source: only the rewritten function(s); None when baked
    hint: str
    rewrites: tuple[str, ...] = ()  # the reference functions the mutant file redefines
    label: str = ""  # which way of making the mistake (the mutant file's stem)


# --- the catalogue -------------------------------------------------------------------------

_CATALOGUES: dict[tuple, tuple[Mutant, ...]] = {}


def load_catalogue(assignment: Assignment) -> list[Mutant]:
    """The assignment's mutants in catalogue order ([] when it has no catalogue). Raises
    CatalogueError for an unknown key or function, a missing or broken mutant file, a mutant
    that rewrites nothing of the reference, entries of one id with different hints, or a
    mutant file the catalogue does not list.

    Read once per version of its files in a process (a batch worker diagnoses many
    students; parsing every mutant costs ~20 ms a time)."""
    directory = assignment.mutants_directory
    files = [directory / CATALOGUE, assignment.reference_path, *sorted(directory.glob("*.py"))]
    key = (assignment.id, *(_file_key(f) if f.is_file() else (str(f),) for f in files))
    if key not in _CATALOGUES:
        _CATALOGUES[key] = tuple(_read_catalogue(assignment))
    return list(_CATALOGUES[key])


def _read_catalogue(assignment: Assignment) -> list[Mutant]:
    directory = assignment.mutants_directory
    path = directory / CATALOGUE
    if not path.is_file():
        if directory.is_dir() and any(directory.glob("*.py")):
            raise CatalogueError(f"{path}: missing (the folder holds mutant files but no catalogue)")
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: invalid TOML: {exc}") from None
    extra = set(data) - {"mutant"}
    if extra:
        raise CatalogueError(f"{path}: unknown top-level key(s) {', '.join(sorted(extra))} "
                             "(expected only [[mutant]] entries)")
    entries = data.get("mutant", [])
    if not isinstance(entries, list):
        raise CatalogueError(f"{path}: `mutant` must be an array of tables ([[mutant]])")
    reference_functions = _top_level_functions(assignment.reference_path.read_text(encoding="utf-8"),
                                               str(assignment.reference_path))
    mutants: list[Mutant] = []
    seen_files: set[str] = set()
    hints: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        mutant = _read_entry(entry, number, path, assignment, reference_functions)
        if mutant.path.name in seen_files:
            raise CatalogueError(f"{path}: mutant #{number} ({mutant.id}): file {mutant.path.name} "
                                 "is already listed by an earlier entry")
        if hints.setdefault(mutant.id, mutant.hint) != mutant.hint:
            raise CatalogueError(f"{path}: mutant #{number} ({mutant.id}): its hint differs from an earlier "
                                 "entry's with the same id (a misconception has one hint, shown wherever it is named)")
        seen_files.add(mutant.path.name)
        mutants.append(mutant)
    unlisted = sorted(p.name for p in directory.glob("*.py") if p.name not in seen_files)
    if unlisted:
        raise CatalogueError(f"{path}: mutant file(s) {', '.join(unlisted)} not listed in the catalogue "
                             "(add an entry, or remove the file)")
    return mutants


def _read_entry(entry: Any, number: int, path: Path, assignment: Assignment,
                reference_functions: set[str]) -> Mutant:
    where = f"{path}: mutant #{number}"
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: not a table")
    unknown = set(entry) - _ENTRY_KEYS
    missing = _ENTRY_KEYS - set(entry)
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                             f"(expected {', '.join(sorted(_ENTRY_KEYS))})")
    if missing:
        raise CatalogueError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
    mutant_id, functions, file, hint = entry["id"], entry["functions"], entry["file"], entry["hint"]
    if not isinstance(mutant_id, str) or not _ID_PATTERN.match(mutant_id):
        raise CatalogueError(f"{where}: id {mutant_id!r} must be lowercase words joined by "
                             "'_' and '.', like 'adam.no_bias_correction'")
    where = f"{where} ({mutant_id})"
    if isinstance(functions, str):
        functions = [functions]
    if not isinstance(functions, list) or not functions or not all(isinstance(f, str) for f in functions):
        raise CatalogueError(f"{where}: functions must be a non-empty list of function names")
    for function in functions:
        if function not in assignment.functions:
            raise CatalogueError(f"{where}: unknown function '{function}' (the assignment's parts: "
                                 f"{', '.join(assignment.functions)})")
    if not isinstance(hint, str) or not hint.strip():
        raise CatalogueError(f"{where}: hint must be a non-empty string")
    if not isinstance(file, str) or Path(file).name != file or not file.endswith(".py"):
        raise CatalogueError(f"{where}: file {file!r} must be the name of a .py file in {path.parent}")
    mutant_path = path.parent / file
    if not mutant_path.is_file():
        raise CatalogueError(f"{where}: mutant file {mutant_path} does not exist")
    rewritten = _top_level_functions(mutant_path.read_text(encoding="utf-8"), str(mutant_path))
    if not rewritten & reference_functions:
        raise CatalogueError(f"{where}: {file} rewrites none of the reference's functions, "
                             "so it would change nothing")
    strangers = sorted(name for name in rewritten - reference_functions if not name.startswith("_"))
    if strangers:
        raise CatalogueError(f"{where}: {file} defines {', '.join(strangers)}, which the reference "
                             "does not have (a typo? private helpers start with '_')")
    unnamed = sorted(name for name in rewritten & set(assignment.functions) if name not in functions)
    if unnamed:
        raise CatalogueError(f"{where}: {file} rewrites {', '.join(unnamed)}, which functions does not "
                             "list (the mistake could never be named there)")
    rewrites = tuple(name for name in assignment.functions if name in rewritten)
    return Mutant(id=mutant_id, functions=tuple(functions), path=mutant_path, hint=hint.strip(),
                  rewrites=rewrites, label=mutant_path.stem)


def _top_level_functions(source: str, origin: str) -> set[str]:
    try:
        tree = ast.parse(source, filename=origin)
    except SyntaxError as exc:
        raise CatalogueError(f"{origin}:{exc.lineno}: syntax error: {exc.msg}") from None
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


# --- mutant modules, cached per process (batch grading diagnoses many students) -----------

_MODULES: dict[tuple, InProcessModule] = {}
_PROBES: dict[tuple, types.ModuleType] = {}


class SourceModule(InProcessModule):
    """An InProcessModule over source text rather than a file: the reference with a mutant
    appended (later definitions replace earlier ones)."""

    def __init__(self, source: str, origin: Path, probes: types.ModuleType, module_name: str):
        self.module_path = Path(origin)
        self.module_name = module_name
        self.probes = probes
        self._code = compile(source, str(origin), "exec")


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _probes(assignment: Assignment) -> types.ModuleType:
    """The assignment's probe drivers, imported in the trusted process (as grade.py does),
    once per version of the file."""
    key = _file_key(assignment.probes_path)
    if key not in _PROBES:
        _PROBES[key] = load_module_from(assignment.probes_path, f"_grader_probes_{assignment.id}")
    return _PROBES[key]


def mutant_module(assignment: Assignment, mutant: Mutant | None) -> InProcessModule:
    """The reference with `mutant` appended (the plain reference for None), cached per process."""
    reference = assignment.reference_path.read_text(encoding="utf-8")
    extra = mutant.path.read_text(encoding="utf-8") if mutant else ""
    source = reference if mutant is None else f"{reference}\n\n# --- mutant {mutant.path.name} ---\n{extra}"
    key = (str(assignment.reference_path), str(mutant.path) if mutant else "",
           hashlib.sha256(source.encode()).hexdigest(), _file_key(assignment.probes_path))
    if key not in _MODULES:
        _MODULES[key] = SourceModule(source, mutant.path if mutant else assignment.reference_path,
                                     _probes(assignment), assignment.module)
    return _MODULES[key]


# --- comparing answers ---------------------------------------------------------------------

def same_answer(student: Any, other: Any, rtol: float, atol: float) -> bool:
    """Whether two decoded answers agree: arrays (or sequences of numbers against arrays) of
    the same shape and close within (rtol, atol), NaN matching NaN; tuples, lists and dicts
    item by item; None with None; Opaque values by their type name."""
    if student is None or other is None:
        return student is None and other is None
    if isinstance(student, Opaque) or isinstance(other, Opaque):
        return isinstance(student, Opaque) and isinstance(other, Opaque) and student.pytype == other.pytype
    if isinstance(student, dict) or isinstance(other, dict):
        return (isinstance(student, dict) and isinstance(other, dict) and student.keys() == other.keys()
                and all(same_answer(student[k], other[k], rtol, atol) for k in student))
    if isinstance(student, np.ndarray) or isinstance(other, np.ndarray):
        left, right = _numeric(student), _numeric(other)
        if left is None or right is None or left.shape != right.shape:
            return False
        return bool(np.allclose(left, right, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(student, (list, tuple)) and isinstance(other, (list, tuple)):
        return len(student) == len(other) and all(same_answer(a, b, rtol, atol) for a, b in zip(student, other))
    return False


def _numeric(value: Any) -> np.ndarray | None:
    """`value` as a plain numeric array (a list of numbers counts, as the checks accept it)."""
    try:
        if isinstance(value, np.ndarray):
            array = np.asarray(value.view(np.ndarray))
        elif isinstance(value, (list, tuple)):
            array = np.asarray([np.asarray(item).view(np.ndarray) for item in value])
        else:
            return None
    except (ValueError, TypeError):
        return None
    if array.dtype.kind in "biu":
        array = array.astype(np.float64)
    return array if array.dtype.kind in "fc" else None


# --- diagnosis ------------------------------------------------------------------------------

@dataclass
class _Replay:
    """One probe call of a failed check to replay: the student's answer, the check's
    tolerance, and whether that answer agrees with the reference's."""

    name: str
    kwargs: dict
    student: Any
    tolerance: tuple[float, float]
    right: bool = False

    def agrees(self, answers: "_Answers") -> bool:
        ran, value = answers.get(self.name, self.kwargs)
        return ran and same_answer(self.student, value, *self.tolerance)


class _Answers:
    """Answers of one module to probe calls, memoised within one diagnosis (several parts
    may replay the same call on the reference)."""

    def __init__(self, module: InProcessModule):
        self.module = module
        self._seen: dict[str, tuple[bool, Any]] = {}

    def get(self, name: str, kwargs: dict) -> tuple[bool, Any]:
        """(ran, value): ran is False when the module raised."""
        key = kwargs_key(name, kwargs)
        if key not in self._seen:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # as the checks run (grader.checking)
                    self._seen[key] = (True, self.module.probe(name, **kwargs))  # probe() copies kwargs
            except Exception:
                self._seen[key] = (False, None)
        return self._seen[key]


@dataclass(frozen=True)
class Findings:
    """What diagnosis found, keyed by what it read (records), for `grader.grade` to assemble
    the result from: per part that lost points (by function) the misconception ids and the
    feedback sentence, per failed check (by `CheckRecord.nodeid`) the ids its answers show,
    the hint of every id named, and warnings for the result (a broken catalogue)."""

    parts: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    checks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


NO_FINDINGS = Findings()


def find_misconceptions(assignment: Assignment, records: list[CheckRecord], *, public_only: bool = False) -> Findings:
    """Name the known mistakes behind the checks that failed (module docstring).

    Hidden grading replays the records' probe calls on the catalogue's mutants; a self-check
    (`public_only`) uses the answers that `grader build` baked for the public probe calls
    (`bake_public_mutants`), so it works in a student bundle, which holds no mutant or
    reference code (without baked answers it names nothing, and says it does not recognise
    the mistake). A broken catalogue is the instructor's problem: a warning, nothing named."""
    if public_only:
        checks = assignment.public_checks
        catalogue, answers = load_public_mutants(checks / PUBLIC_MUTANTS)
        reference = BakedReference(checks / PUBLIC_EXPECTED)
        return _diagnose(assignment, records, catalogue, lambda: reference, lambda mutant: answers[mutant])
    if not assignment.has_solutions:
        return NO_FINDINGS
    try:
        catalogue = load_catalogue(assignment)
    except CatalogueError as exc:
        return Findings(warnings=(f"internal: misconception catalogue: {exc}",))
    return _diagnose(assignment, records, catalogue, lambda: mutant_module(assignment, None),
                     lambda mutant: mutant_module(assignment, mutant))


def _lost_points(records: list[CheckRecord], function: str) -> bool:
    return any(r.status != "passed" for r in records if r.function == function)


def _diagnose(assignment: Assignment, records: list[CheckRecord], catalogue: list[Mutant],
              reference_module, module_of) -> Findings:
    """The matching itself (module docstring); `reference_module()` and `module_of(mutant)`
    give objects whose `probe(name, **kwargs)` answers a call (or raises)."""
    parts: dict[str, tuple[tuple[str, ...], str]] = {}
    named_checks: dict[str, tuple[str, ...]] = {}
    hints: dict[str, str] = {}
    reference: _Answers | None = None
    for function in assignment.functions:
        if not _lost_points(records, function):
            continue
        failed = [r for r in records if r.function == function and r.status == "failed"
                  and any(call.status == "ok" for call in r.probe_calls)]
        if not failed:
            continue  # lost points only by raising, timing out or not answering: nothing to compare
        candidates = [m for m in catalogue if function in m.functions]
        checks = [[_Replay(call.name, call.kwargs, call.value, record.tolerance)
                   for call in record.probe_calls if call.status == "ok"] for record in failed]
        if candidates:
            reference = reference or _Answers(reference_module())
            for replay in (replay for calls in checks for replay in calls):
                replay.right = replay.agrees(reference)
        explained = [_explained_checks(_Answers(module_of(m)), checks) for m in candidates]
        matches = [m for m, found in zip(candidates, explained) if found]
        parts[function] = (tuple(_unique(m.id for m in matches)), _feedback(matches))
        for mutant in matches:
            hints.setdefault(mutant.id, mutant.hint)
        for number, record in enumerate(failed):
            named_checks[record.nodeid] = tuple(_unique(m.id for m, found in zip(candidates, explained)
                                                        if number in found))
    return Findings(parts=parts, checks=named_checks, hints=hints)


# --- known mistakes baked for the public checks ---------------------------------------------

def load_public_mutants(path: Path) -> tuple[list[Mutant], dict[Mutant, BakedAnswers]]:
    """The baked catalogue (ids, functions, hints) and each mistake's answers to the public
    probe calls; empty when nothing is baked."""
    if not path.is_file():
        return [], {}
    mutants: list[Mutant] = []
    answers: dict[Mutant, BakedAnswers] = {}
    with np.load(path, allow_pickle=False) as data:
        index = json.loads(bytes(data["__index__"]).decode())
        for entry in index["mutants"]:
            mutant = Mutant(id=entry["id"], functions=tuple(entry["functions"]), path=None, hint=entry["hint"],
                            rewrites=tuple(entry["rewrites"]), label=entry["label"])
            mutants.append(mutant)
            answers[mutant] = BakedAnswers(unpack_answers(entry["answers"], data), f"{path} ({mutant.label})")
    return mutants, answers


def _explained_checks(mutant: "_Answers", checks: list[list[_Replay]]) -> set[int]:
    """The failed checks (by index) in which the mutant reproduces a wrong answer of the
    student's; empty when it reproduces none, or gets wrong an answer the student got right
    (see the module docstring)."""
    reproduced = set()
    for number, calls in enumerate(checks):
        if not all(replay.agrees(mutant) for replay in calls if replay.right):
            return set()
        if any(replay.agrees(mutant) for replay in calls if not replay.right):
            reproduced.add(number)
    return reproduced


def _feedback(matches: list[Mutant]) -> str:
    """The part's sentence: the matching mistake's hint, each of several, or UNRECOGNISED."""
    hints = _unique(m.hint for m in matches)
    if not matches:
        return UNRECOGNISED
    if len(hints) == 1:
        return hints[0]
    return "Your results match more than one known mistake:\n" + "\n".join(f"- {h}" for h in hints)


def _unique(items) -> list:
    return list(dict.fromkeys(items))


__all__ = ["CatalogueError", "Findings", "Mutant", "NO_FINDINGS", "PUBLIC_MUTANTS", "SourceModule", "UNRECOGNISED",
           "find_misconceptions", "load_catalogue", "load_public_mutants", "mutant_module", "same_answer"]
