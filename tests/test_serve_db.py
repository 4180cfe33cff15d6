"""The service's database module on SQLite and on a real PostgreSQL server: the queue's
promises (one in-flight job per student, oldest first, a grading stored only under its
lease, expired leases requeued, regrades keeping every round, the rate limit) and a
submission graded end to end through the API with PostgreSQL.

PostgreSQL: `GRADER_TEST_POSTGRES=postgresql://...` uses that server; otherwise the test
starts a throwaway cluster with initdb/pg_ctl from /usr/lib/postgresql/*/bin (as the
`postgres` user when run as root) on a free port of 127.0.0.1, and removes it afterwards.
Without either the PostgreSQL cases are skipped, saying why (in CI, where `.ci/run`
installs PostgreSQL, they fail instead)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

pytest.importorskip("starlette")
from grader.serve.db import Database, RateLimited  # noqa: E402
from serve_helpers import COHORT, Harness, copy_course, submit, wait_graded  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    if os.environ.get("GRADER_TEST_POSTGRES"):
        yield os.environ["GRADER_TEST_POSTGRES"]
        return
    pytest.importorskip("psycopg")
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        if "CI" in os.environ:
            pytest.fail("PostgreSQL is missing in CI: `apt-get install -y postgresql` (.ci/run does)")
        pytest.skip("no PostgreSQL installed (Debian: apt-get install postgresql) and GRADER_TEST_POSTGRES unset")
    bindir = os.path.dirname(binaries[-1])
    as_user: list[str] = []
    folder = tmp_path_factory.mktemp("postgres")
    if os.geteuid() == 0:  # initdb refuses root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user to run the throwaway cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(folder, 0o755)
        for parent in folder.parents:  # the postgres user must reach the cluster's folder
            if str(parent).startswith(("/tmp", str(tmp_path_factory.getbasetemp()))):
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    cluster, port = folder / "cluster", _free_port()
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", str(cluster), "-U", "postgres", "--auth=trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=180)
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(cluster), "-l", str(folder / "log"), "-w", "-t", "120",
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=180)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(cluster), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = Database(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        import psycopg

        schema = "t" + uuid.uuid4().hex[:12]  # each test its own schema: nothing shared between tests
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        db = Database(tmp_path, f"{url}?options=-csearch_path%3D{schema}")
    yield db
    db.close()


def add(db: Database, sid: str, student: str, when: float, **limits) -> RateLimited | None:
    limits = {"rate_limit": 0, "rate_window": 3600.0, **limits}
    return db.add_submission(sid, "optimizers", student, "py", "hash", 10, when, 0.0, **limits)


def result(score: float) -> dict:
    return {"status": "graded", "score": score, "max_score": 10.0, "parts": [], "tests": []}


def test_claims_take_the_oldest_and_one_per_student(database):
    now = time.time()
    for i, (sid, student) in enumerate([("a1", "ann"), ("a2", "ann"), ("b1", "ben"), ("c1", "cy")]):
        add(database, sid, student, now + i)
    first = database.claim("w1", 10, 60)
    assert [c.id for c in first] == ["a1", "b1", "c1"]  # a2 waits: ann already has one grading
    assert database.claim("w2", 10, 60) == []
    assert database.complete(first[0], "w1", result(7), "a1.0.html", None)
    second = database.claim("w2", 10, 60)
    assert [c.id for c in second] == ["a2"]
    row = database.submission("a1")
    assert (row.status, row.score, row.report) == ("graded", 7.0, "a1.0.html")


def test_a_grading_is_stored_only_under_its_lease(database):
    add(database, "x", "ann", time.time())
    (claim,) = database.claim("dead", 1, 0.01)
    time.sleep(0.05)
    assert database.requeue_expired() == 1
    (again,) = database.claim("alive", 1, 60)
    assert again.attempts == 2
    assert not database.complete(claim, "dead", result(1), None, None)  # the dead owner's late answer is dropped
    assert database.complete(again, "alive", result(9), None, None)
    assert not database.complete(again, "alive", result(9), None, None)  # never twice
    assert database.gradings("x") == [(0, database.gradings("x")[0][1], "graded", 9.0, 10.0)]


def test_release_leases_requeues_what_a_dead_predecessor_was_grading(database):
    add(database, "y", "ann", time.time())
    database.claim("old", 1, 3600)
    assert database.release_leases() == 1
    assert database.submission("y").status == "queued"


def test_regrade_adds_a_round_and_keeps_the_earlier(database):
    add(database, "r", "ann", time.time())
    (claim,) = database.claim("w", 1, 60)
    database.complete(claim, "w", result(4), None, None)
    assert database.regrade("optimizers", "ben") == 0
    assert database.regrade("optimizers", "ann") == 1
    (claim,) = database.claim("w", 1, 60)
    assert claim.round == 1
    database.complete(claim, "w", result(10), None, None)
    assert [(g[0], g[3]) for g in database.gradings("r")] == [(0, 4.0), (1, 10.0)]
    assert database.submission("r").score == 10.0


def test_the_rate_limit_counts_the_window(database):
    now = time.time()
    assert add(database, "old", "ann", now - 4000, rate_limit=2) is None
    assert add(database, "n1", "ann", now - 100, rate_limit=2) is None
    assert add(database, "n2", "ann", now - 50, rate_limit=2) is None
    limited = add(database, "n3", "ann", now, rate_limit=2)
    assert isinstance(limited, RateLimited) and 3400 <= limited.retry_after <= 3501
    assert database.submission("n3") is None
    assert add(database, "b", "ben", now, rate_limit=2) is None


def test_concurrent_claimers_never_share_a_submission_or_a_student(database, tmp_path):
    now = time.time()
    for i in range(60):
        add(database, f"s{i:02d}", f"st{i % 12}", now + i * 0.001)
    url = None if database.dialect == "sqlite" else database.url
    claimed: list[tuple[str, str, str]] = []
    problems: list[str] = []
    lock = threading.Lock()

    def grader(name: str):
        other = Database(tmp_path, url)  # its own connections, as another process would have
        try:
            run(other, name)
        except BaseException as exc:  # a thread's failure must fail the test
            problems.append(f"{name}: {exc!r}")
        finally:
            other.close()

    def run(other: Database, name: str):
        for _ in range(200):
            claims = other.claim(name, 2, 60)
            if not claims:
                if not other.queue_counts()["queued"] and not other.queue_counts()["grading"]:
                    return
                time.sleep(0.01)
                continue
            for claim in claims:
                with lock:
                    busy = [c for c in claimed if c[2] == claim.student and c[1] == "busy"]
                    assert not busy, f"{claim.student} in flight twice"
                    claimed.append((claim.id, "busy", claim.student))
            for claim in claims:
                with lock:
                    claimed[claimed.index((claim.id, "busy", claim.student))] = (claim.id, "done", claim.student)
                assert other.complete(claim, name, result(1), None, None)

    threads = [threading.Thread(target=grader, args=(f"g{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert problems == []
    ids = [c[0] for c in claimed]
    assert sorted(ids) == [f"s{i:02d}" for i in range(60)] and len(set(ids)) == 60
    assert database.queue_counts() == {"queued": 0, "grading": 0, "graded": 60, "error": 0}


def test_a_submission_graded_through_the_api_with_postgresql(postgres_url, tmp_path):
    from starlette.testclient import TestClient
    import psycopg

    schema = "app" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    course = copy_course(tmp_path / "course")
    harness = Harness(course, tmp_path / "data", database_url=f"{postgres_url}?options=-csearch_path%3D{schema}")
    try:
        assert not (tmp_path / "data" / "service.sqlite").exists()
        with TestClient(harness.app) as client:
            reply = submit(client, harness, "alice", COHORT / "amara_okafor.py")
            assert reply.status_code == 202
            state = wait_graded(client, harness, "alice", reply.json()["id"])
            assert state["result"]["score"] == state["result"]["max_score"]
            assert client.get(f"/api/submissions/{reply.json()['id']}", headers=harness.bearer("bob")).status_code == 404
            csv_text = client.get("/api/assignments/optimizers/grades.csv", headers=harness.bearer()).text
            assert csv_text.splitlines()[1].startswith("alice,60,60")
    finally:
        harness.close()
