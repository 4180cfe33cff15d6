"""Student ids: what an entry's id is, and how an id appears in file names, URLs, HTML, CSV
and the terminal. The one place that decides; every other module asks here.

An id comes from outside (a file or folder name, `--student`, an LMS export) and is hostile
data: it may hold bytes that are not UTF-8, control and bidi characters, formula prefixes,
250 characters. Its forms:

- **The id** (`student_id(path)`, `clean_id(text)`): the entry's name without `.py`,
  `.ipynb` or `.zip` (a folder's name as is), as text that is always valid Unicode: bytes
  that are not UTF-8 (decoded by `os.fsdecode` with `surrogateescape`) become the four
  characters `\\xNN`, and the text is NFC-normalised (macOS writes names decomposed, so
  "José" from a Mac and from Linux is one student). Everything else is kept: the id is
  data, and each output neutralises it for itself. It keys the gradebook, the JSON
  results, the CSV and the per-student seed.
- **In file names** (`file_stem(id)`): the id itself when it is a short, lower-case ASCII
  name that is safe everywhere (`alice`, `jdoe42`, `s1234567`); otherwise an ASCII slug of
  it plus 16 hex digits of its SHA-256 (`José Núñez` -> `jose-nunez-3b2f...`). So a stem is
  at most ~60 bytes, lower case (two ids never share a file on a case-insensitive file
  system), never `.`/`..`, never holds a separator or a character Windows refuses, never
  ends with a dot, and is never a reserved Windows device name (`con`, `nul`, `com1`...).
  Two ids get the same stem only by a 64-bit hash collision, and a cohort checks that too
  (`stem_clashes`).
- **In URLs** (`url_name(id)`): the stem, percent-quoted (a no-op for the stems above).
- **In HTML**: the id as text through Jinja2's autoescape, never marked safe.
- **In CSV**: `grader.untrusted.csv_cell(id)` (formula prefixes neutralised).
- **In the terminal**: `terminal_id(id)`: `grader.untrusted.terminal_line`, clipped.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from grader.untrusted import terminal_line, unicode_text

#: The extensions a submission file has; the id is the name without it.
EXTENSIONS = (".zip", ".py", ".ipynb")

#: An id used as its own file stem: short lower-case ASCII, starting with a letter, digit or
#: underscore. (Case-insensitive file systems, Windows' forbidden characters and shell
#: surprises such as a leading "-" are all outside this set.)
_PLAIN = re.compile(r"[a-z0-9_][a-z0-9._-]{0,63}")
#: ...but not one that looks like a hashed stem, so a student cannot name their entry after
#: another student's hashed stem.
_LOOKS_HASHED = re.compile(r".*-[0-9a-f]{16}")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
SLUG_LENGTH = 40
HASH_DIGITS = 16
TERMINAL_LENGTH = 80


def clean_id(text: str | bytes) -> str:
    """An id given as text or bytes (`--student`, a roster) in its one canonical form."""
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return unicodedata.normalize("NFC", unicode_text(text))


def student_id(path: str | bytes | os.PathLike) -> str:
    """The id of the entry at `path`: its name without ".zip", ".py" or ".ipynb" (a folder's
    name as is), in canonical form. `path` may be bytes (a name that is not UTF-8)."""
    path = Path(os.fsdecode(path))
    name = path.name
    if not path.is_dir():
        for ext in EXTENSIONS:
            if name.lower().endswith(ext) and len(name) > len(ext):
                name = name[: -len(ext)]
                break
    return clean_id(name)


def file_stem(student: str) -> str:
    """The id's stem in file names: safe, short and unique (see the module docstring)."""
    student = clean_id(student)
    if (_PLAIN.fullmatch(student) and ".." not in student and not student.endswith(".")
            and not _LOOKS_HASHED.fullmatch(student) and student.split(".")[0] not in _RESERVED):
        return student
    shown = terminal_line(student)  # no "2k" in the slug from an escape sequence
    ascii_text = unicodedata.normalize("NFKD", shown).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_CHARS.sub("-", ascii_text.lower()).strip("-")[:SLUG_LENGTH].rstrip("-") or "student"
    digest = hashlib.sha256(student.encode("utf-8")).hexdigest()[:HASH_DIGITS]
    return f"{slug}-{digest}"


def file_name(student: str, suffix: str) -> str:
    """`file_stem(student) + suffix`, e.g. `file_name(id, ".html")`."""
    return file_stem(student) + suffix


def url_name(student: str, suffix: str) -> str:
    """The id's file name as a relative URL path segment."""
    return quote(file_name(student, suffix))


def terminal_id(student: str) -> str:
    """The id as shown on one terminal line: nothing a terminal acts on, at most
    TERMINAL_LENGTH characters (a longer one ends in "...")."""
    shown = terminal_line(student)
    return shown if len(shown) <= TERMINAL_LENGTH else shown[: TERMINAL_LENGTH - 3] + "..."


def entry_name(path: str | bytes | os.PathLike) -> str:
    """An entry's file name as text to show or store (not to open): valid Unicode."""
    return unicode_text(Path(os.fsdecode(path)).name)


def stem_clashes(students: Iterable[str]) -> dict[str, list[str]]:
    """{stem: the ids} for every file stem that more than one of `students` would share."""
    by_stem: dict[str, list[str]] = {}
    for student in students:
        by_stem.setdefault(file_stem(student), []).append(student)
    return {stem: ids for stem, ids in by_stem.items() if len(ids) > 1}
