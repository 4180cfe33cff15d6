"""Terminal text and Markdown (Gradescope `output` fields) renderings of a result. The
Markdown is rendered to HTML with mistune (nbconvert's Markdown parser, raw HTML allowed) to
check that nothing a student prints turns into markup."""
from __future__ import annotations

import re

import mistune
import pytest

from grader import results
from grader.render.markdown import escape_inline, fenced, render_markdown, render_test_markdown
from grader.render.text import clip_output, part_summary, render_text
from grader.results import GradingResult, PartResult

HOSTILE = '<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) **bold** `code`'
HINT = "Divide by sqrt(v + eps), not by v + eps."


def sample(**changes) -> GradingResult:
    tests = [
        results.TestResult("adagrad_step: 100 steps", "adagrad_step", 0.0, 3.0, "failed",
                           output="Inputs:\n  eta = 0.5\ntheta is wrong at index (1, 0)\n```\nnot a fence\n```",
                           misconceptions=["adagrad.no_sqrt"]),
        results.TestResult("adagrad_step: shapes", "adagrad_step", 2.0, 2.0, "passed"),
        results.TestResult("adam_step: raises", "adam_step", 0.0, 8.0, "error",
                           output='your code raised KeyError: 3\n  File "optimizers.py", line 90, in adam_step'),
        results.TestResult("gd_step: endless", "gd_step", 0.0, 3.0, "timeout", output=""),
    ]
    parts = [PartResult("gd_step", 0.0, 3.0), PartResult("adagrad_step", 2.0, 5.0, misconceptions=["adagrad.no_sqrt"]),
             PartResult("adam_step", 0.0, 8.0), PartResult("train", 0.0, 8.0)]
    result = GradingResult("optimizers", "dana", "graded", 2.0, 24.0, parts=parts, tests=tests,
                           hints={"adagrad.no_sqrt": HINT}, warnings=["student code ran with resource limits only"])
    for key, value in changes.items():
        setattr(result, key, value)
    return result


def html_of(markdown: str) -> str:
    return mistune.html(markdown)


def test_markdown_shows_scores_mistakes_and_outputs():
    text = render_markdown(sample())
    assert text.startswith("# optimizers / dana: 2 / 24 points\n")
    assert "| `adagrad_step` | 2 / 5 | 1 of 2 checks failed |" in text
    assert "| `train` | 0 / 8 | not tested |" in text and "## `train`" not in text
    assert f"**Likely mistake** `adagrad.no_sqrt`: {escape_inline(HINT)}" in text
    assert "> **Warning:** student code ran with resource limits only" in text
    html = html_of(text)
    assert "<table>" in html and "<h2><code>adagrad_step</code>: 2 / 5</h2>" in html
    pres = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", html, re.S)
    assert any("theta is wrong at index (1, 0)\n```\nnot a fence\n```" in p for p in pres)  # the output, whole
    assert any('File &quot;optimizers.py&quot;, line 90, in adam_step' in p for p in pres)
    assert "✓ adagrad_step: shapes" in html and "your code did not finish within the time limit" in html


def test_markdown_escapes_hostile_text_everywhere():
    result = sample(student=HOSTILE, warnings=[HOSTILE], hints={"adagrad.no_sqrt": HOSTILE})
    result.tests[0].output = HOSTILE + "\n" + "`" * 7
    result.parts[0].feedback = HOSTILE
    html = html_of(render_markdown(result))
    assert "<script" not in html and "<img" not in html and "<a " not in html and "<strong>bold" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    single = html_of(render_test_markdown(result.tests[0], result))
    assert "<script" not in single and "<a " not in single and "<img" not in single


def test_fences_outlast_any_backticks_inside():
    assert fenced("plain") == "```text\nplain\n```"
    block = fenced("a ```` b")
    assert block.startswith("`````text\n") and block.endswith("\n`````")
    assert html_of(block).count("<pre>") == 1


def test_error_result_is_one_headline():
    result = GradingResult("optimizers", "erin", "error", 0.0, 24.0, error="erin.zip: not a zip file")
    assert render_markdown(result) == "# optimizers / erin: could not be graded: erin.zip: not a zip file\n"
    assert render_text(result) == "optimizers / erin: could not be graded: erin.zip: not a zip file"


def test_test_markdown_for_gradescope():
    result = sample()
    assert render_test_markdown(result.tests[3]).startswith("◷ **timed out** (0 / 3 points)")
    assert "did not finish within the time limit" in render_test_markdown(result.tests[3])
    with_hints = render_test_markdown(result.tests[0], result)
    assert "✗ **failed** (0 / 3 points)" in with_hints and escape_inline(HINT) in with_hints
    assert "Likely mistake" not in render_test_markdown(result.tests[0])  # hints need the result
    assert render_test_markdown(result.tests[1]) == "✓ **passed** (2 / 2 points)"


def test_public_markdown_and_text():
    result = sample(public_only=True)
    assert "**Public tests only: this self-check is not your grade.**" in render_markdown(result)
    assert render_markdown(result, hidden_checks=31).rstrip().endswith(
        "1 of 4 public tests passed. Grading runs 31 hidden checks on other inputs.")
    text = render_text(result, hidden_checks=31)
    assert text.splitlines()[1] == "Public tests only: this self-check is not your grade."
    assert text.splitlines()[-1] == "1 of 4 public tests passed. Grading runs 31 hidden checks on other inputs."
    assert render_text(result).splitlines()[-1] == "1 of 4 public tests passed."


def test_text_layout():
    text = render_text(sample())
    assert "adagrad_step             2 / 5" in text
    assert "  [FAIL] adagrad_step: 100 steps" in text and "  [TIME] gd_step: endless" in text
    assert f"  likely mistake (adagrad.no_sqrt): {HINT}" in text
    result = sample()
    result.tests[0].output = "\n".join(f"row {i}" for i in range(60))
    lines = render_text(result, full_output="grader grade optimizers x.py --report r.html").splitlines()
    assert "        row 39" in lines and "        row 40" not in lines
    assert "        ... (20 more lines not shown)" in lines
    assert lines[-2].endswith("the HTML report shows all of it:")
    assert lines[-1] == "    grader grade optimizers x.py --report r.html"


def _long_failure(function: str, number: int) -> results.TestResult:
    array = "[" + ", ".join(f"{0.1 * i + 1e-9 * number:.17g}" for i in range(60)) + "]"
    output = (f"Inputs:\n  theta0 = {array}\n  eta = 0.1\ntheta is wrong at index (3,): expected 0.3, got 0.31; "
              f"40 of 60 values differ (tolerance rtol=1e-06, atol=1e-09).\nExpected theta = {array}\n"
              f"Got      theta = {array}")
    return results.TestResult(f"{function}: check {number}", function, 0.0, 1.0, "failed", output=output)


def test_terminal_fits_100_columns_and_names_the_mistake_first():
    tests = [_long_failure("adam_step", n) for n in range(3)] + [
        results.TestResult("train: stub", "train", 0.0, 8.0, "error", not_implemented=True,
                           output="not implemented yet: the function still raises NotImplementedError")]
    parts = [PartResult("adam_step", 0.0, 3.0, misconceptions=["adam.no_bias_correction"]),
             PartResult("train", 0.0, 8.0, attempted=False)]
    result = GradingResult("optimizers", "dana", "graded", 0.0, 11.0, parts=parts, tests=tests,
                           hints={"adam.no_bias_correction": "Divide m and v by (1 - beta^t). " * 6},
                           warnings=["w" * 30 + " a long warning " * 12])
    lines = render_text(result).splitlines()
    assert max(len(line) for line in lines) <= 100
    adam = lines.index(next(line for line in lines if line.startswith("adam_step")))
    assert lines[adam + 1].startswith("  likely mistake (adam.no_bias_correction): Divide m and v")
    assert lines[adam + 2].startswith("    ") and lines[adam + 4].startswith("  [FAIL] adam_step: check 0")
    # the first failing check in full (its arrays wrapped), the others by their verdict line
    assert sum("Inputs:" in line for line in lines) == 1
    assert sum("theta is wrong at index (3,)" in line for line in lines) == 3
    assert "Some output was cut" in "\n".join(lines)
    # an untouched stub is "not attempted", never an error
    assert "train                    0 / 8  (not attempted)" in lines
    assert not any("[ERR" in line or "raised an error" in line for line in lines)


def test_terminal_colour_only_when_asked():
    result = sample()
    plain = render_text(result)
    coloured = render_text(result, colour=True)
    assert "\x1b[" not in plain and "\x1b[31m[FAIL]\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_use_colour_follows_tty_and_no_color(monkeypatch):
    from grader.render.text import use_colour

    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_colour(Stream(True)) and not use_colour(Stream(False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Stream(True))


def test_student_text_cannot_drive_the_terminal():
    result = sample(student="eve\x1b[2J\u202e")
    result.tests[0].output = "Inputs:\n  x = 1\nwrong \x1b]0;title\x07 \x1b[31mred"
    text = render_text(result, colour=False)
    assert "\x1b" not in text and "\u202e" not in text


@pytest.mark.parametrize("text, lines, chars, expected", [
    ("a\nb\nc", 5, 100, "a\nb\nc"),
    ("a\nb\nc", 2, 100, "a\nb\n... (1 more line not shown)"),
    ("x" * 50, 5, 10, "x" * 10 + " ...\n... (output cut short)"),
    ("ab\n" + "y" * 50 + "\nc", 5, 10, "ab\n" + "y" * 7 + " ...\n... (1 more line not shown)"),
])
def test_clip_output(text, lines, chars, expected):
    assert clip_output(text, lines, chars) == expected


def test_part_summaries():
    result = sample()
    summaries = {p.function: part_summary(result, p) for p in result.parts}
    assert summaries == {"gd_step": "the check timed out", "adagrad_step": "1 of 2 checks failed",
                         "adam_step": "the check raised an error", "train": "not tested"}
    result.tests.append(results.TestResult("adagrad_step: t", "adagrad_step", 0.0, 1.0, "timeout"))
    assert part_summary(result, result.parts[1]) == "2 of 3 checks did not pass (1 failed, 1 timed out)"
