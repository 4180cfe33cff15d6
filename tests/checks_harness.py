"""Run an assignment's checks in-process on a module given as source text (no sandbox):
fast enough to grade dozens of deliberately wrong versions of the reference in a test.

The student side goes through the same value encoding as the sandbox (InProcessModule
normalises every answer) and a raising function becomes an error outcome, as the worker
reports it; a function raising TimeoutError stands for one that hangs (a timeout outcome).
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from grader.sandbox import ProbeOutcome
from grader.checking import CheckRecord, GraderPlugin, InProcessModule, StudentProbes, kwargs_key, run_checks
from grader.course import Assignment
from grader.grade import reference_module, trusted_probes


def student_probes(module: InProcessModule) -> StudentProbes:
    def run(name, kwargs, timeout, group):
        try:
            return ProbeOutcome("ok", module.probe(name, **kwargs))
        except TimeoutError:  # stands for a hang: the sandbox would report a timeout
            return ProbeOutcome("timeout", message="your code did not finish within the time limit")
        except Exception as exc:  # what the worker would report as an error reply
            return ProbeOutcome("error", message=str(exc), exc_type=type(exc).__name__)
    return StudentProbes(run)


class _CachedReference:
    """The reference's answers, memoised by probe call: it is deterministic, and the tests
    grade dozens of versions of a module on the same inputs."""

    def __init__(self, inner: InProcessModule):
        self.inner = inner
        self.answers: dict[str, object] = {}

    def probe(self, name: str, **kwargs):
        key = kwargs_key(name, kwargs)
        if key not in self.answers:
            self.answers[key] = self.inner.probe(name, **kwargs)
        return copy.deepcopy(self.answers[key])


_REFERENCES: dict[str, _CachedReference] = {}


def cached_reference(assignment: Assignment) -> _CachedReference:
    if assignment.id not in _REFERENCES:
        _REFERENCES[assignment.id] = _CachedReference(reference_module(assignment))
    return _REFERENCES[assignment.id]


def run_source(assignment: Assignment, source: str, *, public: bool = False,
               student: str = "student-1") -> list[CheckRecord]:
    """Every record of the hidden (or public) checks run on `source` as the student's module."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{assignment.module}.py"
        path.write_text(source, encoding="utf-8")
        module = InProcessModule(path, trusted_probes(assignment), assignment.module)
        plugin = GraderPlugin(student_probes(module), cached_reference(assignment),
                              seed_material=f"harness|{student}", per_student_seed=not public)
        records = run_checks(assignment.public_checks if public else assignment.hidden_checks, plugin)
    assert not plugin.collection_errors, plugin.collection_errors
    return records


def lost_points(records: list[CheckRecord]) -> set[str]:
    """The functions that lost points: those with a check that did not pass."""
    return {record.function for record in records if record.status != "passed"}


def internal_errors(records: list[CheckRecord]) -> list[str]:
    return [f"{r.nodeid}: {r.internal_error}" for r in records if r.internal_error]


def diagnosed(assignment: Assignment, source: str, student: str = "student-1"):
    """The graded and diagnosed result of `source` (hidden checks, in-process)."""
    from grader.diagnosis import find_misconceptions
    from grader.grade import assemble_result

    records = run_source(assignment, source, student=student)
    result = assemble_result(assignment, student, records, find_misconceptions(assignment, records))
    return result
