"""The instructor's record of a submitted notebook as one static HTML page, exported by
nbconvert's HTMLExporter: every cell and its stored outputs exactly as submitted (nothing is
executed), in order, with the stored execution counts.

The template is ``record_template/`` beside this module (it extends nbconvert's classic
cell layout). What it changes, and why:

- speed: one exporter per process (`record_exporter`); no bleach pass per renderer (the
  classic template's, over highlighted code, was most of its time); no BeautifulSoup pass
  over the page (HTMLExporter's, for alt texts: the template writes them); no pygments CSS
  preprocessor per notebook (the CSS is made once). Figures: benchmarks/bench_report.py.
- safety: each cell's *final* HTML fragment, whatever renderer produced its parts
  (Markdown, nbconvert's mermaid fences, text/markdown, text/html, SVG, attachments, ANSI
  text), passes through the one allowlist sanitiser `grader.render.student_html.
  clean_fragment` (nh3): no element, attribute, style, link target or redirect of the
  student's acts in the reader's browser. Sanitising per renderer hook (as this module did
  with bleach on Markdown's raw-HTML hooks) missed paths: nbconvert's renderer passes a
  ```` ```mermaid ```` fence's body on as raw HTML, which reached the page live. Raw cells
  and mermaid fences are shown as text; JavaScript outputs and widgets are dropped
  (sanitize_html). Images only from the notebook itself: outputs, Markdown data: URIs and
  the cell's own attachments (SVG re-written by the sanitiser); any other image is shown as
  its address, never fetched. The page has no script at all and its Content-Security-Policy
  (`grader.render.csp`) forbids scripts, every fetch, forms and base URLs. Markdown math is
  MathML (`grader.render.mathml`; the TeX is its title), or its source where it cannot be.
"""
from __future__ import annotations

import html
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.render.csp import with_policy
from grader.render.mathml import math_html
from grader.render.student_html import clean_fragment

TEMPLATE_DIR = Path(__file__).resolve().parent / "record_template"
# nbconvert looks for its templates under sys.prefix; a venv made with --system-site-packages
# has them under the base installation instead.
BASE_TEMPLATES = str(Path(sys.base_prefix) / "share" / "jupyter" / "nbconvert" / "templates")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1.record{font-size:1.1rem;color:#555;font-weight:normal;border-bottom:1px solid #ddd;padding-bottom:.5rem}
.cell,.output_area{display:grid;grid-template-columns:5.5rem minmax(0,1fr);gap:0 .5rem}
.cell{margin:.6rem 0}
.code_cell{grid-template-columns:minmax(0,1fr)}
.input{display:grid;grid-template-columns:5.5rem minmax(0,1fr);gap:0 .5rem}
.prompt{font-family:ui-monospace,monospace;font-size:.85rem;color:#307fc1;text-align:right;padding-top:.45rem;white-space:nowrap}
.output_prompt{color:#bf5b3d}
.inner_cell,.output_subarea,.output,.output_wrapper{min-width:0}
pre{margin:0;padding:.4rem .6rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem;line-height:1.35}
.input_area{background:#f5f5f5;border:1px solid #e0e0e0;border-radius:2px}
.input_area pre,.highlight{background:transparent}
.output_stderr{background:#fdd}
.output_error pre{background:#fdd}
img{max-width:100%;height:auto}
.rendered_html{padding:0 .6rem;overflow-wrap:anywhere}
.rendered_html table{border-collapse:collapse}.rendered_html td,.rendered_html th{border:1px solid #ccc;padding:.2rem .4rem}
pre.raw{border:1px dashed #bbb}
.not-shown{color:#666;font-style:italic}
.link-address{color:#666;font-size:.85em;overflow-wrap:anywhere}
.ansi-bold{font-weight:bold}.ansi-red-fg{color:#b22b31}.ansi-green-fg{color:#007427}
.ansi-yellow-fg{color:#b27d12}.ansi-blue-fg{color:#0065ca}.ansi-magenta-fg{color:#a03196}
.ansi-cyan-fg{color:#258f8f}
@media (max-width:40rem){.cell,.input,.output_area{grid-template-columns:minmax(0,1fr)}.prompt{text-align:left;padding:0 .2rem}}
"""


#: A cohort's notebooks share the handout's cells (its Markdown, imports and grader.check()
#: calls): a cell is highlighted or rendered once per process, by its source (the result
#: depends on nothing else; at most this many kept, none longer than this many characters).
CACHED_CELLS = 512
CACHED_CELL_CHARS = 4000


class UnreadableNotebook(ValueError):
    pass


@lru_cache(maxsize=1)
def record_exporter():
    """The process's exporter (building one costs ~100 ms: templates, traitlets, filters)."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML, _pygments_highlight
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
    from mistune import HTMLRenderer
    from pygments.formatters import HtmlFormatter
    from traitlets.config import Config

    class RecordMarkdownRenderer(IPythonRenderer):
        """nbconvert's Markdown renderer, showing only images the notebook holds and diagram
        fences as their source. Its output is not safe by itself (raw HTML passes through):
        the cell's final fragment is sanitised by the template (`student_html`)."""

        def __init__(self, attachments: Any):
            super().__init__(escape=False, allow_harmful_protocols=["data:image/svg+xml"],
                             exclude_anchor_links=True, attachments=attachments if isinstance(attachments, dict) else {})

        def block_code(self, code: str, info: str | None = None) -> str:
            # nbconvert passes a ```mermaid fence's body on as raw HTML (for mermaid.js, which
            # a record never runs): shown as the code it is instead.
            if info and info.strip().lower().startswith("mermaid"):
                return HTMLRenderer.block_code(self, code, info=None)
            return super().block_code(code, info)

        # Math as MathML, typeset by the browser without a script (source if it cannot be).
        def inline_math(self, body: str) -> str:
            return math_html(body)

        def block_math(self, body: str) -> str:
            return math_html(body, display=True)

        def latex_environment(self, name: str, body: str) -> str:
            return math_html(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

        def image(self, text: str, url: str, title: str | None = None) -> str:
            source = _attachment_uri(self.attachments, url[len("attachment:"):]) if url.startswith("attachment:") else url
            if source and source.startswith("data:image/"):
                return super(IPythonRenderer, self).image(text, source, title)  # mistune's own: escaped
            return f"<span class=\"not-shown\">[image {html.escape(text)}: {html.escape(url)}]</span>"

    class RecordExporter(HTMLExporter):
        @pass_context
        def record_markdown(self, context, source: str) -> str:
            cell = context.get("cell") or {}
            if not cell.get("attachments") and isinstance(source, str) and len(source) <= CACHED_CELL_CHARS:
                return markdown_html(source)
            return MarkdownWithMath(renderer=RecordMarkdownRenderer(cell.get("attachments"))).render(source)

        def default_filters(self):
            yield from super().default_filters()
            yield ("record_markdown", self.record_markdown)
            yield ("record_latex", _latex_output)
            yield ("student_html", clean_fragment)

        def from_notebook_node(self, nb, resources=None, **kw):
            # HTMLExporter's own, minus its BeautifulSoup pass over the page (alt texts for
            # images and tabindex for lab cells: the template writes the alt texts).
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code", self.highlighter(lexer))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

        @lru_cache(maxsize=8)  # noqa: B019 (one exporter per process)
        def highlighter(self, lexer: str | None):
            return RecordHighlighter(pygments_lexer=lexer, parent=self)

    class RecordHighlighter(Highlight2HTML):
        """nbconvert's highlighter with one pygments formatter per language, made once (a
        formatter per code cell builds its style sheet each time: ~0.3 ms)."""

        @lru_cache(maxsize=8)  # noqa: B019 (a few per process)
        def formatter(self, language: str):
            return HtmlFormatter(cssclass=html.escape(f" highlight hl-{language}"), **self.extra_formatter_options)

        def __call__(self, source, language=None, metadata=None):
            language = language or self.pygments_lexer
            magics = metadata.get("magics_language") if isinstance(metadata, dict) else None
            if isinstance(source, str) and len(source) <= CACHED_CELL_CHARS and isinstance(language, str) \
                    and isinstance(magics, (str, type(None))):
                return self.highlighted(source or " ", language, magics)
            return _pygments_highlight(source or " ", self.formatter(language), language, metadata)

        @lru_cache(maxsize=CACHED_CELLS)  # noqa: B019 (one highlighter per language, per process)
        def highlighted(self, source: str, language: str, magics: str | None) -> str:
            # the only part of a cell's metadata that the highlighting reads
            metadata = {"magics_language": magics} if magics is not None else None
            return _pygments_highlight(source, self.formatter(language), language, metadata)

    @lru_cache(maxsize=CACHED_CELLS)
    def markdown_html(source: str) -> str:
        """A Markdown cell without attachments: its HTML depends on its source alone."""
        return MarkdownWithMath(renderer=RecordMarkdownRenderer(None)).render(source)

    config = Config({"CSSHTMLHeaderPreprocessor": {"enabled": False}})  # its CSS is made once, below
    exporter = RecordExporter(
        config=config, template_name=TEMPLATE_DIR.name, sanitize_html=True, embed_images=False,
        # the notebook is validated once after the preprocessors, not after each of them
        optimistic_validation=True,
        extra_template_basedirs=[str(TEMPLATE_DIR.parent), BASE_TEMPLATES], extra_template_paths=[BASE_TEMPLATES],
        # every asset a template could fetch from a CDN: blanked (the record's template uses none)
        mathjax_url="", require_js_url="", jquery_url="", mermaid_js_url="", mermaid_layout_elk_js_url="",
        widget_renderer_url="", jupyter_widgets_base_url="",
    )
    exporter.record_css = CSS + HtmlFormatter(style="default").get_style_defs(".highlight")
    return exporter


def _attachment_uri(attachments: dict, name: str) -> str | None:
    bundle = attachments.get(name)
    if not isinstance(bundle, dict):
        return None
    for mime in ("image/svg+xml", "image/png", "image/jpeg", "image/gif"):
        payload = bundle.get(mime)
        if isinstance(payload, list):
            payload = "".join(p for p in payload if isinstance(p, str))
        if isinstance(payload, str):
            if mime == "image/svg+xml" and payload.lstrip().startswith("<"):  # stored as text
                import base64

                payload = base64.b64encode(payload.encode("utf-8")).decode("ascii")
            return f"data:{mime};base64,{''.join(payload.split())}"
    return None


def _latex_output(latex: Any) -> str:
    """A text/latex output (`$...$`, `$$...$$` or one `\\begin{...}` environment, as IPython's
    Math and Latex write them) as MathML; anything else as its escaped source."""
    source = "".join(latex) if isinstance(latex, list) else str(latex)
    tex = source.strip()
    if len(tex) > 4 and tex.startswith("$$") and tex.endswith("$$"):
        return math_html(tex[2:-2], display=True)
    if len(tex) > 2 and tex.startswith("$") and tex.endswith("$") and "$" not in tex[1:-1]:
        return math_html(tex[1:-1])
    if tex.startswith("\\begin{") and "$" not in tex:
        return math_html(tex, display=True)
    return html.escape(source, quote=False)


def _read(text: str):
    import nbformat

    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises assorted types for broken files
        raise UnreadableNotebook(f"not a readable notebook ({type(exc).__name__})") from None
    if not isinstance(notebook.get("cells"), list):
        raise UnreadableNotebook("not a readable notebook (no cells)")
    return notebook


def record_html(text: str, name: str) -> str:
    """The record of the notebook whose JSON is `text`; `name` titles the page. Raises
    UnreadableNotebook (one line, without the path) when it is not a notebook."""
    exporter = record_exporter()
    # nbformat's and nbconvert's warnings quote the notebook (an unknown lexer's name, say):
    # student text that would reach the grader's terminal raw, for nobody to act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        notebook = _read(text)
        try:
            body, _ = exporter.from_notebook_node(
                notebook, resources={"metadata": {"name": name}, "record_css": exporter.record_css})
        except Exception as exc:  # a cell nbformat accepted but the template cannot show
            raise UnreadableNotebook(f"not a readable notebook ({type(exc).__name__} while exporting it)") from None
    return with_policy(body)


def record_from_path(path: Path, max_bytes: int) -> str:
    """`record_html` of the notebook file at `path` (at most max_bytes); ValueError in one
    line naming the path for a missing, oversized or unreadable file."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{path}: too large to export (over {max_bytes} bytes)")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a readable notebook (not UTF-8)") from None
    try:
        return record_html(text, path.stem)
    except UnreadableNotebook as exc:
        raise ValueError(f"{path}: {exc}") from None
