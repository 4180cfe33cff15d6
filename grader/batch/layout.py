"""The batch output folder's layout: its file and folder names, each student's paths in it
(by `grader.ids.file_name`, safe on every common file system) and how a score is written in
a CSV cell. The modules that write the folder (`outputs`, `dashboard`, `lms_exports`) all
build on this one, and write every file with `grader.atomic.write_atomic`."""
from __future__ import annotations

from pathlib import Path

from grader.ids import file_name

CSV_NAME = "grades.csv"
RESULTS_DIR = "results"
REPORTS_DIR = "reports"
NOTEBOOKS_DIR = "notebooks"
DASHBOARD_NAME = "index.html"


def report_path(out: Path, student: str) -> Path:
    return out / REPORTS_DIR / file_name(student, ".html")


def notebook_record_path(out: Path, student: str) -> Path:
    return out / NOTEBOOKS_DIR / file_name(student, ".html")


def result_path(out: Path, student: str) -> Path:
    return out / RESULTS_DIR / file_name(student, ".json")


def number(value: float | None) -> str:
    """A score as a CSV cell: plain digits, "" for no score."""
    if value is None:
        return ""
    return f"{value:g}" if abs(value) < 1e15 else repr(value)
