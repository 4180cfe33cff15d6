"""The check plugin in the trusted process: outcomes as data, seeds, baked answers."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import ProbeOutcome
from grader.checking import (BakedReference, CheckSession, GraderPlugin, InProcessModule, RecordingReference, StudentProbes,
                             StudentError, StudentTimeout, kwargs_key, load_module_from, run_checks)
from grader.expect import CheckFailure, expect_array, expect_scalar, expect_tuple

PROBES = """
import numpy as np
def step(mod, theta, grad, eta):
    return {"theta": mod.gd_step(theta, grad, eta)}
"""

CHECKS = '''
import numpy as np
from grader.checking import check
from grader.expect import expect_array


@check("gd_step", weight=2, title="one step on random inputs")
def test_values(student, reference, rng):
    kw = dict(theta=rng.normal(size=3), grad=rng.normal(size=3), eta=0.1)
    got = student.probe("step", **kw)
    want = reference.probe("step", **kw)
    expect_array(got["theta"], want["theta"], name="theta", rtol=1e-6, atol=1e-9, inputs=kw)

@check("gd_step", weight=1, visibility="after_published")
def test_secret_assert(student):
    """A bare assert."""
    SECRET_NAME_IN_SOURCE = 41
    assert SECRET_NAME_IN_SOURCE == 42, "the answer is off"

@check("momentum_step", weight=3)
def test_buggy_check(student):
    {}["missing"]
'''


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "probes.py").write_text(PROBES)
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_toy.py").write_text(CHECKS)
    correct = tmp_path / "good.py"
    correct.write_text("def gd_step(theta, grad, eta):\n    return theta - eta * grad\n")
    wrong = tmp_path / "bad.py"
    wrong.write_text("def gd_step(theta, grad, eta):\n    return theta + eta * grad\n")
    raising = tmp_path / "raising.py"
    raising.write_text("def gd_step(theta, grad, eta):\n    raise NotImplementedError\n")
    probes = load_module_from(tmp_path / "probes.py", "toy_probes")
    return tmp_path, checks, probes, {p.stem: p for p in (correct, wrong, raising)}


def in_process_student(module: InProcessModule) -> StudentProbes:
    def run(name, kwargs, timeout, group):
        try:
            return ProbeOutcome("ok", module.probe(name, **kwargs))
        except NotImplementedError:
            return ProbeOutcome("error", exc_type="NotImplementedError")
    return StudentProbes(run)


def run(toy, student_file: str, seed: str = "alice"):
    _, checks, probes, files = toy
    reference = InProcessModule(files["good"], probes, "mod")
    student = in_process_student(InProcessModule(files[student_file], probes, "mod"))
    plugin = GraderPlugin(student, reference, seed_material=seed)
    return {r.nodeid.split("::")[-1]: r for r in run_checks(checks, plugin)}


def test_outcomes_are_classified(toy):
    records = run(toy, "bad")
    values = records["test_values"]
    assert (values.status, values.weight) == ("failed", 2.0)
    assert "theta is wrong" in values.output and "Inputs:" in values.output
    assert values.tolerance == (1e-6, 1e-9)
    assert values.probe_calls[0].name == "step" and values.probe_calls[0].status == "ok"
    assert records["test_secret_assert"].status == "failed"
    assert records["test_secret_assert"].visibility == "after_published"
    assert records["test_secret_assert"].title == "gd_step: A bare assert."
    buggy = records["test_buggy_check"]
    assert buggy.status == "error" and "not your fault" in buggy.output and "KeyError" in buggy.internal_error


def test_feedback_never_shows_the_check_source(toy):
    records = run(toy, "bad")
    for record in records.values():
        assert "SECRET_NAME_IN_SOURCE" not in record.output
        assert "assert" not in record.output.lower().replace("a bare assert", "")


def test_correct_and_raising_students(toy):
    assert run(toy, "good")["test_values"].status == "passed"
    raising = run(toy, "raising")["test_values"]
    assert raising.status == "error" and "NotImplementedError" in raising.output


def test_seed_depends_on_student_and_is_reproducible(toy):
    seen = [run(toy, "good", seed=seed)["test_values"].probe_calls[0].kwargs["theta"]
            for seed in ("alice", "alice", "bob")]
    assert np.array_equal(seen[0], seen[1])
    assert not np.array_equal(seen[0], seen[2])


def test_timeout_and_crash_map_to_statuses(toy):
    _, checks, probes, files = toy
    reference = InProcessModule(files["good"], probes, "mod")
    for status, expected in (("timeout", "timeout"), ("crashed", "error")):
        student = StudentProbes(lambda name, kwargs, timeout, group, s=status: ProbeOutcome(s))
        records = run_checks(checks, GraderPlugin(student, reference, seed_material="x"))
        assert records[0].status == expected


def test_baked_reference_round_trip(toy, tmp_path):
    _, checks, probes, files = toy
    recorder = RecordingReference(InProcessModule(files["good"], probes, "mod"))
    kwargs = dict(theta=np.arange(3.0), grad=np.ones(3), eta=0.5)
    want = recorder.probe("step", **kwargs)
    recorder.save(tmp_path / "baked.npz")
    baked = BakedReference(tmp_path / "baked.npz")
    assert np.array_equal(baked.probe("step", **kwargs)["theta"], want["theta"])
    with pytest.raises(RuntimeError, match="no baked answer for probe .step."):
        baked.probe("step", **{**kwargs, "eta": 0.25})


def test_kwargs_key_is_sensitive_to_values_dtypes_and_names():
    base = kwargs_key("p", {"a": np.zeros(2)})
    assert base == kwargs_key("p", {"a": np.zeros(2)})
    assert base != kwargs_key("p", {"a": np.zeros(2, dtype=np.float32)})
    assert base != kwargs_key("p", {"a": np.ones(2)})
    assert base != kwargs_key("q", {"a": np.zeros(2)})


@pytest.mark.parametrize("got, message", [
    (None, "is None"),
    ("text", "expected a NumPy array"),
    (np.zeros(2), "has shape (2,), expected shape (3,)"),
    (np.array(["a", "b", "c"]), "dtype"),
    (np.array([1.0, np.nan, 3.0]), "contains NaN at index (1,)"),
    (np.array([1.0, 2.0, 4.0]), "theta is wrong at index (2,): expected 3.0, got 4.0"),
])
def test_expect_array_checks_in_a_fixed_order(got, message):
    with pytest.raises(CheckFailure) as info:
        expect_array(got, np.array([1.0, 2.0, 3.0]), name="theta", inputs={"eta": 0.1})
    assert message in str(info.value)
    assert "eta = 0.1" in str(info.value)


def test_feedback_numbers_keep_the_digits_to_recompute_them():
    """Inputs at full (repr) precision, like the expected and got values; arrays shown with
    enough digits that expected and got visibly differ; 2-d arrays one row per line."""
    eta0 = 0.37109959255812345
    want = np.array([[eta0, 1.0], [2.0, 3.000000012345]])
    got = np.array([[eta0, 1.0], [2.0, 3.000000012399]])
    with pytest.raises(CheckFailure) as info:
        expect_array(got, want, name="theta", rtol=1e-12, atol=0.0, inputs={"eta0": eta0, "A": want})
    text = str(info.value)
    assert f"eta0 = {eta0!r}" in text
    assert "expected 3.000000012345, got 3.000000012399" in text
    assert f"A = [[{eta0!r}, 1.                 ],\n       [2.                 , 3.000000012345     ]]" in text
    expected = text.split("Expected theta = ")[1].split("\nGot")[0]
    shown_got = text.split("Got      theta = ")[1]
    assert expected.count("\n") == 1 and expected != shown_got.replace("Got     ", "Expected")
    assert "3.0000000123]]" in expected and "3.0000000124]]" in shown_got


def test_expect_accepts_lists_scalars_and_tuples():
    expect_array([1.0, 2.0], np.array([1.0, 2.0]), name="theta")
    assert expect_scalar(np.array(2.0), 2.0, name="loss") == 2.0
    with pytest.raises(CheckFailure, match="should return a tuple"):
        expect_tuple(np.zeros(2), 2, name="momentum_step")
    assert expect_tuple([1, 2], 2, name="f") == (1, 2)


# --- CheckSession: the checks collected once, run for one submission after another ---------

def _essence(records) -> list[tuple]:
    return [(r.nodeid, r.status, r.output, r.internal_error,
             [(c.name, c.status, repr(c.kwargs), repr(c.value)) for c in r.probe_calls]) for r in records]


def test_session_runs_submissions_in_turn_like_fresh_pytest_runs(toy):
    """Alternating students through one session gives, for each, exactly the records of a
    fresh pytest run: nothing of one submission (records, seeds, probes) leaks into the next."""
    _, checks, probes, files = toy
    reference = InProcessModule(files["good"], probes, "mod")
    session = CheckSession(checks)
    try:
        for student_file, seed in (("bad", "alice"), ("good", "bob"), ("raising", "carol"), ("bad", "alice")):
            student = lambda: in_process_student(InProcessModule(files[student_file], probes, "mod"))  # noqa: E731
            fresh = run_checks(checks, GraderPlugin(student(), reference, seed_material=seed))
            records, errors = session.run(student(), reference, seed)
            assert errors == []
            assert _essence(records) == _essence(fresh)
    finally:
        session.close()


def test_session_selects_functions_per_submission_and_leaves_stdout_alone(toy):
    import sys

    _, checks, probes, files = toy
    reference = InProcessModule(files["good"], probes, "mod")
    stdout = sys.stdout
    session = CheckSession(checks)
    try:
        only, _ = session.run(in_process_student(reference), reference, "x", only_functions={"momentum_step"})
        every, _ = session.run(in_process_student(reference), reference, "x")
        assert sys.stdout is stdout  # the session outlives calls: it must not hold the process's stdout
    finally:
        session.close()
    assert [r.function for r in only] == ["momentum_step"]
    assert [r.function for r in every] == ["gd_step", "gd_step", "momentum_step"]
    with pytest.raises(RuntimeError, match="has ended"):
        session.run(in_process_student(reference), reference, "x")


def test_session_reports_broken_checks_folder(tmp_path):
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_broken.py").write_text("def broken(:\n")
    session = CheckSession(checks)
    try:
        records, errors = session.run(StudentProbes(lambda *a: None), None, "x")
    finally:
        session.close()
    assert records == [] and errors and "test_broken.py" in errors[0]


# --- the runner: checks written for pytest, run without it ---------------------------------

def _folder(root: Path, name: str, text: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "test_same_name.py").write_text(textwrap.dedent(text))
    return folder


def test_broken_checks_cost_only_themselves(tmp_path):
    """A check asking for a fixture nobody provides is the grader's error (never the
    student's), an unmarked test function and a test class are collection errors, and the
    other checks still run."""
    checks = _folder(tmp_path, "checks", '''
        from grader.checking import check

        @check("f", 1)
        def test_unknown_fixture(student, tmp_path):
            pass

        def test_unmarked(student):
            pass

        class TestGroup:
            def test_method(self):
                pass

        @check("f", 1, title="plain")
        def test_fine(student, rng, trace, reference):
            assert rng.integers(10) >= 0
        ''')
    plugin = GraderPlugin(StudentProbes(lambda *a: None), None, seed_material="x")
    records = {r.nodeid.split("::")[-1]: r for r in run_checks(checks, plugin)}
    assert list(records) == ["test_unknown_fixture", "test_fine"]
    unknown = records["test_unknown_fixture"]
    assert unknown.status == "error" and "not your fault" in unknown.output and "tmp_path" in unknown.internal_error
    assert records["test_fine"].status == "passed" and records["test_fine"].title == "f: plain"
    assert any("test_unmarked" in e and "not marked" in e for e in plugin.collection_errors)
    assert any("TestGroup" in e for e in plugin.collection_errors)


def test_two_folders_with_the_same_file_names_keep_their_own_checks(tmp_path):
    """Every assignment has a test_public.py: sessions of two folders, run in turn, each run
    their own checks (the modules are named after their folder)."""
    first = _folder(tmp_path, "first", '''
        from grader.checking import check

        @check("one", 1)
        def test_a(student):
            pass
        ''')
    second = _folder(tmp_path, "second", '''
        from grader.checking import check

        @check("two", 1)
        def test_b(student):
            raise AssertionError("second folder")
        ''')
    sessions = [CheckSession(first), CheckSession(second)]
    try:
        for _ in range(2):
            (a, _), (b, _) = (s.run(StudentProbes(lambda *x: None), None, "x") for s in sessions)
            assert [(r.function, r.status) for r in a] == [("one", "passed")]
            assert [(r.function, r.status, r.output) for r in b] == [("two", "failed", "second folder")]
    finally:
        for session in sessions:
            session.close()


def test_grading_a_module_imports_no_heavy_library():
    """`grader grade` of a .py file pays for what grading needs: the checks run without
    pytest, and nothing of the report (jinja2, matplotlib) or of notebooks (nbformat) loads."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import sys\nfrom grader.cli import main\n"
            "sys.argv = ['grader', 'grade', 'sigmoid_neuron', sys.argv[1], '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pytest', 'jinja2', 'matplotlib', 'nbformat') if m in sys.modules))")
    reference = root / "solutions" / "sigmoid_neuron" / "sigmoid_neuron.py"
    done = subprocess.run([sys.executable, "-c", code, str(reference)], cwd=root, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert '"status": "graded"' in done.stdout, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_copy_inputs_is_a_deep_copy_that_keeps_types_and_layout():
    """Probe arguments are copied for every reference probe and every recorded call: the
    copy must be as deep as copy.deepcopy's (a probe that writes into its inputs changes
    nothing of the check's), with the same types, dtypes and memory layout."""
    from grader.checking import copy_inputs

    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    value = {"theta": np.arange(3.0), "nested": [(1, 2.5, "s", None, np.float32(1.5)), {"A": fortran}],
             "flag": True, "objects": np.array([{"k": 1}], dtype=object)}
    copied = copy_inputs(value)
    assert repr(copied) == repr(value)
    assert copied["nested"][1]["A"].flags.f_contiguous and type(copied["nested"][0]) is tuple
    assert type(copied["nested"][0][4]) is np.float32
    copied["theta"][0] = 99.0
    copied["nested"][1]["A"][0, 0] = 99.0
    copied["objects"][0]["k"] = 2
    assert value["theta"][0] == 0.0 and value["nested"][1]["A"][0, 0] == 0.0 and value["objects"][0]["k"] == 1


def test_run_checks_drops_what_checks_print(tmp_path, capfd):
    """A one-off run (`grader grade`) prints the result alone: what a check (or the reference
    it runs in this process) prints while the checks run is dropped."""
    checks = _folder(tmp_path, "checks", '''
        import sys
        from grader.checking import check

        @check("f", 1)
        def test_noisy(student):
            print("debug output")
            print("more", file=sys.stderr)
        ''')
    records = run_checks(checks, GraderPlugin(StudentProbes(lambda *a: None), None, seed_material="x"))
    assert [r.status for r in records] == ["passed"]
    out, err = capfd.readouterr()
    assert "debug output" not in out and "more" not in err
