"""A course is a folder: `assignments/<id>/` (what students get) and `solutions/<id>/`
(what they never get). This module finds them and reads `assignment.toml`; it knows no
assignment by name.

Which course? `GRADER_COURSE` if set, else the nearest folder at or above the working
directory that holds `assignments/`, else the checkout this package was installed from
(so `grader demo` works from anywhere after `pip install -e .`).
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.late import LatePolicy, LatePolicyError, policy_from_toml
from grader.errors import UsageError


#: What `grader build` bakes beside the public checks: how many hidden checks there are.
INVENTORY = "inventory.json"


class CourseError(UsageError):
    """A user-facing problem with the course layout; str() is one line."""


@dataclass(frozen=True)
class Part:
    function: str
    points: float


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    module: str
    description: str
    parts: tuple[Part, ...]
    course_root: Path
    late: LatePolicy | None = None  # the `[late]` table of assignment.toml (grader.late)
    # `[lms] canvas_assignment`: the assignment's column as Canvas names it, "Title (id)"
    # (grader.batch.lms_exports); "" uses the title
    canvas_assignment: str = ""
    # A copy of the course shipped to a batch worker (grader.batch.course_bundle): its
    # secret.txt holds the secret as resolved where the batch started, and wins over this
    # machine's GRADER_SECRET (otherwise a worker's environment could give its students
    # other inputs than a local batch would).
    shipped: bool = False

    @property
    def directory(self) -> Path:
        return self.course_root / "assignments" / self.id

    @property
    def solution_directory(self) -> Path:
        return self.course_root / "solutions" / self.id

    @property
    def stub_path(self) -> Path:
        return self.directory / f"{self.module}.py"

    @property
    def reference_path(self) -> Path:
        return self.solution_directory / f"{self.module}.py"

    @property
    def figures(self) -> dict:
        """The plot kinds this assignment declares in `figures.py` (`grader.figures`)."""
        from grader.figures import load_figures

        return load_figures(self.directory)

    def hidden_check_count(self, function: str | None = None) -> int | None:
        """How many hidden checks grading will run, for the whole assignment or for one
        `function` (read from the inventory `grader build` bakes, since a student bundle has
        no hidden checks to count); None when the inventory does not say."""
        path = self.public_checks / INVENTORY
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if function is None:
            return int(data["hidden_checks"])
        per_function = data.get("hidden_checks_per_function", {})
        return int(per_function[function]) if function in per_function else None

    @property
    def probes_path(self) -> Path:
        return self.directory / "probes.py"

    @property
    def public_checks(self) -> Path:
        return self.directory / "checks"

    @property
    def hidden_checks(self) -> Path:
        return self.solution_directory / "checks"

    @property
    def mutants_directory(self) -> Path:
        return self.solution_directory / "mutants"

    @property
    def has_solutions(self) -> bool:
        return self.reference_path.is_file()

    @property
    def functions(self) -> list[str]:
        return [part.function for part in self.parts]

    @property
    def max_score(self) -> float:
        return float(sum(part.points for part in self.parts))

    def points_for(self, function: str) -> float:
        for part in self.parts:
            if part.function == function:
                return part.points
        raise KeyError(function)

    def secret(self) -> str:
        """The assignment secret that seeds per-student inputs of the hidden checks:
        `GRADER_SECRET`, else `solutions/<id>/secret.txt`. Without one, hidden grading stops
        with a CourseError naming the command that makes one (a silent fixed value would let
        anyone who reads the grader compute every student's inputs). The public checks
        (self-check, student bundle) use fixed inputs and never ask for it. In a `shipped`
        copy of the course the file alone counts (it holds the secret resolved where the
        batch started)."""
        env = os.environ.get("GRADER_SECRET")
        if env and not self.shipped:
            return env
        path = self.solution_directory / "secret.txt"
        secret = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        if not secret:
            raise CourseError(f"{path}: no secret for the hidden checks' per-student inputs; make one with "
                              f"`python -c \"import secrets; print(secrets.token_hex(32))\" > {path}` "
                              "(or set GRADER_SECRET)")
        return secret


def _table(config: dict, name: str) -> dict:
    table = config.get(name, {})
    if not isinstance(table, dict):
        raise ValueError(f"[{name}] must be a table")
    return table


def load_assignment(directory: Path, course_root: Path) -> Assignment:
    config_path = directory / "assignment.toml"
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"{config_path}: missing assignment.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{config_path}: invalid TOML: {exc}") from None
    try:
        parts = tuple(Part(str(p["function"]), float(p["points"])) for p in config["parts"])
        return Assignment(
            id=directory.name,
            title=str(config.get("title", directory.name)),
            module=str(config["module"]),
            description=str(config.get("description", "")),
            parts=parts,
            course_root=course_root,
            late=policy_from_toml(config["late"]) if "late" in config else None,
            canvas_assignment=str(_table(config, "lms").get("canvas_assignment", "")).strip(),
        )
    except LatePolicyError as exc:
        raise CourseError(f"{config_path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CourseError(f"{config_path}: missing or invalid field {exc}") from None


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Course":
        env = os.environ.get("GRADER_COURSE")
        if env:
            root = Path(env).resolve()
            if not (root / "assignments").is_dir():
                raise CourseError(f"GRADER_COURSE={env}: no assignments/ folder there")
            return cls(root)
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "assignments").is_dir():
                return cls(folder)
        package_checkout = Path(__file__).resolve().parent.parent
        if (package_checkout / "assignments").is_dir():
            return cls(package_checkout)
        raise CourseError(f"no course found: no assignments/ folder at or above {here}")

    def assignments(self) -> list[Assignment]:
        folders = sorted(p for p in (self.root / "assignments").iterdir() if (p / "assignment.toml").is_file())
        return [load_assignment(folder, self.root) for folder in folders]

    def get(self, assignment_id: str) -> Assignment:
        folder = self.root / "assignments" / assignment_id
        if not (folder / "assignment.toml").is_file():
            known = ", ".join(a.id for a in self.assignments()) or "none"
            raise CourseError(f"unknown assignment '{assignment_id}' (known: {known})")
        return load_assignment(folder, self.root)
