"""A real `grader serve` (uvicorn on 127.0.0.1, a free port) started by the test: 50
submissions accepted over HTTP, the service killed with SIGKILL (its whole process group,
workers included) while they are queued or grading, started again on the same DATA_DIR:
every submission is graded exactly once (one grading each, none left queued or grading).
Then `grader submit` against it, and a clean stop on SIGTERM."""
from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
import httpx2 as httpx  # noqa: E402

from serve_helpers import COHORT, ROOT, copy_course  # noqa: E402

pytestmark = pytest.mark.slow
STUDENTS = [f"s{i:02d}" for i in range(25)]


def _loads(path: Path) -> bool:
    from grader.load import SubmissionError, load_submission
    try:
        load_submission(path, "optimizers")
        return True
    except SubmissionError:  # refused at upload (422), as `grader grade` refuses it
        return False


FILES = sorted(p for p in COHORT.iterdir() if p.suffix in (".py", ".ipynb") and _loads(p))


def start_service(course: Path, data: Path, roster: Path, log: Path) -> tuple[subprocess.Popen, str]:
    handle = open(log, "ab")
    process = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--course", str(course), "--data", str(data),
                                "--roster", str(roster), "--port", "0", "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=handle, cwd=course, start_new_session=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if not line and process.poll() is not None:
            raise AssertionError(f"grader serve exited: {log.read_text()}")
        if line.startswith("listening on "):
            return process, line.split()[2]
    raise AssertionError("grader serve did not start in time")


def statuses(data: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{data / 'service.sqlite'}?mode=ro", uri=True, timeout=30) as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM submissions GROUP BY status").fetchall())


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_sigkill_while_grading_then_restart_grades_each_submission_exactly_once(tmp_path):
    course_dir = tmp_path / "course"
    copy_course(course_dir)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\n" + "".join(f"{s},Student {s},{s}@example.org\n" for s in STUDENTS))
    data = tmp_path / "data"
    process, url = start_service(course_dir, data, roster, tmp_path / "serve.log")
    try:
        with open(data / "tokens.csv", newline="") as handle:
            tokens = {row["id"]: row["token"] for row in csv.DictReader(handle)}
        assert (data / "tokens.csv").stat().st_mode & 0o077 == 0
        assert (data / "instructor.token").stat().st_mode & 0o077 == 0
        accepted = {}
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in range(50):
                student = STUDENTS[i % len(STUDENTS)]
                path = FILES[i % len(FILES)]
                reply = client.post("/api/assignments/optimizers/submissions",
                                    headers={"Authorization": f"Bearer {tokens[student]}"},
                                    files={"file": (path.name, path.read_bytes())})
                assert reply.status_code == 202, reply.text
                accepted[reply.json()["id"]] = student
        wait_until(lambda: statuses(data).get("graded", 0) >= 2, 300, "two graded before the kill")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    before = statuses(data)
    assert before.get("graded", 0) < 50 and before.get("queued", 0) + before.get("grading", 0) > 0, before

    process, url = start_service(course_dir, data, roster, tmp_path / "serve.log")
    try:
        wait_until(lambda: statuses(data).get("graded", 0) + statuses(data).get("error", 0) == 50, 900,
                   "all 50 graded after the restart")
        with sqlite3.connect(data / "service.sqlite") as db:
            per_submission = dict(db.execute("SELECT submission, COUNT(*) FROM gradings GROUP BY submission"))
            owners = dict(db.execute("SELECT id, student FROM submissions"))
        assert set(per_submission) == set(accepted) and set(per_submission.values()) == {1}
        assert owners == accepted
        assert statuses(data) == {"graded": 50}
        with httpx.Client(base_url=url, timeout=60) as client:
            sid, student = next(iter(accepted.items()))
            state = client.get(f"/api/submissions/{sid}", headers={"Authorization": f"Bearer {tokens[student]}"}).json()
            assert state["result"]["student"] == student

        # a student's terminal: `grader submit` uploads, waits and prints as `grader grade`
        completed = subprocess.run(
            [sys.executable, "-m", "grader", "submit", "optimizers", str(COHORT / "nadia_rahman.py")],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "GRADER_SERVER": url, "GRADER_TOKEN": tokens["s00"]})
        graded_cli = subprocess.run([sys.executable, "-m", "grader", "grade", "optimizers",
                                     str(COHORT / "nadia_rahman.py"), "--student", "s00"],
                                    capture_output=True, text=True, timeout=600, cwd=course_dir)
        assert completed.returncode == graded_cli.returncode == 1, completed.stderr
        assert completed.stdout.splitlines()[:3] == graded_cli.stdout.splitlines()[:3]
        refused = subprocess.run([sys.executable, "-m", "grader", "submit", "optimizers", str(COHORT / "nadia_rahman.py"),
                                  "--server", url, "--token", "wrong"],
                                 capture_output=True, text=True, timeout=120, cwd=tmp_path,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert refused.returncode == 2 and "401" in refused.stderr and len(refused.stderr.splitlines()) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert code == 0
    assert "token=" not in (tmp_path / "serve.log").read_text()  # tokens are never logged
