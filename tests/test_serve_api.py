"""The service's HTTP API and pages through Starlette's TestClient, with real grading: the
contract's answers and errors, the same grade as `grader grade`, students' isolation on
every route, CSRF, cookies, security headers, hostile uploads, rate limits, late
submissions and regrades that keep the history."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from conftest import run_grader  # noqa: E402
from grader.serve import auth  # noqa: E402
from serve_helpers import COHORT, Harness, copy_course, login, submit, wait_graded  # noqa: E402

POLICY = """[service]
rate_limit = 3
max_upload_mb = 0.05
url = "https://grader.example.org"

[late]
deadline = 2020-01-01T00:00:00Z
penalty_per_day = 10
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return copy_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def strict_course(tmp_path_factory):
    return copy_course(tmp_path_factory.mktemp("strict"), POLICY)


@pytest.fixture(scope="module")
def harness(course, tmp_path_factory):
    h = Harness(course, tmp_path_factory.mktemp("data"))
    yield h
    h.close()


@pytest.fixture(scope="module")
def client(harness):
    with TestClient(harness.app) as c:
        yield c


@pytest.fixture(scope="module")
def graded(client, harness):
    """alice's graded submission of a demo file with a known mistake, and a notebook."""
    reply = submit(client, harness, "alice", COHORT / "nadia_rahman.py")
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "queued"
    sid = reply.json()["id"]
    notebook = submit(client, harness, "alice", COHORT / "eva_novak.ipynb").json()["id"]
    return {"sid": sid, "state": wait_graded(client, harness, "alice", sid),
            "notebook": wait_graded(client, harness, "alice", notebook)}


def test_a_submission_gets_the_same_result_as_grader_grade(graded):
    state = graded["state"]
    assert state["status"] == "graded" and state["student"] == "alice" and state["assignment"] == "optimizers"
    assert state["late"] is False and state["submitted_at"].endswith("Z")
    cli = run_grader("grade", "optimizers", str(COHORT / "nadia_rahman.py"), "--json", "--student", "alice")
    expected = json.loads(cli.stdout)
    got = dict(state["result"])
    for volatile in ("execution_time",):
        expected.pop(volatile), got.pop(volatile)
    assert got == expected
    assert got["score"] < got["max_score"]  # a real mistake, really graded


def test_the_report_is_the_html_report_and_a_notebook_has_its_record(client, harness, graded):
    reply = client.get(f"/api/submissions/{graded['sid']}/report", headers=harness.bearer("alice"))
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert "feedback for alice" in reply.text and "<script" not in reply.text
    notebook = graded["notebook"]["id"]
    report = client.get(f"/api/submissions/{notebook}/report", headers=harness.bearer("alice")).text
    assert 'href="notebook"' in report  # relative: /api/submissions/SID/notebook
    record = client.get(f"/api/submissions/{notebook}/notebook", headers=harness.bearer("alice"))
    assert record.status_code == 200 and "jp-Cell" in record.text
    assert client.get(f"/api/submissions/{graded['sid']}/notebook",
                      headers=harness.bearer("alice")).status_code == 404


def test_me_lists_the_callers_submissions_newest_first(client, harness, graded):
    mine = client.get("/api/me/submissions", headers=harness.bearer("alice")).json()
    assert [m["id"] for m in mine[:2]] == [graded["notebook"]["id"], graded["sid"]]
    assert set(mine[0]) == {"id", "assignment", "status", "submitted_at", "score", "max_score"}
    assert client.get("/api/me/submissions", headers=harness.bearer("bob")).json() == []


def test_errors_are_one_line_json_with_the_contracts_codes(client, harness, graded):
    assert client.get("/api/me/submissions").status_code == 401
    bad = client.get("/api/me/submissions", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and set(bad.json()) == {"error"}
    assert client.get("/api/assignments/optimizers/grades.csv", headers=harness.bearer("bob")).status_code == 403
    assert submit(client, harness, "bob", COHORT / "nadia_rahman.py", assignment="nope").status_code == 404
    assert client.get("/api/submissions/" + "0" * 24, headers=harness.bearer("bob")).status_code == 404
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "no module here")
    reply = client.post("/api/assignments/optimizers/submissions", headers=harness.bearer("bob"),
                        files={"file": ("work.zip", archive.getvalue())})
    assert reply.status_code == 422 and "\n" not in reply.json()["error"]
    assert "uploads" not in reply.json()["error"]  # our storage path is not shown
    assert client.get("/healthz").json() == {"ok": True}


def test_every_route_isolates_students(client, harness, graded):
    """bob asks for alice's submission on every route that takes a submission id: 404, as
    for one that does not exist; every instructor route answers a student 403 (API) or
    refuses the page; nothing of alice's shows."""
    sid = graded["sid"]
    tried = 0
    for route in harness.app.routes:
        if not isinstance(route, Route):
            continue
        methods = route.methods or {"GET"}
        path = route.path
        if "{sid}" in path:
            for what in ("report", "notebook"):
                url = path.replace("{sid}", sid).replace("{what:str}", what)
                for method in methods - {"HEAD"}:
                    reply = client.request(method, url, headers=harness.bearer("bob"))
                    assert reply.status_code == 404, (method, url, reply.status_code)
                    assert "alice" not in reply.text
                    tried += 1
        elif path.startswith(("/instructor", "/api/assignments/{assignment}/grades", "/api/assignments/{assignment}/regrade",
                              "/api/queue")):
            url = path.replace("{assignment}", "optimizers").replace("{student:path}", "alice.html")
            for method in methods - {"HEAD"}:
                reply = client.request(method, url, headers=harness.bearer("bob"))
                assert reply.status_code == 403, (method, url, reply.status_code)
                assert "alice" not in reply.text
                tried += 1
    assert tried >= 10
    # the same through bob's browser session
    with TestClient(harness.app) as browser:
        login(browser, harness, "bob")
        for url in (f"/submissions/{sid}", f"/submissions/{sid}/report", f"/submissions/{sid}/notebook"):
            reply = browser.get(url)
            assert reply.status_code == 404 and "alice" not in reply.text
        assert "alice" not in browser.get("/assignments/optimizers").text


def test_the_instructor_sees_everything_and_gets_grades_csv(client, harness, graded):
    reply = client.get("/api/assignments/optimizers/grades.csv", headers=harness.bearer())
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = reply.text.splitlines()
    assert rows[0].startswith("student,score,max_score,gd_step")
    alice = [r for r in rows if r.startswith("alice,")]
    assert alice and float(alice[0].split(",")[1]) == graded["notebook"]["result"]["score"]  # latest counts
    assert client.get(f"/api/submissions/{graded['sid']}", headers=harness.bearer()).status_code == 200


def test_every_response_carries_the_security_headers(client, harness, graded):
    for url, headers in (("/healthz", {}), ("/api/me/submissions", {}), ("/", {}),
                         (f"/api/submissions/{graded['sid']}/report", harness.bearer("alice")),
                         ("/nowhere", {})):
        reply = client.get(url, headers=headers)
        csp = reply.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "script-src" not in csp, url
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "no-referrer"


def test_browser_login_cookie_and_csrf(harness, course):
    with TestClient(harness.app) as browser:
        assert browser.get("/login?token=wrong", follow_redirects=False).status_code == 401
        reply = browser.get(f"/login?token={harness.tokens['bob']}", follow_redirects=False)
        cookie = reply.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert harness.tokens["bob"] not in reply.headers["location"]
        page = browser.get("/assignments/optimizers").text
        assert "<script" not in page
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        data = (COHORT / "hana_sato.py").read_bytes()
        refused = browser.post("/assignments/optimizers/submissions", data={"csrf": "0" * 64},
                               files={"file": ("hana.py", data)}, follow_redirects=False)
        assert refused.status_code == 403
        cross = browser.post("/assignments/optimizers/submissions", data={"csrf": csrf},
                             files={"file": ("hana.py", data)}, headers={"Origin": "https://evil.example"},
                             follow_redirects=False)
        assert cross.status_code == 403
        accepted = browser.post("/assignments/optimizers/submissions", data={"csrf": csrf},
                                files={"file": ("hana.py", data)}, follow_redirects=False)
        assert accepted.status_code == 303 and accepted.headers["location"].startswith("/submissions/")
        sid = accepted.headers["location"].rsplit("/", 1)[1]
        state = wait_graded(browser, harness, "bob", sid)
        assert state["result"]["student"] == "bob"
        page = browser.get(f"/submissions/{sid}").text
        assert 'href="/submissions/' + sid + '/report"' in page and "refresh" not in page
        assert browser.get(f"/submissions/{sid}/report").status_code == 200


def test_hostile_file_names_are_data_and_never_a_storage_name(client, harness):
    name = '../../<img src=x onerror=alert(1)>\u202e\x1b[31m=cmd.py'
    reply = submit(client, harness, "bob", COHORT / "amara_okafor.py", filename=name)
    assert reply.status_code == 202
    sid = reply.json()["id"]
    stored = sorted(p.name for p in (harness.data_dir / "uploads").iterdir())
    assert all(re.fullmatch(r"[0-9a-f]{24}\.(py|ipynb|zip)", n) for n in stored)
    assert f"{sid}.py" in stored
    wait_graded(client, harness, "bob", sid)
    for url in (f"/api/submissions/{sid}", "/api/me/submissions"):
        assert "onerror" not in client.get(url, headers=harness.bearer("bob")).text


def test_regrade_keeps_the_history(client, harness, graded):
    reply = client.post("/api/assignments/optimizers/regrade", headers=harness.bearer(), json={"student": "alice"})
    assert reply.status_code == 202 and reply.json()["queued"] == 2
    state = wait_graded(client, harness, "alice", graded["sid"])
    assert state["result"]["score"] == graded["state"]["result"]["score"]  # same file, same seed, same grade
    rounds = harness.database.gradings(graded["sid"])
    assert [r[0] for r in rounds] == [0, 1]
    with TestClient(harness.app) as browser:
        login(browser, harness, "alice")
        assert "Gradings of this submission" in browser.get(f"/submissions/{graded['sid']}").text
    assert client.post("/api/assignments/optimizers/regrade", headers=harness.bearer("alice")).status_code == 403


def test_policy_late_rate_limit_and_size(strict_course, tmp_path):
    harness = Harness(strict_course, tmp_path / "data", grading=False)
    try:
        with TestClient(harness.app) as client:
            big = client.post("/api/assignments/optimizers/submissions", headers=harness.bearer("alice"),
                              files={"file": ("big.py", b"#" * 80_000)})
            assert big.status_code == 413
            accepted = [submit(client, harness, "alice", COHORT / "amara_okafor.py") for _ in range(3)]
            assert [r.status_code for r in accepted] == [202] * 3
            limited = submit(client, harness, "alice", COHORT / "amara_okafor.py")
            assert limited.status_code == 429 and 0 < int(limited.headers["retry-after"]) <= 3600
            assert len(list((harness.data_dir / "uploads").iterdir())) == 3  # the refused one is not kept
            assert submit(client, harness, "bob", COHORT / "amara_okafor.py").status_code == 202  # bob is not limited
            state = client.get(f"/api/submissions/{accepted[0].json()['id']}", headers=harness.bearer("alice")).json()
            assert state["late"] is True and state["status"] == "queued" and state["result"] is None
    finally:
        harness.close()


def test_instructor_pages_show_the_live_cohort(client, harness, graded):
    mallory = next(s for s in harness.tokens if s.startswith("="))
    wait_graded(client, harness, mallory, submit(client, harness, mallory, COHORT / "amara_okafor.py").json()["id"])
    with TestClient(harness.app) as browser:
        login(browser, harness, None)
        live = browser.get("/instructor/assignments/optimizers/")
        assert live.status_code == 200 and "alice" in live.text and 'http-equiv="refresh"' in live.text
        dashboard = browser.get("/instructor/assignments/optimizers/dashboard")
        assert dashboard.status_code == 200 and 'href="reports/alice.html"' in dashboard.text
        assert browser.get("/instructor/assignments/optimizers/reports/alice.html").status_code == 200
        # every student with a grading has a row (neutralising formula-like ids is the batch
        # CSV writer's job, grader.batch.outputs, which the service reuses)
        csv_text = browser.get("/instructor/assignments/optimizers/grades.csv").text
        assert any(line.lstrip("'").startswith("=cmd") for line in csv_text.splitlines())


def test_sessions_are_stored_hashed(harness):
    with TestClient(harness.app) as browser:
        login(browser, harness, "alice")
        cookie = browser.cookies[auth.COOKIE]
    assert harness.database.session(auth.token_hash(cookie), 60) is not None
    assert harness.database.session(cookie, 60) is None


def test_the_release_bundle_documents_submitting_and_names_the_server(strict_course, tmp_path):
    import tomllib

    from grader.release import release
    from grader.submit import find_settings

    bundle = release(strict_course.get("optimizers"), tmp_path / "bundle").bundle
    readme = (bundle / "README.md").read_text(encoding="utf-8")
    assert "grader submit optimizers" in readme and "grader.submit()" in readme
    assert tomllib.loads((bundle / "submit.toml").read_text())["server"] == "https://grader.example.org"
    import os
    old = {k: os.environ.pop(k, None) for k in ("GRADER_SERVER", "GRADER_TOKEN")}
    try:
        assert find_settings(token="t", start=bundle / "assignments") == ("https://grader.example.org", "t")
    finally:
        os.environ.update({k: v for k, v in old.items() if v is not None})


def test_a_late_submission_is_graded_and_the_late_policy_applies_to_the_counted_grade(strict_course, tmp_path):
    """[late] (grader.late) as the batch applies it: the result stays the checks' own, the
    page says how late, grades.csv takes the penalty (here all of it: years late at 10 % a day)."""
    import csv
    import io as _io

    harness = Harness(strict_course, tmp_path / "data")
    try:
        with TestClient(harness.app) as client:
            sid = submit(client, harness, "alice", COHORT / "amara_okafor.py").json()["id"]
            state = wait_graded(client, harness, "alice", sid)
            assert state["late"] is True and state["result"]["score"] == 60.0
            rows = list(csv.DictReader(_io.StringIO(client.get("/api/assignments/optimizers/grades.csv",
                                                                headers=harness.bearer()).text)))
            alice = next(r for r in rows if r["student"] == "alice")
            assert float(alice["raw_score"]) == 60.0 and float(alice["score"]) == 0.0
            assert next(r for r in rows if r["student"] == "bob")["status"] == "missing"
            login(client, harness, "alice")
            page = client.get(f"/submissions/{sid}").text
            assert "Late: submitted" in page and "counts as 0 points" in page
    finally:
        harness.close()


def test_service_policy_defaults_and_one_line_errors(tmp_path):
    from grader.course import CourseError
    from grader.serve.policy import Policy, load_policy

    course = copy_course(tmp_path / "course")
    assert load_policy(course.get("sigmoid_neuron")) == Policy()  # no [service]: the defaults
    assert Policy().counts == "latest" and Policy().rate_limit == 10
    toml = course.root / "assignments" / "optimizers" / "assignment.toml"
    base = toml.read_text(encoding="utf-8")
    for table, message in (('[service]\ndeadline = 2026-01-01T00:00:00Z\n', r"go in \[late\]"),
                           ('[service]\ncounts = "first"\n', "latest"),
                           ('[service]\nrate_limit = -1\n', "rate_limit")):
        toml.write_text(base + "\n" + table, encoding="utf-8")
        with pytest.raises(CourseError, match=message) as error:
            load_policy(course.get("optimizers"))
        assert "\n" not in str(error.value)


def test_grader_serve_refuses_a_bad_roster_in_one_line(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAlice,a@example.org\n")
    completed = run_grader("serve", "--data", str(tmp_path / "data"), "--roster", str(roster), "--port", "0",
                           timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.startswith("grader: error: --roster") and len(completed.stderr.splitlines()) == 1
    roster.write_text("id,name,email\nalice,A,\nalice,B,\n")
    completed = run_grader("serve", "--data", str(tmp_path / "data"), "--roster", str(roster), "--port", "0",
                           timeout=120)
    assert completed.returncode == 2 and "duplicate id 'alice'" in completed.stderr
    missing = run_grader("serve", "--port", "0", timeout=120)
    assert missing.returncode == 2 and "--data" in missing.stderr
