"""`grader gradescope build`: the autograder zip, and its run_autograder run against temporary
folders standing in for /autograder (AUTOGRADER_ROOT), with the current Python."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import run_grader

from grader.course import Course
from grader.gradescope import (VISIBILITIES, AutograderError, GradescopeConfig, build_autograder,
                               build_autograder_command, gradescope_config, gradescope_results)
from grader.results import GradingResult, PartResult
from grader.results import TestResult as ResultOfTest  # not "Test*": pytest would try to collect it

COURSE = Course.find(Path(__file__).resolve().parent)
GRADABLE = [a for a in COURSE.assignments()
            if a.has_solutions and list(a.hidden_checks.glob("test_*.py"))
            and (a.public_checks / "public_expected.npz").is_file()]

# Gradescope's results.json fields (gradescope-autograders.readthedocs.io, "Autograder Specifications")
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
             "tags", "visibility", "extra_data"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def assert_valid_results(data: dict) -> None:
    assert set(data) <= TOP_KEYS, set(data) - TOP_KEYS
    assert isinstance(data["score"], float)
    assert isinstance(data["execution_time"], (int, float)) and data["execution_time"] >= 0
    assert data.get("output_format", "simple_format") in FORMATS
    assert data.get("stdout_visibility", "hidden") in VISIBILITIES
    for test in data["tests"]:
        assert set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        assert isinstance(test["name"], str) and test["name"]
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITIES
        assert test.get("output_format", "text") in FORMATS
        assert all(isinstance(tag, str) for tag in test.get("tags", []))
        if "score" in test:
            assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
            assert 0 <= test["score"] <= test["max_score"]
    json.dumps(data)


@pytest.fixture(scope="module", params=[a.id for a in GRADABLE] or ["none built yet"])
def autograder(request, tmp_path_factory):
    if not GRADABLE:
        pytest.skip("no assignment has hidden checks and baked public answers yet")
    assignment = COURSE.get(request.param)
    folder = tmp_path_factory.mktemp("gradescope")
    return assignment, build_autograder(assignment, folder)


def test_zip_has_the_gradescope_layout(autograder):
    assignment, archive = autograder
    assert archive.name == f"{assignment.id}-gradescope.zip"
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for script in ("setup.sh", "run_autograder"):  # at the root, not in a folder
            info = zf.getinfo(script)
            assert stat.S_IMODE(info.external_attr >> 16) == 0o755
            text = zf.read(script).decode()
            assert text.startswith("#!/usr/bin/env bash\n") and "\r" not in text
        setup = zf.read("setup.sh").decode()
        assert "apt-get install" in setup and "bubblewrap" in setup and 'pip install "$SOURCE/grader-src"' in setup
        run = zf.read("run_autograder").decode()
        assert "AUTOGRADER_ROOT" in run and f"grader.gradescope run {assignment.id}" in run
    expected = {"grader-src/pyproject.toml", "grader-src/grader/__init__.py", "grader-src/grader/gradescope.py",
                f"course/assignments/{assignment.id}/assignment.toml", f"course/assignments/{assignment.id}/probes.py",
                f"course/assignments/{assignment.id}/checks/public_expected.npz",
                f"course/solutions/{assignment.id}/{assignment.module}.py"}
    assert expected <= names, expected - names
    assert any(n.startswith(f"course/solutions/{assignment.id}/checks/test_") for n in names)
    assert not any("__pycache__" in n for n in names)
    assert not any(n.startswith("course/") and n.split("/")[2] not in (assignment.id,) and n.split("/")[1] != "templates"
                   for n in names if n.count("/") >= 2), "only this assignment's course data"


def test_scripts_are_valid_bash(autograder, tmp_path):
    _, archive = autograder
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)


def _fake_root(archive: Path, tmp_path: Path, submission: dict[str, str | bytes]) -> Path:
    """A folder laid out like Gradescope's /autograder for one submission."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root / "source")
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    for name, content in submission.items():
        path = root / "submission" / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"id": 1234, "email": "ada@example.edu"}]}))
    return root


def _run(root: Path, **extra_env: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_COURSE", "GRADER_SECRET")}
    env.update(AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable, **extra_env)
    proc = subprocess.run([str(root / "run_autograder")], env=env, cwd=root, capture_output=True, text=True,
                          timeout=300)
    return proc, json.loads((root / "results" / "results.json").read_text())


@pytest.mark.slow
def test_run_autograder_gives_the_reference_full_marks(autograder, tmp_path):
    assignment, archive = autograder
    root = _fake_root(archive, tmp_path, {f"{assignment.module}.py": assignment.reference_path.read_bytes()})
    proc, data = _run(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid_results(data)
    assert data["score"] == assignment.max_score
    public = [t for t in data["tests"] if "public" in t["tags"]]
    hidden = [t for t in data["tests"] if "public" not in t["tags"]]
    public_count = json.loads((assignment.public_checks / "inventory.json").read_text())["public_checks"]
    hidden_count = json.loads((assignment.public_checks / "inventory.json").read_text())["hidden_checks"]
    assert len(public) == public_count and len(hidden) == hidden_count
    assert all(t["visibility"] == "visible" and "score" not in t and t["name"].startswith("Public test: ") for t in public)
    assert all(t["visibility"] == "after_published" and t["score"] == t["max_score"] > 0 for t in hidden)
    assert all(t["status"] == "passed" for t in data["tests"])
    assert {t["extra_data"]["function"] for t in hidden} == set(assignment.functions)
    assert data["extra_data"]["student"] == "gradescope-1234"
    assert f"{hidden_count} hidden checks" in data["output"] and "when the grades are published" in data["output"]
    assert data["stdout_visibility"] == "hidden"


@pytest.mark.slow
def test_run_autograder_on_the_stub_and_on_a_broken_file(autograder, tmp_path):
    assignment, archive = autograder
    if assignment.id != GRADABLE[0].id:
        pytest.skip("one assignment is enough")
    root = _fake_root(archive, tmp_path / "stub", {f"{assignment.module}.py": assignment.stub_path.read_bytes()})
    proc, data = _run(root)
    assert proc.returncode == 0, proc.stderr
    assert_valid_results(data)
    assert data["score"] == 0.0 and data["tests"]
    assert all(t["status"] == "failed" and "error" in t["tags"] for t in data["tests"])
    assert "NotImplementedError" in data["tests"][0]["output"]

    root = _fake_root(archive, tmp_path / "broken", {f"{assignment.module}.py": "def oops(:\n"})
    proc, data = _run(root)
    assert proc.returncode == 0, proc.stderr
    assert_valid_results(data)
    assert data["score"] == 0.0 and data["tests"] == []
    assert "could not be graded" in data["output"] and "syntax error" in data["output"]


def test_an_internal_failure_still_writes_results_json(autograder, tmp_path):
    _, archive = autograder
    root = _fake_root(archive, tmp_path, {"x.py": "pass\n"})
    script = root / "run_autograder"
    script.write_text(script.read_text().replace("grader.gradescope run ", "grader.gradescope run no_such_"))
    proc, data = _run(root)
    assert proc.returncode == 1
    assert data["score"] == 0.0 and data["tests"] == [] and "internal error" in data["output"]
    assert "no_such_" in data["extra_data"]["internal_error"]


# --- results.json from a result, without running anything ---------------------------------

def _result(visibilities: list[str]) -> GradingResult:
    tests = [ResultOfTest(name=f"f: case {i}", function="f", score=1.0 if i else 0.0, max_score=1.0,
                        status="passed" if i else "timeout", visibility=v, output="" if i else "too slow")
             for i, v in enumerate(visibilities)]
    return GradingResult(assignment="a", student="s", status="graded", score=sum(t.score for t in tests),
                         max_score=float(len(tests)), parts=[PartResult("f", 1.0, 2.0)], tests=tests)


def test_per_check_visibility_wins_over_the_configured_default():
    graded = _result(["visible", "hidden", "after_due_date"])
    data = gradescope_results(graded, None, GradescopeConfig(hidden_visibility="after_due_date"), hidden_checks=3)
    assert_valid_results(data)
    assert [t["visibility"] for t in data["tests"]] == ["after_due_date", "hidden", "after_due_date"]
    assert data["tests"][0]["status"] == "failed" and "timeout" in data["tests"][0]["tags"]
    assert "too slow" in data["tests"][0]["output"]
    assert data["score"] == 2.0
    assert "after the due date" in data["output"]


def test_gradescope_config_is_read_from_assignment_toml(tmp_path):
    if not GRADABLE:
        pytest.skip("no built assignment")
    assignment = GRADABLE[0]
    root = tmp_path / "course"
    shutil.copytree(assignment.directory, root / "assignments" / assignment.id)
    toml = root / "assignments" / assignment.id / "assignment.toml"
    toml.write_text(toml.read_text() + '\n[gradescope]\nhidden_visibility = "after_due_date"\n')
    assert gradescope_config(Course(root).get(assignment.id)) == GradescopeConfig("visible", "after_due_date")
    toml.write_text(toml.read_text().replace('"after_due_date"', '"tomorrow"'))
    with pytest.raises(AutograderError, match="hidden_visibility must be one of"):
        gradescope_config(Course(root).get(assignment.id))


def test_build_refuses_an_assignment_without_hidden_checks(tmp_path, capsys):
    if not GRADABLE:
        pytest.skip("no built assignment")
    assignment = GRADABLE[0]
    root = tmp_path / "course"
    shutil.copytree(assignment.directory, root / "assignments" / assignment.id)
    with pytest.raises(AutograderError, match="hidden checks"):
        build_autograder_command(Course(root).get(assignment.id), tmp_path / "ag.zip")
    done = run_grader("gradescope", "build", assignment.id, "--out", str(tmp_path / "ag.zip"),
                      env={"GRADER_COURSE": str(root)})
    assert done.returncode == 2
    err = done.stderr
    assert err.startswith("grader: error: ") and "hidden checks" in err and err.count("\n") == 1
    assert not (tmp_path / "ag.zip").exists()


# --- the rlimits fallback on Gradescope --------------------------------------------------------

#: Reads the course and forges results where Gradescope keeps them; the right answer only if
#: something worked, so a kept point means the attack succeeded.
GRADESCOPE_ATTACK = '''
def exponential_decay(eta0, k, t):
    import math
    root = AUTOGRADER
    worked = []
    for name in ("secret.txt", "optimizers.py", "checks/test_hidden_optimizers.py", "mutants/catalogue.toml"):
        try:
            with open(f"{root}/source/course/solutions/optimizers/{name}") as handle:
                handle.read(1)
            worked.append(name)
        except OSError:
            pass
    for path in ("results/results.json", "results/forged.json", "forged.json", "source/forged.json"):
        try:
            with open(f"{root}/{path}", "w") as handle:
                handle.write('{"score": 60.0, "forged": true}')
            worked.append(path)
        except OSError:
            pass
    return float(eta0 * math.exp(-k * t)) if worked else float("nan")
'''

#: Imported by the Python that run_autograder starts (PYTHONPATH): the sandbox's worker gets
#: no Landlock rules, as on a kernel without Landlock (the worker itself runs with -I).
WITHOUT_LANDLOCK = '''
from grader.sandbox import Sandbox
_original = Sandbox._worker_config
def _without_landlock(self, runtime):
    config = _original(self, runtime)
    config.pop("landlock", None)
    return config
Sandbox._worker_config = _without_landlock
'''


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root; so must this test")
def test_the_fallback_on_gradescope_keeps_the_course_and_results_from_student_code(autograder, tmp_path):
    """A fresh minimal Debian root without Landlock: the student read secret.txt and the
    reference and wrote into results.  The autograder sits where any user can walk (as
    /autograder does), its files unpacked with the usual modes; bubblewrap is not used and
    Landlock is off: the uid switch and run_autograder's permissions must hold on their own."""
    from grader.gradescope import ISOLATION_NOTES
    from grader.sandbox import RLIMITS_WARNING

    assignment, archive = autograder
    if assignment.id != "optimizers":
        pytest.skip("the attack targets the optimizers assignment")
    public = Path(tempfile.mkdtemp(prefix="grader-gradescope-test-", dir="/tmp"))
    try:
        public.chmod(0o755)
        reference = assignment.reference_path.read_text(encoding="utf-8")
        kept = "\n".join(line for line in reference.splitlines() if "# BEGIN SOLUTION" not in line
                         and "# END SOLUTION" not in line)
        root = _fake_root(archive, public, {})
        source = kept + "\n\n" + GRADESCOPE_ATTACK.replace("AUTOGRADER", repr(str(root)))
        (root / "submission" / "optimizers.py").write_text(source)
        assert (root / "source/course/solutions/optimizers/secret.txt").stat().st_mode & 0o004  # as unpacked
        hooks = tmp_path / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(WITHOUT_LANDLOCK)
        path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH", "")]))
        proc, data = _run(root, GRADER_SANDBOX="rlimits", PYTHONPATH=path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert_valid_results(data)
        assert data["score"] == assignment.max_score - 2.0  # the attacking function's 2 points only
        lost = {t["extra_data"]["function"] for t in data["tests"]
                if "public" not in t["tags"] and t["score"] < t["max_score"]}
        assert lost == {"exponential_decay"}
        assert not list(root.rglob("forged.json")) and "forged" not in (root / "results/results.json").read_text()
        assert data["extra_data"]["isolation"] == "rlimits"
        assert data["extra_data"]["sandbox_warnings"] == [RLIMITS_WARNING]  # for the instructor
        assert ISOLATION_NOTES["rlimits"] in data["output"]  # the student reads how, not the weak points
        student_sees = data["output"] + "".join(t["output"] for t in data["tests"])
        assert "bubblewrap is not available" not in student_sees and "without filesystem" not in student_sees
        assert "grader: bubblewrap not used:" in proc.stderr and RLIMITS_WARNING in proc.stderr
        assert not (root / "source/course/solutions/optimizers/secret.txt").stat().st_mode & 0o077
    finally:
        shutil.rmtree(public, ignore_errors=True)
