"""The course roster: who the students are, under every id the outside world uses.

A roster is a CSV file with a header row (the contract, grader-contract.md "Rosters and LMS
downloads"): `id` (the student id used everywhere in the grader's outputs), `name`, `email`,
and optionally `lms_id` (the learning-management system's user id: Canvas's numeric user id,
Moodle's participant id as its downloads write it), `sis_id` (the institution's id) and
`section`. Other columns are ignored; header names are matched case-insensitively. The file
may start with a byte-order mark (spreadsheets add one).

`Roster.match` finds the roster student an LMS entry belongs to, in this order: the LMS user
id (`lms_id`), the institution's id (`sis_id`, or `id`), the e-mail address, then the name.
Names are compared without case, accents, spaces or punctuation, and in any rotation of their
words ("José Núñez" matches Canvas's "nunezjose" and Moodle's "José Núñez"); a name shared by
two roster students matches neither (guessing could give one student the other's grade).
"""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.untrusted import terminal_line

REQUIRED_COLUMNS = ("id", "name", "email")
OPTIONAL_COLUMNS = ("lms_id", "sis_id", "section")
MAX_ROSTER_BYTES = 20 << 20


class RosterError(UsageError):
    """A roster file that cannot be used; str() is one line naming the file (and row)."""

    def __init__(self, message: str):
        super().__init__(terminal_line(message))  # ids and names come from outside


@dataclass(frozen=True)
class RosterStudent:
    id: str
    name: str
    email: str
    lms_id: str = ""
    sis_id: str = ""
    section: str = ""


def name_key(name: str) -> str:
    """`name` folded for comparison: no case, accents, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed.casefold() if c.isalnum() and not unicodedata.combining(c))


def name_keys(name: str) -> set[str]:
    """The keys of every rotation of the name's words ("Ana María Gómez" -> anamariagomez,
    mariagomezana, gomezanamaria): LMSs write "Last First" as well as "First Last"."""
    words = [w for w in name.replace(",", " ").split() if name_key(w)]
    return {name_key(" ".join(words[i:] + words[:i])) for i in range(len(words))} if words else set()


@dataclass
class Roster:
    path: Path
    students: list[RosterStudent]

    def __post_init__(self) -> None:
        self._by: dict[str, dict[str, list[RosterStudent]]] = {"lms_id": {}, "sis_id": {}, "email": {}, "name": {}}
        for student in self.students:
            if student.lms_id:
                self._by["lms_id"].setdefault(student.lms_id, []).append(student)
            for value in {student.sis_id, student.id} - {""}:
                self._by["sis_id"].setdefault(value, []).append(student)
            if student.email:
                self._by["email"].setdefault(student.email.casefold(), []).append(student)
            for key in name_keys(student.name):
                self._by["name"].setdefault(key, []).append(student)

    def get(self, student_id: str) -> RosterStudent | None:
        found = self._by["sis_id"].get(student_id, [])
        return next((s for s in found if s.id == student_id), None)

    def match(self, *, lms_id: str = "", sis_id: str = "", email: str = "", name: str = "") -> tuple[RosterStudent | None, str]:
        """(the roster student, "") or (None, why not) for an LMS entry's identifiers."""
        lookups = [("lms_id", lms_id, "LMS user id"), ("sis_id", sis_id, "student id"),
                   ("email", email.casefold(), "e-mail")]
        for field, value, label in lookups:
            found = self._by[field].get(value, []) if value else []
            if len(found) == 1:
                return found[0], ""
            if len(found) > 1:
                return None, f"{label} {value} is in the roster {len(found)} times"
        if name:
            found = {s.id: s for key in name_keys(name) | {name_key(name)} for s in self._by["name"].get(key, [])}
            if len(found) == 1:
                return next(iter(found.values())), ""
            if len(found) > 1:
                return None, f"the name matches {len(found)} roster students ({', '.join(sorted(found))})"
        shown = ", ".join(f"{label} {value}" for (_, value, label) in lookups if value)
        return None, "not in the roster" + (f" (by {shown}{' or name' if name else ''})" if shown else " (by name)")


def read_roster(path: str | Path) -> Roster:
    """Read and check a roster CSV; raise RosterError (one line) when it cannot be used."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RosterError(f"{path}: no such roster file") from None
    except OSError as exc:
        raise RosterError(f"cannot read roster {path}: {exc.strerror}") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise RosterError(f"{path}: too large for a roster ({len(data)} bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path}: not UTF-8 (byte {exc.start}); save the roster as CSV UTF-8") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if not header:
        raise RosterError(f"{path}: empty roster (expected a header row: {', '.join(REQUIRED_COLUMNS)})")
    columns = {name.strip().casefold(): i for i, name in reversed(list(enumerate(header)))}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RosterError(f"{path}: no '{missing[0]}' column in the header (a roster needs "
                          f"{', '.join(REQUIRED_COLUMNS)}; optional {', '.join(OPTIONAL_COLUMNS)})")
    students, seen = [], {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = lambda name: row[columns[name]].strip() if name in columns and columns[name] < len(row) else ""
        student = RosterStudent(*(cell(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS))
        if not student.id:
            raise RosterError(f"{path}, line {line}: empty id")
        if student.id in seen:
            raise RosterError(f"{path}, line {line}: id '{student.id}' is already on line {seen[student.id]}")
        seen[student.id] = line
        students.append(student)
    if not students:
        raise RosterError(f"{path}: the roster lists no students")
    return Roster(path, students)
