"""The instructor's record of a submitted notebook as one static HTML page, exported by
nbconvert's HTMLExporter: every cell and its stored outputs exactly as submitted (nothing is
executed), in order, with the stored execution counts.

The template is ``record_template/`` beside this module (it extends nbconvert's classic
cell layout). What it changes, and why:

- speed: one exporter per process (`record_exporter`); code is highlighted by pygments
  without the classic template's bleach pass (pygments escapes its input); no
  BeautifulSoup pass over the page (HTMLExporter's, for alt texts: the template writes
  them); no pygments CSS preprocessor per notebook (the CSS is made once); Markdown is
  bleached only when it holds raw HTML. About 10 ms per notebook instead of ~140-250 ms.
- safety: student markup is sanitised where it can appear: text/html outputs (nbconvert's
  `clean_html`) and raw HTML in Markdown (bleach with Markdown's own tags allowed);
  Markdown links with harmful protocols are neutralised; raw cells are shown as text;
  JavaScript outputs and widgets are dropped (sanitize_html). Images only from the
  notebook itself: outputs and Markdown data: URIs and the cell's own attachments; any
  other image is shown as its address, never fetched. The page has no script at all and a
  Content-Security-Policy meta tag forbids scripts and every fetch. LaTeX shows as source.
"""
from __future__ import annotations

import html
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "record_template"
# nbconvert looks for its templates under sys.prefix; a venv made with --system-site-packages
# has them under the base installation instead.
BASE_TEMPLATES = str(Path(sys.base_prefix) / "share" / "jupyter" / "nbconvert" / "templates")

# Markdown's own output (mistune with nbconvert's plugins), kept when bleach cleans a
# Markdown cell that holds raw HTML; everything else is escaped to text.
MARKDOWN_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"})

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
.ansi-bold{font-weight:bold}.ansi-red-fg{color:#b22b31}.ansi-green-fg{color:#007427}
.ansi-yellow-fg{color:#b27d12}.ansi-blue-fg{color:#0065ca}.ansi-magenta-fg{color:#a03196}
.ansi-cyan-fg{color:#258f8f}
@media (max-width:40rem){.cell,.input,.output_area{grid-template-columns:minmax(0,1fr)}.prompt{text-align:left;padding:0 .2rem}}
"""


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
    from pygments.formatters import HtmlFormatter
    from traitlets.config import Config

    class RecordMarkdownRenderer(IPythonRenderer):
        """nbconvert's Markdown renderer: notes raw HTML (for bleach) and shows only images
        the notebook holds."""

        def __init__(self, attachments: Any):
            super().__init__(escape=False, allow_harmful_protocols=["data:image/svg+xml"],
                             exclude_anchor_links=True, attachments=attachments if isinstance(attachments, dict) else {})
            self.raw_html = False

        def block_html(self, markup: str) -> str:
            self.raw_html = True
            return markup

        def inline_html(self, markup: str) -> str:
            self.raw_html = True
            return markup

        def image(self, text: str, url: str, title: str | None = None) -> str:
            source = _attachment_uri(self.attachments, url[len("attachment:"):]) if url.startswith("attachment:") else url
            if source and source.startswith("data:image/"):
                return super(IPythonRenderer, self).image(text, source, title)  # mistune's own: escaped
            return f"<span class=\"not-shown\">[image {html.escape(text)}: {html.escape(url)}]</span>"

    class RecordExporter(HTMLExporter):
        @pass_context
        def record_markdown(self, context, source: str) -> str:
            cell = context.get("cell") or {}
            renderer = RecordMarkdownRenderer(cell.get("attachments"))
            rendered = MarkdownWithMath(renderer=renderer).render(source)
            return _clean_markdown_html(rendered) if renderer.raw_html else rendered

        def default_filters(self):
            yield from super().default_filters()
            yield ("record_markdown", self.record_markdown)

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
            return _pygments_highlight(source or " ", self.formatter(language), language, metadata)

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


def _markdown_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "id", "title", "alt", "align"):
        return True
    if tag == "a" and name == "href":
        return not value.strip().lower().startswith("data:")
    if tag == "img" and name == "src":
        return value.startswith("data:image/")
    return tag == "input" and name in ("type", "checked", "disabled")  # task lists


def _clean_markdown_html(markup: str) -> str:
    """Rendered Markdown that holds a student's raw HTML, through bleach: Markdown's own tags
    kept, images only from data: URIs, anything else escaped to text."""
    import bleach

    return bleach.clean(markup, tags=MARKDOWN_TAGS, attributes=_markdown_attribute,
                        protocols=["http", "https", "mailto", "data"])


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
    notebook = _read(text)
    exporter = record_exporter()
    try:
        body, _ = exporter.from_notebook_node(
            notebook, resources={"metadata": {"name": name}, "record_css": exporter.record_css})
    except Exception as exc:  # a cell nbformat accepted but the template cannot show
        raise UnreadableNotebook(f"not a readable notebook ({type(exc).__name__} while exporting it)") from None
    return body


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
