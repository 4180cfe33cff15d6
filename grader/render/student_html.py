"""The one allowlist sanitiser for HTML that comes from a student.

Everything of a submission that becomes markup in a page the grader writes (a notebook's
Markdown cells and `text/markdown` outputs rendered by any of nbconvert's paths, `text/html`
outputs, SVG and raster images, attachments, math) passes through `clean_fragment` as the
*final* fragment, after every renderer has had its say: a renderer path nobody thought of
(nbconvert's ```` ```mermaid ```` fences, for one, which pass the fence's body on as raw
HTML) cannot slip anything past it. It is nh3 (the maintained Rust sanitiser ammonia;
bleach is deprecated upstream) configured once, with these rules:

- Elements: text structure only (headings, paragraphs, lists, tables, code, emphasis,
  images, links, MathML). No `<script>`, `<style>`, `<meta>`, `<base>`, `<link>`,
  `<form>` or form controls (a task list's `<input>` is forced to a disabled checkbox),
  `<iframe>`, `<object>`, `<embed>`, `<svg>` inline, `<template>`. A disallowed element is
  unwrapped to its text, escaped: a script's text stays visible as text, so the reader sees
  what was tried, and nothing of it acts. A `<style>` element goes with its text (every
  pandas table carries one: its CSS as text would only be noise).
- Attributes: no `style`, no event handlers, no `id`, no MathML `mpadded` or negative
  spacing; `class` only from `ALLOWED_CLASSES`
  (the notebook layout's own classes, pygments' token classes, ANSI colours), none of which
  positions anything: nothing a student writes can cover the page or pose as the grader's
  header. `width`/`height` only as small numbers.
- Links: only absolute `http:`, `https:` and `mailto:` addresses (no relative, fragment,
  `javascript:` or `data:` targets), with `rel="noopener noreferrer nofollow"`, and the
  address is written out in text after the link whenever it differs from the link's text,
  so a link cannot pretend to go somewhere else ("sign in again" that leads off-site).
- Images: only `data:image/png|jpeg|gif;base64` URIs (the notebook's own outputs and
  attachments; nothing is ever fetched) and `data:image/svg+xml;base64` URIs whose SVG is
  re-written by `clean_svg` (SVG shown as an `<img>` is a static picture to a browser; the
  sanitising also removes scripts, `<foreignObject>`, event attributes and every reference
  outside the picture itself).

The pages' Content-Security-Policy (`grader.render.csp`) is the second line of defence.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
from functools import lru_cache

from pygments.token import STANDARD_TYPES

TEXT_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "input", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul", "var", "wbr"})

MATHML_TAGS = frozenset({
    "math", "semantics", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "mfrac", "msqrt", "mroot",
    "msub", "msup", "msubsup", "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none",
    "mtable", "mtr", "mtd", "mstyle", "mphantom", "menclose", "merror"})
# Not `mpadded`: its voffset and a zero height or depth draw its content outside its own
# box (a tall table in one reaches over the page's header); unwrapped, the content stays.

ALLOWED_TAGS = TEXT_TAGS | MATHML_TAGS

MATHML_ATTRIBUTES = frozenset({
    "display", "displaystyle", "scriptlevel", "mathvariant", "stretchy", "fence", "separator",
    "accent", "accentunder", "lspace", "rspace", "minsize", "maxsize", "movablelimits", "symmetric",
    "largeop", "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing", "notation",
    "width", "height", "depth"})
#: MathML lengths that size or space a formula's parts: non-negative and small only (a
#: negative `lspace` would draw the formula over the content around it).
MATHML_LENGTHS = frozenset({"lspace", "rspace", "width", "height", "depth", "minsize", "maxsize",
                            "linethickness", "columnspacing", "rowspacing"})
MATH_LENGTH = re.compile(r"(?:\s*(?:\d{1,2}(?:\.\d*)?(?:em|ex|px|pt|mu|%)?|[a-z]*mathspace|thin|medium|thick|auto))+\s*")
SCRIPT_LEVEL = re.compile(r"\s*[+-]?[0-2]\s*")

ATTRIBUTES = {
    "*": {"title", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "input": {"checked"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start", "reversed"},
    "details": {"open"},
    **{tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS},
}

#: The notebook layout's own classes (nbconvert's cell and output wrappers: a cell's final
#: fragment holds them), pygments' token classes and nbconvert's ANSI colour classes. None of
#: them positions anything in the pages' style sheets; the grader's own page chrome uses
#: classes outside this set.
LAYOUT_CLASSES = frozenset({
    "jp-Cell", "cell", "border-box-sizing", "code_cell", "text_cell", "raw_cell", "rendered", "input",
    "prompt", "input_prompt", "output_prompt", "inner_cell", "input_area", "output_wrapper", "output",
    "output_area", "output_subarea", "output_text", "output_stream", "output_stdout", "output_stderr",
    "output_error", "output_execute_result", "output_html", "output_markdown", "output_svg",
    "output_png", "output_jpeg", "output_gif", "output_latex", "rendered_html", "text_cell_render",
    "raw", "not-shown", "link-address", "highlight", "math", "task-list-item"})
ANSI_CLASSES = frozenset(
    f"ansi-{colour}{intense}-{layer}"
    for colour in ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
    for intense in ("", "-intense") for layer in ("fg", "bg")
) | {"ansi-default-inverse-fg", "ansi-default-inverse-bg", "ansi-bold", "ansi-underline"}
PYGMENTS_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)
HIGHLIGHT_LANGUAGES = frozenset({"python", "ipython", "ipython3", "python3", "text", "none", "default"})
ALLOWED_CLASSES = LAYOUT_CLASSES | ANSI_CLASSES | PYGMENTS_CLASSES | {f"hl-{lang}" for lang in HIGHLIGHT_LANGUAGES}

LINK_REL = "noopener noreferrer nofollow"
RASTER_DATA_URI = re.compile(r"data:image/(png|jpeg|gif);base64,([A-Za-z0-9+/=\s]+)", re.I)
SVG_DATA_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=\s]+)", re.I)
SMALL_NUMBER = re.compile(r"\s*(\d{1,4})(?:px)?\s*")
LINK_SCHEMES = ("http://", "https://", "mailto:")

# --- SVG pictures (only ever shown as <img>) -------------------------------------------------

SVG_TAGS = frozenset({
    "svg", "g", "defs", "symbol", "use", "path", "rect", "circle", "ellipse", "line", "polyline",
    "polygon", "text", "tspan", "title", "desc", "clipPath", "mask", "pattern", "marker",
    "linearGradient", "radialGradient", "stop", "image", "switch"})
SVG_ATTRIBUTES = frozenset({
    "xmlns", "version", "viewBox", "preserveAspectRatio", "width", "height", "x", "y", "x1", "y1",
    "x2", "y2", "cx", "cy", "r", "rx", "ry", "d", "points", "transform", "id", "href", "style",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity",
    "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits",
    "patternUnits", "patternContentUnits", "patternTransform", "gradientUnits", "gradientTransform",
    "offset", "stop-color", "stop-opacity", "spreadMethod", "fx", "fy", "font-family", "font-size",
    "font-style", "font-weight", "text-anchor", "dominant-baseline", "alignment-baseline",
    "letter-spacing", "dx", "dy", "rotate", "textLength", "lengthAdjust", "visibility", "display",
    "marker-start", "marker-mid", "marker-end", "markerWidth", "markerHeight", "markerUnits",
    "refX", "refY", "orient", "vector-effect", "shape-rendering", "text-rendering",
    "image-rendering", "color"})
# Inside the picture, a reference may point only into the picture itself.
OUTSIDE_REFERENCE = re.compile(r"url\s*\(\s*(?![\"']?\s*#)|@import|\\|expression\s*\(", re.I)
XLINK_HREF = re.compile(r"\bxlink:href\s*=", re.I)


def _svg_attribute(tag: str, name: str, value: str) -> str | None:
    if name == "href":
        if value.startswith("#"):
            return value
        match = RASTER_DATA_URI.fullmatch(value.strip()) if tag == "image" else None
        return f"data:image/{match[1].lower()};base64,{''.join(match[2].split())}" if match else None
    return None if OUTSIDE_REFERENCE.search(value) else value


@lru_cache(maxsize=1)
def _svg_cleaner():
    import nh3

    return nh3.Cleaner(
        tags=set(SVG_TAGS), attributes={"*": set(SVG_ATTRIBUTES)}, attribute_filter=_svg_attribute,
        clean_content_tags={"script", "style", "foreignObject", "metadata", "iframe", "object", "embed"},
        url_schemes={"data"}, link_rel=None, strip_comments=True)


def clean_svg(svg: str) -> str:
    """An SVG picture that draws what `svg` draws, minus everything that is not drawing:
    scripts, `<foreignObject>` (HTML inside the picture), `<style>` sheets, event attributes,
    links, and any reference outside the picture (only `#id` references and raster data:
    images stay). Meant to be shown as an `<img>` only (ids stay; they are the picture's)."""
    # xlink:href is SVG 1.1's spelling of SVG 2's href, which every current browser reads
    cleaned = _svg_cleaner().clean(XLINK_HREF.sub("href=", svg)).strip()
    # the picture is read as XML, which knows no &nbsp; (the only named entity the cleaner writes)
    return cleaned.replace("&nbsp;", "&#160;")


def svg_data_uri(svg: str) -> str:
    """`clean_svg(svg)` as a data:image/svg+xml;base64 URI."""
    return "data:image/svg+xml;base64," + base64.b64encode(clean_svg(svg).encode("utf-8")).decode("ascii")


# --- HTML fragments ---------------------------------------------------------------------------

def _image_source(value: str) -> str | None:
    value = value.strip()
    raster = RASTER_DATA_URI.fullmatch(value)
    if raster:
        return f"data:image/{raster[1].lower()};base64,{''.join(raster[2].split())}"
    svg = SVG_DATA_URI.fullmatch(value)
    if svg:
        try:
            text = base64.b64decode("".join(svg[1].split()), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return svg_data_uri(text)
    return None


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "href":
        return value if tag == "a" and value.strip().lower().startswith(LINK_SCHEMES) else None
    if name == "src":
        return _image_source(value) if tag == "img" else None
    if name in ("width", "height") and tag in ("img", "col", "td", "th"):
        number = SMALL_NUMBER.fullmatch(value)
        return number[1] if number else None
    if tag in MATHML_TAGS:
        if name in MATHML_LENGTHS:
            return value if MATH_LENGTH.fullmatch(value) else None
        if name == "scriptlevel":  # a large negative level would scale the text up without bound
            return value if SCRIPT_LEVEL.fullmatch(value) else None
    return value


@lru_cache(maxsize=1)
def _cleaner():
    import nh3

    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS), clean_content_tags={"style"},  # the rest: unwrapped to text
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        allowed_classes={tag: set(ALLOWED_CLASSES) for tag in TEXT_TAGS},
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
        attribute_filter=_attribute, url_schemes={"http", "https", "mailto", "data"}, url_relative="deny",
        link_rel=LINK_REL, strip_comments=True)


# A link as the sanitiser writes it: <a href="..." rel="..."> (attribute values double-quoted,
# `"` inside them as &quot;), its content up to the next </a> (links do not nest in HTML).
# (Not when the address already follows: cleaning twice changes nothing.)
_LINK = re.compile(r'<a((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*>(.*?)</a>(?! <span class="link-address">)', re.S)
_HREF = re.compile(r'\shref="([^"]*)"')
_TAG = re.compile(r"<[^>]*>")


def _show_address(match: re.Match) -> str:
    link = match[0]
    href = _HREF.search(match[1])
    if not href:
        return link
    address = html.unescape(href[1])
    text = html.unescape(_TAG.sub("", match[2])).strip()
    if text in (address, address.removeprefix("mailto:")):
        return link
    return f'{link} <span class="link-address">({html.escape(address, quote=False)})</span>'


# C0 and C1 control characters but tab, newline and carriage return: terminal escape
# sequences nbconvert's ANSI filter does not know (OSC hyperlinks, say) lose their ESC.
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])


def clean_fragment(fragment: str) -> str:
    """`fragment` (HTML of a student's making, in any shape) with only what the rules in this
    module's docstring allow, without control characters; every link followed by its
    address in text."""
    cleaned = _cleaner().clean(fragment.translate(_CONTROLS))
    return _LINK.sub(_show_address, cleaned) if "<a" in cleaned else cleaned
