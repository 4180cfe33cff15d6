"""The one result model of a grading run. No rendering here: renderers in `grader.render`
turn it into the contract's JSON, terminal text, Markdown and HTML.

`to_dict()` is the contract of `grader grade --json` (a superset of Gradescope's
results.json); `from_dict()` reads it back (the gradebook and dashboards store it).
Trajectories kept for plots (`TestResult.traces`) stay out of the JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "error", "timeout")


@dataclass
class Trace:
    """One probe's trajectory for plots: parameter rows (steps + 1, ...) of the student and of
    the reference on the same inputs. `label` says what was run ("adam_step, 200 steps")."""

    label: str
    student: Any  # np.ndarray | None (None when the student's code raised)
    reference: Any  # np.ndarray
    problem: dict = field(default_factory=dict)  # how to compute the loss (e.g. {"name": "quadratic", "A": ...})


@dataclass
class TestResult:
    name: str
    function: str
    score: float
    max_score: float
    status: str  # passed | failed | error | timeout
    visibility: str = "visible"  # visible | hidden | after_due_date | after_published
    output: str = ""
    duration: float = 0.0
    traces: list[Trace] = field(default_factory=list)
    misconceptions: list[str] = field(default_factory=list)
    not_implemented: bool = False  # the student's code raised NotImplementedError (the stub)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "function": self.function,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "visibility": self.visibility,
            "output": self.output,
        }


@dataclass
class PartResult:
    function: str
    score: float
    max_score: float
    misconceptions: list[str] = field(default_factory=list)
    feedback: str = ""
    #: False when every test of the part raised NotImplementedError (the untouched stub): a
    #: state of its own ("not attempted"), never shown as an error.
    attempted: bool = True

    def to_dict(self) -> dict:
        return {
            "function": self.function,
            "score": self.score,
            "max_score": self.max_score,
            "misconceptions": list(self.misconceptions),
            "feedback": self.feedback,
            "attempted": self.attempted,
        }


@dataclass
class GradingResult:
    assignment: str
    student: str
    status: str  # graded | error
    score: float
    max_score: float
    execution_time: float = 0.0
    parts: list[PartResult] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    error: str | None = None
    error_detail: str = ""  # with an error: the offending line and a caret under it, when known
    content_hash: str = ""
    isolation: str = ""  # "bubblewrap" | "rlimits" | "" (not run)
    warnings: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)  # misconception id -> hint
    public_only: bool = False  # a learner's self-check: public checks only

    @property
    def full_marks(self) -> bool:
        return self.status == "graded" and self.score >= self.max_score - 1e-9

    def part(self, function: str) -> PartResult:
        for part in self.parts:
            if part.function == function:
                return part
        raise KeyError(function)

    def tests_for(self, function: str) -> list[TestResult]:
        return [t for t in self.tests if t.function == function]

    def to_dict(self) -> dict:
        data: dict[str, Any] = {
            "assignment": self.assignment,
            "student": self.student,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "parts": [p.to_dict() for p in self.parts],
            "tests": [t.to_dict() for t in self.tests],
        }
        if self.error is not None:
            data["error"] = self.error
        if self.error_detail:
            data["error_detail"] = self.error_detail
        data["content_hash"] = self.content_hash
        data["isolation"] = self.isolation
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.hints:
            data["hints"] = dict(self.hints)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GradingResult":
        return cls(
            assignment=data["assignment"],
            student=data["student"],
            status=data["status"],
            score=float(data["score"]),
            max_score=float(data["max_score"]),
            execution_time=float(data.get("execution_time", 0.0)),
            parts=[PartResult(**p) for p in data.get("parts", [])],
            tests=[TestResult(**t) for t in data.get("tests", [])],
            error=data.get("error"),
            error_detail=data.get("error_detail", ""),
            content_hash=data.get("content_hash", ""),
            isolation=data.get("isolation", ""),
            warnings=list(data.get("warnings", [])),
            hints=dict(data.get("hints", {})),
        )
