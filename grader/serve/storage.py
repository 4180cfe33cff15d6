"""Files the service keeps under DATA_DIR, always under names it makes itself:

    DATA_DIR/uploads/<sid>.<py|ipynb|zip>          a submission exactly as uploaded
    DATA_DIR/reports/<sid>.<round>.html            its HTML report for that grading round
    DATA_DIR/reports/<sid>.<round>.notebook.html   the record of a notebook submission

`sid` is a random hex id; the student's file name is used only to choose among the three
extensions (and the content decides when the name does not say). Every file is written to a
temporary name, flushed to disk (fsync, and the folder too) and renamed, so a file that a
database row names is complete, whenever the process died.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from grader.atomic import write_atomic
from grader.load import SubmissionError, load_submission

UPLOADS = "uploads"
REPORTS = "reports"
KINDS = ("py", "ipynb", "zip")


def new_submission_id() -> str:
    return secrets.token_hex(12)


def kind_of(filename: str, head: bytes) -> str:
    """Which kind a submission is: the extension of the student's file name if it is one of
    ours, else what the content looks like (a zip's magic bytes, a JSON object, or source)."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in KINDS:
        return suffix
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.lstrip().startswith(b"{"):
        return "ipynb"
    return "py"


def upload_path(data_dir: Path, sid: str, kind: str) -> Path:
    if kind not in KINDS or not all(c in "0123456789abcdef" for c in sid):
        raise ValueError("not a service-made submission name")
    return Path(data_dir) / UPLOADS / f"{sid}.{kind}"


def report_name(sid: str, round_: int, notebook: bool = False) -> str:
    return f"{sid}.{round_}.notebook.html" if notebook else f"{sid}.{round_}.html"


def report_path(data_dir: Path, name: str) -> Path:
    if "/" in name or name.startswith("."):
        raise ValueError("not a service-made report name")
    return Path(data_dir) / REPORTS / name


def write_durably(path: Path, data: bytes) -> None:
    """`data` at `path`, complete and on disk when this returns (or not there at all),
    private to the service (0600)."""
    write_atomic(path, data, mode=0o600, durable=True)


def store_upload(data_dir: Path, sid: str, kind: str, data: bytes, module: str) -> str:
    """Store an upload and check it is a submission `grader grade` can load. Returns its
    content hash; raises SubmissionError (one line, naming "your upload", never our path)
    and removes the file when it is not a submission."""
    path = upload_path(data_dir, sid, kind)
    write_durably(path, data)
    try:
        return load_submission(path, module).content_hash
    except SubmissionError as exc:
        path.unlink(missing_ok=True)
        message = str(exc).replace(str(path), "your upload").replace(path.name, "your upload")
        raise SubmissionError(message) from None
