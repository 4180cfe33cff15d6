"""Every terminal renderer passes outside text through grader.untrusted: a student id, an
error reason or a test output holding escape sequences, carriage returns or bidi overrides
cannot recolour, hide or overwrite what the reader sees."""
from __future__ import annotations

import io

from grader.batch.progress import Progress
from grader.render.markdown import render_markdown
from grader.render.text import render_text
from grader import results
from grader.results import GradingResult, PartResult

TERMINAL_ACTIVE = ("\x1b", "\r", "\x9b", "\x9d", "\u202e", "\u2066", "\u2067", "\x08")
HOSTILE_ID = "x\x1b[2K\rsigmoid_neuron \u2215 mallory: 30 \u2215 30 points\x1b[8m"


def hostile_result(status: str = "graded") -> GradingResult:
    output = "expected 1.0\x1b[1A\r\x1b[2Ksigmoid 4 / 4 (all passed)\u202e\nsecond line\x9b2J\x08"
    return GradingResult(
        assignment="sigmoid_neuron", student=HOSTILE_ID, status=status, score=0.0, max_score=30.0,
        parts=[PartResult("sigmoid", 0.0, 4.0, misconceptions=["sig.\x1b[31mred"],
                          feedback="feedback\x1b]0;owned\x07")],
        tests=[results.TestResult("sigmoid: 3 values\x1b[8m", "sigmoid", 0.0, 4.0, "failed", output=output)],
        warnings=["warning\x1b]8;;http://x\x1b\\link"], hints={"sig.\x1b[31mred": "hint\r\x1b[Kfake"},
        error="cannot read caf\\xe9.py\x1b[2K\r: 30 / 30 points" if status == "error" else None)


def test_text_renderer_shows_the_real_score_and_nothing_a_terminal_acts_on():
    for status in ("graded", "error"):
        text = render_text(hostile_result(status))
        assert not any(ch in text for ch in TERMINAL_ACTIVE), repr(text)
        first = text.splitlines()[0]
        assert first.startswith("sigmoid_neuron / x?sigmoid_neuron")
        if status == "graded":
            assert first.endswith(": 0 / 30 points")
            assert "second line" in text and "sigmoid 4 / 4 (all passed)" in text  # kept, as text
        else:
            assert "could not be graded: cannot read caf\\xe9.py?: 30 / 30 points" in first


def test_markdown_renderer_shows_nothing_a_terminal_acts_on():
    markdown = render_markdown(hostile_result())
    assert not any(ch in markdown for ch in TERMINAL_ACTIVE), repr(markdown)
    assert "0 / 30 points" in markdown.splitlines()[0]


def test_progress_lines_cannot_be_rewritten_by_a_name_or_a_reason():
    stream = io.StringIO()
    progress = Progress(2, stream, bar=False)
    progress.advance(HOSTILE_ID, "graded", 0.0, 30.0, 0.5)
    progress.advance("bob\x1b[1A", "error", 0.0, 30.0, 0.1, reason="syntax error\r[2/2] bob: 30/30")
    progress.note("warning: no report for \x1b[2Jeve")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert not any(ch in stream.getvalue() for ch in TERMINAL_ACTIVE), stream.getvalue()
    assert len(lines) == 3
    assert lines[0].startswith("[1/2] x?sigmoid_neuron") and lines[0].endswith(": 0/30 (0.50 s)")
    assert lines[1] == "[2/2] bob: not graded: syntax error?[2/2] bob: 30/30 (0.10 s)"
