"""The service on a real socket (uvicorn on 127.0.0.1, a free port, in a thread of the test):
a student in headless Chromium logs in by the link, uploads a file and reads the report;
`grader.submit()` from a student's script; where `grader submit` finds server and token."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

uvicorn = pytest.importorskip("uvicorn")

from grader.submit import SubmitError, find_settings  # noqa: E402
from serve_helpers import COHORT, ROOT, Harness, copy_course  # noqa: E402
from test_report_browser import DevTools, chromium_path  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    course = copy_course(tmp_path_factory.mktemp("course"))
    harness = Harness(course, tmp_path_factory.mktemp("data"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(harness.app, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    harness.url, harness.course = url, course
    yield harness
    server.should_exit = True
    thread.join(30)
    sock.close()
    harness.close()


def evaluate(browser: DevTools, session: str, expression: str):
    reply = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
    return reply["result"].get("value")


def navigate(browser: DevTools, session: str, url: str) -> None:
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired", timeout=60)


@pytest.mark.browser
def test_a_student_logs_in_by_link_uploads_and_reads_the_report_in_chromium(live, tmp_path):
    executable = chromium_path()
    if executable is None:
        if "CI" in os.environ:
            pytest.fail("chromium is missing in CI: `apt-get install -y chromium`")
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); in CI this test fails instead")
    browser = DevTools(executable, tmp_path / "profile")
    try:
        browser.send("Browser.getVersion", timeout=60)
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "DOM"):
            browser.send(f"{domain}.enable", session=session)
        navigate(browser, session, f"{live.url}/login?token={live.tokens['alice']}")
        assert evaluate(browser, session, "location.pathname") == "/"  # the token left the address bar
        assert "Your assignments" in evaluate(browser, session, "document.body.innerText")
        assert evaluate(browser, session, "document.cookie") == ""  # HttpOnly: no script can read it
        navigate(browser, session, f"{live.url}/assignments/optimizers")
        document = browser.send("DOM.getDocument", session=session)["root"]["nodeId"]
        file_input = browser.send("DOM.querySelector", {"nodeId": document, "selector": "#file"},
                                  session=session)["nodeId"]
        browser.send("DOM.setFileInputFiles", {"files": [str(COHORT / "nadia_rahman.py")], "nodeId": file_input},
                     session=session)
        browser.events.clear()
        evaluate(browser, session, "document.getElementById('submit').click()")
        browser.wait_for("Page.loadEventFired", timeout=60)
        assert evaluate(browser, session, "location.pathname").startswith("/submissions/"), \
            evaluate(browser, session, "document.body.innerText")
        deadline = time.monotonic() + 240  # the page refreshes itself until graded
        while evaluate(browser, session, "(document.getElementById('status-value') || {}).textContent") != "graded":
            assert time.monotonic() < deadline, "not graded in time"
            time.sleep(0.5)
        score = evaluate(browser, session, "document.getElementById('score').textContent")
        report_url = evaluate(browser, session, "document.getElementById('report-link').href")
        navigate(browser, session, report_url)
        text = evaluate(browser, session, "document.body.innerText")
        title = evaluate(browser, session, "document.title")
        images = evaluate(browser, session, "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        (tmp_path / "report.png").write_bytes(__import__("base64").b64decode(shot["data"]))
        errors = [e for e in browser.events if e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"]["level"] == "error"]
    finally:
        browser.close()
    assert "feedback for alice" in title
    points = score.split("/")[0].strip()
    assert points in text and "adam_step" in text
    assert images is True
    assert errors == []  # no CSP violation, no failed load


def test_grader_submit_in_a_students_script_prints_and_returns_the_grade(live, tmp_path):
    script = tmp_path / "work.py"
    script.write_text((COHORT / "hana_sato.py").read_text(encoding="utf-8")
                      + "\n\nimport grader\nresult = grader.submit('optimizers')\n"
                      + "print('RESULT', result.student, result.score, result.max_score)\n", encoding="utf-8")
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                               cwd=live.course.root,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "GRADER_SERVER": live.url,
                                    "GRADER_TOKEN": live.tokens["bob"]})
    assert completed.returncode == 0, completed.stderr
    last = completed.stdout.strip().splitlines()[-1].split()
    assert last[:2] == ["RESULT", "bob"] and float(last[3]) == 60.0
    mine = live.database.submissions(student="bob")
    assert mine and mine[0].kind == "py" and mine[0].score == float(last[2])


def test_submit_settings_come_from_arguments_environment_or_submit_toml(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADER_SERVER", raising=False)
    monkeypatch.delenv("GRADER_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    nested = tmp_path / "bundle" / "assignments" / "optimizers"
    nested.mkdir(parents=True)
    with pytest.raises(SubmitError, match="no server"):
        find_settings(start=nested)
    (tmp_path / "bundle" / "submit.toml").write_text('server = "https://grader.example.org/"\n')
    with pytest.raises(SubmitError, match="no token"):
        find_settings(start=nested)
    monkeypatch.setenv("GRADER_TOKEN", "tok")
    assert find_settings(start=nested) == ("https://grader.example.org", "tok")
    assert find_settings("http://other:8000", "t2", start=nested) == ("http://other:8000", "t2")
    with pytest.raises(SubmitError, match="URL"):
        find_settings("ftp://x", "t", start=nested)
