"""LaTeX as MathML: formulas that a browser typesets itself, with no script (MathJax and
KaTeX need one, and every page the grader writes forbids scripts).

`latex_to_mathml` is for any page: the notebook record's Markdown math (the handout's
formulas and the student's), the report's handout excerpts. Its output has been through
the student-HTML sanitiser (`grader.render.student_html.clean_fragment`), so it is safe to
put into a page even when the TeX is a student's (`\\href`, `\\style` and the like come out
as plain MathML). Conversion is by the pure-Python `latex2mathml`; results are cached,
since every notebook of a cohort repeats the handout's formulas.
"""
from __future__ import annotations

import html
from functools import lru_cache

from grader.render.student_html import clean_fragment

#: Longer TeX is shown as its source (conversion time grows with it; no formula is this long).
MAX_TEX_CHARS = 2000


@lru_cache(maxsize=4096)
def latex_to_mathml(tex: str, display: bool = False) -> str | None:
    """`<math>` for the TeX `tex` (without its `$` delimiters), display style if `display`,
    carrying the TeX as its title; None when latex2mathml cannot convert it (or it is
    longer than MAX_TEX_CHARS), so that the caller can show the source instead."""
    if not tex.strip() or len(tex) > MAX_TEX_CHARS:
        return None
    try:
        from latex2mathml.converter import convert

        markup = convert(tex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - latex2mathml raises assorted types for TeX it does not know
        return None
    title = html.escape(" ".join(tex.split()), quote=True)
    return clean_fragment(markup.replace("<math ", f'<math title="{title}" ', 1))


def math_html(tex: str, display: bool = False) -> str:
    """`latex_to_mathml(tex, display)`, or the TeX between `$` (`$$` for display) as
    escaped text when it cannot be converted."""
    converted = latex_to_mathml(tex, display)
    if converted is not None:
        return converted
    fence = "$$" if display else "$"
    return f"{fence}{html.escape(tex, quote=False)}{fence}"
