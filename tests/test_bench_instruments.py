"""The benchmarks' measuring instruments (benchmarks/side_by_side.py): what they count and
what they leave behind. No timing is asserted: only that work done is counted."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_batch  # noqa: E402
from side_by_side import checkout  # noqa: E402

ORPHAN = textwrap.dedent("""
    import os, sys, time
    # a grandchild whose parent does not wait for it: it is orphaned while it works
    if os.fork() == 0:
        time.sleep(0.2)  # the parent is gone by now
        while time.process_time() < 0.3:
            pass
        with open(sys.argv[1], "w") as handle:
            handle.write(repr(time.process_time()))
        os._exit(0)
    os._exit(0)
""")


def test_run_measured_counts_orphaned_descendants(tmp_path):
    """A batch's fork server and a sandbox whose worker exited are orphans: their CPU must be
    counted. Run in a subprocess, since run_measured makes its process a child subreaper."""
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    report = tmp_path / "orphan-cpu"
    measure = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(BENCHMARKS)!r})
        from pathlib import Path
        from side_by_side import run_measured
        m = run_measured([sys.executable, {str(script)!r}, {str(report)!r}], env=dict(os.environ), cwd=Path("."))
        print(json.dumps([m.cpu, m.returncode, m.still_running]))
    """)
    done = subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cpu, returncode, still_running = json.loads(done.stdout)
    orphan_cpu = float(report.read_text())
    assert returncode == 0 and still_running == 0
    assert cpu >= orphan_cpu >= 0.3


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_checkout_gives_the_revision_and_removes_it(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    for text in ("old", "new"):
        (repo / "file.txt").write_text(text)
        _git(repo, "add", "file.txt")
        _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", text)
    with checkout(repo, "HEAD~1") as tree:
        assert (tree / "file.txt").read_text() == "old"
        assert str(tree) in _git(repo, "worktree", "list")
    assert not tree.exists()
    assert str(tree) not in _git(repo, "worktree", "list")
    assert (repo / "file.txt").read_text() == "new"


def test_checkout_of_no_revision_is_none(tmp_path):
    with checkout(tmp_path, None) as tree:
        assert tree is None


def test_cohort_distinct_submissions_of_every_variant(tmp_path):
    # bench_trusted.py grades the same variants from bench_batch.DEMO
    bench_batch.build_cohort(tmp_path / "cohort", 2 * len(bench_batch.VARIANTS), bench_batch.DEMO)
    files = sorted((tmp_path / "cohort").iterdir())
    assert len(files) == 2 * len(bench_batch.VARIANTS)
    assert len({f.read_bytes() for f in files}) == len(files)  # no two share a content hash
    for f in files:
        if f.suffix == ".ipynb":
            json.loads(f.read_text())  # still a notebook


def test_cohort_needs_the_variants(tmp_path):
    with pytest.raises(SystemExit, match="variants"):
        bench_batch.build_cohort(tmp_path / "cohort", 3, tmp_path)


def test_grades_that_differ_between_rounds_are_named(capsys):
    bench_batch.report_agreement([("old", {"a": ["10", "passed"], "b": ["7", "graded"]}),
                                  ("new", {"a": ["10", "passed"], "b": ["6", "graded"]})])
    assert "GRADES DIFFER: 1 students between old and new, e.g. b" in capsys.readouterr().out
    bench_batch.report_agreement([("old", {"a": ["10"]}), ("new", {"a": ["10"]})])
    assert "grades identical in all 2 rounds" in capsys.readouterr().out


def test_floor_runs_every_hidden_check_on_both_sides(tmp_path):
    """The floor's harness calls the hidden checks directly: a change to the checks'
    fixtures that it does not follow would show here as harness errors or missing calls.
    (It runs the demo cohort's made-up code in this process, as the benchmark does.)"""
    cohort = tmp_path / "cohort"
    bench_batch.build_cohort(cohort, len(bench_batch.VARIANTS), bench_batch.DEMO)
    floor = bench_batch.drive_floor(bench_batch.ROOT, cohort, len(bench_batch.VARIANTS))
    assert floor["harness_errors"] == []
    assert floor["submissions"] == len(bench_batch.VARIANTS)
    assert floor["checks"] >= 40  # optimizers' hidden checks, all found
    correct = 0  # amara_okafor, the reference itself: every check asks both sides
    assert floor["student_calls"][correct] > floor["checks"] and floor["reference_calls"][correct] > floor["checks"]
    assert min(floor["student_cpu"]) > 0 and min(floor["reference_cpu"]) > 0


AUTO_REAPED = textwrap.dedent("""
    import os, signal, sys, time
    # a parent that ignores SIGCHLD: its children are reaped by the kernel, their CPU added
    # to no one's rusage (what happens to a sandbox's PID namespace killed with its init)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    if os.fork() == 0:
        while time.process_time() < 0.3:
            pass
        with open(sys.argv[1], "w") as handle:
            handle.write(repr(time.process_time()))
        os._exit(0)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    time.sleep(0.2)
""")


def test_run_measured_counts_what_rusage_cannot_see(tmp_path):
    script = tmp_path / "auto_reaped.py"
    script.write_text(AUTO_REAPED)
    report = tmp_path / "child-cpu"
    measure = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(BENCHMARKS)!r})
        from pathlib import Path
        from side_by_side import CpuGroup, run_measured
        m = run_measured([sys.executable, {str(script)!r}, {str(report)!r}], env=dict(os.environ), cwd=Path("."))
        print(json.dumps([m.cpu, m.cpu_source, m.rusage_cpu, sorted(p.name for p in Path("/sys/fs/cgroup").rglob("grader-bench-{{}}-*".format(os.getpid())))]))
    """)
    done = subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cpu, source, rusage_cpu, left_behind = json.loads(done.stdout)
    if source != "cgroup":
        pytest.skip("no cgroup can be made here (not root?): the benchmarks say so in their output")
    child_cpu = float(report.read_text())
    assert cpu >= child_cpu >= 0.3
    assert rusage_cpu < child_cpu  # what rusage alone would have reported
    assert left_behind == []  # the run's cgroup is removed
