"""grader.check(): collecting the session's functions into a module, inferring the assignment,
narrowing the result, the inline summary; and grader.check from a plain script."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import grader
from grader.course import Course, CourseError
from grader.notebooks import (_infer_assignment, narrow_result, render_check_html, render_check_text,
                              student_source, user_functions)
from grader.results import GradingResult, PartResult
from grader.results import TestResult as ResultOfTest  # not "Test*": pytest would try to collect it

COURSE = Course.find(Path(__file__).resolve().parent)

SESSION = '''
import math
import numpy as np
import matplotlib.pyplot as plt
import grader
from functools import reduce as fold

EPS = 1e-12
LABEL = "unused"


def sigmoid(z):
    """a student's sigmoid"""
    z = np.asarray(z, dtype=float)
    return 0.5 * (1 + np.tanh(0.5 * z)) + 0 * EPS


def sigmoid_grad(z):
    s = sigmoid(z)
    return s * (1 - s) + 0 * math.pi


def _private_helper():
    return fold(lambda a, b: a + b, [1, 2])


def plot_it():
    plt.plot([1, 2])


derivative = sigmoid_grad
grader.check("sigmoid")
'''


def _session(tmp_path: Path, source: str = SESSION):
    """A module standing in for the kernel's __main__: its namespace and its source as history."""
    path = tmp_path / "session_main.py"
    path.write_text(source.replace('grader.check("sigmoid")', ""))
    spec = importlib.util.spec_from_file_location("session_main", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module), [source]


def test_student_source_keeps_functions_and_what_they_use(tmp_path):
    namespace, history = _session(tmp_path)
    source = student_source(namespace, history)
    compile(source, "<collected>", "exec")
    assert "def sigmoid(z):" in source and "def sigmoid_grad(z):" in source and "def plot_it():" in source
    assert "import numpy as np" in source and "import math" in source
    assert "import matplotlib.pyplot as plt" in source  # plot_it uses plt
    assert "EPS = 1e-12" in source and "LABEL" not in source  # only the constants functions use
    assert "grader" not in source.replace("grader.check()", "")  # never imports the grader itself
    assert "_private_helper" not in source and "fold" not in source
    module = {}
    exec(source, module)
    assert abs(module["sigmoid_grad"](0.0) - 0.25) < 1e-12


def test_student_source_takes_the_latest_definition_and_skips_unparsable_cells(tmp_path):
    namespace, _ = _session(tmp_path, "import numpy as np\n\ndef sigmoid(z):\n    return np.tanh(z)\n")
    history = ["%matplotlib inline", "import numpy as np", "def sigmoid(z):\n    return 0\n"]
    source = student_source(namespace, history)
    assert "np.tanh" in source and "return 0" not in source  # the live function's source
    assert source.count("import numpy as np") == 1


def test_user_functions_are_the_sessions_own():
    namespace = {"__name__": "__main__", "np": pytest, "g": os.path.join}
    exec("def f():\n    def inner():\n        pass\n    return inner\n\ndef _h():\n    pass\n", namespace)
    namespace["nested"] = namespace["f"]()
    assert list(user_functions(namespace)) == ["f"]  # not imported, private or nested ones


def test_assignment_inference(tmp_path):
    namespace = {"__name__": "__main__"}
    assert _infer_assignment(COURSE, "adam_step", None, namespace).id == "optimizers"
    assert _infer_assignment(COURSE, "sigmoid", None, namespace).id == "sigmoid_neuron"
    assert _infer_assignment(COURSE, None, "optimizers", namespace).id == "optimizers"
    with pytest.raises(CourseError, match="no assignment of the course has a function 'nope'"):
        _infer_assignment(COURSE, "nope", None, namespace)
    with pytest.raises(CourseError, match="cannot tell which assignment"):
        _infer_assignment(COURSE, None, None, namespace)
    session, _ = _session(tmp_path)
    session["__name__"] = "session_main"
    assert _infer_assignment(COURSE, None, None, session).id == "sigmoid_neuron"  # it defines sigmoid*
    notebook = COURSE.get("optimizers").directory / "optimizers.ipynb"
    assert _infer_assignment(COURSE, None, None, {"__vsc_ipynb_file__": str(notebook)}).id == "optimizers"


def _result() -> GradingResult:
    tests = [ResultOfTest("f: one", "f", 1.0, 1.0, "passed"),
             ResultOfTest("f: two <b>", "f", 0.0, 1.0, "failed", output="expected 1, got <script>2</script>"),
             ResultOfTest("g: one", "g", 0.0, 2.0, "error", output="boom")]
    return GradingResult("a", "self-check", "graded", 1.0, 4.0, parts=[PartResult("f", 1.0, 2.0), PartResult("g", 0.0, 2.0)],
                         tests=tests, public_only=True)


def test_narrow_result_keeps_one_function():
    narrowed = narrow_result(_result(), "f")
    assert [p.function for p in narrowed.parts] == ["f"] and len(narrowed.tests) == 2
    assert (narrowed.score, narrowed.max_score) == (1.0, 2.0)


def test_inline_summary_says_public_tests_only_and_escapes_output():
    html = render_check_html(narrow_result(_result(), "f"), "f", 12, ["g"])
    assert "1 of 2 public tests passed" in html and "<b>Public tests only</b>" in html
    assert "Grading runs 12 hidden checks of f" in html
    assert "&lt;script&gt;" in html and "<script>" not in html and "f: two &lt;b&gt;" in html
    assert "all tests passed" not in html.lower() and "<code>g</code>" in html
    full = _result()
    full.tests = full.tests[:1]
    assert "all tests passed" not in render_check_html(full, None, 3, []).lower()
    text = render_check_text(narrow_result(_result(), "f"), 12, [])
    assert "Public tests only" in text and "hidden checks" in text


def test_import_grader_stays_light():
    code = "import sys, grader; print(sorted(m for m in ('nbformat', 'jinja2', 'IPython', 'numpy', 'pytest') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert callable(grader.check)


def test_check_from_a_plain_script_prints_text_and_returns_the_result(tmp_path):
    script = tmp_path / "mywork.py"
    script.write_text(textwrap.dedent('''
        import numpy as np
        import grader

        def sigmoid(z):
            z = np.asarray(z, dtype=float)
            return 0.5 * (1 + np.tanh(0.5 * z))

        result = grader.check("sigmoid")
        print("RETURNED", type(result).__name__, result.score, result.max_score, [p.function for p in result.parts])
    '''))
    env = {k: v for k, v in os.environ.items() if k != "GRADER_COURSE"}
    proc = subprocess.run([sys.executable, str(script)], cwd=COURSE.get("sigmoid_neuron").directory, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Public tests only" in proc.stdout and "hidden checks" in proc.stdout
    # the hidden checks of the function checked, not the assignment's total
    own = COURSE.get("sigmoid_neuron").hidden_check_count("sigmoid")
    assert own < COURSE.get("sigmoid_neuron").hidden_check_count()
    assert f"Grading runs {own} hidden checks of sigmoid on other inputs" in proc.stdout
    returned = proc.stdout.split("RETURNED ")[1]
    assert returned.startswith("GradingResult") and "['sigmoid']" in returned
    score, max_score = map(float, returned.split()[1:3])
    assert score == max_score > 0
