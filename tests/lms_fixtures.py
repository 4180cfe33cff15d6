"""Cohorts as learning-management systems download them, for the LMS tests: file names
exactly as Canvas, Moodle and Gradescope write them (spaces, accents, re-uploads, late
markers, several files per student, clutter), with any submission text as content.

`contents` maps a student key ("ana", "jose", ...) to the text of their graded file; other
files are added around it to exercise the choice of the latest file."""
from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

# (key, Canvas sortable name part, Canvas user id, Moodle full name, Moodle participant id)
PEOPLE = [
    ("ana", "gomezana", 4021, "Ana María Gómez", 1044),
    ("jose", "nunezjose", 4022, "José Núñez", 1045),
    ("zoe", "brownzoe", 4023, "Zoë Brown", 1046),
    ("li", "liwei", 4024, "Wei Li", 1047),
]

ROSTER_CSV = (
    "\ufeffid,name,email,lms_id,sis_id,section\n"
    "s-ana,Ana María Gómez,ana@uni.example,4021,2001,A\n"
    "s-jose,José Núñez,jose@uni.example,4022,2002,A\n"
    "s-zoe,Zoë Brown,zoe@uni.example,,2003,B\n"  # no lms_id: matched by name
    "s-kim,Kim Lee,kim@uni.example,4030,2004,B\n"  # handed nothing in
)


def write_roster(folder: Path) -> Path:
    path = folder / "roster.csv"
    path.write_text(ROSTER_CSV, encoding="utf-8")
    return path


def canvas_files(contents: dict[str, str]) -> dict[str, str]:
    """{Canvas file name: text}. ana re-uploaded (optimizers.py then optimizers-1.py), jose is
    LATE and also uploaded notes.txt, zoe's file name has spaces and parentheses, li wrote a
    text entry only besides a PDF."""
    files = {}
    att = 90000
    for key, name, user, *_ in PEOPLE:
        text = contents.get(key, "")
        if key == "ana":
            files[f"{name}_{user}_{att}_optimizers.py"] = "syntax error here ("
            files[f"{name}_{user}_{att + 7}_optimizers-1.py"] = text
        elif key == "jose":
            files[f"{name}_LATE_{user}_{att + 1}_optimizers.py"] = text
            files[f"{name}_LATE_{user}_{att + 2}_notes.txt"] = "my notes"
        elif key == "zoe":
            files[f"{name}_{user}_{att + 3}_My Optimizers (final).py"] = text
        else:
            files[f"{name}_{user}_text.html"] = "<p>see attached</p>"
            files[f"{name}_{user}_{att + 4}_report.pdf"] = "%PDF-1.4"
        att += 10
    return files


def write_canvas_zip(path: Path, contents: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in canvas_files(contents).items():
            zf.writestr(name, text)
        zf.writestr("__MACOSX/._gomezana_4021_90007_optimizers-1.py", "junk")
    return path


def write_canvas_folder(folder: Path, contents: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in canvas_files(contents).items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / ".DS_Store").write_text("junk")
    return folder


def moodle_files(contents: dict[str, str], new_style: bool = True) -> dict[str, tuple[str, float]]:
    """{path: (text, mtime)}: one folder per student and plugin. ana has an online text too,
    jose handed in two .py files (the later counts), zoe a zip of her folder."""
    files = {}
    base = time.time() - 86400
    suffix = "" if new_style else "_"
    for key, _, _, full, pid in PEOPLE:
        folder = f"{full}_{pid}_assignsubmission_file{suffix}"
        text = contents.get(key, "")
        if key == "ana":
            files[f"{folder}/optimizers.py"] = (text, base)
            files[f"{full}_{pid}_assignsubmission_onlinetext{suffix}/onlinetext.html"] = ("<p>hi</p>", base)
        elif key == "jose":
            files[f"{folder}/optimizers_old.py"] = ("x = (", base)
            files[f"{folder}/optimizers_v2.py"] = (text, base + 3600)
        elif key == "zoe":
            files[f"{folder}/optimizers.py"] = (text, base)
            files[f"{folder}/README.md"] = ("readme", base + 60)
        else:
            files[f"{folder}/optimizers.py"] = (text, base)
    return files


def write_moodle_folder(folder: Path, contents: dict[str, str], new_style: bool = True) -> Path:
    for rel, (text, mtime) in moodle_files(contents, new_style).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, (mtime, mtime))
    return folder


def write_moodle_zip(path: Path, contents: dict[str, str], new_style: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for rel, (text, mtime) in moodle_files(contents, new_style).items():
            info = zipfile.ZipInfo(rel, time.localtime(mtime)[:6])
            zf.writestr(info, text)
    return path


GRADESCOPE_METADATA = """\
submission_1001:
  :submitters:
  - :name: Ana María Gómez
    :sid: '2001'
    :email: ana@uni.example
  :created_at: 2026-03-10 21:14:03.123456000 +01:00
  :score: 0.0
  :status: processed
submission_1002:
  :submitters:
  - :name: José Núñez
    :sid: '2002'
    :email: jose@uni.example
  :created_at: 2026-03-13 09:00:00.000000000 +01:00
  :score: 0.0
  :status: processed
submission_0999:
  :submitters:
  - :name: José Núñez
    :sid: '2002'
    :email: jose@uni.example
  :created_at: 2026-03-09 09:00:00.000000000 +01:00
  :score: 0.0
  :status: processed
"""


def write_gradescope_export(folder: Path, contents: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "submission_metadata.yml").write_text(GRADESCOPE_METADATA, encoding="utf-8")
    for sub, key in (("submission_1001", "ana"), ("submission_1002", "jose"), ("submission_0999", "jose")):
        (folder / sub).mkdir()
        text = contents.get(key, "") if sub != "submission_0999" else "old = ("
        (folder / sub / "optimizers.py").write_text(text, encoding="utf-8")
    return folder
