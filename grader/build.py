"""`grader build`: regenerate everything in `assignments/<id>/` that is derived from the
solutions, so the committed student material can never drift from the reference:
the stub module, the public checks' baked answers (the reference's, and every known
mistake's, so a self-check can name a mistake), and the count of hidden checks (in all and
per function) that self-check output announces. Tests fail when the committed files differ from a rebuild.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from grader.checking import (BakedReference, GraderPlugin, RecordingReference, StudentProbes, kwargs_key,
                             pack_answers, run_checks)
from grader.course import INVENTORY, Assignment
from grader.sandbox import ProbeOutcome
from grader.stubs import write_stub



def bake_public_answers(assignment: Assignment, path: Path | None = None) -> Path:
    """Run the public checks with the reference on both sides and save every reference
    answer they asked for, keyed by probe name and arguments."""
    from grader.grade import PUBLIC_EXPECTED, reference_module

    reference = reference_module(assignment)
    recorder = RecordingReference(reference)
    student = StudentProbes(lambda name, kwargs, timeout, group: ProbeOutcome("ok", reference.probe(name, **kwargs)))
    plugin = GraderPlugin(student, recorder, seed_material="public", per_student_seed=False)
    records = run_checks(assignment.public_checks, plugin)
    broken = [f"{r.title}: {r.status} {r.output or r.internal_error}" for r in records if r.status != "passed"]
    if broken or plugin.collection_errors:
        raise RuntimeError("the reference does not pass its own public checks:\n" + "\n".join(broken + plugin.collection_errors))
    path = path or assignment.public_checks / PUBLIC_EXPECTED
    recorder.save(path)
    return path


def bake_public_mutants(assignment: Assignment, path: Path | None = None) -> tuple[Path | None, list[str]]:
    """Bake every known mistake's answers to the public checks' probe calls (the calls a
    student with that mistake makes, and every call those checks ask the reference for), so
    that a self-check names the mistake without any mutant or reference code: the file holds
    only ids, hints and answers. Returns (the file, or None when the assignment has no
    catalogue; one line per mutant that fails no public check, which the self-check then
    cannot catch)."""
    import numpy as np

    from grader.checking import PUBLIC_EXPECTED
    from grader.diagnosis import PUBLIC_MUTANTS, load_catalogue, mutant_module

    path = path or assignment.public_checks / PUBLIC_MUTANTS
    catalogue = load_catalogue(assignment)
    if not catalogue:
        path.unlink(missing_ok=True)
        return None, []
    reference = BakedReference(assignment.public_checks / PUBLIC_EXPECTED)
    entries, arrays, uncaught = [], {}, []
    for number, mutant in enumerate(catalogue):
        module = mutant_module(assignment, mutant)

        def answer(name, kwargs, timeout=None, group=None, module=module):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return ProbeOutcome("ok", module.probe(name, **kwargs))
            except Exception as exc:  # the mistake raises here: a student's code would too
                return ProbeOutcome("error", message=str(exc), exc_type=type(exc).__name__)

        asked = RecordingReference(reference)  # every call the checks ask the reference for
        plugin = GraderPlugin(StudentProbes(answer), asked, seed_material="public", per_student_seed=False,
                              only_functions=mutant.functions)
        records = run_checks(assignment.public_checks, plugin)
        answers = {kwargs_key(call.name, call.kwargs): call.value
                   for record in records for call in record.probe_calls if call.status == "ok"}
        for key, (name, kwargs) in asked.calls.items():
            if key not in answers:
                outcome = answer(name, kwargs)
                if outcome.status == "ok":
                    answers[key] = outcome.value
        if all(r.status == "passed" for r in records):
            uncaught.append(f"warning: {mutant.id} ({mutant.label}) fails no public check of "
                            f"{', '.join(mutant.functions)}: a self-check cannot catch it")
        index, named = pack_answers(answers, prefix=f"m{number}_")
        entries.append({"id": mutant.id, "label": mutant.label, "functions": list(mutant.functions),
                        "rewrites": list(mutant.rewrites), "hint": mutant.hint, "answers": index})
        arrays.update(named)
    arrays["__index__"] = np.frombuffer(json.dumps({"mutants": entries}, sort_keys=True).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    return path, uncaught


def collect_checks(checks_dir: Path) -> list:
    """The check records of a folder, collected but not run."""
    plugin = GraderPlugin(StudentProbes(lambda *a: None), None, seed_material="")
    run_checks(checks_dir, plugin, collect_only=True)
    return plugin.records


def inventory(assignment: Assignment) -> dict:
    hidden = collect_checks(assignment.hidden_checks)
    public = collect_checks(assignment.public_checks)
    per_function = {f: sum(r.function == f for r in hidden) for f in assignment.functions}
    return {"hidden_checks": len(hidden), "public_checks": len(public),
            "hidden_points": assignment.max_score, "hidden_checks_per_function": per_function}


def build_assignment(assignment: Assignment) -> list[str]:
    """Regenerate the derived files; returns one line per file written."""
    written = [write_stub(assignment)]
    written.append(bake_public_answers(assignment))
    mutants, uncaught = bake_public_mutants(assignment)
    if mutants is not None:
        written.append(mutants)
    inventory_path = assignment.public_checks / INVENTORY
    inventory_path.write_text(json.dumps(inventory(assignment), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append(inventory_path)
    for extra in _extra_builders():
        written.extend(extra(assignment))
    return [f"wrote {p.relative_to(assignment.course_root)}" for p in written] + uncaught


def _extra_builders():
    """Builders of other derived material (the notebook), when their modules are present."""
    try:
        from grader.notebooks import build_notebook
    except ImportError:
        return []
    return [lambda a: [build_notebook(a)]]
