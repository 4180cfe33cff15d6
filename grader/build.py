"""`grader build`: regenerate everything in `assignments/<id>/` that is derived from the
solutions, so the committed student material can never drift from the reference:
the stub module, the public checks' baked answers, and the count of hidden checks that
self-check output announces. Tests fail when the committed files differ from a rebuild.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.checking import GraderPlugin, RecordingReference, StudentProbes, run_checks
from grader.course import Assignment
from grader.stubs import write_stub

INVENTORY = "inventory.json"


@dataclass
class _Outcome:
    status: str
    value: Any = None
    message: str = ""
    exc_type: str = ""
    traceback: str = ""


def bake_public_answers(assignment: Assignment, path: Path | None = None) -> Path:
    """Run the public checks with the reference on both sides and save every reference
    answer they asked for, keyed by probe name and arguments."""
    from grader.grade import PUBLIC_EXPECTED, reference_module

    reference = reference_module(assignment)
    recorder = RecordingReference(reference)
    student = StudentProbes(lambda name, kwargs, timeout, group: _Outcome("ok", reference.probe(name, **kwargs)))
    plugin = GraderPlugin(student, recorder, seed_material="public", per_student_seed=False)
    records = run_checks(assignment.public_checks, plugin)
    broken = [f"{r.title}: {r.status} {r.output or r.internal_error}" for r in records if r.status != "passed"]
    if broken or plugin.collection_errors:
        raise RuntimeError("the reference does not pass its own public checks:\n" + "\n".join(broken + plugin.collection_errors))
    path = path or assignment.public_checks / PUBLIC_EXPECTED
    recorder.save(path)
    return path


def collect_checks(checks_dir: Path) -> list:
    """The check records of a folder, collected but not run."""
    plugin = GraderPlugin(StudentProbes(lambda *a: None), None, seed_material="")
    run_checks(checks_dir, plugin, collect_only=True)
    return plugin.records


def inventory(assignment: Assignment) -> dict:
    hidden = collect_checks(assignment.hidden_checks)
    public = collect_checks(assignment.public_checks)
    return {"hidden_checks": len(hidden), "public_checks": len(public),
            "hidden_points": sum(r.points for r in hidden)}


def count_hidden_checks(assignment: Assignment) -> int | None:
    """How many hidden checks grading will run (read from the baked inventory, since a
    student bundle has no hidden checks to count)."""
    path = assignment.public_checks / INVENTORY
    if not path.is_file():
        return None
    return int(json.loads(path.read_text(encoding="utf-8"))["hidden_checks"])


def build_assignment(assignment: Assignment) -> list[str]:
    """Regenerate the derived files; returns one line per file written."""
    written = [write_stub(assignment)]
    written.append(bake_public_answers(assignment))
    inventory_path = assignment.public_checks / INVENTORY
    inventory_path.write_text(json.dumps(inventory(assignment), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(inventory_path)
    for extra in _extra_builders():
        written.extend(extra(assignment))
    return [f"wrote {p.relative_to(assignment.course_root)}" for p in written]


def _extra_builders():
    """Builders of other derived material (the notebook), when their modules are present."""
    try:
        from grader.notebooks import build_notebook
    except ImportError:
        return []
    return [lambda a: [build_notebook(a)]]
