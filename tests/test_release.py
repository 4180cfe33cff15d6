"""`grader release`: the student bundle, its zip, the leak scan, and `grader check` inside it."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.course import Course
from grader.cli import main
from grader.release import MANIFEST, ReleaseError, release, scan_bundle

COURSE = Course.find(Path(__file__).resolve().parent)


def _built(assignment) -> bool:
    checks = assignment.public_checks
    return (checks / "public_expected.npz").is_file() and (checks / "inventory.json").is_file() \
        and assignment.probes_path.is_file()


RELEASABLE = [a for a in COURSE.assignments() if _built(a)]


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module", params=[a.id for a in RELEASABLE] or ["none built yet"])
def bundle(request, tmp_path_factory):
    if not RELEASABLE:
        pytest.skip("no assignment has its public checks built yet")
    assignment = COURSE.get(request.param)
    out = tmp_path_factory.mktemp("release") / f"{assignment.id}-bundle"
    report = release(assignment, out)
    return assignment, out, report


def test_bundle_holds_the_student_material_and_nothing_secret(bundle):
    assignment, out, report = bundle
    files = _files(out)
    base = f"assignments/{assignment.id}"
    for name in ("assignment.toml", f"{assignment.module}.py", f"{assignment.module}.ipynb", "handout.md",
                 "probes.py", "checks/public_expected.npz", "checks/inventory.json"):
        assert f"{base}/{name}" in files
    assert any(re.fullmatch(rf"{base}/checks/test_[^/]+\.py", f) for f in files)
    assert "grader/cli.py" in files and "grader/__main__.py" in files and "README.md" in files
    assert any(f.startswith("templates/") for f in files)
    assert not any(f.startswith("solutions/") or "/mutants/" in f or f.endswith(("secret.txt", ".pyc"))
                   or "__pycache__" in f or f.endswith(".j2") and f.startswith("assignments/") for f in files)
    hidden_names = {p.name for p in assignment.hidden_checks.glob("*.py")} - {p.name for p in assignment.public_checks.glob("*.py")}
    assert not {Path(f).name for f in files} & hidden_names
    # the stub shipped is the generated one: bodies raise NotImplementedError
    assert (out / base / f"{assignment.module}.py").read_text().count("raise NotImplementedError") == len(assignment.functions)


def test_bundle_has_a_minimal_pyproject_and_says_which_systems_it_supports(bundle):
    import tomllib

    assignment, out, _ = bundle
    project = tomllib.loads((out / "pyproject.toml").read_text())
    names = [re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower() for d in project["project"]["dependencies"]]
    assert {"numpy", "pytest"} <= set(names)
    assert not {"dask", "torch", "hypothesis", "nbconvert", "tqdm"} & set(names)
    assert "optional-dependencies" not in project["project"] and "tool" in project
    assert "pytest" not in project["tool"]  # the course's test settings stay with the course
    assert project["project"]["scripts"] == {"grader": "grader.cli:main"}
    readme = (out / "README.md").read_text()
    section = readme[readme.index("## Supported systems"):]
    assert all(system in section for system in ("Linux", "macOS", "Windows"))
    assert "without a sandbox" in section and "Python 3.11" in section
    # the self-check names mistakes from baked answers shipped with the public checks
    assert (out / f"assignments/{assignment.id}/checks/public_mutants.npz").is_file()


def test_no_hidden_check_or_reference_body_text_anywhere_in_the_bundle(bundle):
    """Independent of the scanner: the names of hidden tests and whole solution blocks."""
    assignment, out, _ = bundle
    import ast

    hidden_tests = set()
    for path in assignment.hidden_checks.glob("*.py"):
        hidden_tests |= {n.name for n in ast.walk(ast.parse(path.read_text()))
                         if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    public_tests = set()
    for path in assignment.public_checks.glob("*.py"):
        public_tests |= {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
    blocks = re.findall(r"# BEGIN SOLUTION\n(.*?)\n\s*# END SOLUTION", assignment.reference_path.read_text(), re.S)
    assert blocks
    for path in out.rglob("*"):
        if not path.is_file() or path.suffix == ".npz":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in hidden_tests - public_tests:
            assert f"def {name}(" not in text, (path, name)
        for block in blocks:
            assert block not in text, path


def test_manifest_and_zip_match_the_folder(bundle):
    assignment, out, report = bundle
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["assignment"] == assignment.id
    assert set(manifest["files"]) == set(_files(out)) - {MANIFEST}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert report.archive == out.with_name(out.name + ".zip")
    with zipfile.ZipFile(report.archive) as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"{out.name}/{f}" for f in _files(out))
        assert zf.read(f"{out.name}/{MANIFEST}") == (out / MANIFEST).read_bytes()


def test_release_is_deterministic_and_replaces_its_own_previous_bundle(bundle, tmp_path):
    assignment, out, report = bundle
    again = release(assignment, out)  # over the existing bundle: allowed
    assert again.archive.read_bytes() == report.archive.read_bytes()
    other = release(assignment, tmp_path / out.name)
    assert other.archive.read_bytes() == report.archive.read_bytes()


def _run_in_bundle(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_COURSE", "GRADER_SECRET")}
    env["PYTHONPATH"] = str(out)
    return subprocess.run([sys.executable, *args], cwd=out, env=env, capture_output=True, text=True, timeout=120)


def test_grader_check_works_inside_the_bundle_without_solutions(bundle, tmp_path):
    assignment, out, _ = bundle
    which = _run_in_bundle(out, "-c", "import grader; print(grader.__file__)")
    assert Path(which.stdout.strip()).resolve() == (out / "grader" / "__init__.py").resolve()

    stub = _run_in_bundle(out, "-m", "grader", "check", assignment.id, f"assignments/{assignment.id}/{assignment.module}.py")
    assert stub.returncode == 1, stub.stderr
    assert "public tests only" in stub.stdout.lower() and "Traceback" not in stub.stderr
    assert "all tests passed" not in stub.stdout.lower()

    mine = tmp_path / f"{assignment.module}.py"
    shutil.copyfile(assignment.reference_path, mine)
    reference = _run_in_bundle(out, "-m", "grader", "check", assignment.id, str(mine))
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert "public tests only" in reference.stdout.lower()
    inventory = json.loads((out / f"assignments/{assignment.id}/checks/inventory.json").read_text())
    assert f"{inventory['hidden_checks']} hidden checks" in reference.stdout


# --- refusing to release --------------------------------------------------------------------

@pytest.fixture
def fake_course(tmp_path):
    """A copy of one built assignment with its solutions, as a course of its own."""
    if not RELEASABLE:
        pytest.skip("no assignment has its public checks built yet")
    assignment = RELEASABLE[0]
    root = tmp_path / "course"
    for sub in ("assignments", "solutions"):
        shutil.copytree(COURSE.root / sub / assignment.id, root / sub / assignment.id,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(COURSE.root / "templates", root / "templates")
    return Course(root), assignment.id


def _solution_line(course: Course, assignment_id: str) -> str:
    """A distinctive line of the reference: the longest line inside a solution block."""
    reference = course.get(assignment_id).reference_path.read_text()
    block_lines = [l for b in re.findall(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", reference, re.S)
                   for l in b.splitlines() if l.strip() and not l.strip().startswith("#")]
    return max(block_lines, key=lambda l: len(l.strip()))


def _hidden_check_lines(assignment) -> list[str]:
    """Statements inside hidden test functions that no public check or probe has."""
    import ast

    public = {"".join(l.split()) for p in [assignment.probes_path, *assignment.public_checks.glob("*.py")]
              for l in p.read_text().splitlines()}
    found = []
    for path in sorted(assignment.hidden_checks.glob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for statement in node.body[1:]:
                    line = source.splitlines()[statement.lineno - 1]
                    if statement.end_lineno == statement.lineno and len("".join(line.split())) > 30 \
                            and "".join(line.split()) not in public:
                        found.append(line)
    assert found, "no distinctive hidden check line to plant"
    return found


def release_cli(assignment, out) -> int:
    """`grader release` as the command line runs it: its exit code (its lines go to stdout and
    stderr, where capsys reads them), on the assignment's own course."""
    saved = os.environ.get("GRADER_COURSE")
    os.environ["GRADER_COURSE"] = str(assignment.course_root)
    try:
        return main(["release", assignment.id, "--out", str(out)])
    finally:
        if saved is None:
            del os.environ["GRADER_COURSE"]
        else:
            os.environ["GRADER_COURSE"] = saved


def _assert_refused(capsys, code: int, out: Path, *expected: str) -> str:
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("grader: error: leak: ") and err.count("\n") == 1, err
    for piece in expected:
        assert piece in err, err
    assert not out.exists() and not out.with_name(out.name + ".zip").exists()
    assert not [p for p in out.parent.iterdir() if ".partial" in p.name]
    return err


def test_a_solution_line_in_the_stub_is_refused(fake_course, tmp_path, capsys):
    course, aid = fake_course
    assignment = course.get(aid)
    leaked = _solution_line(course, aid)
    stub = assignment.stub_path
    stub.write_text(stub.read_text().replace("raise NotImplementedError", leaked.strip(), 1))
    out = tmp_path / "out" / "bundle"
    err = _assert_refused(capsys, release_cli(assignment, out), out,
                          f"assignments/{aid}/{assignment.module}.py:", leaked.strip()[:40],
                          f"solutions/{aid}/{assignment.module}.py:")


def test_a_reformatted_solution_line_in_a_notebook_output_is_refused(fake_course, tmp_path, capsys):
    course, aid = fake_course
    assignment = course.get(aid)
    leaked = " ".join(_solution_line(course, aid).split()).replace(" ", "  ")  # spacing changed
    notebook = assignment.directory / f"{assignment.module}.ipynb"
    nb = json.loads(notebook.read_text())
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ok\n", leaked + "\n"]}]
    notebook.write_text(json.dumps(nb))
    out = tmp_path / "bundle"
    _assert_refused(capsys, release_cli(assignment, out), out, f"{assignment.module}.ipynb (cell 2):2")


def test_a_hidden_check_line_or_the_secret_in_the_handout_is_refused(fake_course, tmp_path, capsys):
    course, aid = fake_course
    assignment = course.get(aid)
    hidden = _hidden_check_lines(assignment)
    handout = assignment.directory / "handout.md"
    handout.write_text(handout.read_text() + "\n" + hidden[0] + "\n")
    out = tmp_path / "bundle"
    _assert_refused(capsys, release_cli(assignment, out), out, "handout.md:", f"solutions/{aid}/checks/")

    handout.write_text(handout.read_text().replace(hidden[0], (assignment.solution_directory / "secret.txt").read_text().strip()))
    _assert_refused(capsys, release_cli(assignment, out), out, "handout.md:", f"the secret of {aid}")


def test_a_planted_leak_never_replaces_an_existing_bundle(fake_course, tmp_path, capsys):
    course, aid = fake_course
    assignment = course.get(aid)
    out = tmp_path / "bundle"
    assert release_cli(assignment, out) == 0
    before = (out / MANIFEST).read_text()
    capsys.readouterr()
    probes = assignment.probes_path
    probes.write_text(probes.read_text() + "\n" + _solution_line(course, aid).strip() + "\n")
    assert release_cli(assignment, out) == 2
    assert "probes.py" in capsys.readouterr().err
    assert (out / MANIFEST).read_text() == before  # the previous, clean bundle is untouched


def test_scanner_ignores_trivial_and_stub_lines(fake_course, tmp_path):
    course, aid = fake_course
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "ok.py").write_text("import numpy as np\nreturn theta\n" + course.get(aid).stub_path.read_text())
    leaks, scanned, known = scan_bundle(folder, course)
    assert leaks == [] and scanned == 1 and known > 10


def test_refusals_for_bad_out_and_missing_built_files(fake_course, tmp_path, capsys):
    course, aid = fake_course
    assignment = course.get(aid)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "thesis.tex").write_text("precious")
    assert release_cli(assignment, occupied) == 2
    assert "is not a bundle written by `grader release`" in capsys.readouterr().err
    assert (occupied / "thesis.tex").read_text() == "precious"

    (assignment.public_checks / "inventory.json").unlink()
    with pytest.raises(ReleaseError, match=rf"missing assignments/{aid}/checks/inventory.json; run `grader build {aid}`"):
        release(assignment, tmp_path / "new")
