"""`grader release ID --out DIR`: the student bundle of one assignment, and the proof that it
holds no solution.

The bundle is a course of one assignment, so `python -m grader check ID` works inside it
without `solutions/`::

    OUT/
      README.md            how to set up, work, self-check and submit
      pyproject.toml       `pip install -e .` makes `import grader` work in Jupyter
      bundle.json          manifest: assignment, grader version, every file with its sha256
      grader/              the grader package source (what `grader check` runs)
      templates/           the grader's templates
      assignments/<id>/    assignment.toml, <module>.py (the stub), <module>.ipynb, handout.md,
                           probes.py, checks/ (public checks, public_expected.npz, public_mutants.npz,
                           inventory.json)

and ``OUT.zip`` next to it (a sibling of OUT with the same name, holding the folder OUT/).
Both are deterministic: the same course gives the same bytes.

The proof: before anything is written at OUT, every text file of the staged bundle (notebook
cells and outputs included) is scanned for the distinctive lines of every Python file under
`solutions/` (references, mutants, hidden checks) and for the assignment secrets. A line is
compared after removing all whitespace; trivial lines do not count (short lines, imports,
docstrings, solution markers, and lines the generated stub legitimately shares with the
reference; hidden checks may also share lines with the public checks and probes). One hit
and the release stops: exit 2 with a one-line error naming the bundle file, the leaked line
and where it comes from; the staging folder is deleted and OUT is left as it was.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import grader
from grader.course import Assignment, Course
from grader.errors import UsageError

MANIFEST = "bundle.json"
#: A line shorter than this (whitespace removed) is too generic to count as a solution line.
MIN_DISTINCTIVE_CHARS = 12
#: Generic lines that are not evidence of a leak however long they are.
TRIVIAL_LINES = frozenset({"returntheta", "returnNone", "returnTrue", "returnFalse", "raiseNotImplementedError",
                           "if__name__=='__main__':", 'if__name__=="__main__":', "returnhistory"})
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ipynb_checkpoints", ".git"}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class ReleaseError(UsageError):
    """The bundle cannot be released; str() is one line (the CLI prints it and exits 2)."""


@dataclass(frozen=True)
class Leak:
    file: str  # bundle-relative path, with "(cell N)" for a notebook
    line_number: int
    line: str
    origin: str  # "solutions/<id>/<file>:<line>" or "the secret of <id>"

    def __str__(self) -> str:
        shown = self.line.strip()
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"{self.file}:{self.line_number} holds {self.origin}: {shown!r}"


@dataclass
class ReleaseReport:
    bundle: Path
    archive: Path
    files: list[str] = field(default_factory=list)
    scanned_files: int = 0
    secret_lines: int = 0


# --- what is secret ------------------------------------------------------------------------

def normalise(line: str) -> str:
    return "".join(line.split())


def _docstring_lines(source: str) -> set[int]:
    """1-based numbers of the lines that belong to docstrings (module, class, function)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    numbers: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and isinstance(first.value.value, str):
                numbers.update(range(first.lineno, first.end_lineno + 1))
    return numbers


def is_trivial(normalised: str) -> bool:
    return (len(normalised) < MIN_DISTINCTIVE_CHARS or normalised in TRIVIAL_LINES
            or normalised.startswith(("import", "from", "#BEGINSOLUTION", "#ENDSOLUTION", '"""', "'''")))


def _python_lines(text: str) -> set[str]:
    return {normalise(line) for line in text.splitlines()}


def _text_of(path: Path) -> str | None:
    """A file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _files_under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not (_SKIPPED_PARTS & set(p.parts)))


def secret_lines(course: Course) -> tuple[dict[str, str], dict[str, str]]:
    """({normalised distinctive line: where it comes from}, {secret value: whose}) over every
    assignment's solutions folder."""
    from grader.stubs import generate_stub

    lines: dict[str, str] = {}
    secrets: dict[str, str] = {}
    solutions_root = course.root / "solutions"
    solution_dirs = sorted(p for p in solutions_root.iterdir() if p.is_dir()) if solutions_root.is_dir() else []
    # What students legitimately see, over the whole course: the generated stubs (signatures,
    # docstrings) and the public checks and probes (the scaffolding hidden checks share).
    stub_lines: set[str] = set()
    public_lines: set[str] = set()
    for assignment in course.assignments():
        if assignment.reference_path.is_file():
            reference = assignment.reference_path.read_text(encoding="utf-8")
            stub_lines |= _python_lines(generate_stub(reference, str(assignment.reference_path)))
        for public in [assignment.probes_path, *_files_under(assignment.public_checks)]:
            text = _text_of(public) if public.suffix == ".py" and public.is_file() else None
            if text is not None:
                public_lines |= _python_lines(text)
    for solution_dir in solution_dirs:
        hidden_checks = solution_dir / "checks"
        for path in _files_under(solution_dir):
            if path.name == "secret.txt":
                value = path.read_text(encoding="utf-8").strip()
                if len(value) >= 8:
                    secrets[value] = f"the secret of {solution_dir.name}"
                continue
            if path.suffix != ".py":
                continue
            text = _text_of(path)
            if text is None:
                continue
            # solution code (references, mutants) may share only what the stubs show anyway
            allowed = stub_lines | public_lines if hidden_checks in path.parents else stub_lines
            docstrings = _docstring_lines(text)
            relative = path.relative_to(course.root)
            for number, line in enumerate(text.splitlines(), start=1):
                key = normalise(line)
                if number in docstrings or is_trivial(key) or key in allowed:
                    continue
                lines.setdefault(key, f"a line of {relative}:{number}")
    return lines, secrets


# --- scanning a bundle -----------------------------------------------------------------------

def _scannable_texts(path: Path, relative: str):
    """(shown name, text) pieces of one bundle file: a notebook's cells and outputs one by one,
    any other text file whole; binary files give nothing."""
    text = _text_of(path)
    if text is None:
        return
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(text)
            cells = nb["cells"]
        except (ValueError, KeyError, TypeError):
            yield relative, text
            return
        for number, cell in enumerate(cells, start=1):
            pieces = [cell.get("source", "")]
            for output in cell.get("outputs", []) or []:
                pieces.append(output.get("text", ""))
                pieces.extend((output.get("data") or {}).values())
            for piece in pieces:
                yield f"{relative} (cell {number})", "".join(piece) if isinstance(piece, list) else str(piece)
        return
    yield relative, text


def scan_bundle(bundle: Path, course: Course) -> tuple[list[Leak], int, int]:
    """(leaks, files scanned, secret lines known) for the folder `bundle`."""
    lines, secrets = secret_lines(course)
    leaks: list[Leak] = []
    scanned = 0
    for path in _files_under(bundle):
        relative = path.relative_to(bundle).as_posix()
        found_text = False
        for shown, text in _scannable_texts(path, relative):
            found_text = True
            for number, line in enumerate(text.splitlines(), start=1):
                origin = lines.get(normalise(line))
                if origin is not None:
                    leaks.append(Leak(shown, number, line, origin))
            for value, whose in secrets.items():
                if value in text:
                    number = text[: text.index(value)].count("\n") + 1
                    leaks.append(Leak(shown, number, "<the secret value>", whose))
        scanned += found_text
    return leaks, scanned, len(lines)


# --- building the bundle -------------------------------------------------------------------

def _required_files(assignment: Assignment) -> list[Path]:
    from grader.notebooks import handout_path, notebook_path

    checks = assignment.public_checks
    required = [assignment.directory / "assignment.toml", assignment.stub_path, notebook_path(assignment),
                handout_path(assignment), assignment.probes_path, checks / "public_expected.npz",
                checks / "inventory.json"]
    missing = [p for p in required if not p.is_file()]
    if not list(checks.glob("test_*.py")):
        missing.append(checks / "test_*.py")
    if missing:
        shown = ", ".join(str(p.relative_to(assignment.course_root)) for p in missing)
        raise ReleaseError(f"missing {shown}; run `grader build {assignment.id}` first")
    public_checks = sorted(p for p in _files_under(checks) if p.suffix in (".py", ".npz", ".json"))
    return required[:5] + public_checks


#: What a student's `pip install -e .` needs for the self-check, the notebook and its plots;
#: the instructor's extras (Dask, PyTorch, test tools, nbconvert for notebook records) stay out.
STUDENT_PACKAGES = ("numpy", "pytest", "nbformat", "jinja2", "matplotlib")


def student_pyproject(course_pyproject: Path) -> str:
    """A minimal pyproject.toml for the bundle: the grader package and the course's version
    pins of STUDENT_PACKAGES only (any package the course does not pin is left unpinned)."""
    import re
    import tomllib

    pins: dict[str, str] = {}
    package_data: list[str] = []
    if course_pyproject.is_file():
        data = tomllib.loads(course_pyproject.read_text(encoding="utf-8"))
        project = data.get("project", {})
        package_data = data.get("tool", {}).get("setuptools", {}).get("package-data", {}).get("grader", [])
        for requirement in project.get("dependencies", []):
            name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
            pins[name] = requirement
    dependencies = ",\n".join(f"    {json.dumps(pins.get(name, name))}" for name in STUDENT_PACKAGES)
    return f"""# The student bundle's project: `python -m pip install -e .` in this folder.
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "grader-student"
version = "{grader.__version__}"
description = "Self-check for the assignment: public tests in a sandbox."
requires-python = ">=3.11"
dependencies = [
{dependencies},
]

[project.scripts]
grader = "grader.cli:main"

[tool.setuptools.packages.find]
include = ["grader*"]

[tool.setuptools.package-data]
grader = {json.dumps(package_data)}
"""


def _readme(assignment: Assignment) -> str:
    module = assignment.module
    return f"""# {assignment.title}

Your material for the assignment `{assignment.id}`:

- `assignments/{assignment.id}/handout.md`: what to do, with the formulas;
- `assignments/{assignment.id}/{module}.ipynb`: the same as a notebook, with a cell per function,
  a plot of your optimisation path and self-check cells;
- `assignments/{assignment.id}/{module}.py`: the same functions as a plain module.

Work in either the notebook or the module, and submit `{module}.ipynb` or `{module}.py`.

## Set up

In this folder, once (Python 3.11 or later):

```
python -m pip install -e .
```

That installs the `grader` package shipped here with what it needs (NumPy, pytest, matplotlib,
nbformat, Jinja2),
so `import grader` works in the notebook's kernel. With Jupyter installed (`python -m pip install
jupyterlab` if you have none), open the notebook:
`jupyter lab assignments/{assignment.id}/{module}.ipynb`.

## Check your work

```
python -m grader check {assignment.id}                                     # the module
python -m grader check {assignment.id} assignments/{assignment.id}/{module}.ipynb   # or the notebook
```

or run the `grader.check(...)` cells in the notebook. The self-check runs the **public tests
only**, in a sandbox; grading runs hidden checks on other inputs. Passing the public tests is a
good sign, not your grade. When a check fails it names the likely mistake when it is a common
one; `--report report.html` writes the same as a web page with plots.

## Submit

If your course runs the submission service, your instructor sent you a login link: open it to
upload your file in the browser and read your graded report within seconds. From a terminal:

```
python -m grader submit {assignment.id} assignments/{assignment.id}/{module}.py   # or the .ipynb
```

or, in the notebook, a cell with `import grader; grader.submit()` (it submits the functions you
ran, as `grader.check()` checks them). Both wait for the grading and print it. They need the
service's address and your token (the `token=` part of your login link): set `GRADER_SERVER`
and `GRADER_TOKEN`, or write them in `submit.toml` in this folder
(`server = "https://..."` and `token = "..."`){_server_note(assignment)}.

## Supported systems

- **Linux** (Python 3.11+): fully supported. With bubblewrap installed (`sudo apt install
  bubblewrap`, optional) the self-check uses the same sandbox as grading; without it, a lighter
  one, which is fine for checking your own code.
- **macOS** (Python 3.11+): supported, with the lighter sandbox.
- **Windows** (Python 3.11+): the self-check runs without a sandbox (Windows has no `os.fork`)
  and says so; it has no time limit there, so stop an endless loop with Ctrl-C. WSL (Ubuntu)
  works like Linux.
"""


def _server_note(assignment: Assignment) -> str:
    """Where the bundle's submit.toml already names the server (the assignment's [service] url)."""
    return "; this bundle's `submit.toml` already names the server, add your token there" \
        if _service_url(assignment) else ""


def _service_url(assignment: Assignment) -> str | None:
    import tomllib

    try:
        table = tomllib.loads((assignment.directory / "assignment.toml").read_text(encoding="utf-8")).get("service", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    url = table.get("url") if isinstance(table, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _stage(assignment: Assignment, staging: Path) -> list[str]:
    """Copy the bundle's files into `staging`; returns their bundle-relative paths."""
    course_root = assignment.course_root
    copies: list[tuple[Path, Path]] = []
    for path in _required_files(assignment):
        copies.append((path, staging / path.relative_to(course_root)))
    package = Path(grader.__file__).resolve().parent
    for path in _files_under(package):
        if path.suffix not in (".pyc", ".pyo"):
            copies.append((path, staging / "grader" / path.relative_to(package)))
    for path in _files_under(course_root / "templates"):
        copies.append((path, staging / path.relative_to(course_root)))
    for source, target in copies:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (staging / "pyproject.toml").write_text(student_pyproject(course_root / "pyproject.toml"), encoding="utf-8")
    (staging / "README.md").write_text(_readme(assignment), encoding="utf-8")
    url = _service_url(assignment)
    if url:  # `grader submit` and grader.submit() read it (grader.submit)
        (staging / "submit.toml").write_text(f"server = {json.dumps(url)}\n# token = \"the token= part of your login link\"\n",
                                             encoding="utf-8")
    return sorted(p.relative_to(staging).as_posix() for p in _files_under(staging))


def _write_manifest(assignment: Assignment, staging: Path, files: list[str]) -> None:
    manifest = {
        "assignment": assignment.id,
        "grader_version": grader.__version__,
        "files": {name: hashlib.sha256((staging / name).read_bytes()).hexdigest() for name in files},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_zip(folder: Path, archive: Path, root_name: str) -> Path:
    """A deterministic zip of `folder` (sorted entries, fixed dates, 0644 files / 0755 for
    executables) with every entry under `root_name/` (or at the top when root_name is "")."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _files_under(folder):
            name = path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(f"{root_name}/{name}" if root_name else name, date_time=_ZIP_DATE)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    partial = archive.with_name(archive.name + ".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, archive)
    return archive


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ReleaseError(f"{out} exists and is not a bundle written by `grader release`; choose another --out")


def release(assignment: Assignment, out: Path, course: Course | None = None) -> ReleaseReport:
    """Write the student bundle at `out` and `out`.zip; raise ReleaseError (one line) when a
    file is missing, `out` is something else, or the scan finds a solution line (then nothing
    is written at `out`)."""
    out = Path(out).resolve()
    course = course or Course(assignment.course_root)
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files = _stage(assignment, staging)
        leaks, scanned, known = scan_bundle(staging, course)
        if leaks:
            more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
            raise ReleaseError(f"leak: {leaks[0]}{more}; the bundle was not written")
        _write_manifest(assignment, staging, files)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive = write_zip(out, out.with_name(out.name + ".zip"), out.name)
    return ReleaseReport(bundle=out, archive=archive, files=files + [MANIFEST], scanned_files=scanned,
                         secret_lines=known)


def release_command(assignment: Assignment, out: Path) -> int:
    """The CLI's `grader release`: 0 when the bundle is written (a ReleaseError otherwise)."""
    report = release(assignment, out)
    print(f"wrote {report.bundle} ({len(report.files)} files) and {report.archive}")
    print(f"no leak: scanned {report.scanned_files} text files for {report.secret_lines} distinctive lines "
          f"of the solutions, mutants and hidden checks")
    return 0
