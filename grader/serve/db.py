"""The service's one database module: SQLite (WAL) by default, PostgreSQL by URL, the same
SQL for both. Nothing else in the service writes SQL.

Tables
- `meta`: key/value (the instructor token's hash).
- `students`: roster id, name, email, sha256 of the student's token.
- `sessions`: sha256 of a browser session's cookie -> who (a student id, or "" for the
  instructor) and role.
- `submissions`: one row per accepted upload: a service-made id (`sid`), assignment,
  student, the stored file's kind, content hash, size, when it came and how late; the queue
  state (`status` queued | grading | graded | error, `round`, `attempts`, `lease_owner`,
  `lease_until`) and the current grading (score, max, result JSON, report file names).
- `gradings`: every grading a submission ever got, one row per (sid, round): a regrade
  adds a round and keeps the earlier ones (the history).

The queue (grader.serve.queue drives it):
- a submission is `queued` when its row commits (after its file is on disk);
- `claim()` turns queued rows into `grading` under a lease (owner id + expiry), at most one
  per student at a time, oldest first; claims are serialised (SQLite: BEGIN IMMEDIATE;
  PostgreSQL: a transaction-scoped advisory lock), so two processes never claim the same
  row nor two rows of one student;
- `complete()` stores a grading only while its lease is still held (the row is `grading`,
  same round, same owner), the `gradings` row and the submission's new state in one
  transaction: a second completion of the same round finds no lease and stores nothing;
- `release_leases()` puts a dead owner's `grading` rows back to `queued` (on start with
  SQLite, which one process owns; `requeue_expired()` with PostgreSQL, where a lease that
  was not renewed in time means its process is gone).
So every accepted submission is graded exactly once per round, whenever a process dies.

Times are seconds since the epoch (float). Placeholders are `?`; for PostgreSQL they are
rewritten to `%s`.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SQLITE_NAME = "service.sqlite"
#: Any fixed number: the PostgreSQL advisory lock that serialises queue claims.
CLAIM_LOCK_KEY = 0x67726164

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS students (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE, added_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY, who TEXT NOT NULL, role TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS submissions (
        id TEXT PRIMARY KEY, assignment TEXT NOT NULL, student TEXT NOT NULL, kind TEXT NOT NULL,
        content_hash TEXT NOT NULL, size BIGINT NOT NULL,
        submitted_at DOUBLE PRECISION NOT NULL, late_seconds DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL, round INTEGER NOT NULL, attempts INTEGER NOT NULL,
        lease_owner TEXT, lease_until DOUBLE PRECISION,
        score DOUBLE PRECISION, max_score DOUBLE PRECISION, graded_at DOUBLE PRECISION,
        result TEXT, report TEXT, notebook TEXT)""",
    "CREATE INDEX IF NOT EXISTS submissions_status ON submissions (status, submitted_at)",
    "CREATE INDEX IF NOT EXISTS submissions_student ON submissions (student, assignment, submitted_at)",
    """CREATE TABLE IF NOT EXISTS gradings (
        submission TEXT NOT NULL, round INTEGER NOT NULL, graded_at DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL, score DOUBLE PRECISION NOT NULL, max_score DOUBLE PRECISION NOT NULL,
        result TEXT NOT NULL, report TEXT, notebook TEXT, PRIMARY KEY (submission, round))""",
]

_SUBMISSION_COLUMNS = ("id, assignment, student, kind, content_hash, size, submitted_at, late_seconds, status, "
                       "round, attempts, score, max_score, graded_at, result, report, notebook")


class DatabaseError(Exception):
    """The database cannot be opened or used; str() is one line."""


@dataclass(frozen=True)
class SubmissionRow:
    id: str
    assignment: str
    student: str
    kind: str  # "py" | "ipynb" | "zip": the stored file's extension
    content_hash: str
    size: int
    submitted_at: float
    late_seconds: float  # 0.0 when on time
    status: str  # queued | grading | graded | error
    round: int  # 0 for the first grading, +1 per regrade
    attempts: int  # gradings started for this round (a dead worker's attempt included)
    score: float | None
    max_score: float | None
    graded_at: float | None
    result: str | None  # the JSON of `grader grade --json`
    report: str | None  # the report's file name under DATA_DIR/reports
    notebook: str | None  # the notebook record's file name, for notebook submissions

    @property
    def late(self) -> bool:
        return self.late_seconds > 0

    def result_dict(self) -> dict | None:
        return json.loads(self.result) if self.result else None


@dataclass(frozen=True)
class Claim:
    """A submission handed to a grader under a lease."""
    id: str
    assignment: str
    student: str
    kind: str
    round: int
    attempts: int


@dataclass(frozen=True)
class RateLimited:
    """Too many submissions in the window; the next is accepted after `retry_after` s."""
    retry_after: int


class Database:
    """One database, SQLite (`url` None or "sqlite:///path") or PostgreSQL
    ("postgresql://..."). Thread-safe: each thread gets its own connection."""

    def __init__(self, data_dir: Path, url: str | None = None):
        self.data_dir = Path(data_dir)
        if url and url.startswith(("postgresql://", "postgres://")):
            self.dialect, self.url = "postgresql", url
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise DatabaseError("PostgreSQL needs psycopg: pip install 'grader[serve]'") from None
        elif not url or url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            self.url = url[len("sqlite:///"):] if url else str(self.data_dir / SQLITE_NAME)
        else:
            raise DatabaseError(f"--database {url}: use postgresql://... or sqlite:///PATH")
        self._local = threading.local()
        self._connections: list = []
        self._lock = threading.Lock()
        with self.transaction(serialised=True) as tx:
            for statement in _SCHEMA:
                tx.execute(statement)

    @property
    def describe(self) -> str:
        return "PostgreSQL" if self.dialect == "postgresql" else f"SQLite {self.url}"

    # connections --------------------------------------------------------------------------
    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                if self.dialect == "sqlite":
                    connection = sqlite3.connect(self.url, isolation_level=None, timeout=60,
                                                 check_same_thread=False)
                    connection.execute("PRAGMA journal_mode=WAL")
                    # FULL: a 202 promises the row survives even a power cut, not only a kill
                    connection.execute("PRAGMA synchronous=FULL")
                else:
                    import psycopg
                    connection = psycopg.connect(self.url, autocommit=True)
            except Exception as exc:
                raise DatabaseError(f"cannot open the database {self.describe}: {exc}".splitlines()[0]) from None
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                try:
                    connection.close()
                except Exception:
                    pass
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self, serialised: bool = False, write: bool = False) -> Iterator["_Transaction"]:
        """One transaction; `serialised` ones run one at a time across every process.
        SQLite: a `write` (or serialised) one takes the write lock at BEGIN, so it never
        fails half-way upgrading a read lock; a read sees one snapshot."""
        connection = self._connection()
        if self.dialect == "sqlite":
            connection.execute("BEGIN IMMEDIATE" if serialised or write else "BEGIN")
        else:
            connection.execute("BEGIN")
            if serialised:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK_KEY,))
        tx = _Transaction(connection, self.dialect)
        try:
            yield tx
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    # meta and people ----------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.transaction() as tx:
            row = tx.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` unless `key` has one; returns the stored value."""
        with self.transaction(serialised=True) as tx:
            row = tx.one("SELECT value FROM meta WHERE key = ?", (key,))
            if row:
                return row[0]
            tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return value

    def add_student(self, student: str, name: str, email: str, token_hash: str) -> bool:
        """Add a student unless known (a known student keeps their token); True if added."""
        with self.transaction(serialised=True) as tx:
            if tx.one("SELECT 1 FROM students WHERE id = ?", (student,)):
                tx.execute("UPDATE students SET name = ?, email = ? WHERE id = ?", (name, email, student))
                return False
            tx.execute("INSERT INTO students (id, name, email, token_hash, added_at) VALUES (?, ?, ?, ?, ?)",
                       (student, name, email, token_hash, time.time()))
        return True

    def student_by_token_hash(self, token_hash: str) -> tuple[str, str] | None:
        """(id, stored token hash) of the student with this token hash."""
        with self.transaction() as tx:
            row = tx.one("SELECT id, token_hash FROM students WHERE token_hash = ?", (token_hash,))
        return (row[0], row[1]) if row else None

    def students(self) -> list[tuple[str, str, str]]:
        """(id, name, email) of every student, by id."""
        with self.transaction() as tx:
            return [tuple(r) for r in tx.all("SELECT id, name, email FROM students ORDER BY id")]

    def add_session(self, token_hash: str, who: str, role: str) -> None:
        with self.transaction(write=True) as tx:
            tx.execute("INSERT INTO sessions (token_hash, who, role, created_at) VALUES (?, ?, ?, ?)",
                       (token_hash, who, role, time.time()))

    def session(self, token_hash: str, max_age: float) -> tuple[str, str, str] | None:
        """(stored hash, who, role) of a live session."""
        with self.transaction() as tx:
            row = tx.one("SELECT token_hash, who, role FROM sessions WHERE token_hash = ? AND created_at > ?",
                         (token_hash, time.time() - max_age))
        return tuple(row) if row else None

    def drop_session(self, token_hash: str) -> None:
        with self.transaction(write=True) as tx:
            tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # submissions --------------------------------------------------------------------------
    def add_submission(self, sid: str, assignment: str, student: str, kind: str, content_hash: str,
                       size: int, submitted_at: float, late_seconds: float, *,
                       rate_limit: int, rate_window: float) -> RateLimited | None:
        """Queue a submission whose file is already stored, unless the student has
        `rate_limit` submissions (of any assignment) in the last `rate_window` seconds."""
        with self.transaction(serialised=True) as tx:
            if rate_limit > 0:
                recent = tx.all("SELECT submitted_at FROM submissions WHERE student = ? AND submitted_at > ? "
                                "ORDER BY submitted_at", (student, submitted_at - rate_window))
                if len(recent) >= rate_limit:
                    oldest = recent[len(recent) - rate_limit][0]
                    return RateLimited(max(1, int(oldest + rate_window - submitted_at + 0.999)))
            tx.execute("INSERT INTO submissions (id, assignment, student, kind, content_hash, size, submitted_at, "
                       "late_seconds, status, round, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, 0)",
                       (sid, assignment, student, kind, content_hash, size, submitted_at, late_seconds))
        return None

    def submission(self, sid: str) -> SubmissionRow | None:
        with self.transaction() as tx:
            row = tx.one(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE id = ?", (sid,))
        return SubmissionRow(*row) if row else None

    def submissions(self, *, student: str | None = None, assignment: str | None = None) -> list[SubmissionRow]:
        """Newest first."""
        where, params = [], []
        if student is not None:
            where.append("student = ?")
            params.append(student)
        if assignment is not None:
            where.append("assignment = ?")
            params.append(assignment)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.transaction() as tx:
            rows = tx.all(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions{clause} "
                          "ORDER BY submitted_at DESC, id DESC", params)
        return [SubmissionRow(*row) for row in rows]

    def gradings(self, sid: str) -> list[tuple[int, float, str, float, float]]:
        """(round, graded_at, status, score, max_score) of every grading of `sid`, oldest first."""
        with self.transaction() as tx:
            return [tuple(r) for r in tx.all("SELECT round, graded_at, status, score, max_score FROM gradings "
                                              "WHERE submission = ? ORDER BY round", (sid,))]

    def queue_ahead(self, sid: str) -> int:
        """How many queued submissions came before `sid`."""
        with self.transaction() as tx:
            row = tx.one("SELECT COUNT(*) FROM submissions WHERE status = 'queued' AND submitted_at < "
                         "(SELECT submitted_at FROM submissions WHERE id = ?)", (sid,))
        return int(row[0]) if row else 0

    def queue_counts(self, assignment: str | None = None) -> dict[str, int]:
        clause, params = (" WHERE assignment = ?", (assignment,)) if assignment else ("", ())
        with self.transaction() as tx:
            rows = tx.all(f"SELECT status, COUNT(*) FROM submissions{clause} GROUP BY status", params)
        counts = {"queued": 0, "grading": 0, "graded": 0, "error": 0}
        counts.update({status: int(n) for status, n in rows})
        return counts

    # the queue ----------------------------------------------------------------------------
    def claim(self, owner: str, limit: int, lease_seconds: float) -> list[Claim]:
        """Up to `limit` queued submissions, oldest first, at most one per student with none
        of theirs already grading, now `grading` under `owner`'s lease."""
        now = time.time()
        claims: list[Claim] = []
        with self.transaction(serialised=True) as tx:
            busy = {r[0] for r in tx.all("SELECT DISTINCT student FROM submissions WHERE status = 'grading'")}
            for row in tx.all("SELECT id, assignment, student, kind, round, attempts FROM submissions "
                              "WHERE status = 'queued' ORDER BY submitted_at, id"):
                if len(claims) >= limit:
                    break
                if row[2] in busy:
                    continue
                busy.add(row[2])
                tx.execute("UPDATE submissions SET status = 'grading', lease_owner = ?, lease_until = ?, "
                           "attempts = attempts + 1 WHERE id = ?", (owner, now + lease_seconds, row[0]))
                claims.append(Claim(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]) + 1))
        return claims

    def renew(self, owner: str, sids: list[str], lease_seconds: float) -> None:
        if not sids:
            return
        with self.transaction(write=True) as tx:
            for sid in sids:
                tx.execute("UPDATE submissions SET lease_until = ? WHERE id = ? AND lease_owner = ? "
                           "AND status = 'grading'", (time.time() + lease_seconds, sid, owner))

    def complete(self, claim: Claim, owner: str, result: dict, report: str | None, notebook: str | None) -> bool:
        """Store the grading of `claim` if `owner` still holds its lease; False if not (the
        submission was handed to another grader meanwhile: this grading is dropped)."""
        now = time.time()
        status = "graded" if result.get("status") == "graded" else "error"
        text = json.dumps(result)
        with self.transaction(write=True) as tx:
            held = tx.one("SELECT 1 FROM submissions WHERE id = ? AND status = 'grading' AND round = ? "
                          "AND lease_owner = ?", (claim.id, claim.round, owner))
            if not held:
                return False
            tx.execute("INSERT INTO gradings (submission, round, graded_at, status, score, max_score, result, report, "
                       "notebook) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (claim.id, claim.round, now, status, float(result["score"]), float(result["max_score"]),
                        text, report, notebook))
            tx.execute("UPDATE submissions SET status = ?, lease_owner = NULL, lease_until = NULL, score = ?, "
                       "max_score = ?, graded_at = ?, result = ?, report = ?, notebook = ? WHERE id = ?",
                       (status, float(result["score"]), float(result["max_score"]), now, text, report, notebook,
                        claim.id))
        return True

    def release(self, claim: Claim, owner: str) -> None:
        """Give a claimed submission back to the queue (its grader could not finish)."""
        with self.transaction(write=True) as tx:
            tx.execute("UPDATE submissions SET status = 'queued', lease_owner = NULL, lease_until = NULL "
                       "WHERE id = ? AND status = 'grading' AND lease_owner = ?", (claim.id, owner))

    def release_leases(self, except_owner: str | None = None) -> int:
        """Every `grading` row back to `queued` (but `except_owner`'s): at the start of the
        only process using the database, whose predecessor died mid-grading."""
        with self.transaction(serialised=True) as tx:
            if except_owner is None:
                return tx.execute("UPDATE submissions SET status = 'queued', lease_owner = NULL, lease_until = NULL "
                                  "WHERE status = 'grading'")
            return tx.execute("UPDATE submissions SET status = 'queued', lease_owner = NULL, lease_until = NULL "
                              "WHERE status = 'grading' AND lease_owner <> ?", (except_owner,))

    def requeue_expired(self) -> int:
        """`grading` rows whose lease ran out (their process died) back to `queued`."""
        with self.transaction(serialised=True) as tx:
            return tx.execute("UPDATE submissions SET status = 'queued', lease_owner = NULL, lease_until = NULL "
                              "WHERE status = 'grading' AND lease_until < ?", (time.time(),))

    def regrade(self, assignment: str, student: str | None = None) -> int:
        """Queue a new round for every finished submission of `assignment` (of `student`
        only, if given); earlier rounds stay in `gradings`. Returns how many."""
        params: tuple = (assignment,) if student is None else (assignment, student)
        who = "" if student is None else " AND student = ?"
        with self.transaction(serialised=True) as tx:
            return tx.execute("UPDATE submissions SET status = 'queued', round = round + 1, attempts = 0 "
                              f"WHERE assignment = ?{who} AND status IN ('graded', 'error')", params)


class _Transaction:
    def __init__(self, connection, dialect: str):
        self._connection, self._dialect = connection, dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._dialect == "postgresql" else sql

    def execute(self, sql: str, params=()) -> int:
        """Run one statement; returns the number of rows it changed."""
        cursor = self._connection.execute(self._sql(sql), tuple(params))
        return cursor.rowcount

    def one(self, sql: str, params=()):
        return self._connection.execute(self._sql(sql), tuple(params)).fetchone()

    def all(self, sql: str, params=()) -> list:
        return self._connection.execute(self._sql(sql), tuple(params)).fetchall()
