"""The batch output folder's layout: its file and folder names, each student's paths in it
(by `grader.ids.file_name`, safe on every common file system), how a file is written (whole
or not at all, under the umask) and how a score is written in a CSV cell. The modules that
write the folder (`outputs`, `dashboard`, `lms_exports`) all build on this one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from grader.ids import file_name

CSV_NAME = "grades.csv"
RESULTS_DIR = "results"
REPORTS_DIR = "reports"
NOTEBOOKS_DIR = "notebooks"
DASHBOARD_NAME = "index.html"


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `path` whole or not at all; private while written, then 0666 minus the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


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
