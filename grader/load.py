"""Turn a submission path into the student's Python source, refusing hostile files.

A submission is a module file (``*.py``), a notebook (``*.ipynb``), a folder holding one of
those, or a ``.zip`` of such a folder. ``load_submission`` returns a ``Submission`` or raises
``SubmissionError`` whose ``str()`` is one printable line naming the file (the CLI prints it and
exits 2). Nothing here prints, exits, executes student code or writes files.

Decisions:
- Choosing the file in a folder or zip: ``<module>.py`` or ``<module>.ipynb`` first, else the only
  ``.py``/``.ipynb``; hidden names, ``__pycache__``, ``__MACOSX`` and ``test_*.py`` are ignored.
  Holding both ``<module>.py`` and ``<module>.ipynb``, or several other candidates, is an error
  (guessing could silently grade an untouched stub). A level with no candidate and exactly one
  sub-folder is unwrapped (LMS downloads wrap files in one top directory). Only the chosen file
  is graded; other files in the folder are not available to it.
- Symlinks are never followed: a symlink given as the path itself, met while scanning a folder,
  or stored in a zip (``external_attr`` S_IFLNK) is refused, since it could point at the
  reference solution. Devices, FIFOs and sockets are refused (opened non-blocking, checked
  with fstat, so a FIFO never blocks us).
- Sizes are checked before reading and again while reading: source <= 5 MiB, notebook
  <= 20 MiB; a zip <= 50 MiB on disk, its central directory (entry count and size, read from
  the end record before ``zipfile`` parses it) <= 1000 members, declared total <= 50 MiB,
  no member over 1 MiB with a compression ratio above 200, and the chosen member's actual
  decompressed bytes are counted (declared sizes can lie). Member paths that are absolute,
  contain ``..`` or a drive letter (zip-slip) make the whole zip refused. Zips are read in
  memory, never extracted, so ``notebook_path`` is None for a notebook inside a zip; its
  text is still kept (``notebook_text``) for the instructor's record.
- Text must be UTF-8 (a BOM is allowed); errors give the byte offset.
- Notebooks: parsed with ``json`` and validated with ``nbformat.validate`` (version 3 is
  converted to 4 first); not ``nbformat.reads``, which logs instead of raising and is slower.
  Code cells only, in order; ``%%`` cell-magic cells are dropped, and so are the generated
  notebook's self-check and demo cells (metadata ``grader.role`` "check" or "code") and any cell
  holding only ``import grader`` / ``grader.check(...)``; lines starting with ``%`` or
  ``!`` and ``?``-help lines become blank lines (so line numbers within a cell stay right)
  unless the cell is already valid Python as written (e.g. a ``%`` continuing an expression).
  Cells are numbered 1-based counting every cell from the top, as a student sees them.
- Reading and loading are two steps: ``read_submission_file`` takes what was handed in into
  memory (a ``SubmissionFile``: the file's bytes, a folder's chosen file, a zip whole) under
  the limits above, and ``load_submission`` accepts that as well as a path, with the same
  result and messages. A batch reads on the instructor's machine and a worker anywhere loads.
- ``content_hash`` is the sha256 of the chosen file's raw bytes for every kind: it identifies
  the code being graded, not the wrapping (same file as .py, in a folder or zip: same hash).
"""
from __future__ import annotations

import ast
import bisect
import hashlib
import io
import json
import os
import re
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.ids import EXTENSIONS
from grader.untrusted import unicode_text
from grader.errors import UsageError

MAX_SOURCE_BYTES = 5 << 20
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_ARCHIVE_BYTES = 50 << 20  # the zip on disk, and the total of its declared member sizes
MAX_ARCHIVE_MEMBERS = 1000
MAX_ARCHIVE_DIRECTORY_BYTES = 1 << 20  # the zip's central directory
MAX_COMPRESSION_RATIO = 200  # applies to members larger than RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1 << 20
MAX_UNWRAP_DEPTH = 4
_MAX_MESSAGE = 400

_IGNORED_NAMES = {"__pycache__", "__MACOSX"}
_MAGIC_LINE = re.compile(r"[ \t]*[%!]")
_HELP_LINE = re.compile(r"[ \t]*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
_DRIVE = re.compile(r"^[A-Za-z]:")


class SubmissionError(UsageError):
    """A user-facing problem with a submission: str(exc) is ONE line saying what is wrong and where."""

    def __init__(self, message: str, detail: str = ""):
        #: More than the one line, when it helps: a syntax error's line with a caret under it.
        self.detail = detail
        # Names come from students (file and zip member names): escape control characters so
        # the message stays one line and cannot drive the terminal, and keep it short.
        line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        if len(line) > _MAX_MESSAGE:
            line = line[: _MAX_MESSAGE - 3] + "..."
        super().__init__(line)


@dataclass(frozen=True)
class Submission:
    source: str
    module_name: str
    origin: Path
    kind: str  # "module" | "notebook" | "folder" | "zip"
    content_hash: str
    # Notebooks: (first source line, last source line, cell number), 1-based, inclusive.
    line_map: tuple[tuple[int, int, int], ...] | None = None
    notebook_path: Path | None = None  # None for a module, and for a notebook inside a zip
    notebook_text: str | None = None  # the notebook's JSON as submitted (wherever it was)

    def location(self, lineno: int) -> str:
        """Where source line `lineno` is, as a student sees it: "line 7" or "cell 4, line 2"."""
        if not self.line_map:
            return f"line {lineno}"
        i = max(bisect.bisect_right(self.line_map, lineno, key=lambda entry: entry[0]) - 1, 0)
        start, _, cell = self.line_map[i]
        return f"cell {cell}, line {lineno - start + 1}"


@dataclass(frozen=True)
class SubmissionFile:
    """What was handed in, read into memory by `read_submission_file`: everything
    `load_submission` needs, so a submission can be loaded where its file is not (a batch
    job carries this to a Dask worker that cannot see the cohort). Read under the same
    limits as loading from the path; the bytes are not yet decoded or parsed (a zip stays
    whole; a folder is reduced to the one file loading would choose)."""

    origin: str  # the path as given, on the machine that read it (messages name it)
    kind: str  # "module" | "notebook" | "folder" | "zip" | "unreadable"
    data: bytes  # the file's bytes; a folder's chosen file's; a zip's whole archive
    member: str = ""  # a folder: the chosen file's path inside it
    problem: str = ""  # "unreadable": why (one line), raised by load_submission
    problem_detail: str = ""


def read_submission_file(path: str | os.PathLike, module_name: str, *, defer_errors: bool = False) -> SubmissionFile:
    """Read the submission at `path` into memory; raise SubmissionError (one line) if it
    cannot be read, or with `defer_errors` return an "unreadable" SubmissionFile holding the
    error, which `load_submission` raises wherever it runs."""
    try:
        return _read_submission_file(Path(path), module_name)
    except SubmissionError as exc:
        if not defer_errors:
            raise
        return SubmissionFile(str(path), "unreadable", b"", problem=str(exc), problem_detail=exc.detail)


def _read_submission_file(origin: Path, module_name: str) -> SubmissionFile:
    if not module_name.isidentifier():
        raise ValueError(f"not a module name: {module_name!r}")
    shown = unicode_text(str(origin))  # named in messages: valid Unicode
    try:
        mode = os.lstat(origin).st_mode
    except FileNotFoundError:
        raise SubmissionError(f"no such file or folder: {shown}") from None
    except OSError as exc:
        raise SubmissionError(f"cannot read {shown}: {exc.strerror}") from None
    if stat.S_ISLNK(mode):
        raise SubmissionError(f"{shown} is a symbolic link; give the file it points to ({os.readlink(origin)})")
    if stat.S_ISDIR(mode):
        rel = _choose(lambda prefix: _list_folder(origin, prefix), shown, module_name)
        chosen = origin / rel
        return SubmissionFile(str(origin), "folder", _read_file(chosen, _cap_for(rel), str(chosen)), member=rel)
    if not stat.S_ISREG(mode):
        raise SubmissionError(f"{shown} is not a regular file or folder (a device, FIFO or socket)")
    suffix = origin.suffix.lower()
    if suffix not in EXTENSIONS:
        raise SubmissionError(f"{shown} is not a .py, .ipynb or .zip file")
    if suffix == ".zip":
        return SubmissionFile(str(origin), "zip", _read_file(origin, MAX_ARCHIVE_BYTES, shown))
    kind = "notebook" if suffix == ".ipynb" else "module"
    return SubmissionFile(str(origin), kind, _read_file(origin, _cap_for(origin.name), shown))


def load_submission(path: str | os.PathLike | SubmissionFile, module_name: str) -> Submission:
    """Read the submission at `path` (or already read: a `SubmissionFile`); raise
    SubmissionError (one line) if it is unusable. A SubmissionFile loads to the same
    Submission, with the same messages, as its path would; nothing is read from disk."""
    file = path if isinstance(path, SubmissionFile) else read_submission_file(path, module_name)
    if not module_name.isidentifier():
        raise ValueError(f"not a module name: {module_name!r}")
    origin = Path(file.origin)
    shown = unicode_text(file.origin)
    if file.kind == "unreadable":
        raise SubmissionError(file.problem, detail=file.problem_detail)
    if file.kind == "folder":
        chosen = origin / file.member
        return _build(file.data, str(chosen), file.member, module_name, origin, "folder", chosen)
    if file.kind == "zip":
        rel, data = _zip_member(file.data, file.origin, module_name)
        return _build(data, f"{shown}:{rel}", rel, module_name, origin, "zip", None)
    if file.kind not in ("module", "notebook"):
        raise ValueError(f"not a submission kind: {file.kind!r}")
    return _build(file.data, shown, origin.name, module_name, origin, file.kind,
                  origin if file.kind == "notebook" else None)


def _cap_for(name: str) -> int:
    return MAX_NOTEBOOK_BYTES if name.lower().endswith(".ipynb") else MAX_SOURCE_BYTES


def _build(data, shown, name, module_name, origin, kind, notebook_path) -> Submission:
    with warnings.catch_warnings():  # compile/nbformat warnings must not reach the terminal
        warnings.simplefilter("ignore")
        text = _decode(data, shown)
        if name.lower().endswith(".ipynb"):
            source, line_map = _notebook_source(text, shown)
        else:
            source, line_map, notebook_path = text, None, None
        if not source.strip():
            raise SubmissionError(f"{shown} is empty" if line_map is None else f"{shown} has no code cells")
        submission = Submission(source, module_name, origin, kind, hashlib.sha256(data).hexdigest(),
                                line_map, notebook_path, text if line_map is not None else None)
        _check_syntax(submission, shown)
    return submission


def _decode(data: bytes, shown: str) -> str:
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if not data[bom:].strip():
        raise SubmissionError(f"{shown} is empty")
    nul = data.find(b"\0")
    if nul >= 0:
        raise SubmissionError(f"{shown} is not UTF-8 text: NUL byte at byte offset {nul} (a binary file?)")
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{shown} is not UTF-8 text: invalid byte 0x{data[bom + exc.start]:02x} "
                              f"at byte offset {bom + exc.start}; save it as UTF-8") from None


def caret_lines(exc: SyntaxError) -> str:
    """The offending source line and a caret (or carets) under the error, as Python shows them;
    "" when the error carries no line. Tabs become spaces so the caret lines up."""
    text = (exc.text or "").rstrip("\n").expandtabs(4)
    if not text.strip():
        return ""
    stripped = text.lstrip()
    indent = len(text) - len(stripped)
    line = stripped[:200]
    start = max((exc.offset or 1) - 1 - indent, 0)
    end = exc.end_offset - 1 - indent if exc.end_offset and exc.end_offset > (exc.offset or 0) \
        and exc.lineno == getattr(exc, "end_lineno", exc.lineno) else start + 1
    start = min(start, len(line))
    return f"{line}\n{' ' * start}{'^' * max(1, min(end, len(line) + 1) - start)}"


def _check_syntax(submission: Submission, shown: str) -> None:
    try:
        compile(submission.source, shown, "exec", dont_inherit=True)
    except SyntaxError as exc:
        msg = exc.msg or "invalid syntax"
        if exc.lineno is None:
            raise SubmissionError(f"syntax error in {shown}: {msg}") from None
        if submission.line_map:  # messages like "... on line 12" count concatenated lines
            msg = re.sub(r"on line (\d+)", lambda m: "on " + submission.location(int(m[1])), msg)
        raise SubmissionError(f"syntax error in {shown} {submission.location(exc.lineno)}: {msg}",
                              detail=caret_lines(exc)) from None
    except (RecursionError, MemoryError):
        raise SubmissionError(f"{shown} is nested too deeply to compile") from None
    except ValueError as exc:  # e.g. a NUL character in a notebook cell
        raise SubmissionError(f"{shown} cannot be compiled: {exc}") from None


def _notebook_source(text: str, shown: str) -> tuple[str, tuple[tuple[int, int, int], ...]]:
    import nbformat  # imported here: it costs ~0.1 s and module submissions never need it

    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{shown} is not a notebook: invalid JSON at line {exc.lineno}, "
                              f"column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise SubmissionError(f"{shown} is not a notebook: unreadable JSON ({type(exc).__name__})") from None
    if not isinstance(nb, dict) or type(nb.get("nbformat")) is not int:
        raise SubmissionError(f"{shown} is not a Jupyter notebook (no nbformat version)")
    version, cells = nb["nbformat"], nb.get("cells")
    if version not in (3, 4):
        raise SubmissionError(f"{shown} has notebook format version {version}; only 3 and 4 are supported")
    if version == 4 and not (isinstance(cells, list) and all(isinstance(c, dict) for c in cells)):
        # checked here because nbformat.validate crashes on these before its schema check
        raise SubmissionError(f"{shown} is not a valid notebook: 'cells' is not a list of cells")
    try:
        nbformat.validate(nb)  # before convert, which would log the problem instead of raising
        if version == 3:
            nb = nbformat.convert(nbformat.from_dict(nb), 4)
    except nbformat.ValidationError as exc:
        where = list(getattr(exc, "absolute_path", None) or [])
        cell = f" (cell {where[1] + 1})" if where[:1] == ["cells"] and len(where) > 1 else ""
        first = str(exc.message).splitlines()[0] if str(exc.message) else "schema violation"
        raise SubmissionError(f"{shown} is not a valid notebook{cell}: {first[:150]}") from None
    except Exception as exc:  # nbformat raises assorted types for unknown or broken versions
        raise SubmissionError(f"{shown} is not a notebook nbformat can read: {type(exc).__name__}: {exc}") from None
    lines: list[str] = []
    line_map = []
    for number, cell in enumerate(nb["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if _not_submitted(cell, src):
            continue
        cell_lines = _python_lines(src)
        if cell_lines:
            line_map.append((len(lines) + 1, len(lines) + len(cell_lines), number))
            lines.extend(cell_lines)
    return "".join(line + "\n" for line in lines), tuple(line_map)


#: Cells of the generated notebook (grader.notebooks) that are not the student's answer: the
#: self-check cells need the grader, which the sandbox does not have, and demo cells (the
#: trajectory plot) call the student's functions at import time, so one broken function
#: would cost every test.
_NOT_SUBMITTED_ROLES = ("check", "code")


def _not_submitted(cell: dict, src: str) -> bool:
    """A generated self-check or demo cell (by its metadata), or a cell holding nothing but
    `import grader` and `grader.check(...)` calls."""
    meta = cell.get("metadata")
    role = meta.get("grader", {}).get("role") if isinstance(meta, dict) and isinstance(meta.get("grader"), dict) else None
    if role in _NOT_SUBMITTED_ROLES:
        return True
    if "grader" not in src:
        return False
    try:
        body = ast.parse(src).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False

    def self_check(node) -> bool:
        if isinstance(node, ast.Import):
            return all(alias.name == "grader" for alias in node.names)
        if isinstance(node, ast.ImportFrom):
            return node.module == "grader"
        return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
            and ast.unparse(node.value.func) == "grader.check"

    return bool(body) and all(self_check(node) for node in body)


def _python_lines(src: str) -> list[str]:
    """The cell's lines with IPython-only lines blanked; [] for a %% cell magic."""
    lines = src.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        return []
    kept = ["" if _MAGIC_LINE.match(line) or _HELP_LINE.match(line) else line for line in lines]
    if kept != lines:
        try:  # a "%" or "!" line may be Python after all (a continued expression, a string)
            compile(src, "<cell>", "exec", dont_inherit=True)
            return lines
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return kept


def _read_file(path: Path, cap: int, shown: str) -> bytes:
    """Read a regular file of at most `cap` bytes without following a symlink or blocking."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise SubmissionError(f"{shown} is a symbolic link; symlinks in submissions are refused") from None
        raise SubmissionError(f"cannot read {shown}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(f"{shown} is not a regular file (a device, FIFO or socket)")
        if st.st_size > cap:
            raise SubmissionError(f"{shown} is too large ({st.st_size} bytes; the limit is {cap})")
        data = f.read(cap + 1)  # the file may grow after fstat
    if len(data) > cap:
        raise SubmissionError(f"{shown} is too large (over {cap} bytes)")
    return data


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_NAMES


def _list_folder(root: Path, prefix: str) -> tuple[set[str], set[str]]:
    """(file names, sub-folder names) at root/prefix, refusing symlinks."""
    files, dirs = set(), set()
    folder = root / prefix if prefix else root
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        raise SubmissionError(f"cannot read folder {folder}: {exc.strerror}") from None
    for entry in entries:
        if _ignored(entry.name):
            continue
        if entry.is_symlink():
            raise SubmissionError(f"{folder / entry.name} is a symbolic link; symlinks in submissions are refused")
        # devices and FIFOs count as files here; reading the chosen one refuses them
        (dirs if entry.is_dir(follow_symlinks=False) else files).add(entry.name)
    return files, dirs


def _choose(list_level, shown: str, module_name: str) -> str:
    """The relative path of the one file to grade, unwrapping single sub-folders."""
    preferred = {f"{module_name}.py", f"{module_name}.ipynb"}
    prefix = ""
    for _ in range(MAX_UNWRAP_DEPTH + 1):
        files, dirs = list_level(prefix)
        candidates = sorted(name for name in files if name.lower().endswith((".py", ".ipynb"))
                            and not name.startswith("test_"))
        best = sorted(preferred & set(candidates)) or candidates
        if len(best) == 1:
            return prefix + best[0]
        if best:
            listed = ", ".join(best[:6]) + (f" and {len(best) - 6} more" if len(best) > 6 else "")
            inside = f" (in {prefix.rstrip('/')})" if prefix else ""
            raise SubmissionError(f"{shown}{inside} holds several candidate files "
                                  f"({listed}); keep only {module_name}.py or {module_name}.ipynb")
        if len(dirs) != 1:
            break
        prefix += next(iter(dirs)) + "/"
    raise SubmissionError(f"no .py or .ipynb file in {shown} (expected {module_name}.py or {module_name}.ipynb)")


def _zip_member(archive: bytes, shown: str, module_name: str) -> tuple[str, bytes]:
    """(member name, member bytes) of the one file to grade in the zip `archive`."""
    _check_end_record(archive, shown)
    try:
        zf = zipfile.ZipFile(io.BytesIO(archive))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise SubmissionError(f"{shown} is not a zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise SubmissionError(f"{shown} has {len(infos)} members; the limit is {MAX_ARCHIVE_MEMBERS}")
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            by_name.update(_checked_member(info, shown, by_name))
        if sum(info.file_size for info in infos) > MAX_ARCHIVE_BYTES:
            raise SubmissionError(f"{shown} would expand to more than {MAX_ARCHIVE_BYTES} bytes (a zip bomb?)")
        rel = _choose(_zip_lister(by_name), shown, module_name)
        info = by_name[rel]
        cap = _cap_for(rel)
        if info.file_size > cap:
            raise SubmissionError(f"{shown}:{rel} is too large ({info.file_size} bytes; the limit is {cap})")
        chunks, total = [], 0
        try:
            with zf.open(info) as member:
                while chunk := member.read(1 << 16):
                    total += len(chunk)
                    if total > cap:  # declared sizes can lie: count what actually comes out
                        raise SubmissionError(f"{shown}:{rel} expands beyond {cap} bytes (a zip bomb?)")
                    chunks.append(chunk)
        except SubmissionError:
            raise
        except Exception as exc:  # zipfile raises many types for corrupt, encrypted or exotic members
            raise SubmissionError(f"{shown}:{rel} cannot be extracted ({type(exc).__name__}: {exc})") from None
    return rel, b"".join(chunks)


def _check_end_record(archive: bytes, shown: str) -> None:
    """Refuse a huge central directory before zipfile builds an object for every entry."""
    end = archive.rfind(b"PK\x05\x06", max(0, len(archive) - (1 << 16) - 22))
    if end < 0 or len(archive) - end < 22:
        raise SubmissionError(f"{shown} is not a zip archive (no end-of-archive record)")
    entries = int.from_bytes(archive[end + 10:end + 12], "little")
    directory_size = int.from_bytes(archive[end + 12:end + 16], "little")
    if entries > MAX_ARCHIVE_MEMBERS or directory_size > MAX_ARCHIVE_DIRECTORY_BYTES:
        raise SubmissionError(f"{shown} declares {entries} members in a {directory_size}-byte directory; "
                              f"the limit is {MAX_ARCHIVE_MEMBERS} members")


def _checked_member(info: zipfile.ZipInfo, shown: str, seen: dict) -> dict[str, zipfile.ZipInfo]:
    """{normalised name: info} for a safe file member, {} for a directory; raise if unsafe."""
    name = info.filename.replace("\\", "/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or _DRIVE.match(name) or ".." in parts:
        raise SubmissionError(f"{shown} has a member with an unsafe path ({info.filename!r}); "
                              f"refusing a zip that could write outside its folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise SubmissionError(f"{shown} has a symbolic link ({info.filename!r}); symlinks in submissions are refused")
    if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size:
        raise SubmissionError(f"{shown}:{info.filename} is compressed more than {MAX_COMPRESSION_RATIO}:1 (a zip bomb?)")
    key = "/".join(parts)
    if info.is_dir() or not key:
        return {}
    if key in seen:
        raise SubmissionError(f"{shown} holds two members named {key!r}")
    return {key: info}


def _zip_lister(by_name: dict[str, zipfile.ZipInfo]):
    """A list_level function over the zip's member names (directories implied by paths)."""
    levels: dict[str, tuple[set[str], set[str]]] = {}
    for key in by_name:
        parts = key.split("/")
        if any(_ignored(part) for part in parts):
            continue
        for depth, part in enumerate(parts):
            files, dirs = levels.setdefault("".join(p + "/" for p in parts[:depth]), (set(), set()))
            (files if depth == len(parts) - 1 else dirs).add(part)
    return lambda prefix: levels.get(prefix, (set(), set()))
