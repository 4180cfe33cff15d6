"""`grader audit ID`: check the arguments, run the audit, write its outputs, print the table.

Outputs in OUT (default: a fresh temporary folder, printed first): `audit.txt` (the table),
`audit.json` (every mutant's record, verdict and losses), `audit.html` (the instructor's
page), `mutants/` (every mutant's module as graded), `probe_set/` (the equivalence probes)
and `suggestions/` (candidate catalogue entries). The table goes to stdout and its last
line is `audit: K of M mutants caught for every seed, U unfair, E escaped`. Exit 0 when the
audit ran, whatever it found (its findings are data, not a failure of the command).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TextIO

from grader.audit.report import render_html, render_table, summarise, write_json, write_suggestions
from grader.audit.run import run_audit
from grader.course import Assignment
from grader.errors import UsageError

DEFAULT_SEEDS = 8


def audit_command(assignment: Assignment, *, seeds: int = DEFAULT_SEEDS, out: Path | None = None,
                  workers: int | None = None, scheduler: str | None = None, functions: list[str] | None = None,
                  max_mutants: int | None = None, stream: TextIO | None = None) -> dict:
    """Run the audit and write its outputs; returns the summary (see grader.audit.report).
    Raises UsageError (one line) for bad arguments."""
    stream = stream or sys.stdout
    if not assignment.has_solutions:
        raise UsageError(f"{assignment.id}: no reference at {assignment.reference_path}; the audit mutates it")
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    if max_mutants is not None and max_mutants < 0:
        raise UsageError(f"--max-mutants must be 0 or more, got {max_mutants}")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if functions is not None:
        unknown = [f for f in functions if f not in assignment.functions]
        if unknown or not functions:
            raise UsageError(f"--functions: unknown function '{unknown[0] if unknown else ''}' "
                             f"(the parts of {assignment.id}: {', '.join(assignment.functions)})")
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix=f"grader-audit-{assignment.id}-"))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    print(f"audit output: {out}", file=stream, flush=True)
    run = run_audit(assignment, out, seeds=seeds, workers=workers, scheduler=scheduler, functions=functions,
                    max_mutants=max_mutants, stream=stream)
    summary = summarise(run)
    summary["suggestions"] = write_suggestions(summary, assignment.reference_path.read_text(encoding="utf-8"), out)
    summary["suggestions_dir"] = str(out / "suggestions")
    table = render_table(summary)
    write_json(summary, out / "audit.json")
    (out / "audit.txt").write_text(table + "\n", encoding="utf-8")
    (out / "audit.html").write_text(render_html(summary, assignment.course_root / "templates"), encoding="utf-8")
    print(f"wrote {out / 'audit.html'}, {out / 'audit.json'}", file=stream)
    print(table, file=stream, flush=True)
    return summary
