"""Strings from outside (student ids, file names, printed output, exception messages, reprs)
made safe for each kind of output, in one place.

Every renderer calls these at the point where outside text meets its output, never earlier
(data stays as it came; each output escapes for itself):

- `terminal_text(s)`: for the terminal (text renderers, progress lines, error lines). Escape
  sequences are removed whole; other control characters (C0 but newline and tab, DEL, C1),
  bidi overrides and isolates, and lone surrogates (non-UTF-8 bytes decoded with
  `surrogateescape`) become a visible `?` (U+FFFD for surrogates), so nothing can move the
  cursor, recolour, rewrite an earlier line or reorder what the reader sees.
- `terminal_line(s)`: the same, on one line (newlines and tabs become spaces): for values
  shown inside a line, such as ids.
- `csv_cell(value)`: OWASP's rule against formula injection: a text cell starting with `=`,
  `+`, `-`, `@`, tab or CR gets a leading `'`. Numbers (ints, floats, and strings that parse
  as a finite float, such as "-3.5") are left as they are, so scores stay numbers.

- `unicode_text(s)`: valid Unicode, the precondition of every output (SQLite, UTF-8 files,
  strict JSON parsers refuse lone surrogates): a byte that was not UTF-8 (a file name
  decoded with `surrogateescape`) becomes the four characters `\\xNN`, any other lone
  surrogate (a student's string sent back as JSON) U+FFFD.

HTML is escaped by Jinja2's autoescape and student-written HTML goes through the
allowlist sanitiser of the notebook record; neither lives here.
"""
from __future__ import annotations

import math
import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, and the
# 8-bit CSI/OSC introducers.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, to BEL or ST (or the end)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"   # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]"                   # other Fe sequences
    r"|\x1b.?"                          # a lone ESC and what follows it
    r"|\x9b[0-?]*[ -/]*[@-~]"           # 8-bit CSI
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"     # 8-bit OSC
)

# Bidi embeddings, overrides, isolates and marks: they reorder what the reader sees.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "\u2028\u2029]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_LINE_BREAKS = re.compile(r"[\n\t]")

#: What a removed control character shows as.
REPLACEMENT = "?"

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def terminal_text(text: object) -> str:
    """`text` (any object: str() is taken) with nothing left that a terminal would act on;
    newlines and tabs are kept."""
    s = text if isinstance(text, str) else str(text)
    s = _ESCAPE_SEQUENCE.sub("", s)
    s = _CONTROL.sub(REPLACEMENT, s)
    return _SURROGATE.sub("\ufffd", s)


def terminal_line(text: object) -> str:
    """`terminal_text` on one line: newlines and tabs become spaces."""
    return _LINE_BREAKS.sub(" ", terminal_text(text))


def unicode_text(text: str) -> str:
    """`text` with every lone surrogate replaced (see the module docstring)."""
    if not _SURROGATE.search(text):
        return text
    text = _ESCAPED_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return _SURROGATE.sub("\ufffd", text)


def csv_cell(value: object) -> object:
    """`value` as a CSV cell that no spreadsheet evaluates: numbers unchanged, text that
    would start a formula prefixed with `'`. None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    s = value if isinstance(value, str) else str(value)
    if s.startswith(_FORMULA_PREFIXES) and not _is_number(s):
        return "'" + s
    return s


def csv_row(values) -> list:
    """`csv_cell` of every value of a row."""
    return [csv_cell(v) for v in values]


def _is_number(s: str) -> bool:
    if s != s.strip():
        return False  # float() ignores surrounding whitespace; a spreadsheet may not
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False
