"""The one place outside strings are made safe for the terminal and for CSV."""
import csv
import io

from hypothesis import given, strategies as st

from grader.untrusted import csv_cell, csv_row, terminal_line, terminal_text


def test_escape_sequences_are_removed_whole():
    assert terminal_text("a\x1b[2J\x1b[1;1Hb\x1b]0;title\x07c\x1b]8;;http://x\x1b\\d") == "abcd"


def test_controls_and_bidi_become_visible():
    assert terminal_text("x\ry\bz\x00\u202eevil\u2066") == "x?y?z??evil?"
    assert terminal_text("line1\nline2\tend") == "line1\nline2\tend"


def test_one_line_form_and_non_utf8_names():
    name = b"stu\xffdent\n30/30".decode("utf-8", "surrogateescape")
    assert terminal_line(name) == "stu\ufffddent 30/30"


@given(st.text())
def test_nothing_a_terminal_acts_on_survives(text):
    out = terminal_text(text)
    assert "\x1b" not in out and "\r" not in out and "\x9b" not in out
    assert not any(ch in out for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert all(ch in "\n\t" or ord(ch) >= 32 for ch in out)


def test_csv_formula_prefixes_are_neutralised_numbers_are_not():
    assert csv_row(["=HYPERLINK(\"x\")", "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "alice"]) == [
        "'=HYPERLINK(\"x\")", "'+1+cmd", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "alice"]
    assert csv_row([-3.5, 4, "-3.5", "+2", "1e3", None]) == [-3.5, 4, "-3.5", "+2", "1e3", ""]
    assert csv_cell("\t5") == "'\t5"  # float() would accept it; a spreadsheet must not see a formula


@given(st.text())
def test_no_csv_cell_starts_a_formula(text):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(text)])
    (cell,), = csv.reader(io.StringIO(buffer.getvalue()))
    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        float(cell)  # only a plain number may start that way
