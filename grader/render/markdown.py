"""Markdown rendering of a GradingResult: for Gradescope's `output` fields (top-level and per
test, `output_format: "md"`) and for terminals or chat that show Markdown.

Student-influenced text (test output, tracebacks, the student id, error reasons) is hostile:
outputs go into fenced code blocks whose fence is longer than any backtick run inside, and
inline text has Markdown's and HTML's special characters backslash-escaped, so nothing a
student prints can become a link, an image or raw HTML. Markdown is also read in terminals:
inline text passes `grader.untrusted.terminal_line` and outputs `terminal_text`, so no escape
sequence, carriage return or bidi override of a student's reaches the reader.
"""
from __future__ import annotations

import re

from grader.render.text import (NOT_ATTEMPTED_NOTE, PUBLIC_ONLY_NOTE, STATUS_SYMBOLS, headline, misconception_notes,
                                part_summary, points, public_summary, test_label, test_output)
from grader.results import GradingResult, TestResult
from grader.untrusted import terminal_line, terminal_text

#: Gradescope shows each test's output in full; keep a hostile one bounded anyway.
MAX_OUTPUT_LINES = 60
MAX_OUTPUT_CHARS = 8000

#: Enough to stop emphasis, code spans, links and images, tables, raw HTML and entities.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def escape_inline(text: str) -> str:
    """`text` as literal Markdown inline text, on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(terminal_line(text).split()))


def fenced(text: str, info: str = "text") -> str:
    """`text` as a fenced code block that nothing inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def render_test_markdown(test: TestResult, result: GradingResult | None = None) -> str:
    """One test's verdict and explanation (Gradescope's per-test `output`); with `result`, the
    hints of the misconceptions this test revealed are added."""
    lines = [f"{STATUS_SYMBOLS.get(test.status, '')} **{escape_inline(test_label(test))}**"
             f" ({points(test.score)} / {points(test.max_score)} points)"]
    output = test_output(test, MAX_OUTPUT_LINES, MAX_OUTPUT_CHARS)
    if test.status == "timeout" and not output:
        output = "your code did not finish within the time limit"
    if output:
        lines += ["", fenced(terminal_text(output))]
    if result is not None:
        for mid in test.misconceptions:
            lines += ["", _misconception_line(mid, result.hints.get(mid, ""))]
    return "\n".join(lines)


def _misconception_line(mid: str, hint: str) -> str:
    line = f"**Likely mistake** `{terminal_line(mid)}`"
    return line + (f": {escape_inline(hint)}" if hint else "")


def render_markdown(result: GradingResult, hidden_checks: int | None = None) -> str:
    """The whole result: headline, banners, a table of parts, then each part with its
    named mistakes and the explanation of every test that did not pass."""
    out = [f"# {escape_inline(headline(result))}"]
    if result.status == "error":
        return "\n".join(out) + "\n"
    if result.public_only:
        out += ["", f"> **{escape_inline(PUBLIC_ONLY_NOTE)}**"]
    for warning in result.warnings:
        out += ["", f"> **Warning:** {escape_inline(warning)}"]
    out += ["", "| Part | Score | Checks |", "|---|---|---|"]
    for part in result.parts:
        out.append(f"| `{part.function}` | {points(part.score)} / {points(part.max_score)} | "
                   f"{escape_inline(part_summary(result, part))} |")
    for part in result.parts:
        tests = result.tests_for(part.function)
        if not (tests or part.misconceptions or part.feedback):
            continue  # the table already says "not tested"
        out += ["", f"## `{part.function}`: {points(part.score)} / {points(part.max_score)}"]
        if not part.attempted:
            out += ["", escape_inline(NOT_ATTEMPTED_NOTE)]
            continue
        for mid, hint in misconception_notes(result, part):
            out += ["", _misconception_line(mid, hint)]
        if part.feedback and not part.misconceptions:
            out += ["", escape_inline(part.feedback)]
        for test in tests:
            if test.status == "passed":
                out += ["", f"- {STATUS_SYMBOLS['passed']} {escape_inline(test.name)}"]
                continue
            out += ["", f"### {STATUS_SYMBOLS.get(test.status, '')} {escape_inline(test.name)}", "",
                    render_test_markdown(test)]
    if result.public_only:
        out += ["", escape_inline(public_summary(result, hidden_checks))]
    return "\n".join(out) + "\n"
