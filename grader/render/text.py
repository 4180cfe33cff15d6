"""Terminal rendering of a GradingResult (plain text)."""
from __future__ import annotations

from grader.results import GradingResult

_MARK = {"passed": "ok  ", "failed": "FAIL", "error": "ERR ", "timeout": "TIME"}


def render_text(result: GradingResult, hidden_checks: int | None = None) -> str:
    lines = [f"{result.assignment} / {result.student}: ", ]
    if result.status == "error":
        lines[0] += f"could not be graded: {result.error}"
        return "\n".join(lines)
    lines[0] += f"{result.score:g} / {result.max_score:g} points"
    if result.public_only:
        lines.append("Public tests only: this self-check is not your grade.")
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    lines.append("")
    for part in result.parts:
        lines.append(f"{part.function:<24} {part.score:g} / {part.max_score:g}")
        for test in result.tests_for(part.function):
            lines.append(f"  [{_MARK.get(test.status, test.status)}] {test.name}")
            if test.status != "passed" and test.output:
                lines.extend("        " + row for row in test.output.splitlines()[:12])
        for mid in part.misconceptions:
            lines.append(f"  likely mistake ({mid}): {result.hints.get(mid, '')}")
        if part.feedback and not part.misconceptions:
            lines.append(f"  {part.feedback}")
    if result.public_only:
        passed = sum(t.status == "passed" for t in result.tests)
        summary = f"{passed} of {len(result.tests)} public tests passed."
        if hidden_checks:
            summary += f" Grading runs {hidden_checks} hidden checks on other inputs."
        lines += ["", summary]
    return "\n".join(lines)
