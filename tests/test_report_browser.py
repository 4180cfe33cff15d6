"""A real headless Chromium opens generated reports from file:// URLs: every image decodes,
nothing is logged as an error (no script errors, no CSP violations, no failed loads), the page
fits a phone's width, and screenshots land in the test's tmp dir.

Chromium is driven over the DevTools protocol on `--remote-debugging-pipe` (fds 3 and 4,
NUL-separated JSON), with the standard library only. Locally the tests skip when chromium is
missing; in CI (env CI set) a missing chromium is a failure.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from grader import results
from grader.course import Assignment, Part
from grader.render.html import write_report
from grader.results import GradingResult, PartResult, Trace

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class DevTools:
    """A minimal DevTools-protocol client for one headless Chromium over pipes."""

    def __init__(self, executable: str, profile: Path):
        to_browser_r, to_browser_w = _high_pipe()
        from_browser_r, from_browser_w = _high_pipe()

        def wire_fds():  # in the child: the protocol's fds 3 (commands in) and 4 (replies out)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--mute-audio", "--disable-dev-shm-usage", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.out, self.inp = to_browser_w, from_browser_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.out)
        os.close(self.inp)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are above fd 4, so that dup2 onto 3 and 4 in the child cannot clobber them."""
    low = os.pipe()
    high = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in low)
    for fd in low:
        os.close(fd)
    return high  # type: ignore[return-value]


IMAGE_CHECK = """
(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map(i => i.decode().then(() => true, () => false)));
  const root = document.documentElement;
  return JSON.stringify({
    images: images.map((i, k) => ({decoded: decoded[k], complete: i.complete, naturalWidth: i.naturalWidth,
                                   naturalHeight: i.naturalHeight, alt: i.alt})),
    scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
    title: document.title, h1: document.querySelector('h1') ? document.querySelector('h1').textContent : null,
  });
})()
"""


def open_page(browser: DevTools, url: str, viewport: dict, screenshot: Path,
              expression: str | None = None) -> tuple[dict, list[str]]:
    """Load url at the viewport size; returns the page facts (with `expression`'s JSON value
    under "extra") and every error the page logged."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", viewport, session=session)
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired")
    facts = json.loads(browser.send("Runtime.evaluate", {"expression": IMAGE_CHECK, "awaitPromise": True,
                                                         "returnByValue": True}, session=session)["result"]["value"])
    if expression is not None:
        facts["extra"] = json.loads(browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                                 session=session)["result"]["value"])
    shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    errors = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(f"uncaught: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"log: {params['entry']['text']}")
    browser.send("Target.closeTarget", {"targetId": target})
    return facts, errors


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = chromium_path()
    if executable is None:
        if "CI" in os.environ:  # set at all: CI must run these tests
            pytest.fail("chromium is missing in CI: `apt-get install -y chromium` (the browser tests must run there)")
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); in CI this test fails instead")
    devtools = DevTools(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        devtools.send("Browser.getVersion", timeout=60)
        yield devtools
    finally:
        devtools.close()


# --- a realistic report --------------------------------------------------------------------

X, Y = np.array([0.5, 2.5]), np.array([0.2, 0.9])


def gd_path(eta: float, epochs: int = 300) -> np.ndarray:
    w, b, rows = -2.0, 2.0, [(-2.0, 2.0)]
    for _ in range(epochs):
        f = 1 / (1 + np.exp(-(w * X + b)))
        common = (f - Y) * f * (1 - f)
        w, b = w - eta * (common * X).sum(), b - eta * common.sum()
        rows.append((w, b))
    return np.array(rows)


def quadratic_path(eta: float, steps: int = 80) -> np.ndarray:
    A, b, rows = np.diag([10.0, 1.0]), np.ones(2), [np.array([3.0, 3.0])]
    for _ in range(steps):
        rows.append(rows[-1] - eta * (A @ rows[-1] - b))
    return np.array(rows)


def realistic_result() -> GradingResult:
    sigmoid = {"kind": "sigmoid_neuron", "x": X.tolist(), "y": Y.tolist()}
    quadratic = {"kind": "quadratic", "A": [[10.0, 0.0], [0.0, 1.0]], "b": [1.0, 1.0]}
    tests = [
        results.TestResult("gd_step: 80 steps on a quadratic", "gd_step", 3, 3, "passed",
                           traces=[Trace("gd_step, 80 steps", quadratic_path(0.1), quadratic_path(0.1), problem=quadratic)]),
        results.TestResult("momentum_step: the lecture's neuron", "momentum_step", 0, 5, "failed",
                           output="Inputs:\n  eta = 1.0\ntheta is wrong at index (1, 0)\n<b>not bold</b>",
                           misconceptions=["sign_flip"],
                           traces=[Trace("momentum, 300 steps", gd_path(-0.5), gd_path(1.0), problem=sigmoid)]),
        results.TestResult("nag_step: raises", "nag_step", 0, 6, "error",
                           output="your code raised NameError: name 'look' is not defined\n"
                                  '  File "optimizers.py", line 40, in nag_step',
                           traces=[Trace("nag, 300 steps", None, gd_path(1.0), problem=sigmoid)]),
        results.TestResult("adam_step: endless", "adam_step", 0, 8, "timeout",
                           output="your code did not finish within the time limit"),
    ]
    parts = [PartResult("gd_step", 3, 3), PartResult("momentum_step", 0, 5, misconceptions=["sign_flip"]),
             PartResult("nag_step", 0, 6), PartResult("adam_step", 0, 8)]
    return GradingResult("optimizers", "carol", "graded", 3, 22, parts=parts, tests=tests,
                         warnings=["bubblewrap is unavailable: resource limits only"],
                         hints={"sign_flip": "The update goes against the gradient: theta - eta * grad."})


def test_report_opens_offline_with_every_image_decoded(browser, tmp_path):
    assignment = Assignment("optimizers", "Gradient-descent optimisers", "optimizers", "",
                            (Part("gd_step", 3), Part("momentum_step", 5), Part("nag_step", 6), Part("adam_step", 8)), ROOT)
    report = write_report(realistic_result(), assignment, tmp_path / "carol.html",
                          links={"Your notebook as HTML": "carol.notebook.html"})
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        shot = tmp_path / f"report-{name}.png"
        facts, errors = open_page(browser, report.as_uri(), viewport, shot)
        assert errors == [], errors
        assert facts["h1"] == "Gradient-descent optimisers"
        assert len(facts["images"]) == 2 + 2 + 2  # quadratic path + loss, momentum x2, nag x2 (reference only)
        for image in facts["images"]:
            assert image["decoded"] and image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0
            assert image["alt"]
        if name == "phone":
            assert facts["scrollWidth"] <= facts["clientWidth"] + 1, "the page scrolls sideways on a phone"
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


REPORT_TOP = """
JSON.stringify((() => {
  const fix = document.querySelector('.to-fix');
  const sections = [...document.querySelectorAll('main > section.part, main > details.part')];
  return {
    firstHeading: document.querySelector('h2').textContent,
    fixTop: fix ? fix.getBoundingClientRect().top : null,
    fixLinks: fix ? [...fix.querySelectorAll('ol a')].map(a => a.getAttribute('href')) : [],
    todoLinks: fix ? [...fix.querySelectorAll('p a')].map(a => a.getAttribute('href')) : [],
    targets: fix ? [...fix.querySelectorAll('a')].map(a => !!document.querySelector(a.getAttribute('href'))) : [],
    order: sections.map(s => s.id),
    collapsed: [...document.querySelectorAll('details.part')].map(d => [d.id, d.open,
      d.querySelector('.passing') ? d.querySelector('.passing').checkVisibility() : null]),
    todoImages: [...document.querySelectorAll('.part-todo img')].length,
    innerHeight: window.innerHeight,
  };
})())
"""


def test_report_top_says_what_to_fix_first_on_a_phone(browser, tmp_path):
    """The top of the report lists what to fix, linking to each failing part; failing parts
    come first, passed parts are collapsed, a part not attempted is one line."""
    result = realistic_result()
    result.parts.append(PartResult("train", 0, 8, attempted=False))
    result.tests.append(results.TestResult("train: stub", "train", 0, 8, "error", not_implemented=True,
                                           output="not implemented yet: the function still raises NotImplementedError",
                                           traces=[Trace("train", None, gd_path(1.0), problem={"kind": "sigmoid_neuron",
                                                   "x": X.tolist(), "y": Y.tolist()})]))
    result.max_score += 8
    assignment = Assignment("optimizers", "Gradient-descent optimisers", "optimizers", "",
                            (Part("gd_step", 3), Part("momentum_step", 5), Part("nag_step", 6), Part("adam_step", 8),
                             Part("train", 8)), ROOT)
    report = write_report(result, assignment, tmp_path / "carol.html")
    facts, errors = open_page(browser, report.as_uri(), PHONE, tmp_path / "top-phone.png", REPORT_TOP)
    assert errors == [], errors
    top = facts["extra"]
    assert top["firstHeading"] == "What to fix"
    assert 0 <= top["fixTop"] < top["innerHeight"] / 2  # seen without scrolling
    assert top["fixLinks"] == ["#part-momentum_step", "#part-nag_step", "#part-adam_step"]
    assert top["todoLinks"] == ["#part-train"] and all(top["targets"])
    assert top["order"] == ["part-momentum_step", "part-nag_step", "part-adam_step", "part-train", "part-gd_step"]
    assert top["collapsed"] == [["part-gd_step", False, False]]
    assert top["todoImages"] == 0  # no reference-only plots for a stub
    assert facts["scrollWidth"] <= facts["clientWidth"] + 1, "the page scrolls sideways on a phone"


def count_colour(screenshot: Path, hex_colour: str, tolerance: int = 60) -> int:
    from PIL import Image
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - target).sum(axis=-1) < tolerance).sum())


def test_chromium_draws_the_paths_over_the_frame(browser, tmp_path):
    """The overlay really renders: the runs' colours are on screen, over the frame's grey."""
    from grader.course import Course
    from grader.render.plots import REFERENCE_COLOUR, STUDENT_COLOUR, plots_for_trace
    figures = Course.find().get("sigmoid_neuron").figures  # the error surface it declares
    sigmoid = {"kind": "sigmoid_neuron", "x": X.tolist(), "y": Y.tolist()}
    both = plots_for_trace(Trace("both", gd_path(-0.5), gd_path(1.0), problem=sigmoid), None, figures)[0]  # apart
    alone = plots_for_trace(Trace("alone", None, gd_path(1.0), problem=sigmoid), None, figures)[0]
    counts = {}
    for name, uri, width in (("both", both.data_uri, both.width), ("alone", alone.data_uri, alone.width),
                             ("frame", "data:image/png;base64," + both.frame.png_base64, both.width)):
        page = tmp_path / f"{name}.html"
        page.write_text(f'<!DOCTYPE html><body style="margin:0"><img src="{uri}" alt="x"></body>', encoding="utf-8")
        shot = tmp_path / f"{name}.png"
        facts, errors = open_page(browser, page.as_uri(), DESKTOP, shot)
        assert errors == [] and facts["images"][0]["naturalWidth"] == width
        counts[name] = (count_colour(shot, STUDENT_COLOUR), count_colour(shot, REFERENCE_COLOUR),
                        count_colour(shot, "#000000", 90))
    legend = counts["frame"]  # the frame alone: axes, ticks, labels, legend; no runs
    assert counts["both"][0] > legend[0] + 150 and counts["both"][1] > legend[1] + 150
    assert counts["alone"][0] == 0 and counts["alone"][1] > 150
    assert legend[2] > 1000 and counts["both"][2] > 1000  # the frame's text and axes show through


def test_the_harness_notices_broken_images_and_errors(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><h1>x</h1><img alt='broken' src='data:image/png;base64,AAAA'>"
                    "<script>console.error('deliberate'); undefinedFunction();</script></body></html>",
                    encoding="utf-8")
    facts, errors = open_page(browser, page.as_uri(), DESKTOP, tmp_path / "broken.png")
    assert [i["naturalWidth"] for i in facts["images"]] == [0]
    assert not facts["images"][0]["decoded"]
    assert any("deliberate" in e for e in errors) and any(e.startswith("uncaught") for e in errors)


def test_notebook_record_opens_offline_on_a_phone(browser, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from grader.notebooks import export_notebook_html

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
    notebook = new_notebook(cells=[
        new_markdown_cell("# Eva's answers\n\n![outside](https://tracker.example/x.png)"),
        new_code_cell("def gd_step(theta, grad, eta):\n    return theta - eta * grad  # " + "x" * 300,
                      execution_count=1, outputs=[new_output("display_data", data={"image/png": png})]),
    ])
    nbformat.write(notebook, tmp_path / "eva.ipynb")
    record = export_notebook_html(tmp_path / "eva.ipynb", tmp_path / "eva.html")
    facts, errors = open_page(browser, record.as_uri(), PHONE, tmp_path / "record-phone.png")
    assert errors == [], errors
    assert [i["decoded"] and i["naturalWidth"] == 1 for i in facts["images"]] == [True]  # nothing fetched
    assert facts["scrollWidth"] <= facts["clientWidth"] + 1, "the record scrolls sideways on a phone"


HOSTILE_PAGE_CHECK = """
(() => {
  const placed = [...document.querySelectorAll('body *')].filter(e => {
    const style = getComputedStyle(e);
    return style.position !== 'static' && style.position !== 'relative' || style.zIndex !== 'auto';
  }).map(e => e.tagName + '.' + e.className);
  const points = [[5, 5], [innerWidth / 2, innerHeight / 2], [innerWidth - 5, innerHeight - 5]];
  const covering = points.map(([x, y]) => document.elementFromPoint(x, y)).filter(Boolean)
    .filter(e => e !== document.body && e !== document.documentElement && !document.querySelector('main').contains(e))
    .map(e => e.tagName);
  const header = document.querySelector('h1.record').getBoundingClientRect();
  const above = [...document.querySelectorAll('main .cell *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width * r.height > 0 && (r.top < header.bottom - 1 || r.left < -1);
  }).map(e => e.tagName + ': ' + e.textContent.slice(0, 40));
  const svgs = [...document.images].filter(i => i.src.startsWith('data:image/svg+xml'));
  return JSON.stringify({href: location.href, title: document.title, placed, covering, above,
                         h1: document.querySelector('h1').textContent,
                         svgs: svgs.map(i => i.complete && i.naturalWidth > 0),
                         metas: [...document.querySelectorAll('meta[http-equiv]')].map(m => m.httpEquiv.toLowerCase()),
                         forms: document.forms.length, base: document.querySelectorAll('base').length});
})()
"""


def test_a_hostile_record_stays_put_covers_nothing_and_fetches_nothing(browser, tmp_path):
    """The issue's attack (a ```mermaid fence with a full-page 'session expired' overlay and a
    <meta refresh>) and every other path of tests/test_student_html.py's hostile notebook:
    opened in Chromium, the record does not navigate, no student element is positioned over
    the page, nothing but the file itself is requested, and nothing violates the CSP."""
    import nbformat

    from grader.notebooks import export_notebook_html
    from test_student_html import hostile_notebook

    nbformat.write(hostile_notebook(), tmp_path / "mallory.ipynb")
    record = export_notebook_html(tmp_path / "mallory.ipynb", tmp_path / "mallory.html")
    url = record.as_uri()
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", DESKTOP, session=session)
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired")
    time.sleep(2.0)  # a <meta refresh> of 0 s, or a late load, would have started by now
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)  # also drains the events
    (tmp_path / "hostile-record.png").write_bytes(base64.b64decode(shot["data"]))
    events = list(browser.events)
    try:
        navigations = [e["params"]["frame"]["url"] for e in events if e.get("method") == "Page.frameNavigated"]
        assert navigations == [url]
        assert not [e for e in events if e.get("method") in ("Page.frameRequestedNavigation",
                                                               "Page.frameScheduledNavigation")]
        requested = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
        assert [u for u in requested if not u.startswith("data:")] == [url]
        facts = json.loads(browser.send("Runtime.evaluate", {"expression": HOSTILE_PAGE_CHECK, "returnByValue": True},
                                        session=session)["result"]["value"])
    finally:
        browser.send("Target.closeTarget", {"targetId": target})

    assert facts["href"] == url and facts["title"] == "mallory"
    assert facts["h1"].startswith("Notebook as submitted: mallory")
    assert facts["placed"] == [] and facts["covering"] == [] and facts["above"] == []
    assert facts["metas"] == ["content-security-policy"] and facts["forms"] == 0 and facts["base"] == 0
    assert facts["svgs"] and all(facts["svgs"])  # the re-written pictures still draw
    logged = [e["params"]["entry"]["text"] for e in events
              if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    assert logged == []  # no CSP violation: nothing of the student's even tried to act


def test_the_dashboard_opens_with_its_style_sheet_allowed_and_nothing_else(browser, tmp_path):
    """The dashboard's CSP allows its own <style> by hash: Chromium logs no violation and
    applies the sheet (its background colour), and the bars have their lengths."""
    import io

    from grader.batch import run_batch
    from grader.batch.layout import DASHBOARD_NAME
    from grader.course import Course
    from test_batch_fakes import fake_grade, write_fake

    cohort = tmp_path / "cohort"
    cohort.mkdir()
    write_fake(cohort, "bob.py", gd_step=3)
    write_fake(cohort, "=cmd|' \x1b[2Jeve.py", gd_step=1)
    out = tmp_path / "out"
    run_batch(Course(ROOT).get("optimizers"), cohort, out, grade_fn=fake_grade, stream=io.StringIO(), workers=1)
    facts, errors = open_page(browser, (out / DASHBOARD_NAME).as_uri(), DESKTOP, tmp_path / "dashboard.png")
    assert errors == [], errors
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.send("Page.enable", session=session)
    browser.send("Page.navigate", {"url": (out / DASHBOARD_NAME).as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired")
    styled = browser.send("Runtime.evaluate", {"expression": "JSON.stringify([getComputedStyle(document.body).backgroundColor,"
                                               " [...document.querySelectorAll('.bar > span')].map(s => s.offsetWidth)])",
                                               "returnByValue": True}, session=session)["result"]["value"]
    browser.send("Target.closeTarget", {"targetId": target})
    background, widths = json.loads(styled)
    assert background == "rgb(246, 247, 249)"  # the sheet applied
    assert widths and any(w > 0 for w in widths)
