"""Shared set-up of the service tests: a copy of this course (with a `[service]` policy when
asked), a service on it with a small roster, and a grader that runs the real grading in one
thread of the test process (no worker processes to start)."""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.course import Course
from grader.serve import auth
from grader.serve.app import Service
from grader.serve.asgi import create_app
from grader.serve.command import add_roster, instructor_token, read_tokens
from grader.serve.db import Database
from grader.serve.queue import GradingQueue

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "demo" / "cohort"
ROSTER = [("alice", "Alice", "a@example.org"), ("bob", "Bob", "b@example.org"),
          ("=cmd|' /C calc'!A0", "Mallory", "m@example.org")]


def copy_course(folder: Path, service_toml: str = "") -> Course:
    """This course's assignments, solutions and templates under `folder`; `service_toml`
    (a `[service]` table) is added to optimizers' assignment.toml."""
    for name in ("assignments", "solutions", "templates"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    if service_toml:
        toml = folder / "assignments" / "optimizers" / "assignment.toml"
        toml.write_text(toml.read_text(encoding="utf-8") + "\n" + service_toml, encoding="utf-8")
    return Course(folder)


class ThreadRunner:
    """grader.batch.runner's interface on one thread of this process (the grading is real)."""

    capacity = 1

    def __init__(self):
        self.pool = None

    def describe(self) -> str:
        return "one thread"

    def ship(self, assignment) -> None:
        return None  # the course is read where it is

    def start(self):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="grading")
        return self.pool

    def restart(self):
        self.close()
        return self.start()

    def close(self, cancel: bool = False) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self.pool = None


class Harness:
    """A service on `course` in `data_dir`: its app, database, tokens, and (if `grading`) a
    running queue. close() when done."""

    def __init__(self, course: Course, data_dir: Path, *, grading: bool = True, database_url: str | None = None,
                 runner=None):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.database = Database(data_dir, database_url)
        add_roster(self.database, data_dir, ROSTER, "http://testserver")
        self.tokens = read_tokens(data_dir, self.database)
        self.instructor = instructor_token(self.database, data_dir)
        self.service = Service(self.database, course, data_dir)
        self.queue = None
        if grading:
            self.queue = GradingQueue(self.database, course, data_dir, runner or ThreadRunner(),
                                      exclusive=self.database.dialect == "sqlite")
            self.service.queue = self.queue
            self.queue.start()
        self.app = create_app(self.service)

    def bearer(self, student: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.tokens[student] if student else self.instructor}"}

    def close(self) -> None:
        if self.queue is not None:
            self.queue.stop()
        self.database.close()


def submit(client, harness: Harness, student: str, path: Path, assignment: str = "optimizers",
           filename: str | None = None):
    with open(path, "rb") as handle:
        return client.post(f"/api/assignments/{assignment}/submissions", headers=harness.bearer(student),
                           files={"file": (filename or path.name, handle.read())})


def wait_graded(client, harness: Harness, student: str, sid: str, timeout: float = 180.0) -> dict:
    """The submission's JSON once graded (bounded wait: a generous limit for a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.get(f"/api/submissions/{sid}", headers=harness.bearer(student))
        assert reply.status_code == 200, reply.text
        if reply.json()["status"] in ("graded", "error"):
            return reply.json()
        time.sleep(0.2)
    raise AssertionError(f"{sid} not graded within {timeout} s")


def login(client, harness: Harness, student: str | None) -> None:
    token = harness.tokens[student] if student else harness.instructor
    reply = client.get(f"/login?token={token}", follow_redirects=False)
    assert reply.status_code == 303
    assert auth.COOKIE in reply.cookies
