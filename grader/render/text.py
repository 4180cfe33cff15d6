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

import os
import re
import textwrap

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

#: What a part whose every check raised NotImplementedError (the untouched stub) is called.
NOT_ATTEMPTED = "not attempted"
NOT_ATTEMPTED_NOTE = "not attempted: the function still raises NotImplementedError (write it, then check again)"

#: Terminal output fits this many columns (arrays are wrapped, long outputs cut).
WIDTH = 100
#: A line of a test's output wraps onto at most this many terminal rows; the rest is cut
#: (the HTML report shows it).
MAX_ROWS_PER_LINE = 4


def points(value: float) -> str:
    """A score without trailing zeros: 4.0 -> "4", 2.5 -> "2.5"."""
    return f"{value:g}"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def test_label(test: TestResult) -> str:
    """A test's status in words; a check of an untouched stub is "not attempted"."""
    return NOT_ATTEMPTED if test.not_implemented else status_label(test.status)


def headline(result: GradingResult) -> str:
    """`assignment / student: 41 / 50 points`, or the one-line reason it could not be graded."""
    head = f"{result.assignment} / {result.student}: "
    if result.status == "error":
        return head + f"could not be graded: {result.error}"
    if result.public_only:  # public checks are counted as tests, not as points
        passed = sum(t.status == "passed" for t in result.tests)
        return head + f"{passed} of {len(result.tests)} public tests passed"
    return head + f"{points(result.score)} / {points(result.max_score)} points"


def part_summary(result: GradingResult, part: PartResult) -> str:
    """A short phrase about a part's tests: "all 2 checks passed", "the check timed out",
    "2 of 3 checks did not pass (1 failed, 1 raised an error)", "not tested"."""
    tests = result.tests_for(part.function)
    if not part.attempted:
        return NOT_ATTEMPTED
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


def use_colour(stream) -> bool:
    """Colour only for a terminal, never when NO_COLOR is set (https://no-color.org) or the
    terminal is dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False


class _Style:
    """ANSI styles (SGR) around text, or nothing without colour. Colour is never the only
    signal: every status also has its mark or word."""

    _CODES = {"passed": "32", "failed": "31", "error": "35", "timeout": "33", "bold": "1",
              "dim": "2", "mistake": "1;33", "todo": "36"}

    def __init__(self, colour: bool):
        self.colour = colour

    def __call__(self, kind: str, text: str) -> str:
        if not self.colour or not text:
            return text
        return f"\x1b[{self._CODES[kind]}m{text}\x1b[0m"


_ASSIGNMENT = re.compile(r"^(\s*)([^=]{1,40}?) = ")


def wrap_line(line: str, width: int, indent: str, max_rows: int | None = MAX_ROWS_PER_LINE) -> tuple[list[str], bool]:
    """One line of a test's output as terminal rows of at most `width` columns, each starting
    with `indent`: a `name = value` line continues under its value (arrays stay readable),
    any other line under its own start plus two spaces. Returns (rows, whether it was cut
    after `max_rows` rows)."""
    if len(indent) + len(line) <= width:
        return [indent + line], False
    lead = len(line) - len(line.lstrip(" "))
    match = _ASSIGNMENT.match(line)
    hang = len(match.group(0)) if match and len(match.group(0)) <= (width - len(indent)) // 2 else lead + 2
    rows = textwrap.wrap(line, width=max(width - len(indent), 20), initial_indent="",
                         subsequent_indent=" " * hang, break_on_hyphens=False, drop_whitespace=True,
                         replace_whitespace=False) or [""]
    rows = [line[:lead] + rows[0].lstrip(" ")] + rows[1:] if lead and not rows[0].startswith(" ") else rows
    cut = max_rows is not None and len(rows) > max_rows
    if cut:
        rows = rows[:max_rows]
        rows[-1] = rows[-1][: max(width - len(indent) - 4, 0)] + " ..."
    return [indent + row for row in rows], cut


#: A failing check's output in the terminal: at most this many lines (a self-check shows
#: every check in full; a grade shows the first failing check of a part in full and only
#: the verdict line of the others).
TERMINAL_OUTPUT_LINES = 40
TERMINAL_OUTPUT_CHARS = 6000


def verdict_line(output: str) -> str:
    """The line of a check's output that says what is wrong (the first after its Inputs)."""
    lines = output.splitlines()
    in_inputs = False
    for line in lines:
        if line == "Inputs:":
            in_inputs = True
            continue
        if in_inputs and line.startswith("  "):
            continue
        in_inputs = False
        if line.strip():
            return line
    return lines[0] if lines else ""


def _output_rows(test: TestResult, width: int, indent: str, brief: bool = False) -> tuple[list[str], bool]:
    """A failing test's output (terminal-safe), wrapped; whether anything was left out.
    `brief`: only its verdict line."""
    if test.status == "passed" or not test.output:
        return [], False
    if brief:
        rows, _ = wrap_line(terminal_text(verdict_line(test.output)), width, indent, max_rows=3)
        return rows, True
    text = clip_output(test.output, TERMINAL_OUTPUT_LINES, TERMINAL_OUTPUT_CHARS)
    rows: list[str] = []
    cut = text.endswith(("not shown)", "cut short)"))
    for line in terminal_text(text).splitlines():
        wrapped, was_cut = wrap_line(line, width, indent)
        rows += wrapped
        cut = cut or was_cut
    return rows, cut


def render_text(result: GradingResult, hidden_checks: int | None = None, *, width: int = WIDTH,
                colour: bool = False, full_output: str = "") -> str:
    """The result for a terminal: at most `width` columns (long lines wrapped, long outputs
    cut), ANSI colour only when `colour`. In a part that lost points its likely mistake
    comes first, then what went wrong in each check (a grade lists failing checks only, a
    self-check every check); an untouched stub is one "not attempted" line. `full_output`
    says where to see what was cut (e.g. "grader grade ... --report FILE.html")."""
    style = _Style(colour)
    lines = [style("bold", terminal_line(headline(result)))]
    if result.status == "error":
        lines += ["    " + terminal_line(row) for row in result.error_detail.splitlines()]
        return "\n".join(lines)
    if result.public_only:
        lines.append(PUBLIC_ONLY_NOTE)
    for warning in result.warnings:
        lines += _wrapped(f"warning: {terminal_line(warning)}", width, "", "    ")
    lines.append("")
    cut_any = False
    for part in result.parts:
        summary = part_summary(result, part)
        own = result.tests_for(part.function)
        counted = (f"{sum(t.status == 'passed' for t in own)} / {len(own)} tests" if result.public_only
                   else f"{points(part.score)} / {points(part.max_score)}")
        head = f"{part.function:<24} {counted}  "
        if not part.attempted:
            lines.append(head + style("todo", f"({NOT_ATTEMPTED})"))
            lines.append("  " + style("todo", "[TODO]") + f" {NOT_ATTEMPTED_NOTE[len(NOT_ATTEMPTED) + 2:]}")
            continue
        full = part.score >= part.max_score - 1e-9
        lines.append(head + style("passed" if full else "failed" if part.score == 0 else "timeout", f"({summary})"))
        for mid, hint in misconception_notes(result, part):
            label = f"likely mistake ({terminal_line(mid)}):"
            lines += _styled(_wrapped(label + (f" {terminal_line(hint)}" if hint else ""), width, "  ", "    "),
                             label, style("mistake", label))
        if part.feedback and not part.misconceptions:
            for paragraph in part.feedback.splitlines():
                lines += _wrapped(terminal_line(paragraph), width, "  ", "    ")
        shown_in_full = 0
        for test in result.tests_for(part.function):
            if test.status == "passed" and not result.public_only:
                continue  # a grade lists what went wrong; a self-check lists every check
            mark = f"[{_MARK.get(test.status, test.status)}]"
            lines += _styled(_wrapped(f"{mark} {terminal_line(test.name)}", width, "  ", "         "),
                             mark, style(test.status if test.status in _MARK else "failed", mark))
            brief = not result.public_only and shown_in_full >= 1
            rows, cut = _output_rows(test, width, "        ", brief=brief)
            shown_in_full += bool(rows) and not brief
            lines += rows
            cut_any = cut_any or cut
    if cut_any:
        lines += ["", "Some output was cut to fit the terminal; the HTML report shows all of it"
                  + (":" if full_output else ".")]
        if full_output:
            lines.append("    " + terminal_line(full_output))
    if result.public_only:
        lines += [""] + _wrapped(public_summary(result, hidden_checks), width, "", "")
    return "\n".join(lines)


def _styled(rows: list[str], plain: str, styled: str) -> list[str]:
    """`rows` with the first `plain` of the first row replaced by its `styled` form (wrapping
    is done on plain text, so escape codes never count as columns)."""
    return [rows[0].replace(plain, styled, 1), *rows[1:]] if rows else rows


def _wrapped(text: str, width: int, indent: str, hang: str) -> list[str]:
    """Prose wrapped to `width` columns: the first row after `indent`, the others after `hang`."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=hang,
                         break_on_hyphens=False, break_long_words=True) or [indent]
