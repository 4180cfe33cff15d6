"""The gradebook: one SQLite file under the batch's output folder (stdlib sqlite3, WAL).

Tables
- `submissions`: one row per student: the entry's content hash, the checks hash it was
  graded against, score, max, status (graded | error), error (one line), graded_at (ISO
  8601, UTC), grader_version, execution_time (seconds) and the full result JSON
  (`GradingResult.to_dict()`, the contract's shape).
- `tests`: one row per test of a submission; `parts`: one row per part (its misconceptions
  as a JSON list).
  `report` says what became of the HTML report: "written", "unavailable" (no renderer
  installed) or "failed: <reason>" (the renderer raised; not retried until a regrade).
- `meta`: which assignment this gradebook belongs to (a gradebook never mixes assignments).
- `sources`: per student of the latest run, what the download said about the entry (its LMS
  file name, LMS user id and name, the LMS's late marker, the submission time, the file name
  the LMS's bulk feedback upload expects, the files not graded); `unmapped`: the entries the
  roster could not place, with the reason; `roster`: the last roster given (`--roster`),
  kept so that a later run, an override or a rebuild of the outputs uses the same ids.
- `overrides`: instructors' scores for one part of one student (`grader override`), with
  who and when; removing one stamps `removed_at`/`removed_by` (the history is kept). They are
  never written into a result: regrades and `--force` replace results, not overrides, and
  the outputs apply them on top (grader.batch.final_grades).

Durability: every submission is written in ONE transaction (its old test and part rows
deleted, the new rows inserted), so a kill -9 at any moment leaves either all its rows or
none. WAL with synchronous=NORMAL survives a killed process (not a power cut, which at
worst loses the last commits; they are regraded on the next run).

Resuming: `is_current(student, content_hash, checks_hash)`. A result recorded with
`checks_hash=""` (grading itself crashed, not the student's code) is never current, so the
next run retries it.
"""
from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from grader import __version__
from grader.results import GradingResult
from grader.errors import UsageError

FILENAME = "gradebook.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    student TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    checks_hash TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    graded_at TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    execution_time REAL NOT NULL,
    result TEXT NOT NULL,
    report TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tests (
    student TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    function TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (student, position)
);
CREATE TABLE IF NOT EXISTS sources (
    student TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    lms TEXT NOT NULL,
    lms_user TEXT NOT NULL,
    lms_name TEXT NOT NULL,
    late INTEGER,
    submitted_at TEXT NOT NULL,
    feedback_name TEXT NOT NULL,
    superseded TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unmapped (position INTEGER PRIMARY KEY, student TEXT NOT NULL, label TEXT NOT NULL,
                                     reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roster (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    lms_id TEXT NOT NULL,
    sis_id TEXT NOT NULL,
    section TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    function TEXT NOT NULL,
    score REAL NOT NULL,
    comment TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    removed_at TEXT,
    removed_by TEXT
);
CREATE TABLE IF NOT EXISTS parts (
    student TEXT NOT NULL,
    position INTEGER NOT NULL,
    function TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    misconceptions TEXT NOT NULL,
    feedback TEXT NOT NULL,
    PRIMARY KEY (student, position)
);
"""


class GradebookError(UsageError):
    """The gradebook cannot be used (another assignment's, or not a gradebook); one line."""


@dataclass(frozen=True)
class SubmissionRow:
    student: str
    entry: str
    content_hash: str
    checks_hash: str
    score: float
    max_score: float
    status: str
    error: str | None
    graded_at: str
    grader_version: str
    execution_time: float


class Gradebook:
    """Open (or create) the gradebook of `assignment_id` in `folder`. Use as a context manager
    or call close(). Only one process writes at a time (the batch's parent process)."""

    def __init__(self, folder: Path, assignment_id: str):
        self.path = Path(folder) / FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # created here, not by SQLite (which uses 0644 whatever the umask), so a course
            # group whose umask shares files can also record overrides; SQLite gives its WAL
            # and shared-memory files the database file's mode
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o666))
        except OSError as exc:
            raise GradebookError(f"cannot create {self.path}: {exc.strerror}") from None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='assignment'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise GradebookError(f"{self.path} is not a usable gradebook ({exc})") from None
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('assignment', ?)", (assignment_id,))
        elif found[0] != assignment_id:
            self._db.close()
            raise GradebookError(f"{self.path} is the gradebook of assignment '{found[0]}', not "
                                 f"'{assignment_id}'; use another --out folder")
        self.assignment_id = assignment_id
        self._scoped = False

    def __enter__(self) -> "Gradebook":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # writing ------------------------------------------------------------------------------
    def record(self, result: GradingResult, *, entry: str, content_hash: str, checks_hash: str,
               report: str = "unavailable", graded_at: datetime | None = None) -> None:
        """Store one submission's result, replacing any earlier one, in one transaction."""
        when = (graded_at or datetime.now(timezone.utc)).isoformat(timespec="microseconds")
        data = result.to_dict()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM tests WHERE student = ?", (result.student,))
            db.execute("DELETE FROM parts WHERE student = ?", (result.student,))
            db.execute("INSERT OR REPLACE INTO submissions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                result.student, entry, content_hash, checks_hash, result.score, result.max_score,
                result.status, result.error, when, __version__, result.execution_time,
                json.dumps(data), report))
            db.executemany("INSERT INTO tests VALUES (?,?,?,?,?,?,?,?,?)", [
                (result.student, i, t.name, t.function, t.score, t.max_score, t.status, t.visibility, t.output)
                for i, t in enumerate(result.tests)])
            db.executemany("INSERT INTO parts VALUES (?,?,?,?,?,?,?)", [
                (result.student, i, p.function, p.score, p.max_score, json.dumps(list(p.misconceptions)),
                 p.feedback) for i, p in enumerate(result.parts)])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def record_sources(self, source, roster=None) -> None:
        """Replace what is known of the cohort's download (a `grader.batch.sources.CohortSource`)
        and, when `roster` (a `grader.roster.Roster`) is given, the stored roster."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM sources")
            db.executemany("INSERT INTO sources VALUES (?,?,?,?,?,?,?,?,?)", [
                (e.student, e.label or e.path.name, e.lms, e.lms_user, e.lms_name,
                 None if e.late is None else int(e.late), e.submitted_at, e.feedback_name, json.dumps(list(e.superseded)))
                for e in source.entries])
            db.execute("DELETE FROM unmapped")
            db.executemany("INSERT INTO unmapped VALUES (?,?,?,?)",
                           [(i, u.student, u.label, u.reason) for i, u in enumerate(source.unmapped)])
            if roster is not None:
                db.execute("DELETE FROM roster")
                db.executemany("INSERT INTO roster VALUES (?,?,?,?,?,?,?)", [
                    (i, s.id, s.name, s.email, s.lms_id, s.sis_id, s.section) for i, s in enumerate(roster.students)])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def add_override(self, student: str, function: str, score: float, comment: str, author: str,
                     when: datetime | None = None) -> None:
        """Record an override; one that was active on the same part is removed (replaced)."""
        stamp = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("UPDATE overrides SET removed_at = ?, removed_by = ? WHERE student = ? AND function = ? "
                       "AND removed_at IS NULL", (stamp, f"{author} (replaced)", student, function))
            db.execute("INSERT INTO overrides (student, function, score, comment, author, created_at) "
                       "VALUES (?,?,?,?,?,?)", (student, function, score, comment, author, stamp))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def remove_override(self, student: str, function: str, author: str, when: datetime | None = None) -> bool:
        """Remove the active override of this part; False when there was none."""
        stamp = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        cursor = self._db.execute("UPDATE overrides SET removed_at = ?, removed_by = ? WHERE student = ? "
                                  "AND function = ? AND removed_at IS NULL", (stamp, author, student, function))
        return cursor.rowcount > 0

    def overrides(self, active: bool = True) -> list[tuple]:
        """(student, function, score, comment, author, created_at, removed_at, removed_by) rows,
        oldest first; only those in force unless `active` is False."""
        where = " WHERE removed_at IS NULL" if active else ""
        return self._db.execute("SELECT student, function, score, comment, author, created_at, removed_at, "
                                f"removed_by FROM overrides{where} ORDER BY id").fetchall()

    # reading ------------------------------------------------------------------------------
    def sources(self) -> dict[str, dict]:
        """{student: what the download said about their entry} (see the `sources` table)."""
        rows = self._db.execute("SELECT student, label, lms, lms_user, lms_name, late, submitted_at, feedback_name, "
                                "superseded FROM sources ORDER BY student").fetchall()
        return {r[0]: {"label": r[1], "lms": r[2], "lms_user": r[3], "lms_name": r[4],
                       "late": None if r[5] is None else bool(r[5]), "submitted_at": r[6],
                       "feedback_name": r[7], "superseded": json.loads(r[8])} for r in rows}

    def unmapped(self) -> list[tuple[str, str, str]]:
        """(student id used, entry, reason) of the entries the roster could not place."""
        return self._db.execute("SELECT student, label, reason FROM unmapped ORDER BY position").fetchall()

    def roster_rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """The stored roster: (id, name, email, lms_id, sis_id, section) in the file's order."""
        return self._db.execute("SELECT id, name, email, lms_id, sis_id, section FROM roster "
                                "ORDER BY position").fetchall()


    # Reads cover the whole gradebook, or only the students given to `limit_to` (the current
    # cohort: a student whose entry was removed keeps their row but leaves the outputs).
    def limit_to(self, students: Iterable[str] | None) -> None:
        self._db.execute("DROP TABLE IF EXISTS temp.scope")
        self._scoped = students is not None
        if self._scoped:
            self._db.execute("CREATE TEMP TABLE scope (student TEXT PRIMARY KEY)")
            self._db.executemany("INSERT OR IGNORE INTO temp.scope VALUES (?)", ((s,) for s in students))

    def _where(self) -> str:
        return " WHERE student IN (SELECT student FROM temp.scope)" if self._scoped else ""

    def is_current(self, student: str, content_hash: str, checks_hash: str) -> bool:
        """Whether the stored result of `student` was graded from these very hashes."""
        row = self._db.execute("SELECT content_hash, checks_hash FROM submissions WHERE student = ?",
                               (student,)).fetchone()
        return row is not None and row[1] != "" and tuple(row) == (content_hash, checks_hash)

    def report_state(self, student: str) -> str | None:
        """The stored `report` column of `student` (None without a row)."""
        row = self._db.execute("SELECT report FROM submissions WHERE student = ?", (student,)).fetchone()
        return row[0] if row else None

    def rows(self) -> list[SubmissionRow]:
        """Submission rows (without the result JSON), sorted by student."""
        return [SubmissionRow(*row) for row in self._db.execute(
            "SELECT student, entry, content_hash, checks_hash, score, max_score, status, error, graded_at, "
            f"grader_version, execution_time FROM submissions{self._where()} ORDER BY student")]

    def students_outside(self, students: Iterable[str]) -> list[str]:
        """Students with a stored row who are not in `students`."""
        keep = set(students)
        return [s for (s,) in self._db.execute("SELECT student FROM submissions ORDER BY student") if s not in keep]

    def result(self, student: str) -> GradingResult | None:
        row = self._db.execute("SELECT result FROM submissions WHERE student = ?", (student,)).fetchone()
        return GradingResult.from_dict(json.loads(row[0])) if row else None

    def results(self) -> Iterator[GradingResult]:
        """The stored results sorted by student, fetched lazily (a big cohort never sits in
        memory at once)."""
        cursor = self._db.execute(f"SELECT result FROM submissions{self._where()} ORDER BY student")
        for (text,) in cursor:
            yield GradingResult.from_dict(json.loads(text))

    def tests(self, student: str) -> list[tuple]:
        """(position, name, function, score, max_score, status, visibility, output) of one student."""
        return self._db.execute("SELECT position, name, function, score, max_score, status, visibility, output "
                                "FROM tests WHERE student = ? ORDER BY position", (student,)).fetchall()

    def parts(self, student: str) -> list[tuple]:
        """(position, function, score, max_score, misconceptions list, feedback) of one student."""
        return [(*row[:4], json.loads(row[4]), row[5]) for row in self._db.execute(
            "SELECT position, function, score, max_score, misconceptions, feedback FROM parts "
            "WHERE student = ? ORDER BY position", (student,))]

    def test_stats(self) -> list[tuple[str, str, int, int, int, int]]:
        """(test name, function, submissions, passed, errors, timeouts) per test, in the order
        the tests first appear."""
        return self._db.execute(
            "SELECT name, function, COUNT(*), SUM(status = 'passed'), SUM(status = 'error'), "
            f"SUM(status = 'timeout') FROM tests{self._where()} GROUP BY name, function "
            "ORDER BY MIN(position), name").fetchall()

    def part_stats(self) -> list[tuple[str, float, float, int]]:
        """(function, mean score, max score, full marks count) per part, in handout order."""
        return self._db.execute(
            "SELECT function, AVG(score), MAX(max_score), SUM(score >= max_score - 1e-9) "
            f"FROM parts{self._where()} GROUP BY function ORDER BY MIN(position)").fetchall()

    def misconception_counts(self) -> list[tuple[str, str, int, list[str]]]:
        """(misconception id, function, number of students, students sorted) by frequency."""
        found: dict[tuple[str, str], list[str]] = {}
        scope = " AND student IN (SELECT student FROM temp.scope)" if self._scoped else ""
        for student, function, text in self._db.execute(
                f"SELECT student, function, misconceptions FROM parts WHERE misconceptions != '[]'{scope}"):
            for mid in json.loads(text):
                found.setdefault((mid, function), []).append(student)
        return sorted(((mid, fn, len(ss), sorted(ss)) for (mid, fn), ss in found.items()),
                      key=lambda row: (-row[2], row[0]))
