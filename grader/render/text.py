"""Terminal rendering of a GradingResult (plain text), and the wording every renderer shares
(status labels, score and summary sentences, output clipping) so that the terminal, the
Markdown for Gradescope and the HTML report say the same thing in the same words.

The shared wording keeps outside text as it came (each output escapes for itself);
`render_text`, the terminal's, passes every line through `grader.untrusted`: one-line
values (the id, error reasons, warnings, test names, hints) through `terminal_line`, a
test's output through `terminal_text` before it is split into lines. So a student id or an
output holding escape sequences or carriage returns cannot recolour, hide or overwrite the
score line (a 0/30 shown as "30 / 30 points")."""
from __future__ import annotations

from grader.results import GradingResult, PartResult, TestResult
from grader.untrusted import terminal_line, terminal_text

PUBLIC_ONLY_NOTE = "Public tests only: this self-check is not your grade."

#: What a test's status means, in a student's words.
STATUS_LABELS = {
    "passed": "passed",
    "failed": "failed",
    "error": "your code raised an error",
    "timeout": "timed out",
}

#: A symbol for each status, always shown next to its label (never colour alone). All are in
#: DejaVu Sans, so they show on a bare Linux box too.
STATUS_SYMBOLS = {"passed": "✓", "failed": "✗", "error": "⚠", "timeout": "◷"}

_VERDICT = {"passed": "passed", "failed": "failed", "error": "raised an error", "timeout": "timed out"}
_MARK = {"passed": "ok  ", "failed": "FAIL", "error": "ERR ", "timeout": "TIME"}


def points(value: float) -> str:
    """A score without trailing zeros: 4.0 -> "4", 2.5 -> "2.5"."""
    return f"{value:g}"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def headline(result: GradingResult) -> str:
    """`assignment / student: 41 / 50 points`, or the one-line reason it could not be graded."""
    head = f"{result.assignment} / {result.student}: "
    if result.status == "error":
        return head + f"could not be graded: {result.error}"
    return head + f"{points(result.score)} / {points(result.max_score)} points"


def part_summary(result: GradingResult, part: PartResult) -> str:
    """A short phrase about a part's tests: "all 2 checks passed", "the check timed out",
    "2 of 3 checks did not pass (1 failed, 1 raised an error)", "not tested"."""
    tests = result.tests_for(part.function)
    if not tests:
        return "not tested"
    passed = sum(t.status == "passed" for t in tests)
    if len(tests) == 1:
        return f"the check {_VERDICT.get(tests[0].status, tests[0].status)}"
    if passed == len(tests):
        return f"all {passed} checks passed"
    counts = {status: sum(t.status == status for t in tests) for status in ("failed", "error", "timeout")}
    counts = {status: n for status, n in counts.items() if n}
    if len(counts) == 1:
        (status, n), = counts.items()
        return f"{n} of {len(tests)} checks {_VERDICT[status]}"
    detail = ", ".join(f"{n} {_VERDICT[status]}" for status, n in counts.items())
    return f"{len(tests) - passed} of {len(tests)} checks did not pass ({detail})"


def public_summary(result: GradingResult, hidden_checks: int | None = None) -> str:
    """The closing sentence of a self-check."""
    passed = sum(t.status == "passed" for t in result.tests)
    summary = f"{passed} of {len(result.tests)} public tests passed."
    if hidden_checks:
        # A self-check of one function (a notebook cell) counts that function's hidden checks.
        scope = f" of {result.parts[0].function}" if len(result.parts) == 1 else ""
        summary += f" Grading runs {hidden_checks} hidden checks{scope} on other inputs."
    return summary


def misconception_notes(result: GradingResult, part: PartResult) -> list[tuple[str, str]]:
    """(misconception id, hint) for each named mistake of a part; the hint may be empty."""
    return [(mid, result.hints.get(mid, "")) for mid in part.misconceptions]


def clip_output(text: str, max_lines: int, max_chars: int) -> str:
    """At most `max_lines` lines and `max_chars` characters of a test's output (student output
    can be huge), with a last line saying how much was left out."""
    lines = text.splitlines()
    kept: list[str] = []
    budget, cut_line = max_chars, False
    for line in lines[:max_lines]:
        if len(line) > budget:
            kept.append(line[:budget] + " ...")
            cut_line = True
            break
        kept.append(line)
        budget -= len(line) + 1
    left = len(lines) - len(kept)
    if left > 0:
        kept.append(f"... ({left} more line{'s' if left > 1 else ''} not shown)")
    elif cut_line:
        kept.append("... (output cut short)")
    return "\n".join(kept)


def test_output(test: TestResult, max_lines: int = 12, max_chars: int = 2000) -> str:
    """The output to show for a test that did not pass ("" for a passed one)."""
    if test.status == "passed" or not test.output:
        return ""
    return clip_output(test.output, max_lines, max_chars)


def render_text(result: GradingResult, hidden_checks: int | None = None) -> str:
    """The result for a terminal: nothing in it a terminal acts on (see the module docstring)."""
    lines = [terminal_line(headline(result))]
    if result.status == "error":
        return "\n".join(lines)
    if result.public_only:
        lines.append(PUBLIC_ONLY_NOTE)
    for warning in result.warnings:
        lines.append(f"warning: {terminal_line(warning)}")
    lines.append("")
    for part in result.parts:
        lines.append(terminal_line(f"{part.function:<24} {points(part.score)} / {points(part.max_score)}  "
                                   f"({part_summary(result, part)})"))
        for test in result.tests_for(part.function):
            if test.status == "passed" and not result.public_only:
                continue  # a grade lists what went wrong; a self-check lists every check
            lines.append(terminal_line(f"  [{_MARK.get(test.status, test.status)}] {test.name}"))
            output = test_output(test)
            if output:
                lines.extend("        " + row for row in terminal_text(output).split("\n"))
        for mid, hint in misconception_notes(result, part):
            lines.append(terminal_line(f"  likely mistake ({mid}): {hint}"))
        if part.feedback and not part.misconceptions:
            lines.append(terminal_line(f"  {part.feedback}"))
    if result.public_only:
        lines += ["", public_summary(result, hidden_checks)]
    return "\n".join(lines)
