"""Student stubs are generated from the reference, never written by hand.

The reference marks each function body with the nbgrader convention::

    def area(width, height):
        \"\"\"docstring\"\"\"
        # BEGIN SOLUTION
        return width * height
        # END SOLUTION

and the stub keeps everything outside the markers (signature, docstring, imports) while
each marked block becomes ``raise NotImplementedError`` at the marker's indentation.
(The example is not an assignment's function: `grader release` ships this file to students
and refuses any line of a solution in the bundle.)
"""
from __future__ import annotations

import re
from pathlib import Path
from grader.errors import UsageError

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
STUB_BODY = "raise NotImplementedError"
_MARKER = re.compile(r"^(?P<indent>\s*)# (?P<kind>BEGIN|END) SOLUTION\s*$")


class MarkerError(UsageError, ValueError):
    """Unbalanced or nested solution markers; str() names the file and line."""


def generate_stub(solution_source: str, origin: str = "<solution>") -> str:
    out: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(solution_source.splitlines(keepends=True), start=1):
        marker = _MARKER.match(line)
        if marker and marker["kind"] == "BEGIN":
            if inside_since is not None:
                raise MarkerError(f"{origin}:{number}: nested {BEGIN} (the block opened at line {inside_since} is not closed)")
            inside_since = number
            out.append(f"{marker['indent']}{STUB_BODY}\n")
        elif marker:
            if inside_since is None:
                raise MarkerError(f"{origin}:{number}: {END} without a {BEGIN}")
            inside_since = None
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(f"{origin}:{inside_since}: {BEGIN} is never closed")
    return "".join(out)


def stub_for(assignment) -> str:
    """The stub module text the generator produces for an assignment's reference."""
    path: Path = assignment.reference_path
    return generate_stub(path.read_text(encoding="utf-8"), origin=str(path))


def write_stub(assignment) -> Path:
    assignment.stub_path.write_text(stub_for(assignment), encoding="utf-8")
    return assignment.stub_path


def solution_blocks(solution_source: str, origin: str = "<solution>") -> list[tuple[int, int]]:
    """The (BEGIN line, END line) pairs of the solution markers, 1-based, in file order
    (the lines strictly between them are the solution). Raises MarkerError as
    `generate_stub` does."""
    blocks: list[tuple[int, int]] = []
    inside_since: int | None = None
    for number, line in enumerate(solution_source.splitlines(), start=1):
        marker = _MARKER.match(line)
        if marker and marker["kind"] == "BEGIN":
            if inside_since is not None:
                raise MarkerError(f"{origin}:{number}: nested {BEGIN} (the block opened at line {inside_since} is not closed)")
            inside_since = number
        elif marker:
            if inside_since is None:
                raise MarkerError(f"{origin}:{number}: {END} without a {BEGIN}")
            blocks.append((inside_since, number))
            inside_since = None
    if inside_since is not None:
        raise MarkerError(f"{origin}:{inside_since}: {BEGIN} is never closed")
    return blocks
