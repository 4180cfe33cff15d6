"""Gradescope: `grader gradescope build ID --out autograder.zip` writes an autograder, and the
autograder's `run_autograder` calls `python -m grader.gradescope run ID` for every submission.

The zip (what Gradescope calls the autograder, unpacked into /autograder/source)::

    setup.sh          run once when Gradescope builds the image: bubblewrap, a Python >= 3.11
                      venv in /autograder/venv, `pip install ./grader-src`, and the course
                      made unreadable to other users (see "Isolation" below)
    run_autograder    run per submission (Gradescope copies it to /autograder/run_autograder)
    grader-src/       this grader's source, installable (pyproject.toml, grader/)
    course/           assignments/<id>/, solutions/<id>/ (reference, hidden checks, mutants,
                      secret) and templates/: the course of one assignment

`/autograder` can be moved with the environment variable ``AUTOGRADER_ROOT`` (tests run the
generated `run_autograder` against temporary folders), and the Python that runs the grader with
``GRADER_PYTHON`` (default: the venv setup.sh made, else python3).

Per submission, the public checks run first and become visible tests with a status but no
points (immediate feedback), then the hidden checks give the score; their tests get the
visibility the check declares, or, for checks left at the default, the assignment's
``[gradescope] hidden_visibility`` from assignment.toml (default ``after_published``, so the
hidden results appear when the instructor publishes the grades). The top-level output is the
public summary only, so nothing about the hidden checks shows before that.

Isolation: Gradescope runs run_autograder as root, in a container that usually cannot create
bubblewrap's namespaces, so student code usually runs in the sandbox's rlimits fallback: under
an unprivileged uid of its own, without capabilities, confined by Landlock where the kernel has
it. Without Landlock it can read whatever other users may, hence setup.sh and run_autograder
take every permission for other users off the course (`chmod -R go-rwx source`) and write
permission off /autograder and its results. The student reads one line on how their code was
run; why bubblewrap did not work and what the fallback does not stop go to results.json's
`extra_data` (`isolation`, `sandbox_warnings`) and to run_autograder's output, which only the
instructor sees.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import grader
from grader.course import Assignment, Course
from grader.errors import UsageError

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
DEFAULT_ROOT = "/autograder"
ZIP_NAME = "{id}-gradescope.zip"


class AutograderError(UsageError):
    """The autograder cannot be built; str() is one line."""


@dataclass(frozen=True)
class GradescopeConfig:
    """`[gradescope]` in assignment.toml."""

    public_visibility: str = "visible"
    hidden_visibility: str = "after_published"


def gradescope_config(assignment: Assignment) -> GradescopeConfig:
    path = assignment.directory / "assignment.toml"
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("gradescope", {})
    config = GradescopeConfig(**{key: table[key] for key in ("public_visibility", "hidden_visibility") if key in table})
    for key in ("public_visibility", "hidden_visibility"):
        if getattr(config, key) not in VISIBILITIES:
            raise AutograderError(f"{path}: [gradescope] {key} must be one of {', '.join(VISIBILITIES)}")
    return config


# --- results.json ----------------------------------------------------------------------------

def _status(status: str) -> str:
    """Gradescope knows only passed and failed; ours adds error and timeout (kept in tags)."""
    return "passed" if status == "passed" else "failed"


def _public_test_output(test) -> str:
    """A public test's verdict without points (they give none on Gradescope)."""
    from grader.render.markdown import MAX_OUTPUT_CHARS, MAX_OUTPUT_LINES, escape_inline, fenced
    from grader.render.text import STATUS_SYMBOLS, status_label, test_output

    text = f"{STATUS_SYMBOLS.get(test.status, '')} **{escape_inline(status_label(test.status))}** (public test, no points)"
    output = test_output(test, MAX_OUTPUT_LINES, MAX_OUTPUT_CHARS)
    return text + (f"\n\n{fenced(output)}" if output else "")


def _test_entry(test, result, visibility: str, public: bool) -> dict:
    from grader.render.markdown import render_test_markdown

    entry = {
        "name": ("Public test: " if public else "") + test.name,
        "status": _status(test.status),
        "output": _public_test_output(test) if public else render_test_markdown(test, result),
        "output_format": "md",
        "visibility": visibility,
        "tags": [test.function, test.status] + (["public"] if public else []),
        "extra_data": {"function": test.function, "status": test.status},
    }
    if not public:
        entry["score"] = float(test.score)
        entry["max_score"] = float(test.max_score)
    return entry


_WHEN = {"after_published": "when the grades are published", "after_due_date": "after the due date",
         "hidden": "to your instructor only", "visible": "below"}


#: What a student reads about how their code was run (never the sandbox's weak points: those
#: go to extra_data and the instructor's log, see `sandbox_notes`).
ISOLATION_NOTES = {
    "bubblewrap": "Your code ran in a sandbox (bubblewrap) with limits on time, memory and processes.",
    "rlimits": "Your code ran in a separate process with limits on time, memory and processes.",
}


def sandbox_notes(*results) -> list[str]:
    """The sandbox's warnings about the rlimits fallback (what it does not stop), once each:
    for the instructor only."""
    from grader.sandbox import FALLBACK_WARNING_PREFIX

    notes: list[str] = []
    for result in results:
        for warning in (result.warnings if result is not None else []):
            if warning.startswith(FALLBACK_WARNING_PREFIX) and warning not in notes:
                notes.append(warning)
    return notes


def _summary(public, config: GradescopeConfig, hidden_checks: int | None) -> str:
    """The top-level output: what the public tests say, and where the score comes from.
    Nothing about the hidden checks' outcome, nor about the sandbox's weak points."""
    from grader.render.markdown import escape_inline

    lines = []
    if public is not None and public.status == "graded":
        passed = sum(t.status == "passed" for t in public.tests)
        lines.append(f"**Public tests: {passed} of {len(public.tests)} passed.** They are the self-check's "
                     "tests, shown now, and give no points; a failed one is explained below.")
        notes = set(sandbox_notes(public))
        lines += [f"> **Warning:** {escape_inline(w)}" for w in public.warnings if w not in notes]
        if public.isolation in ISOLATION_NOTES:
            lines.append(ISOLATION_NOTES[public.isolation])
    else:
        lines.append("The public tests could not run.")
    checks = f"{hidden_checks} hidden checks" if hidden_checks else "the hidden checks"
    lines.append(f"Your score comes from {checks} on other inputs; their results appear {_WHEN[config.hidden_visibility]}.")
    return "\n\n".join(lines) + "\n"


def gradescope_results(graded, public, config: GradescopeConfig, hidden_checks: int | None = None,
                       execution_time: float = 0.0) -> dict:
    """Gradescope's results.json for a submission: `graded` is the result of the hidden checks,
    `public` the public self-check of the same submission (or None)."""
    from grader.render.markdown import escape_inline

    extra = {"assignment": graded.assignment, "student": graded.student, "status": graded.status,
             "max_score": float(graded.max_score), "content_hash": graded.content_hash,
             "isolation": graded.isolation, "grader_version": grader.__version__}
    notes = sandbox_notes(graded, public)
    if notes:
        extra["sandbox_warnings"] = notes
    if graded.status == "error":
        return {
            "score": 0.0, "execution_time": round(execution_time, 3),
            "output": f"**Your submission could not be graded:** {escape_inline(graded.error or '')}\n\n"
                      "Submit your module (`.py`) or your notebook (`.ipynb`).\n",
            "output_format": "md", "stdout_visibility": "hidden", "tests": [], "extra_data": extra,
        }
    tests = []
    if public is not None and public.status == "graded":
        tests += [_test_entry(t, public, config.public_visibility, public=True) for t in public.tests]
    for test in graded.tests:
        visibility = test.visibility if test.visibility in VISIBILITIES and test.visibility != "visible" \
            else config.hidden_visibility
        tests.append(_test_entry(test, graded, visibility, public=False))
    extra["parts"] = [p.to_dict() for p in graded.parts]
    return {
        "score": float(graded.score),
        "execution_time": round(execution_time, 3),
        "output": _summary(public, config, hidden_checks),
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": extra,
    }


def _student_id(root: Path) -> str:
    """A stable id for the per-student seed: the Gradescope user id of the (first) submitter."""
    try:
        users = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8")).get("users") or []
        ident = users[0].get("id") or users[0].get("email")
        if ident:
            return f"gradescope-{ident}"
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        pass
    return "gradescope-student"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def run_autograder(assignment: Assignment, root: Path) -> dict:
    """Grade `root`/submission into `root`/results/results.json; returns what was written."""
    from grader.grade import grade_submission

    started = time.monotonic()
    submission = root / "submission"
    student = _student_id(root)
    config = gradescope_config(assignment)
    public = grade_submission(assignment, submission, student=student, public_only=True)
    graded = grade_submission(assignment, submission, student=student) if public.status == "graded" else public
    if graded is public:  # unusable submission: one error, no tests
        graded.public_only = False
    results = gradescope_results(graded, public, config, assignment.hidden_check_count(),
                                 execution_time=time.monotonic() - started)
    _write_json(root / "results" / "results.json", results)
    _log_isolation(graded, public)
    return results


def _log_isolation(graded, public) -> None:
    """The instructor's log (run_autograder's output, which students do not see): how student
    code was isolated, why bubblewrap was not used, and what the fallback does not stop."""
    from grader.sandbox import bubblewrap_failure

    isolation = graded.isolation or (public.isolation if public is not None else "")
    print(f"grader: student code isolation: {isolation or 'not run'}", file=sys.stderr)
    if isolation == "rlimits":
        print(f"grader: bubblewrap not used: {bubblewrap_failure() or 'GRADER_SANDBOX=rlimits'}", file=sys.stderr)
    for note in sandbox_notes(graded, public):
        print(f"grader: {note}", file=sys.stderr)


def _internal_failure(root: Path, exc: BaseException) -> None:
    import traceback

    traceback.print_exc()  # stdout/stderr: shown to the instructor only
    _write_json(root / "results" / "results.json", {
        "score": 0.0, "output": "The autograder failed with an internal error (not your fault); "
                                "your instructor can see the details.",
        "stdout_visibility": "hidden", "tests": [],
        "extra_data": {"internal_error": f"{type(exc).__name__}: {exc}"},
    })


# --- building the autograder -----------------------------------------------------------------

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "$0")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

apt-get update
# bubblewrap isolates student code; without it the grader falls back to rlimits and says so
apt-get install -y --no-install-recommends bubblewrap ca-certificates

PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
     && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  PY=python3.11
fi
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
  apt-get install -y --no-install-recommends "$(basename "$PY")-venv" || apt-get install -y python3-venv
fi

"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$SOURCE/grader-src"
"$ROOT/venv/bin/python" -c "import grader; print('grader', grader.__version__, 'installed')"

# Gradescope's container usually cannot create bubblewrap's namespaces: student code then
# runs in the rlimits fallback, under an unprivileged uid of its own, and reads what any
# user may. So nothing of the course is readable by other users (the reference, the hidden
# checks, the mutants, the secret), and nothing here writable by them (results).
chmod -R go-rwx "$SOURCE"
chmod go-w "$ROOT"
mkdir -p "$ROOT/results" && chmod go-w "$ROOT/results"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission (from /autograder/run_autograder); it grades
# $ROOT/submission and writes $ROOT/results/results.json.
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADER_PYTHON:-$ROOT/venv/bin/python}}"
if [ ! -x "$PYTHON" ]; then PYTHON="$(command -v python3)"; fi
export GRADER_COURSE="$ROOT/source/course"
# As setup.sh does (Gradescope may have unpacked the source or made results since): the
# course unreadable, and results unwritable, by other users, whom student code runs as.
chmod -R go-rwx "$ROOT/source" 2>/dev/null || true
mkdir -p "$ROOT/results"
chmod go-w "$ROOT" "$ROOT/results" 2>/dev/null || true
cd "$ROOT/results"
exec "$PYTHON" -m grader.gradescope run {assignment_id} --root "$ROOT"
"""

_SOURCE_README = "# grader\n\nThe auto-grader, as bundled in a Gradescope autograder.\n"


def _stage_autograder(assignment: Assignment, staging: Path) -> None:
    from grader.release import _files_under

    def copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    (staging / "setup.sh").write_text(SETUP_SH, encoding="utf-8")
    (staging / "run_autograder").write_text(RUN_AUTOGRADER.format(assignment_id=assignment.id), encoding="utf-8")
    for name in ("setup.sh", "run_autograder"):
        (staging / name).chmod(0o755)
    package = Path(grader.__file__).resolve().parent
    for path in _files_under(package):
        if path.suffix not in (".pyc", ".pyo"):
            copy(path, staging / "grader-src" / "grader" / path.relative_to(package))
    pyproject = assignment.course_root / "pyproject.toml"
    if pyproject.is_file():
        copy(pyproject, staging / "grader-src" / "pyproject.toml")
    else:
        raise AutograderError(f"{pyproject}: missing; the autograder installs the grader from it")
    (staging / "grader-src" / "README.md").write_text(_SOURCE_README, encoding="utf-8")
    course = staging / "course"
    for folder in (assignment.directory, assignment.solution_directory, assignment.course_root / "templates"):
        for path in _files_under(folder):
            copy(path, course / path.relative_to(assignment.course_root))


def build_autograder(assignment: Assignment, out: Path) -> Path:
    """Write the Gradescope autograder zip for `assignment`; `out` is the zip's path, or an
    existing folder to write `<id>-gradescope.zip` into. Returns the zip's path."""
    from grader.release import write_zip

    if not assignment.has_solutions or not list(assignment.hidden_checks.glob("test_*.py")):
        raise AutograderError(f"{assignment.solution_directory}: no reference or hidden checks; "
                              "the autograder grades with the hidden checks")
    if not (assignment.public_checks / "public_expected.npz").is_file():
        raise AutograderError(f"missing baked public answers; run `grader build {assignment.id}` first")
    gradescope_config(assignment)  # refuse a bad [gradescope] table now, not per submission
    out = Path(out)
    if out.is_dir():
        out = out / ZIP_NAME.format(id=assignment.id)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grader-autograder-") as folder:
        _stage_autograder(assignment, Path(folder))
        return write_zip(Path(folder), out, root_name="")


def build_autograder_command(assignment: Assignment, out: Path) -> int:
    """The CLI's `grader gradescope build`: 0 with the zip written (an AutograderError otherwise)."""
    path = build_autograder(assignment, out)
    print(f"wrote {path}: upload it as the autograder of a Gradescope programming assignment "
          f"(students submit {assignment.module}.py or {assignment.module}.ipynb)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.gradescope run ID [--root DIR]`: what run_autograder calls."""
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json")
    run.add_argument("assignment")
    run.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", DEFAULT_ROOT))
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        assignment = Course.find().get(args.assignment)
        results = run_autograder(assignment, root)
    except Exception as exc:  # whatever happens, Gradescope gets a results.json
        _internal_failure(root, exc)
        return 1
    print(f"{args.assignment}: {results['score']:g} points, {len(results['tests'])} tests "
          f"-> {root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
