"""grader.ids: an entry's id, and its forms in file names, URLs and the terminal."""
from __future__ import annotations

import os
import re
import unicodedata

from hypothesis import given, settings, strategies as st

from grader.ids import (TERMINAL_LENGTH, clean_id, entry_name, file_name, file_stem, stem_clashes,
                        student_id, terminal_id, url_name)
from grader.untrusted import unicode_text

#: What Windows refuses in a name, besides controls; and its reserved device names.
WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def assert_safe_stem(stem: str) -> None:
    assert stem and stem.isascii() and stem == stem.lower(), stem
    assert len((stem + ".html").encode()) <= 100, stem
    assert stem not in (".", "..") and ".." not in stem and not stem.startswith((".", "-")), stem
    assert not stem.endswith((".", " ")), stem
    assert not any(ch in WINDOWS_FORBIDDEN or ord(ch) < 32 or ch == "\x7f" for ch in stem), stem
    assert stem.split(".")[0] not in WINDOWS_RESERVED, stem


def test_plain_ids_are_their_own_stems():
    for plain in ("alice", "jdoe42", "s1234567", "carol.v2", "anne-marie", "_x"):
        assert file_stem(plain) == plain
        assert url_name(plain, ".html") == plain + ".html"


def test_other_ids_get_a_slug_and_a_hash():
    assert re.fullmatch(r"jose-nunez-[0-9a-f]{16}", file_stem("José Núñez"))
    assert re.fullmatch(r"alice-[0-9a-f]{16}", file_stem("Alice"))  # "Alice" and "alice" never share a file
    assert file_stem("Alice") != file_stem("alice")
    assert re.fullmatch(r"student-[0-9a-f]{16}", file_stem("王小明"))
    for hostile in ("..", ".", "con", "NUL", "com1.txt", "a/b", "a\\b", "-rf", "=HYPERLINK(\"x\")",
                    "x\x1b[2K\r30 / 30", "trailing.", "a" * 250, "a..b", "bob-0123456789abcdef"):
        assert file_stem(hostile) != hostile
        assert_safe_stem(file_stem(hostile))
    # an escape sequence leaves no trace in the slug; the hash still tells the ids apart
    assert file_stem("x\x1b[2Ky").startswith("xy-") and file_stem("x\x1b[2Ky") != file_stem("xy")


def test_a_student_cannot_name_their_entry_after_another_students_hashed_stem():
    victim = file_stem("Alice")
    assert file_stem(victim) != victim


def test_non_utf8_bytes_become_visible_escapes_and_nfc_joins_spellings(tmp_path):
    raw = b"caf\xe9"
    assert clean_id(raw) == "caf\\xe9"
    assert student_id(os.fsencode(tmp_path) + b"/" + raw + b".py") == "caf\\xe9"
    assert student_id(os.fsdecode(raw + b".ipynb")) == "caf\\xe9"
    decomposed, composed = unicodedata.normalize("NFD", "José"), "José"
    assert decomposed != composed and clean_id(decomposed) == clean_id(composed) == composed
    assert unicode_text("a\ud800b") == "a\ufffdb"  # a lone surrogate that is no escaped byte
    assert entry_name(b"/x/caf\xe9.zip") == "caf\\xe9.zip"
    clean_id(raw).encode("utf-8")  # storable anywhere: sqlite, JSON, HTML


def test_terminal_form_is_one_clipped_line_without_escapes():
    shown = terminal_id("x\x1b[2K\rmallory: 30 / 30 points\x1b[8m\n" + "y" * 200)
    assert "\x1b" not in shown and "\r" not in shown and "\n" not in shown
    assert len(shown) == TERMINAL_LENGTH and shown.endswith("...")
    assert terminal_id("alice") == "alice"


def test_clashing_stems_are_found():
    assert stem_clashes(["alice", "bob", "Alice"]) == {}
    # two ids whose stems coincide (here by construction: the same id twice)
    assert stem_clashes(["alice", "alice"]) == {"alice": ["alice", "alice"]}


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b))
def test_every_file_name_gives_a_safe_stem(name):
    student = clean_id(name)
    student.encode("utf-8")
    assert unicodedata.is_normalized("NFC", student)
    assert_safe_stem(file_stem(student))
    assert file_name(student, ".json") == file_stem(student) + ".json"


@settings(max_examples=300)
@given(st.text(min_size=1, max_size=120), st.text(min_size=1, max_size=120))
def test_distinct_ids_never_share_a_stem_even_ignoring_case(a, b):
    a, b = clean_id(a), clean_id(b)
    if a != b:
        assert file_stem(a).casefold() != file_stem(b).casefold()
