"""The design's central claims, checked on the code itself: nothing in grader/ names an
assignment of the course, no package module imports the command line, and user mistakes
reach the user through one error type and one boundary."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_grader

from grader.course import Course, CourseError
from grader.errors import UsageError

PACKAGE = ROOT / "grader"


def package_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_no_file_under_grader_names_an_assignment():
    course = Course(ROOT)
    names = {a.id for a in course.assignments()} | {a.module for a in course.assignments()}
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, sorted(names))) + r")(?![A-Za-z0-9])")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in package_files() if path.suffix in (".py", ".j2", ".html", ".ini", ".css", ".txt", ".toml")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert not found, "grader/ names an assignment (assignments are data):\n" + "\n".join(found)


def test_no_package_module_imports_the_command_line():
    importers = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "grader.cli" or \
                    isinstance(node, ast.Import) and any(alias.name == "grader.cli" for alias in node.names):
                importers.append(str(path.relative_to(ROOT)))
    assert not importers


def test_every_user_facing_error_is_a_usage_error_and_only_the_cli_turns_it_into_exit_2():
    from grader.figures import FiguresError
    from grader.gradescope import AutograderError
    from grader.load import SubmissionError
    from grader.release import ReleaseError

    for error in (CourseError, SubmissionError, ReleaseError, AutograderError, FiguresError):
        assert issubclass(error, UsageError), error
    printers = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
                if path.name not in ("cli.py", "errors.py") and "grader: error:" in path.read_text(encoding="utf-8")]
    assert not printers, f"only grader/cli.py prints `grader: error:` lines: {printers}"


def course_without_secret(tmp_path: Path, assignment_id: str) -> Path:
    for folder in ("assignments", "solutions", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "solutions" / assignment_id / "secret.txt").unlink()
    return tmp_path


def test_hidden_grading_without_a_secret_says_how_to_make_one_and_the_self_check_needs_none(tmp_path):
    root = course_without_secret(tmp_path, "sigmoid_neuron")
    env = {"GRADER_COURSE": str(root), "GRADER_SECRET": ""}
    reference = root / "solutions" / "sigmoid_neuron" / "sigmoid_neuron.py"
    graded = run_grader("grade", "sigmoid_neuron", str(reference), env=env)
    assert graded.returncode == 2 and graded.stdout == ""
    (line,) = graded.stderr.splitlines()
    assert "secret.txt: no secret" in line and "secrets.token_hex(32)" in line
    # the command it names makes a secret that works
    command = line.split("`")[1]
    subprocess.run(command.replace("python ", f"{sys.executable} ", 1), shell=True, check=True, cwd=root)
    assert run_grader("grade", "sigmoid_neuron", str(reference), env=env).returncode == 0
    (root / "solutions" / "sigmoid_neuron" / "secret.txt").unlink()
    checked = run_grader("check", "sigmoid_neuron", str(reference), env=env)
    assert checked.returncode == 0, checked.stderr


def test_a_batch_without_a_secret_stops_before_grading_with_one_line(tmp_path):
    root = course_without_secret(tmp_path, "sigmoid_neuron")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(root / "solutions" / "sigmoid_neuron" / "sigmoid_neuron.py", cohort / "alice.py")
    done = run_grader("batch", "sigmoid_neuron", str(cohort), "--out", str(tmp_path / "out"), "--workers", "1",
                      env={"GRADER_COURSE": str(root), "GRADER_SECRET": ""})
    assert done.returncode == 2 and "no secret" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()
