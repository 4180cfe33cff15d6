"""The Content-Security-Policy of every page the grader writes (the student's report, the
notebook record, the cohort dashboard): nothing but what the page itself needs.

Each page is one self-contained file opened from disk, with no script: its policy allows
images from data: URIs (its own plots and the notebook's outputs), the page's own `<style>`
elements by their SHA-256 hashes (not 'unsafe-inline': a style attribute or `<style>`
element that slipped into the page's body would not apply), and nothing else:
`default-src 'none'` covers scripts, fetches, fonts, frames, objects and media;
`base-uri 'none'` and `form-action 'none'` forbid a `<base>` that would redirect relative
links and a form that would post anywhere. A policy delivered in a `<meta>` tag (a file has
no headers) cannot carry `frame-ancestors`, `sandbox` or `report-uri`; the pages carry
`<meta name="referrer" content="no-referrer">` instead of a Referrer-Policy header.

Templates carry a fail-closed placeholder, `<meta http-equiv="Content-Security-Policy"
content="default-src 'none'">` (styles blocked, still safe), which `with_policy` fills in
once the page is rendered, since only then is its style sheet's text known.
"""
from __future__ import annotations

import base64
import hashlib
import re

_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.I)
_HEAD_START = re.compile(r"\A(?:\s*<!DOCTYPE[^>]*>)?(?:\s*<html\b[^>]*>)?(?:\s*<head\b[^>]*>)?", re.I)
_POLICY_META = re.compile(r'(<meta\s+http-equiv="Content-Security-Policy"\s+content=")[^"]*(")', re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)


def style_hash(css: str) -> str:
    """The CSP source expression allowing a `<style>` element whose text is exactly `css`."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def policy(style_hashes: list[str] | tuple[str, ...] = ()) -> str:
    """The policy for a page whose own `<style>` elements have these hashes (`style_hash`)."""
    styles = " ".join(dict.fromkeys(style_hashes)) or "'none'"
    return (f"default-src 'none'; img-src data:; style-src {styles}; "
            "base-uri 'none'; form-action 'none'")


def with_policy(page: str) -> str:
    """`page` with its CSP meta tag set to `policy` for the `<style>` elements of the page's
    head (up to `</head>` or `<body>`); styles anywhere else stay blocked. A page without the
    meta tag (a course's own template, say) gets one at the start of its head."""
    end = _HEAD_END.search(page)
    head = page[:end.start()] if end else page
    meta = _POLICY_META.search(head)
    if meta is None:
        start = _HEAD_START.match(page).end()
        hashes = [style_hash(css) for css in _STYLE.findall(head, start)]
        return f'{page[:start]}<meta http-equiv="Content-Security-Policy" content="{policy(hashes)}">{page[start:]}'
    hashes = [style_hash(css) for css in _STYLE.findall(head, meta.end())]
    return page[:meta.start()] + meta[1] + policy(hashes) + meta[2] + page[meta.end():]
