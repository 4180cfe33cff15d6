"""The student's HTML feedback report: one self-contained file (inline CSS, each plot one
`<img>` whose data: URI holds an SVG with its PNG frame embedded; no scripts, no network)
rendered from the Jinja2 template `templates/report.html.j2`.

Templates are looked up in the course's `templates/` first (an instructor may restyle the
report), then in the grader checkout's. Autoescaping is on: test output is the student's
text and may hold markup; a Content-Security-Policy meta tag (`grader.render.csp`: the page's
own style sheet by hash, data: images, nothing else) forbids scripts, any network fetch,
forms and base URLs as a second line of defence.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import jinja2
from markupsafe import Markup

from grader import __version__
from grader.atomic import write_atomic
from grader.course import Assignment
from grader.render.csp import with_policy
from grader.figures import FiguresError
from grader.render.plots import PlotImage, plots_for_test
from grader.render.text import (NOT_ATTEMPTED, NOT_ATTEMPTED_NOTE, PUBLIC_ONLY_NOTE, STATUS_SYMBOLS, clip_output,
                                misconception_notes, part_summary, points, test_label, verdict_line)
from grader.results import GradingResult, PartResult, TestResult

TEMPLATE = "report.html.j2"
PACKAGE_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

#: Hostile output stays bounded: a report is read on phones too.
MAX_OUTPUT_LINES = 200
MAX_OUTPUT_CHARS = 20_000

STATUS_INTROS = {
    "failed": "What was checked, what was expected and what your code returned:",
    "error": "Your code raised an error. The traceback shows your own code only:",
    "timeout": "Timed out: your code did not finish within the time limit (an endless loop, or far too many steps?).",
}

Plots = bool | Mapping[str, Sequence[PlotImage]] | None


def template_dirs(assignment: Assignment | None) -> tuple[Path, ...]:
    """Where report templates are looked up, first match wins."""
    dirs = []
    if assignment is not None:
        dirs.append(assignment.course_root / "templates")
    dirs.append(PACKAGE_TEMPLATES)
    return tuple(dict.fromkeys(d.resolve() for d in dirs if (d / TEMPLATE).is_file()))


@lru_cache(maxsize=8)
def _environment(dirs: tuple[Path, ...]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=True,  # every file: student text must never become markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _anchor(prefix: str, text: str) -> str:
    return prefix + "-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x")


def _test_view(result: GradingResult, test: TestResult, index: int, plots: Plots,
               named_by_part: Sequence[str] = (), figures: dict | None = None) -> dict:
    images, plot_note = _images_for(test, plots, figures or {})
    output = ""
    if test.status != "passed" and test.output:
        output = clip_output(test.output, MAX_OUTPUT_LINES, MAX_OUTPUT_CHARS)
    return {
        "anchor": f"test-{index}",
        "name": test.name,
        "status": test.status if test.status in STATUS_SYMBOLS else "failed",
        "label": test_label(test),
        "symbol": STATUS_SYMBOLS.get(test.status, "?"),
        "intro": STATUS_INTROS.get(test.status, ""),
        "score": points(test.score),
        "max_score": points(test.max_score),
        "output": output,
        "verdict": verdict_line(test.output) if test.status != "passed" and test.output else test.name,
        "visibility": test.visibility,
        # a mistake the part already names is not repeated on each of its tests
        "misconceptions": [(mid, result.hints.get(mid, "")) for mid in test.misconceptions
                           if mid not in named_by_part],
        "plots": [_figure_view(image) for image in images],
        "plot_note": plot_note,
    }


def _figure_view(image: PlotImage) -> dict:
    src = image.data_uri
    # The URI is ours and percent-encoded (no quote, bracket or ampersand): skipping the
    # escaping of ~40 kB per picture keeps rendering fast; anything else is escaped as usual.
    safe = src.startswith(("data:image/svg+xml,", "data:image/png;base64,")) and not any(c in src for c in "\"'<>&")
    return {"src": Markup(src) if safe else src, "alt": image.alt, "caption": image.caption,
            "width": image.width, "height": image.height}


def _part_view(result: GradingResult, part: PartResult, tests: list[dict]) -> dict:
    if not part.attempted:
        state, symbol, word = "todo", "○", NOT_ATTEMPTED
    elif part.max_score > 0 and part.score >= part.max_score - 1e-9:
        state, symbol, word = "full", "✓", "full marks"
    elif part.score > 0:
        state, symbol, word = "partial", "◐", "partial marks"
    else:
        state, symbol, word = "none", "✗", "no marks"
    failing = [t for t in tests if t["status"] != "passed"]
    misconceptions = misconception_notes(result, part)
    return {
        "function": part.function,
        "anchor": _anchor("part", part.function),
        "score": points(part.score),
        "max_score": points(part.max_score),
        "state": state,
        "symbol": symbol,
        "state_word": word,
        "attempted": part.attempted,
        "not_attempted_note": NOT_ATTEMPTED_NOTE,
        "summary": part_summary(result, part) if part.attempted else "the function still raises NotImplementedError",
        "misconceptions": misconceptions,
        "feedback": part.feedback if not part.misconceptions else "",
        "failing": failing if part.attempted else [],
        "passing": [t for t in tests if t["status"] == "passed"],
        # one line for the "what to fix" list at the top: the named mistake, else the first
        # failing check's verdict
        "fix": (misconceptions[0][1] or misconceptions[0][0]) if misconceptions else
               (failing[0]["verdict"] if failing else ""),
    }


def _images_for(test: TestResult, plots: Plots, figures: dict) -> tuple[Sequence[PlotImage], str]:
    """The test's plots and, if drawing them failed, a one-line note (a plot never costs the
    student the rest of the report)."""
    if plots is False:
        return (), ""
    if plots is None or plots is True:
        try:
            return plots_for_test(test, figures), ""
        except Exception as exc:  # noqa: BLE001 - any failure: report without the plot
            return (), f"The plots of this check could not be drawn ({type(exc).__name__})."
    return plots.get(test.name, ()), ""


def _plots_of(test: TestResult, tests: Sequence[tuple[int, TestResult]], plots: Plots) -> Plots:
    """What `_test_view` draws for `test`: `plots`, or False for a passed check whose function
    already shows a passed check's plots (see `_plotted`; supplied pictures are all shown)."""
    drawing = plots is None or plots is True
    return False if drawing and not _plotted(test, tests) else plots


def _plotted(test: TestResult, tests: Sequence[tuple[int, TestResult]]) -> bool:
    """Whether the report shows `test`'s plots: always for a check that did not pass; for a
    passed one only if it is the first passed check of its function with traces.

    A passed check's plots show the student's run on top of the reference's; one such set
    per function (its first check, which the course's checks make the lecture's picture,
    e.g. a path on the lecture's error surface) is enough, and further sets would show
    more of the same while costing most of a report's rendering time (every student's
    hidden inputs are new, e.g. their own ill-conditioned quadratic to draw contours of)."""
    if test.status != "passed":
        return True
    first = next((t for _, t in tests if t.status == "passed" and t.traces), None)
    return first is test


def report_context(result: GradingResult, assignment: Assignment | None = None, plots: Plots = None,
                   links: Mapping[str, str] | None = None) -> dict:
    """Everything the template shows, as plain data (strings, numbers, lists, PlotImages)."""
    by_function: dict[str, list[tuple[int, TestResult]]] = {}
    for index, test in enumerate(result.tests):
        by_function.setdefault(test.function, []).append((index, test))
    listed = [(part, by_function.pop(part.function, [])) for part in result.parts]
    # Tests of a function the result has no part for (should not happen) are still shown.
    listed += [(PartResult(function=function, score=sum(t.score for _, t in tests),
                           max_score=sum(t.max_score for _, t in tests)), tests)
               for function, tests in by_function.items()]
    try:
        figures = assignment.figures if assignment is not None else {}
    except FiguresError:
        figures = {}  # a broken figures.py costs the declared plots (generic ones are drawn), not the report
    # A part left as the stub shows no checks and no plots (they would show the reference
    # alone): its report is one line.
    parts = [_part_view(result, part, [_test_view(result, test, index,
                                                  _plots_of(test, tests, plots) if part.attempted else False,
                                                  part.misconceptions, figures)
                                       for index, test in tests] if part.attempted else [])
             for part, tests in listed]
    # Failing parts first (they are what the student acts on), then parts not attempted,
    # then full marks; handout order within each group.
    order = {"none": 0, "partial": 0, "todo": 1, "full": 2}
    ordered = sorted(parts, key=lambda p: order[p["state"]]) if result.status == "graded" else parts
    percent = round(100 * result.score / result.max_score) if result.max_score > 0 else 0
    return {
        "title": assignment.title if assignment is not None else result.assignment,
        "assignment": result.assignment,
        "student": result.student,
        "graded": result.status == "graded",
        "error": result.error or "the submission could not be graded",
        "score": points(result.score),
        "max_score": points(result.max_score),
        "percent": percent,
        "public_only": result.public_only,
        # a self-check counts public tests (one each), grading counts points
        "unit": "public tests" if result.public_only else "points",
        "public_note": PUBLIC_ONLY_NOTE,
        "warnings": list(result.warnings),
        "links": list((links or {}).items()),
        "parts": parts,  # handout order (the scores table)
        "ordered_parts": ordered,  # failing first (the sections)
        "to_fix": [p for p in parts if p["state"] in ("none", "partial")],
        "not_attempted": [p for p in parts if p["state"] == "todo"],
        "has_plots": any(t["plots"] for part in parts for t in part["failing"] + part["passing"]),
        "tests_total": len(result.tests),
        "tests_passed": sum(t.status == "passed" for t in result.tests),
        "execution_time": f"{result.execution_time:.2f}",
        "isolation": result.isolation,
        "content_hash": result.content_hash[:12],
        "version": __version__,
    }


def render_report(result: GradingResult, assignment: Assignment | None = None, plots: Plots = None,
                  links: Mapping[str, str] | None = None) -> str:
    """The report as one HTML document.

    `plots`: None or True draws the convergence plots of every failed test's traces and of
    the first passed test of each function (see `_plotted`; cached, see
    `grader.render.plots`); False leaves them out; a mapping from test name to PlotImages
    uses those instead. `links`: label -> href (relative, e.g. the exported notebook's HTML),
    shown near the top."""
    dirs = template_dirs(assignment)
    if not dirs:
        raise FileNotFoundError(f"no {TEMPLATE} in the course's templates/ or in {PACKAGE_TEMPLATES}")
    template = _environment(dirs).get_template(TEMPLATE)
    return with_policy(template.render(**report_context(result, assignment, plots, links)))


def write_report(result: GradingResult, assignment: Assignment | None, path: str | os.PathLike,
                 links: Mapping[str, str] | None = None, plots: Plots = None) -> Path:
    """Render the report and write it to `path` atomically (a temporary file in the same folder,
    then os.replace): a reader never sees half a report, even when a batch is interrupted."""
    path = Path(path)
    write_atomic(path, render_report(result, assignment, plots=plots, links=links), mode=0o644)
    return path
