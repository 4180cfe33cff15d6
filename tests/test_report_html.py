"""The HTML feedback report: content, escaping of hostile student text, self-containment,
accessibility basics, atomic writing, template lookup. Results are built synthetically, so
these tests need neither the sandbox nor the grading core."""
from __future__ import annotations

import base64
import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

import numpy as np
import pytest

from grader.course import Assignment, Part
from grader.render import html as html_report
from grader.render.html import render_report, write_report
from grader import results
from grader.results import GradingResult, PartResult, Trace

ROOT = Path(__file__).resolve().parents[1]
X, Y = np.array([0.5, 2.5]), np.array([0.2, 0.9])
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
SVG = "{" + SVG_NAMESPACE + "}"
HINT = "Compute both gradients at (w_t, b_t) before you update either parameter."


def gd_path(eta: float, epochs: int = 300, w: float = -2.0, b: float = 2.0) -> np.ndarray:
    rows = [(w, b)]
    for _ in range(epochs):
        f = 1 / (1 + np.exp(-(w * X + b)))
        common = (f - Y) * f * (1 - f)
        w, b = w - eta * (common * X).sum(), b - eta * common.sum()
        rows.append((w, b))
    return np.array(rows)


def assignment(root: Path = ROOT) -> Assignment:
    parts = (Part("sigmoid", 4), Part("predict", 3), Part("grad_w", 4), Part("gradient_descent", 6))
    return Assignment(id="sigmoid_neuron", title="The sigmoid neuron", module="sigmoid_neuron",
                      description="", parts=parts, course_root=root)


def sample_result(**changes) -> GradingResult:
    reference = gd_path(1.0)
    tests = [
        results.TestResult("sigmoid: large inputs", "sigmoid", 0.0, 2.0, "failed",
                   output="Inputs:\n  z = [-1e4, 0, 1e4]\ns is wrong at index (0,): expected 0.0, got nan\n"
                          "Expected s = [0, 0.5, 1]\nGot      s = [nan, 0.5, 1]"),
        results.TestResult("sigmoid: small inputs", "sigmoid", 2.0, 2.0, "passed"),
        results.TestResult("predict: one point", "predict", 0.0, 3.0, "error",
                   output='your code raised ZeroDivisionError: division by zero\n'
                          '  File "sigmoid_neuron.py", line 12, in predict\n    return 1 / 0'),
        results.TestResult("grad_w: the lecture's points", "grad_w", 0.0, 4.0, "timeout",
                   output="your code did not finish within the time limit (an endless loop?)"),
        results.TestResult("gradient_descent: 300 epochs from (-2, 2)", "gradient_descent", 0.0, 6.0, "failed",
                   output=f"the history of (w, b) is wrong at index (1, 0)\n{HOSTILE}",
                   misconceptions=["gradient_descent.sequential_update"],
                   traces=[Trace("gradient_descent, 300 epochs", gd_path(1.3), reference,
                                 problem={"kind": "sigmoid_neuron", "x": X.tolist(), "y": Y.tolist()})]),
    ]
    parts = [
        PartResult("sigmoid", 2.0, 4.0),
        PartResult("predict", 0.0, 3.0, feedback="Check the formula of predict."),
        PartResult("grad_w", 0.0, 4.0),
        PartResult("gradient_descent", 0.0, 6.0, misconceptions=["gradient_descent.sequential_update"]),
    ]
    result = GradingResult(
        assignment="sigmoid_neuron", student="alice", status="graded", score=2.0, max_score=17.0,
        execution_time=1.25, parts=parts, tests=tests, content_hash="0123456789abcdef" * 4,
        isolation="rlimits", warnings=["bubblewrap is unavailable: student code ran with resource limits only"],
        hints={"gradient_descent.sequential_update": HINT},
    )
    for key, value in changes.items():
        setattr(result, key, value)
    return result


class Page(HTMLParser):
    """Tags and attributes of a document, and its text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())


@pytest.fixture(scope="module")
def report() -> str:
    return render_report(sample_result(), assignment(), links={"Your notebook as HTML": "alice.html"})


def test_total_and_per_part_scores(report):
    text = Page(report).plain
    assert "Score: 2 / 17 points (12%), 1 of 5 checks passed" in text
    rows = re.findall(r'<tr class="state-(\w+)">\s*<th scope="row"><a href="#part-(\w+)">.*?'
                      r'<td class="num">([\d.]+ / [\d.]+)</td>', report, re.S)
    assert rows == [("partial", "sigmoid", "2 / 4"), ("none", "predict", "0 / 3"),
                    ("none", "grad_w", "0 / 4"), ("none", "gradient_descent", "0 / 6")]
    assert "sigmoid: 2 / 4 points" in text and "gradient_descent: 0 / 6 points" in text


def test_failing_output_is_preformatted_and_passing_tests_listed(report):
    pres = re.findall(r"<pre>(.*?)</pre>", report, re.S)
    failed = next(p for p in pres if "Inputs:" in p)
    assert "  z = [-1e4, 0, 1e4]\n" in failed  # line breaks and indentation kept
    assert "Expected s = [0, 0.5, 1]\nGot      s = [nan, 0.5, 1]" in failed
    assert "sigmoid: small inputs (2 / 2 points)" in Page(report).plain
    assert not any("small inputs" in p for p in pres)


def test_misconceptions_with_hints_and_feedback(report):
    text = Page(report).plain
    assert "Likely mistake: gradient_descent.sequential_update" in text
    assert HINT in text
    assert "Check the formula of predict." in text


def test_code_errors_and_timeouts_are_labelled(report):
    text = Page(report).plain
    assert "your code raised an error predict: one point" in text
    assert "The traceback shows your own code only" in text
    assert 'File "sigmoid_neuron.py", line 12, in predict' in text
    assert "timed out grad_w: the lecture's points" in text
    assert "Timed out: your code did not finish within the time limit" in text
    classes = [attrs.get("class", "") for attrs in Page(report).all("article")]
    assert classes == ["test test-failed", "test test-error", "test test-timeout", "test test-failed"]


def test_warnings_links_and_metadata(report):
    page = Page(report)
    assert "Warning: bubblewrap is unavailable: student code ran with resource limits only" in page.plain
    assert {"href": "alice.html"} in page.all("a")
    assert "Your notebook as HTML" in page.plain
    assert "isolated by rlimits" in page.plain and "0123456789ab" in page.plain


def test_public_banner_only_for_a_self_check(report):
    assert "Public tests only" not in report
    public = render_report(sample_result(public_only=True), assignment())
    assert "Public tests only: this self-check is not your grade." in Page(public).plain


def test_hostile_text_is_escaped_everywhere():
    hostile = sample_result(student=HOSTILE, warnings=[HOSTILE], hints={"gradient_descent.sequential_update": HOSTILE})
    hostile.parts[1].feedback = HOSTILE
    hostile.tests[2].output = HOSTILE
    text = render_report(hostile, assignment(), links={HOSTILE: 'x" onclick="alert(1)'})
    assert "<script" not in text.lower()
    assert "onerror=" not in text.replace("onerror=alert(1)&gt;", "")  # only as escaped text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in text
    assert ' onclick="' not in text and "x&#34; onclick=&#34;alert(1)" in text
    page = Page(text)
    assert all(tag not in {"script", "iframe", "object", "embed"} for tag, _ in page.tags)
    assert [attrs for attrs in page.all("img") if attrs.get("src") == "x"] == []


def svg_of(attrs: dict) -> ElementTree.Element:
    """The SVG document of an <img> (a data: URI)."""
    assert attrs["src"].startswith("data:image/svg+xml,")
    return ElementTree.fromstring(unquote(attrs["src"].split(",", 1)[1]))


def test_every_image_has_alt_text_and_is_an_embedded_picture(report):
    images = Page(report).all("img")
    assert len(images) == 2  # path over the contours, loss against step
    for attrs in images:
        assert len(attrs.get("alt", "").strip()) > 40
        svg = svg_of(attrs)
        assert svg.tag == SVG + "svg" and svg.get("width") == attrs["width"] and svg.get("height") == attrs["height"]
        embedded = [e.get("href") for e in svg.iter(SVG + "image")]
        assert embedded and all(href.startswith("data:image/png;base64,") for href in embedded)
        for href in embedded:
            assert base64.b64decode(href.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    alts = " ".join(a["alt"] for a in images)
    assert "Contour plot of the loss over w (weight) and b (bias) from -6 to 6" in alts
    assert "Line plot of the loss L(w, b) against step" in alts


def test_self_contained_no_external_resources(report):
    page = Page(report)
    # the SVG namespace is a name, not a resource: nothing else may look like a web address
    assert not re.search(r"https?://", report.replace(SVG_NAMESPACE, ""))
    for _, attrs in page.tags:
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (name, value)
    for attrs in page.all("img"):  # inside each picture, only embedded data
        for element in svg_of(attrs).iter():
            for name, value in element.attrib.items():
                if name.endswith("href"):
                    assert value.startswith("data:image/png;base64,"), value[:40]
    assert page.all("link") == [] and page.all("script") == []
    css = re.search(r"<style>(.*?)</style>", report, re.S).group(1)
    assert "@import" not in css and "url(" not in css
    csp = next(a["content"] for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "img-src data:" in csp


def test_structure_headings_language_and_viewport(report):
    page = Page(report)
    assert page.all("html") == [{"lang": "en"}]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in page.all("meta")
    assert len(page.all("h1")) == 1
    ids = [a["id"] for a in page.all("h2") if a.get("id", "").startswith("part-")]
    assert ids == [f"part-{f}-heading" for f in ("sigmoid", "predict", "grad_w", "gradient_descent")]
    assert len(page.all("h3")) == 4  # one per test that did not pass
    assert "@media (max-width: 30rem)" in report  # phone layout


def test_a_result_that_could_not_be_graded():
    result = GradingResult(assignment="sigmoid_neuron", student="bob", status="error", score=0.0, max_score=17.0,
                           parts=[PartResult(p.function, 0.0, p.points) for p in assignment().parts],
                           error="bob.zip: no sigmoid_neuron.py or notebook inside")
    text = render_report(result, assignment())
    page = Page(text)
    assert "Not graded: bob.zip: no sigmoid_neuron.py or notebook inside" in page.plain
    assert "Score:" not in page.plain and page.all("article") == []
    assert "sigmoid 0 / 4" in page.plain  # the parts table still lists every part


def test_plots_can_be_left_out_or_supplied():
    assert "<img" not in render_report(sample_result(), assignment(), plots=False)
    from grader.render.plots import plots_for_test
    drawn = plots_for_test(sample_result().tests[-1])[0]
    supplied = {"sigmoid: large inputs": [dataclasses.replace(drawn, alt="a supplied picture")]}
    images = Page(render_report(sample_result(), assignment(), plots=supplied)).all("img")
    assert [a["alt"] for a in images] == ["a supplied picture"]


def test_a_failing_plot_does_not_cost_the_report(monkeypatch):
    def broken(test, figures=None):
        raise ValueError("boom")
    monkeypatch.setattr(html_report, "plots_for_test", broken)
    text = render_report(sample_result(), assignment())
    assert "The plots of this check could not be drawn (ValueError)." in text
    assert "<img" not in text


def test_huge_output_is_clipped():
    result = sample_result()
    result.tests[0].output = "\n".join(f"line {i} " + "x" * 50 for i in range(100_000))
    text = render_report(result, assignment(), plots=False)
    assert len(text) < 200_000
    assert "more lines not shown)" in text


def test_write_report_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out" / "alice.html"
    written = write_report(sample_result(), assignment(), target, plots=False)
    assert written == target and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    target.write_text("previous report", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")
    monkeypatch.setattr(html_report, "render_report", broken)
    with pytest.raises(RuntimeError):
        write_report(sample_result(), assignment(), target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in target.parent.iterdir()) == ["alice.html"]  # no temporary left behind


def test_write_report_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "alice.html"
    target.write_text("old", encoding="utf-8")
    write_report(sample_result(), assignment(), target, plots=False)
    assert "alice" in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["alice.html"]
    assert target.stat().st_mode & 0o444 == 0o444  # readable by a web server or a TA


def test_a_course_may_restyle_the_report(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "report.html.j2").write_text(
        "<!DOCTYPE html><title>{{ title }}</title><p>custom {{ student }} {{ score }}</p>", encoding="utf-8")
    text = render_report(sample_result(student="<b>"), assignment(tmp_path))
    # the course's page, with the grader's Content-Security-Policy added (no style sheet: none allowed)
    from grader.render.csp import policy
    assert text == ('<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="' + policy() + '">'
                    "<title>The sigmoid neuron</title><p>custom &lt;b&gt; 2</p>")
    # a course without its own template uses the grader's
    assert "Scores by part" in render_report(sample_result(), assignment(tmp_path / "nowhere"), plots=False)


def test_a_mistake_is_named_once(report):
    assert Page(report).plain.count("Likely mistake:") == 1  # on the part, not again on its test
    result = sample_result()
    result.parts[3].misconceptions = []  # named by the test only: shown on the test
    text = Page(render_report(result, assignment(), plots=False)).plain
    assert text.count("Likely mistake: gradient_descent.sequential_update") == 1 and HINT in text


def test_passed_checks_show_one_set_of_plots_per_function_failed_checks_all():
    sigmoid = {"kind": "sigmoid_neuron", "x": X.tolist(), "y": Y.tolist()}
    quadratic = {"kind": "quadratic", "A": [[10.0, 0.0], [0.0, 1.0]], "b": [1.0, 1.0]}
    right, wrong = gd_path(1.0), gd_path(1.5)

    def check(name, function, status, problem):
        student = right if status == "passed" else wrong
        return results.TestResult(name, function, 1.0 if status == "passed" else 0.0, 1.0, status,
                                  traces=[Trace(name, student, right, problem=problem)])

    tests = [check("gd: neuron", "gradient_descent", "passed", sigmoid),
             check("gd: quadratic", "gradient_descent", "passed", quadratic),
             check("gd: another neuron", "gradient_descent", "failed", sigmoid),
             check("gd: another quadratic", "gradient_descent", "failed", quadratic),
             check("grad_w: quadratic", "grad_w", "passed", quadratic)]
    result = GradingResult("sigmoid_neuron", "dora", "graded", 3, 5, parts=[
        PartResult("gradient_descent", 2, 4), PartResult("grad_w", 1, 1)], tests=tests)
    captions = re.findall(r"<figcaption>(.*?): (?:path|loss)", render_report(result, assignment()))
    # the failed ones (shown first), the first passed check of each function; not "gd: quadratic"
    assert captions == ["gd: another neuron"] * 2 + ["gd: another quadratic"] * 2 + ["gd: neuron"] * 2 + \
        ["grad_w: quadratic"] * 2
    supplied = {t.name: [] for t in tests}  # supplied pictures are shown as given
    assert "<img" not in render_report(result, assignment(), plots=supplied)


def test_a_self_check_report_counts_public_tests_not_points(tmp_path):
    """A self-check's report (grader check --report) counts tests as tests, as the terminal
    and the notebook do; a graded report counts points."""
    from grader.course import Course
    from grader.grade import grade_submission

    assignment = Course.find().get("sigmoid_neuron")
    checked = grade_submission(assignment, assignment.stub_path, student="self-check", public_only=True)
    page = render_report(checked, assignment)
    assert "public tests" in page and " points" not in page.replace("Public tests only", "")
    graded = render_report(sample_result(), assignment)
    assert "points" in graded
