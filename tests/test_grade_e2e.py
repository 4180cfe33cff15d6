"""End to end through the real sandbox: `grade_submission` and the `grader grade` command."""
from __future__ import annotations

import json
import time
import zipfile

import nbformat
import pytest

from conftest import run_grader
from grader.grade import grade_submission
from grader.stubs import stub_for


def replace_function(source: str, name: str, new_definition: str) -> str:
    """The module with `name` redefined at the end (later definitions win)."""
    return source + "\n\n" + new_definition.strip() + "\n"


@pytest.fixture(scope="module")
def reference_result(optimizers):
    return grade_submission(optimizers, optimizers.reference_path, student="ref")


def test_reference_scores_full_marks(reference_result, optimizers):
    result = reference_result
    assert result.status == "graded", result.error
    failing = [(t.name, t.output) for t in result.tests if t.status != "passed"]
    assert not failing
    assert result.score == result.max_score == optimizers.max_score
    assert [p.function for p in result.parts] == optimizers.functions


def test_reference_of_the_sigmoid_neuron_scores_full_marks(sigmoid_neuron):
    result = grade_submission(sigmoid_neuron, sigmoid_neuron.reference_path, student="ref")
    assert result.full_marks, [(t.name, t.output) for t in result.tests if t.status != "passed"]


def test_pristine_stub_scores_zero_but_is_graded(optimizers, tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(stub_for(optimizers))
    result = grade_submission(optimizers, path)
    assert result.status == "graded"
    assert result.score == 0 and result.max_score == optimizers.max_score
    assert {p.function for p in result.parts} == set(optimizers.functions)
    assert all(t.status == "error" and "not implemented" in t.output for t in result.tests)


def test_one_wrong_function_loses_exactly_that_part(optimizers, tmp_path, reference_result):
    source = replace_function(optimizers.reference_path.read_text(), "exponential_decay", '''
import math
def exponential_decay(eta0, k, t):
    return eta0 * math.exp(-k * t * 2)
''')
    path = tmp_path / "optimizers.py"
    path.write_text(source)
    result = grade_submission(optimizers, path)
    lost = {p.function for p in result.parts if p.score < p.max_score}
    assert lost == {"exponential_decay"}
    assert result.part("exponential_decay").score < result.part("exponential_decay").max_score


def test_notebook_and_zip_of_the_reference_score_full_marks(optimizers, tmp_path):
    source = optimizers.reference_path.read_text()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# My optimisers"),
                      nbformat.v4.new_code_cell("%matplotlib inline\n!pip list\nimport numpy as np"),
                      nbformat.v4.new_code_cell(source)]
    nb_path = tmp_path / "alice.ipynb"
    nbformat.write(notebook, nb_path)
    assert grade_submission(optimizers, nb_path).full_marks

    zip_path = tmp_path / "bob.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("bob/optimizers.py", source)
    result = grade_submission(optimizers, zip_path)
    assert result.student == "bob" and result.full_marks


def test_infinite_loop_costs_only_its_function_within_a_bound(optimizers, tmp_path):
    source = replace_function(optimizers.reference_path.read_text(), "step_decay", '''
def step_decay(eta0, epoch, drop=0.5, every=5):
    while True:
        pass
''')
    path = tmp_path / "optimizers.py"
    path.write_text(source)
    started = time.monotonic()
    result = grade_submission(optimizers, path)
    elapsed = time.monotonic() - started
    lost = {p.function for p in result.parts if p.score < p.max_score}
    assert lost == {"step_decay"}
    assert all(t.status == "timeout" for t in result.tests_for("step_decay"))
    checks = len(result.tests_for("step_decay"))
    # each timed-out check costs at most its probe timeout; 30 s for the rest, a wide margin
    # for a busy machine (idle, the whole grade takes a few seconds)
    assert elapsed < 30 + checks * 6, elapsed


def test_monkeypatching_numpy_at_import_changes_nothing(optimizers, tmp_path):
    source = "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
    source += stub_for(optimizers)
    path = tmp_path / "optimizers.py"
    path.write_text(source)
    result = grade_submission(optimizers, path)
    assert result.score == 0


def test_grade_json_contract(optimizers, tmp_path):
    completed = run_grader("grade", "optimizers", str(optimizers.reference_path), "--json", "--student", "alice")
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert {"assignment", "student", "status", "score", "max_score", "execution_time", "parts", "tests"} <= set(data)
    assert data["student"] == "alice" and data["status"] == "graded"
    assert [p["function"] for p in data["parts"]] == optimizers.functions
    for test in data["tests"]:
        assert {"name", "function", "score", "max_score", "status", "visibility", "output"} <= set(test)
        assert test["function"] in optimizers.functions


def test_grade_exit_codes(optimizers, tmp_path):
    stub = tmp_path / "optimizers.py"
    stub.write_text(stub_for(optimizers))
    completed = run_grader("grade", "optimizers", str(stub))
    assert completed.returncode == 1
    assert "0 / 60" in completed.stdout

    broken = tmp_path / "broken.py"
    broken.write_text("def gd_step(theta, grad, eta)\n    return theta\n")
    completed = run_grader("grade", "optimizers", str(broken), "--json")
    assert completed.returncode == 2
    assert json.loads(completed.stdout)["status"] == "error"
    assert "line 1" in completed.stderr and "Traceback" not in completed.stderr

    completed = run_grader("grade", "optimizers", str(tmp_path / "missing.py"))
    assert completed.returncode == 2 and "no such file" in completed.stderr


def test_check_is_public_only_and_announces_hidden_checks(optimizers, tmp_path):
    stub = tmp_path / "optimizers.py"
    stub.write_text(stub_for(optimizers))
    completed = run_grader("check", "optimizers", str(stub))
    assert completed.returncode == 1
    assert "Public tests only" in completed.stdout
    assert "hidden checks" in completed.stdout
    assert "all tests passed" not in completed.stdout.lower()
    completed = run_grader("check", "optimizers", str(optimizers.reference_path))
    assert completed.returncode == 0, completed.stdout


def test_unwritable_report_is_a_one_line_error(optimizers):
    completed = run_grader("grade", "optimizers", str(optimizers.reference_path), "--report", "/proc/no/report.html")
    assert completed.returncode == 2
    assert completed.stderr.startswith("grader: error: /proc/no/report.html: cannot write the report")
    assert "Traceback" not in completed.stderr


def test_terminal_summary_lists_only_what_went_wrong(optimizers, tmp_path):
    source = replace_function(optimizers.reference_path.read_text(), "inverse_time_decay", '''
def inverse_time_decay(eta0, k, t):
    return eta0 / (1 + k) * t
''')
    path = tmp_path / "optimizers.py"
    path.write_text(source)
    completed = run_grader("grade", "optimizers", str(path))
    assert completed.returncode == 1
    listed = [line for line in completed.stdout.splitlines() if line.startswith("  [")]
    assert listed and all("inverse_time_decay" in line and "[ok" not in line for line in listed)


def test_functions_limit_the_checks_to_those_parts(optimizers):
    result = grade_submission(optimizers, optimizers.reference_path, public_only=True, functions=["adam_step"])
    assert result.tests and {t.function for t in result.tests} == {"adam_step"}
    assert all(t.status == "passed" for t in result.tests)


def test_a_sandbox_that_cannot_start_is_the_graders_error_not_a_zero(optimizers, monkeypatch):
    import grader.grade as grade_module

    class BrokenSandbox:
        isolation, warning = "bubblewrap", None

        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def run_probe(self, *args, **kwargs):
            raise grade_module.SandboxError("the sandbox worker failed to start: bwrap: execvp python")

    monkeypatch.setattr(grade_module, "Sandbox", BrokenSandbox)
    result = grade_submission(optimizers, optimizers.reference_path)
    assert result.status == "error"
    assert "sandbox failed" in result.error and "execvp" in result.error


def test_a_reader_that_leaves_early_gets_no_traceback(optimizers, tmp_path):
    import subprocess
    import sys

    stub = tmp_path / "optimizers.py"
    stub.write_text(stub_for(optimizers))
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", "optimizers", str(stub), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head`, gone before the result is printed
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
