"""Notebooks in and out: the notebook and short handout of an assignment, generated from its
stub module and its Jinja2 template; the in-notebook self-check (`grader.check`); the HTML
record of a submitted notebook.

The handout template is assignment data: ``assignments/<id>/handout.md.j2`` (shared partials
may live in ``templates/notebook/``). It is Markdown with LaTeX, rendered twice from the same
source: once into the notebook (``notebook`` is true) and once into ``handout.md``. Cells are
placed with these template functions:

``{{ imports() }}``
    the stub's module-level code (its imports); a code cell in the notebook, nothing in the
    handout.
``{{ function("adam_step") }}``
    the stub's function with its docstring, to fill in; a code cell in the notebook, the
    signature and docstring as a Python block in the handout. Every function of the stub must
    be placed exactly once.
``{{ self_check("adam_step") }}``, ``{{ self_check() }}``
    a code cell running ``grader.check`` for one function or the whole assignment; nothing in
    the handout.
``{% call code() %} ... {% endcall %}``
    a demo code cell (e.g. the plot of the trajectory); nothing in the handout. Its code runs
    inside ``with grader.skip_if_unfinished():``, so a cell that calls a function the student
    has not written yet says so in one line instead of stopping "Run all".

Markdown between cells is split into one cell per heading. The output is deterministic: no
timestamps, no execution counts, and nbformat 4.5 cell ids derived from the cell index, so a
test can compare the committed notebook with a rebuild.

Heavy libraries (nbformat, jinja2, nbconvert, IPython) are imported inside the functions that
need them: ``import grader`` and ``grader.check`` stay cheap to import.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from grader.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from grader.course import Assignment
    from grader.results import GradingResult

HANDOUT_TEMPLATE = "handout.md.j2"
HANDOUT = "handout.md"
SHARED_TEMPLATES = Path("templates") / "notebook"  # relative to the course root
METADATA_KEY = "grader"  # notebook and cell metadata namespace
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class NotebookBuildError(UsageError, ValueError):
    """The template and the stub do not fit together; str() says what to fix, in one line."""


def notebook_path(assignment: "Assignment") -> Path:
    return assignment.directory / f"{assignment.module}.ipynb"


def handout_path(assignment: "Assignment") -> Path:
    return assignment.directory / HANDOUT


# --- the stub, split into cells -----------------------------------------------------------

@dataclass(frozen=True)
class StubParts:
    """The stub module cut into what becomes cells: module-level code (imports, constants)
    and each top-level function's source, in file order."""

    preamble: str
    functions: dict[str, str]


def split_module(source: str, origin: str = "<stub>") -> StubParts:
    """Cut a module into its preamble (every top-level statement that is not a function or the
    module docstring) and its functions (decorators and the comment lines directly above
    included)."""
    tree = ast.parse(source, filename=origin)
    lines = source.splitlines()
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the module docstring: the handout prose replaces it
    preamble: list[str] = []
    functions: dict[str, str] = {}
    preamble_end = 0  # last line of the preamble so far
    for node in body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            functions[node.name] = "\n".join(lines[start:node.end_lineno])
        else:
            if preamble and start > preamble_end:  # keep one blank line between separate groups
                preamble.append("")
            preamble.extend(lines[start:node.end_lineno])
            preamble_end = node.end_lineno
    return StubParts("\n".join(preamble).strip("\n"), functions)


def signature_and_docstring(function_source: str) -> str:
    """The `def` line(s) and the docstring of a function's source, without its body."""
    node = ast.parse(function_source).body[0]
    lines = function_source.splitlines()
    first = node.body[0]
    has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
        and isinstance(first.value.value, str)
    end = first.end_lineno if has_doc else first.lineno - 1
    text = "\n".join(lines[:end])
    return text if has_doc else text + "\n    ..."


# --- rendering the template ---------------------------------------------------------------

@dataclass
class Cell:
    kind: str  # "markdown" | "code"
    source: str
    role: str = "prose"  # prose | imports | function | code | check
    function: str | None = None

    def metadata(self) -> dict:
        if self.kind == "markdown":
            return {}
        meta = {"role": self.role}
        if self.function:
            meta["function"] = self.function
        return {METADATA_KEY: meta}


@dataclass
class _Renderer:
    """The template functions, for one target (notebook or handout)."""

    assignment: "Assignment"
    parts: StubParts
    notebook: bool
    cells: list[Cell] = field(default_factory=list)
    placed: list[str] = field(default_factory=list)

    def _cell(self, cell: Cell) -> str:
        self.cells.append(cell)
        return f"\n\x00{len(self.cells) - 1}\x00\n"

    def imports(self) -> str:
        if not self.notebook or not self.parts.preamble:
            return ""
        return self._cell(Cell("code", self.parts.preamble, "imports"))

    def function(self, name: str) -> str:
        if name not in self.parts.functions:
            known = ", ".join(self.parts.functions) or "none"
            raise NotebookBuildError(f"{self.assignment.id}/{HANDOUT_TEMPLATE}: function({name!r}) is not "
                                     f"a function of the stub {self.assignment.module}.py (it has: {known})")
        if name in self.placed:
            raise NotebookBuildError(f"{self.assignment.id}/{HANDOUT_TEMPLATE}: function({name!r}) is placed twice")
        self.placed.append(name)
        source = self.parts.functions[name]
        if self.notebook:
            return self._cell(Cell("code", source, "function", name))
        return f"\n```python\n{signature_and_docstring(source)}\n```\n"

    def self_check(self, name: str | None = None) -> str:
        if not self.notebook:
            return ""
        if name is not None and name not in self.assignment.functions:
            raise NotebookBuildError(f"{self.assignment.id}/{HANDOUT_TEMPLATE}: self_check({name!r}) names no "
                                     f"part of the assignment")
        call = f"grader.check({json.dumps(name)})" if name else "grader.check()"
        return self._cell(Cell("code", f"import grader\n{call}", "check", name))

    def code(self, caller) -> str:
        if not self.notebook:
            return ""
        import textwrap

        body = textwrap.indent(_dedent_block(caller()), "    ", lambda line: bool(line.strip()))
        source = f"import grader\n\nwith grader.skip_if_unfinished():  # one line, not an error, while a function is unfinished\n{body}"
        return self._cell(Cell("code", source, "code"))


def _dedent_block(text: str) -> str:
    import textwrap
    return textwrap.dedent(text).strip("\n")


def _environment(assignment: "Assignment"):
    import jinja2

    folders = [assignment.directory, assignment.course_root / SHARED_TEMPLATES]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders if f.is_dir()]),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )


def render_template(assignment: "Assignment", notebook: bool, stub_source: str | None = None) -> tuple[str, list[Cell]]:
    """The rendered template text (holding cell placeholders when `notebook`) and the cells."""
    import jinja2

    from grader.stubs import stub_for

    if not (assignment.directory / HANDOUT_TEMPLATE).is_file():
        raise NotebookBuildError(f"{assignment.directory / HANDOUT_TEMPLATE}: missing handout template")
    stub_source = stub_source if stub_source is not None else stub_for(assignment)
    parts = split_module(stub_source, f"{assignment.module}.py (generated stub)")
    renderer = _Renderer(assignment, parts, notebook)
    try:
        template = _environment(assignment).get_template(HANDOUT_TEMPLATE)
        text = template.render(
            assignment=assignment, notebook=notebook, module=assignment.module,
            imports=renderer.imports, function=renderer.function, self_check=renderer.self_check,
            code=renderer.code,
        )
    except jinja2.TemplateError as exc:
        where = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise NotebookBuildError(f"{assignment.directory / HANDOUT_TEMPLATE}{where}: {exc}") from None
    missing = [name for name in parts.functions if name not in renderer.placed]
    if missing:
        raise NotebookBuildError(f"{assignment.directory / HANDOUT_TEMPLATE}: the stub's functions "
                                 f"{', '.join(missing)} have no function(...) cell")
    return text, renderer.cells


_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s")


def _markdown_cells(text: str) -> list[str]:
    """Markdown split into one chunk per heading (headings inside code fences do not count)."""
    chunks: list[list[str]] = [[]]
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and _HEADING.match(line) and any(l.strip() for l in chunks[-1]):
            chunks.append([])
        chunks[-1].append(line)
    return [c for c in ("\n".join(chunk).strip() for chunk in chunks) if c]


def notebook_cells(assignment: "Assignment", stub_source: str | None = None) -> list[Cell]:
    text, code_cells = render_template(assignment, notebook=True, stub_source=stub_source)
    cells: list[Cell] = []
    pieces = _PLACEHOLDER.split(text)
    for i, piece in enumerate(pieces):
        if i % 2:
            cells.append(code_cells[int(piece)])
        else:
            cells.extend(Cell("markdown", chunk) for chunk in _markdown_cells(piece))
    return cells


def notebook_node(assignment: "Assignment", stub_source: str | None = None):
    """The assignment's notebook as an nbformat 4.5 NotebookNode (deterministic)."""
    import nbformat
    from nbformat import v4

    cells = []
    for index, cell in enumerate(notebook_cells(assignment, stub_source)):
        make = v4.new_markdown_cell if cell.kind == "markdown" else v4.new_code_cell
        cells.append(make(source=cell.source, metadata=cell.metadata(), id=f"cell-{index}"))
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        METADATA_KEY: {"assignment": assignment.id, "module": assignment.module},
    })
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def notebook_text(assignment: "Assignment", stub_source: str | None = None) -> str:
    """The notebook file's exact text, as `build_notebook` writes it."""
    import nbformat

    return nbformat.writes(notebook_node(assignment, stub_source)).rstrip("\n") + "\n"


def handout_text(assignment: "Assignment", stub_source: str | None = None) -> str:
    """The short handout (Markdown) rendered from the same template."""
    text, _ = render_template(assignment, notebook=False, stub_source=stub_source)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def build_notebook(assignment: "Assignment") -> Path:
    """Write `assignments/<id>/<module>.ipynb` and `assignments/<id>/handout.md` from the stub
    and the template; returns the notebook's path."""
    notebook = notebook_path(assignment)
    notebook.write_text(notebook_text(assignment), encoding="utf-8")
    handout_path(assignment).write_text(handout_text(assignment), encoding="utf-8")
    return notebook


# --- the HTML record of a submitted notebook ---------------------------------------------

def export_notebook_html(notebook_path: str | Path, out_html: str | Path) -> Path:
    """Write `notebook_record_html(notebook_path)` to `out_html`."""
    out_html = Path(out_html)
    body = notebook_record_html(notebook_path)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(body, encoding="utf-8")
    return out_html


def submitted_notebook_record(path, module_name: str) -> str | None:
    """The record (`notebook_record_html`) of the notebook a submission was graded from: a
    notebook, or one inside a folder or a zip; None when the submission is a module or
    cannot be loaded. `path` is the submission's path or its `grader.load.SubmissionFile`
    (read already; nothing is read from disk then). Raises ValueError (one line) for a
    notebook the exporter cannot show."""
    from grader.load import SubmissionError, SubmissionFile, load_submission
    from grader.render.notebook_record import record_html

    if isinstance(path, SubmissionFile):
        if path.kind == "module":
            return None
        origin = Path(path.origin)
    else:
        path = origin = Path(path)
        if path.is_file() and path.suffix.lower() not in (".ipynb", ".zip"):
            return None  # a module: nothing to load again
    try:
        submission = load_submission(path, module_name)
    except SubmissionError:
        return None
    if submission.notebook_text is None:
        return None
    name = submission.notebook_path.stem if submission.notebook_path else origin.stem
    return record_html(submission.notebook_text, name)


def notebook_record_html(notebook_path: str | Path) -> str:
    """The instructor's record of a submitted notebook: its cells and stored outputs
    exactly as submitted (nothing is executed), as one self-contained HTML page.

    Exported by nbconvert's HTMLExporter (built once per process) with the template in
    grader/render/record_template (see `grader.render.notebook_record`: ~17 ms per demo
    notebook, where the stock exporter took ~140-250 ms). Every cell's final HTML passes
    through one allowlist sanitiser (`grader.render.student_html`: nothing of the student's
    acts, covers the page or fetches anything); the page has no script at all and loads
    nothing from the network. Raises ValueError (one line) for an unreadable notebook."""
    from grader.load import MAX_NOTEBOOK_BYTES
    from grader.render.notebook_record import record_from_path

    return record_from_path(Path(notebook_path), MAX_NOTEBOOK_BYTES)


# --- the in-notebook self-check ------------------------------------------------------------

def check(function: str | None = None, assignment=None) -> "GradingResult":
    """Self-check the functions defined in this notebook (or script) with the public tests.

    Collects the source of the functions defined in ``__main__`` (with the imports and simple
    constants they use), writes it to a temporary module, grades it with the public checks
    only, in the sandbox, and shows a summary: HTML inline in Jupyter, plain text elsewhere.
    ``function`` narrows the summary and the returned result to one function; ``assignment``
    (an id or an Assignment) is inferred when omitted: from the notebook's metadata, else the
    assignment that has ``function``, else the one whose functions the notebook defines.
    Returns the GradingResult (public tests only, never the grade)."""
    import tempfile

    from grader.course import Course, CourseError
    from grader.grade import grade_submission

    namespace, history, shell = _main_namespace()
    course = Course.find()
    target = _infer_assignment(course, function, assignment, namespace)
    if function is not None and function not in target.functions:
        raise CourseError(f"assignment '{target.id}' has no function {function!r} "
                          f"(its functions: {', '.join(target.functions)})")
    source = student_source(namespace, history)
    with tempfile.TemporaryDirectory(prefix="grader-self-check-") as folder:
        path = Path(folder) / f"{target.module}.py"
        path.write_text(source, encoding="utf-8")
        result = grade_submission(target, path, student="self-check", public_only=True,
                                  functions=[function] if function else None)
    result.public_only = True
    if function is not None:
        result = narrow_result(result, function)
    defined = set(user_functions(namespace))
    missing = [f for f in ([function] if function else target.functions) if f not in defined]
    hidden = target.hidden_check_count(function)  # for the function checked, or the whole assignment
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        _register_plain_repr(shell)
        display(HTML(render_check_html(result, function, hidden, missing)))
    else:
        print(render_check_text(result, hidden, missing))
    return result


def submit(assignment=None, *, server: str | None = None, token: str | None = None,
           timeout: float = 600.0) -> "GradingResult":
    """Submit the functions defined in this notebook (or script) to the course's submission
    service (`grader serve`), wait for the grading and print it as `grader grade` does.

    What is submitted is exactly what `grader.check()` checks: the source of the functions
    you ran (with their imports and constants), as the assignment's module, so an unsaved
    notebook submits what you see working. The server and your token come from the
    arguments, else GRADER_SERVER / GRADER_TOKEN, else `submit.toml` in the bundle (see
    `grader.submit`). Returns the GradingResult (the full grade, hidden checks included)."""
    from grader.course import Course
    from grader.render.text import render_text
    from grader.results import GradingResult
    from grader.submit import print_progress, submit_source

    namespace, history, _ = _main_namespace()
    target = _infer_assignment(Course.find(), None, assignment, namespace)
    source = student_source(namespace, history)
    state = submit_source(target.id, f"{target.module}.py", source.encode("utf-8"), server, token,
                          timeout=timeout, progress=print_progress)
    result = GradingResult.from_dict(state["result"])
    print(render_text(result))
    if state.get("late"):
        print("(this submission is late)")
    return result


def _main_namespace():
    """(namespace, history of code cells, IPython shell or None) of the interactive session,
    or of the running script. IPython is only used when it is already loaded."""

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        history = [cell for cell in shell.user_ns.get("In", []) if isinstance(cell, str)]
        return shell.user_ns, history, shell
    main = sys.modules["__main__"]
    history = []
    main_file = getattr(main, "__file__", None)
    if main_file and Path(main_file).is_file():
        history = [Path(main_file).read_text(encoding="utf-8", errors="replace")]
    return vars(main), history, None


def _infer_assignment(course, function: str | None, assignment, namespace: dict):
    from grader.course import Assignment, CourseError

    if isinstance(assignment, Assignment):
        return assignment
    if assignment is not None:
        return course.get(str(assignment))
    from_metadata = _assignment_from_notebook_metadata(namespace)
    if from_metadata is not None:
        return course.get(from_metadata)
    assignments = course.assignments()
    if function is not None:
        having = [a for a in assignments if function in a.functions]
        if len(having) == 1:
            return having[0]
        if not having:
            raise CourseError(f"no assignment of the course has a function {function!r}")
    else:
        having = assignments
    defined = set(user_functions(namespace))
    overlap = sorted(((len(defined & set(a.functions)), a.id) for a in having), reverse=True)
    if overlap and overlap[0][0] > 0 and (len(overlap) == 1 or overlap[1][0] < overlap[0][0]):
        return course.get(overlap[0][1])
    if len(having) == 1:
        return having[0]
    raise CourseError("cannot tell which assignment this is; pass it: "
                      f"grader.check(assignment=...) with one of {', '.join(a.id for a in having)}")


def _assignment_from_notebook_metadata(namespace: dict) -> str | None:
    """The assignment id in the running notebook's metadata, when the front end tells us which
    notebook it is (VS Code sets ``__vsc_ipynb_file__``, jupyter_server ``JPY_SESSION_NAME``)."""
    import os

    for candidate in (namespace.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")):
        if not isinstance(candidate, str) or not candidate.endswith(".ipynb"):
            continue
        try:
            meta = json.loads(Path(candidate).read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError, AttributeError):
            continue
        found = meta.get(METADATA_KEY, {}).get("assignment") if isinstance(meta, dict) else None
        if isinstance(found, str):
            return found
    return None


def user_functions(namespace: dict) -> dict[str, object]:
    """The functions defined at the top level of the session (``__main__``), by name."""
    import inspect

    module_name = namespace.get("__name__", "__main__")
    return {name: obj for name, obj in namespace.items()
            if inspect.isfunction(obj) and obj.__module__ == module_name and "<locals>" not in obj.__qualname__
            and not name.startswith("_")}


def _referenced_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _referenced_names(const)
    return names


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    return [alias.asname or alias.name for alias in node.names]


def _is_grader_import(node: ast.stmt) -> bool:
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return any(m == "grader" or m.startswith("grader.") for m in modules)


def student_source(namespace: dict, history: list[str]) -> str:
    """A module holding the session's functions with the imports and simple constants they
    use: what a student would have submitted as a file.

    Functions come from ``inspect.getsource`` (IPython keeps every cell's source), so the
    latest definition of each counts. Imports are the top-level import statements of the
    cells run so far that bind a name the functions use (matplotlib in a plot cell does not
    make the module slower or fragile); a module bound in some other way is imported by its
    name. Constants are numbers, strings, booleans and None."""
    import inspect

    functions = user_functions(namespace)
    blocks: list[str] = []
    used: set[str] = set()
    for name, obj in functions.items():
        try:
            source = _dedent_block(inspect.getsource(obj))
            ast.parse(source)
        except (OSError, TypeError, SyntaxError):
            continue  # defined in a way we cannot recover (exec, a lambda inside an expression)
        if obj.__name__ != name and source.lstrip().startswith(("def ", "async def ", "@")):
            source += f"\n\n\n{name} = {obj.__name__}"
        blocks.append(source)
        used |= _referenced_names(obj.__code__)
    imports: list[str] = []
    bound: set[str] = set()
    for cell in history:
        try:
            tree = ast.parse(cell)
        except SyntaxError:
            continue  # IPython syntax the kernel transformed, or a cell that failed
        for node in tree.body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or _is_grader_import(node):
                continue
            names = _bound_names(node)
            if "*" in names or (set(names) & used) or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                line = ast.unparse(node)
                if line not in imports:
                    imports.append(line)
                bound |= set(names)
    import types

    for name in sorted(used - bound):
        value = namespace.get(name)
        if isinstance(value, types.ModuleType) and name not in functions and not value.__name__.startswith("grader"):
            imports.append(f"import {value.__name__} as {name}" if value.__name__ != name else f"import {name}")
        elif type(value) in (int, float, str, bool, complex) or (value is None and name in namespace):
            if name not in functions:
                imports.append(f"{name} = {value!r}")
    imports.sort(key=lambda line: not line.startswith("from __future__"))
    header = '"""Functions collected from the notebook by grader.check()."""'
    return "\n\n\n".join([header + "\n\n" + "\n".join(imports)] + blocks).rstrip() + "\n"


def narrow_result(result: "GradingResult", function: str) -> "GradingResult":
    """The result restricted to one function's part and tests (score and maximum recomputed)."""
    from dataclasses import replace

    parts = [p for p in result.parts if p.function == function]
    return replace(result, parts=parts, tests=result.tests_for(function),
                   score=sum(p.score for p in parts), max_score=sum(p.max_score for p in parts))


def _hidden_note(hidden: int | None, function: str | None = None) -> str:
    if hidden:
        return f"Grading runs {hidden} hidden checks{f' of {function}' if function else ''} on other inputs."
    return "Grading runs hidden checks on other inputs."


def render_check_text(result: "GradingResult", hidden: int | None, missing: list[str]) -> str:
    from grader.render.text import render_text

    lines = [render_text(result, hidden_checks=hidden)]
    if result.status == "error":
        lines.append("Public tests only: this self-check is not your grade.")
    if missing:
        lines.append(f"Not defined yet: {', '.join(missing)}")
    return "\n".join(lines)


_STATUS_STYLE = {"passed": ("&#10003; passed", "#1a7f37"), "failed": ("&#10007; failed", "#cf222e"),
                 "error": ("&#10007; error", "#cf222e"), "timeout": ("&#8987; timeout", "#9a6700")}
#: Monospace for everything with columns (inputs, expected and got): a notebook's output area
#: is in a proportional font, and arrays only line up in a fixed-width one.
_MONO = ("font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;white-space:pre;"
         "overflow-x:auto;margin:2px 0 6px 0;font-size:90%;line-height:1.35")


def render_check_html(result: "GradingResult", function: str | None, hidden: int | None, missing: list[str]) -> str:
    """A compact inline summary of a self-check for a notebook output: the count of public
    tests (tests, not points), the likely mistake first, each failing test's explanation in
    monospace so its columns line up."""
    from html import escape

    from grader.render.text import NOT_ATTEMPTED_NOTE, misconception_notes

    what = f"<code>{escape(function)}</code>" if function else escape(result.assignment)
    rows = []
    notes = []
    if result.status == "error":
        headline = f"Self-check of {what}: could not be graded"
        detail = (result.error or "") + (f"\n{result.error_detail}" if result.error_detail else "")
        rows.append(f"<tr><td colspan=2><pre style=\"{_MONO}\">{escape(detail)}</pre></td></tr>")
    else:
        passed = sum(t.status == "passed" for t in result.tests)
        headline = f"Self-check of {what}: {passed} of {len(result.tests)} public tests passed"
        for part in result.parts:
            for mid, hint in misconception_notes(result, part):
                notes.append(f"<div style='margin:4px 0;padding:4px 8px;border-left:4px solid #cf222e'>"
                             f"<b>Likely mistake</b> in <code>{escape(part.function)}</code> "
                             f"(<code>{escape(mid)}</code>): {escape(hint)}</div>")
            if not part.attempted:
                notes.append(f"<div><code>{escape(part.function)}</code>: {escape(NOT_ATTEMPTED_NOTE)}</div>")
        for test in result.tests:
            if test.not_implemented and not any(p.attempted for p in result.parts if p.function == test.function):
                continue  # said once per part above
            label, colour = _STATUS_STYLE.get(test.status, (escape(test.status), "#57606a"))
            detail = ""
            if test.status != "passed" and test.output:
                detail = f"<pre style=\"{_MONO}\">{escape(test.output)}</pre>"
            rows.append(f"<tr><td style='color:{colour};white-space:nowrap;vertical-align:top;padding-right:1em'>"
                        f"{label}</td><td style='text-align:left'>{escape(test.name)}{detail}</td></tr>")
    footer = [f"<b>Public tests only</b>: this self-check is not your grade. {escape(_hidden_note(hidden, function))}"]
    if missing:
        footer.append("Not defined yet (run their cells): " + ", ".join(f"<code>{escape(m)}</code>" for m in missing))
    footer += [f"warning: {escape(w)}" for w in result.warnings]
    return (
        "<div class='grader-self-check' style='border:1px solid #d0d7de;border-radius:6px;"
        "padding:6px 12px;margin:4px 0;max-width:60em'>"
        f"<div style='font-weight:bold;margin-bottom:4px'>{headline}</div>"
        + "".join(notes)
        + f"<table style='border-collapse:collapse'>{''.join(rows)}</table>"
        + "".join(f"<div style='color:#57606a;margin-top:4px'>{n}</div>" for n in footer)
        + "</div>"
    )


def _register_plain_repr(shell) -> None:
    """Show nothing for a returned GradingResult under the summary (no `Out[n]:` line): the
    summary above is the self-check's output; the result is still returned for code."""
    from grader.results import GradingResult

    def shown_already(result):
        return None

    try:
        shell.display_formatter.ipython_display_formatter.for_type(GradingResult, shown_already)
    except (AttributeError, KeyError):
        pass
