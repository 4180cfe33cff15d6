"""`grader audit` end to end, on a toy course with planted weaknesses (the full audit of a
real assignment is a benchmark-size job: benchmarks/audit_*.txt), and its usage errors."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from conftest import run_grader

TOY_REFERENCE = '''"""A toy assignment."""


def double(x):
    """2 x."""
    # BEGIN SOLUTION
    return 2.0 * x + 0.0
    # END SOLUTION


def half(x):
    """x / 2."""
    # BEGIN SOLUTION
    return x / 2.0
    # END SOLUTION
'''

# The planted weaknesses: double's check draws x from {0, 1}, so a mistake that keeps 0 at
# 0 (2x -> x) is seen only by the students who drew 1 (unfair); half's check only ever asks
# x = 0, so mistakes that keep 0 at 0 escape.
TOY_CHECKS = '''
from grader.checking import check
from grader.expect import expect_scalar


def same(student, reference, function, x):
    got = student.probe("call", function=function, x=x)
    want = reference.probe("call", function=function, x=x)
    expect_scalar(got, want, name=f"{function}({x})", rtol=1e-9, atol=1e-12)


@check("double", 2)
def test_double(student, reference, rng):
    """one drawn value"""
    same(student, reference, "double", float(rng.integers(0, 2)))


@check("half", 2)
def test_half(student, reference, rng):
    """zero"""
    same(student, reference, "half", 0.0)
'''

TOY_CATALOGUE = '''
[[mutant]]
id = "double.forgot_factor"
functions = ["double"]
file = "double_forgot_factor.py"
hint = "Your double returns x itself: multiply by 2."
'''


def make_toy_course(root: Path) -> Path:
    assignment, solution = root / "assignments" / "toy", root / "solutions" / "toy"
    (assignment / "checks").mkdir(parents=True)
    (solution / "checks").mkdir(parents=True)
    (solution / "mutants").mkdir()
    (assignment / "assignment.toml").write_text(textwrap.dedent('''
        title = "Toy"
        module = "toy"
        [[parts]]
        function = "double"
        points = 2
        [[parts]]
        function = "half"
        points = 2
        '''), encoding="utf-8")
    (assignment / "probes.py").write_text(
        'def call(mod, function, x):\n    return getattr(mod, function)(x)\n', encoding="utf-8")
    (assignment / "checks" / "test_public.py").write_text(TOY_CHECKS.replace("rng.integers(0, 2)", "1"),
                                                          encoding="utf-8")
    (solution / "toy.py").write_text(TOY_REFERENCE, encoding="utf-8")
    (solution / "checks" / "test_hidden.py").write_text(TOY_CHECKS, encoding="utf-8")
    (solution / "mutants" / "catalogue.toml").write_text(TOY_CATALOGUE, encoding="utf-8")
    (solution / "mutants" / "double_forgot_factor.py").write_text(
        '"""double.forgot_factor: x instead of 2 x."""\n\n\ndef double(x):\n    return x + 0.0\n', encoding="utf-8")
    (solution / "secret.txt").write_text("toy-secret\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def toy_audit(tmp_path_factory):
    root = make_toy_course(tmp_path_factory.mktemp("toy-course"))
    out = root / "audit-out"
    done = run_grader("audit", "toy", "--seeds", "10", "--out", str(out), "--workers", "1",
                      env={"GRADER_COURSE": str(root)}, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads((out / "audit.json").read_text(encoding="utf-8")), out


def _row(report, key):
    return next(r for r in report["mutants"] if r["key"] == key)


def test_planted_unfair_and_escaped_mutants_are_reported(toy_audit):
    done, report, out = toy_audit
    rows = {r["key"]: r for r in report["mutants"]}
    # 2x -> x: caught only for the ids that drew x = 1
    forgot = next(r for r in rows.values() if r["function"] == "double" and r["description"].endswith("-> `x`"))
    assert forgot["verdict"] == "unfair"
    assert 0 < len(forgot["caught_ids"]) < 10 and sorted(set(forgot["points_lost"])) == [0.0, 2.0]
    assert forgot["points_vary"] and list(forgot["varying_checks"]) == ["double: one drawn value"]
    # the catalogued mutant makes the same mistake: unfair too, and named only where caught
    catalogued = rows["catalogue.double_forgot_factor"]
    assert catalogued["verdict"] == "unfair" and catalogued["named"] == "sometimes"
    assert catalogued["misconceptions"] == ["double.forgot_factor"]
    # 2x + 0 -> 2x + 1: caught for every id, the same 2 points, named by nothing: a suggestion
    plus_one = next(r for r in rows.values() if r["function"] == "double" and r["description"] == "`0.0` -> `1.0`")
    assert plus_one["verdict"] == "caught" and plus_one["points_lost"] == [2.0] * 10 and plus_one["named"] == "never"
    assert plus_one["key"] in {s["key"] for s in report["suggestions"]}
    assert (out / "suggestions" / "catalogue-suggestions.toml").read_text().count(f'"{plus_one["key"]}"') == 1
    # half only ever sees 0: x / 2 -> x * 2 differs on the randomised probe set, yet escapes
    times_two = next(r for r in rows.values() if r["function"] == "half" and r["description"] == "`x / 2.0` -> `x * 2.0`")
    assert times_two["verdict"] == "escaped" and times_two["equivalence"]["status"] == "differs"
    # dropping "+ 0.0" changes nothing: equivalent, never graded
    no_zero = next(r for r in rows.values() if r["description"] == "`2.0 * x + 0.0` -> `2.0 * x`")
    assert no_zero["verdict"] == "equivalent" and no_zero["grades"] == {}
    # a half mutant is graded on half's checks only (double's answers never change)
    assert all(g["graded_parts"] == ["half"] for g in times_two["grades"].values())


def test_the_table_is_printed_and_the_last_line_counts_every_graded_mutant(toy_audit):
    done, report, out = toy_audit
    totals = report["totals"]
    graded = totals["caught"] + totals["unfair"] + totals["escaped"]
    expected = (f"audit: {totals['caught']} of {graded} mutants caught for every seed, "
                f"{totals['unfair']} unfair, {totals['escaped']} escaped")
    assert done.stdout.rstrip().splitlines()[-1] == expected == report["last_line"]
    assert totals["unfair"] >= 2 and totals["escaped"] >= 1 and totals["not graded"] == 0
    assert "Unfair: scored differently for different student ids" in done.stdout
    assert (out / "audit.txt").read_text().rstrip().splitlines()[-1] == expected
    html = (out / "audit.html").read_text()
    assert expected in html and "catalogue.double_forgot_factor" in html and "<script" not in html
    assert "style-src 'sha256-" in html and "unsafe-inline" not in html


@pytest.mark.parametrize("args, message", [
    (["audit", "nosuch"], "unknown assignment 'nosuch'"),
    (["audit", "optimizers", "--seeds", "0"], "--seeds must be at least 1"),
    (["audit", "optimizers", "--functions", "gd_step,bogus"], "--functions: unknown function 'bogus'"),
    (["audit", "optimizers", "--max-mutants", "-1"], "--max-mutants must be 0 or more"),
])
def test_usage_errors_are_one_line_with_exit_2(args, message, tmp_path):
    done = run_grader(*args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_a_broken_catalogue_is_a_one_line_error(tmp_path):
    root = make_toy_course(tmp_path / "course")
    (root / "solutions" / "toy" / "mutants" / "catalogue.toml").write_text("[[mutant]]\nid = 'x'\n")
    done = run_grader("audit", "toy", "--out", str(tmp_path / "out"), env={"GRADER_COURSE": str(root)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "catalogue.toml" in done.stderr


@pytest.mark.slow
def test_the_audit_runs_on_a_dask_cluster(tmp_path, monkeypatch):
    import io

    monkeypatch.setenv("GRADER_COURSE_CACHE", str(tmp_path / "course-cache"))  # the workers' cache, not ~/.cache

    distributed = pytest.importorskip("distributed")
    from grader.audit.command import audit_command
    from grader.course import Course

    assignment = Course(make_toy_course(tmp_path / "course")).get("toy")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        log = io.StringIO()
        summary = audit_command(assignment, seeds=2, out=tmp_path / "out", scheduler=cluster.scheduler_address,
                                functions=["half"], max_mutants=3, stream=log)
    assert summary["generated"] == 3 and summary["totals"]["not graded"] == 0
    assert summary["graded"] + summary["totals"]["equivalent"] == 3
    assert all(len(r["grades"]) == 2 for r in summary["mutants"] if r["verdict"] != "equivalent")
    assert log.getvalue().rstrip().splitlines()[-1] == summary["last_line"]
    assert len(list((tmp_path / "course-cache").iterdir())) == 1  # one bundle for both phases


@pytest.mark.slow
def test_the_audit_on_a_worker_without_the_course_or_the_output_folder_equals_a_local_one(tmp_path):
    """Mutants travel as text and the probe set in the course bundle: a Dask worker in a
    bubblewrap view that sees neither (test_batch_dask_remote) gives the local audit's records."""
    import io

    distributed = pytest.importorskip("distributed")
    from grader.audit.command import audit_command
    from grader.course import Course
    from test_batch_dask_remote import bwrap_works, isolated_worker

    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    if not bwrap_works(worker_tmp):
        pytest.skip("bubblewrap cannot make the worker's view here")
    assignment = Course(make_toy_course(tmp_path / "course")).get("toy")
    options = dict(seeds=2, functions=["half"], max_mutants=3)
    local = audit_command(assignment, out=tmp_path / "local", workers=1, stream=io.StringIO(), **options)
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster.scheduler_address) as client, \
            isolated_worker(cluster.scheduler_address, worker_tmp, client):
        seen = client.run(lambda paths: [__import__("os").path.exists(p) for p in paths],
                          [str(assignment.course_root), str(tmp_path)])
        assert list(seen.values()) == [[False, False]]
        remote = audit_command(assignment, out=tmp_path / "dask", scheduler=cluster.scheduler_address,
                               stream=io.StringIO(), **options)

    def records(summary):
        return [(r["key"], r["verdict"], r["grades"], {k: v for k, v in (r["equivalence"] or {}).items() if k != "seconds"})
                for r in summary["mutants"]]

    assert remote["totals"] == local["totals"] and remote["totals"]["not graded"] == 0
    assert records(remote) == records(local) and len(records(local)) >= 3
    # one course version (with the probe set) installed once, for both phases
    assert len([p for p in worker_tmp.rglob("*") if p.is_dir() and len(p.name) == 64]) == 1
