"""index.html: the cohort at a glance, for the instructor, built from the gradebook.

Score histogram (matplotlib, embedded PNG with alt text), mean score per part, pass rate of
every test, the most frequent misconceptions, a student x part matrix, the slowest
submissions, those that could not be graded with their reason, the entries the roster could
not place and the roster students with no submission, each linking to the student's report.
One self-contained, autoescaped page from `templates/dashboard.html.j2`; every table scrolls
inside its own box on a narrow screen.

Scores are the final grades (grader.batch.final_grades: overrides and the late penalty
applied). Every mean (the total's, each part's) has the same denominator: the students with
a score, i.e. graded, or graded by hand through overrides. Students who could not be graded
and roster students with no submission have no score and are counted apart, never as 0; the
page says so next to the means. Histogram bins are [low, high) except the last, which
includes full marks, and the caption says exactly that.
"""
from __future__ import annotations

import base64
import bisect
import io
import statistics
from datetime import datetime, timezone
from pathlib import Path

from grader import __version__
from grader.batch.final_grades import FinalGrade, final_grades
from grader.batch.gradebook import Gradebook
from grader.batch.layout import CSV_NAME, DASHBOARD_NAME, REPORTS_DIR, RESULTS_DIR, report_path
from grader.atomic import write_atomic
from grader.course import Assignment
from grader.ids import url_name
from grader.render.csp import with_policy

TEMPLATE = "dashboard.html.j2"
SLOWEST_SHOWN = 10
STUDENTS_PER_MISCONCEPTION = 12


def template_dirs(assignment: Assignment) -> list[Path]:
    """The course's templates/, then the grader checkout's (a course elsewhere may have none)."""
    package_checkout = Path(__file__).resolve().parents[2]
    dirs = [assignment.course_root / "templates", package_checkout / "templates"]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d not in dirs[:i]]


def write_dashboard(gradebook: Gradebook, assignment: Assignment, out: Path,
                    grades: list[FinalGrade] | None = None) -> Path:
    html = render_dashboard(gradebook, assignment, out, grades)
    write_atomic(out / DASHBOARD_NAME, html)
    return out / DASHBOARD_NAME


def render_dashboard(gradebook: Gradebook, assignment: Assignment, out: Path,
                     grades: list[FinalGrade] | None = None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(assignment)]),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return with_policy(env.get_template(TEMPLATE).render(**dashboard_context(gradebook, assignment, out, grades)))


def dashboard_context(gradebook: Gradebook, assignment: Assignment, out: Path,
                      grades: list[FinalGrade] | None = None) -> dict:
    rows = gradebook.rows()
    if grades is None:
        grades = list(final_grades(gradebook, assignment, [r.student for r in rows]))
    graded = [r for r in rows if r.status == "graded"]
    failed = [r for r in rows if r.status != "graded"]
    scored = [g for g in grades if g.score is not None]
    scores = [g.score for g in scored]
    by_student = {g.student: g for g in grades}

    def link(student: str) -> str:
        if report_path(out, student).is_file():
            return f"{REPORTS_DIR}/{url_name(student, '.html')}"
        return f"{RESULTS_DIR}/{url_name(student, '.json')}"

    hints: dict[str, str] = {}
    for result in gradebook.results():  # the hints shown with each misconception
        for mid, hint in result.hints.items():
            hints.setdefault(mid, hint)
    tests = []
    for name, function, count, passed, errors, timeouts in gradebook.test_stats():
        tests.append({"name": name, "function": function, "count": count, "passed": passed,
                      "errors": errors, "timeouts": timeouts, "rate": passed / count if count else 0.0})
    misconceptions = [{"id": mid, "function": function, "count": count,
                       "share": count / len(graded) if graded else 0.0, "hint": hints.get(mid, ""),
                       "students": [{"id": s, "link": link(s)} for s in students[:STUDENTS_PER_MISCONCEPTION]],
                       "more": max(0, count - STUDENTS_PER_MISCONCEPTION)}
                      for mid, function, count, students in gradebook.misconception_counts()]
    slowest = sorted(rows, key=lambda r: r.execution_time, reverse=True)[:SLOWEST_SHOWN]
    return {
        "assignment": {"id": assignment.id, "title": assignment.title, "max_score": assignment.max_score},
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "grader_version": __version__,
        "csv_name": CSV_NAME,
        "summary": {
            "students": len(rows), "graded": len(graded), "failed": len(failed),
            "scored": len(scored), "unscored": sum(g.status == "error" and g.score is None for g in grades),
            "missing": sum(g.status == "missing" for g in grades),
            "adjusted": sum(g.adjusted for g in grades),
            "full_marks": sum(score >= assignment.max_score - 1e-9 for score in scores),
            "mean": statistics.fmean(scores) if scores else None,
            "median": statistics.median(scores) if scores else None,
        },
        "histogram": histogram(scores, assignment.max_score, len(grades) - len(scored)),
        "parts": [{"function": part.function, "max_score": part.points,
                   "mean": statistics.fmean(p) if (p := [g.parts[i].score or 0.0 for g in scored]) else 0.0,
                   "full": sum(g.parts[i].score is not None and g.parts[i].score >= part.points - 1e-9 for g in scored),
                   "not_attempted": sum(not g.parts[i].attempted for g in scored)}
                  for i, part in enumerate(assignment.parts)],
        "matrix": [{"id": g.student, "link": link(g.student), "score": g.score, "status": g.status,
                    "reason": g.reason, "adjusted": g.adjusted, "notes": g.notes(),
                    "cells": [{"score": p.score, "max": p.max_score, "overridden": p.override is not None,
                               "anchor": f"part-{p.function}"} for p in g.parts]}
                   for g in grades if g.status != "missing"],
        "functions": assignment.functions,
        "unmapped": [{"id": s, "entry": e, "reason": why} for s, e, why in gradebook.unmapped()],
        "missing": [g.student for g in grades if g.status == "missing"],
        "tests": tests,
        "misconceptions": misconceptions,
        "slowest": [{"id": r.student, "link": link(r.student), "seconds": r.execution_time,
                     "status": r.status} for r in slowest],
        "failed": [{"id": r.student, "link": link(r.student), "entry": r.entry, "reason": r.error or "unknown"}
                   for r in failed],
        "students": [{"id": r.student, "link": link(r.student), "score": by_student[r.student].score,
                      "raw_score": by_student[r.student].raw_score, "penalty": by_student[r.student].penalty,
                      "adjusted": by_student[r.student].adjusted, "max_score": r.max_score,
                      "late": by_student[r.student].lms_late, "submitted_at": by_student[r.student].submitted_at,
                      "status": r.status, "graded_at": r.graded_at[:19].replace("T", " ")} for r in rows],
    }


def histogram_bins(scores: list[float], max_score: float) -> list[tuple[float, float, int]]:
    """(low, high, count) bins over [0, max_score]: one per point up to 20 points, else 20
    equal bins; the last bin includes full marks."""
    edges_count = int(max_score) if 0 < max_score <= 20 and float(max_score).is_integer() else 20
    width = (max_score or 1.0) / edges_count
    edges = [i * width for i in range(edges_count)]
    counts = [0] * edges_count
    for score in scores:
        # compared with the very edges the caption prints, so a score on an edge is counted
        # in the bin the caption says (division could put 0.3 just below 3 * 0.1)
        index = min(max(bisect.bisect_right(edges, score) - 1, 0), edges_count - 1)
        counts[index] += 1
    return [(edges[i], edges[i + 1] if i + 1 < edges_count else (max_score or 1.0), c) for i, c in enumerate(counts)]


def histogram(scores: list[float], max_score: float, not_graded: int) -> dict:
    """{"png": base64 PNG or "", "alt": a sentence a screen reader can read}."""
    bins = histogram_bins(scores, max_score)
    last = len(bins) - 1
    nonempty = [f"{c} scored " + (f"from {lo:g} to {hi:g} inclusive" if i == last else f"at least {lo:g} and below {hi:g}")
                for i, (lo, hi, c) in enumerate(bins) if c]
    alt = (f"Histogram of the {len(scores)} scores out of {max_score:g} (students with a score): "
           + "; ".join(nonempty) + "." if scores else "No scores yet.")
    if not_graded:
        alt += (f" {not_graded} student{'s' * (not_graded != 1)} without a score (not graded or no submission) "
                f"{'are' if not_graded != 1 else 'is'} not shown.")
    if not scores:
        return {"png": "", "alt": alt}
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar([lo for lo, _, _ in bins], [c for _, _, c in bins], width=bins[0][1] - bins[0][0],
             align="edge", color="#3b6ea8", edgecolor="white")
    axes.set_xlim(0, max_score or 1)
    axes.set_xlabel(f"score (out of {max_score:g})")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return {"png": base64.b64encode(buffer.getvalue()).decode("ascii"), "alt": alt}
