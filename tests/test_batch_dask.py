"""`--scheduler`: the same batch on a Dask distributed cluster gives the same gradebook."""
from __future__ import annotations

import io

import pytest

from grader.batch import run_batch
from grader.batch.gradebook import Gradebook
from grader.cli import UsageError, main
from test_batch_fakes import fake_grade, write_fake

distributed = pytest.importorskip("distributed")


def gradebook_contents(out, assignment) -> dict:
    """Everything stored per student except when and how fast it was graded."""
    with Gradebook(out, assignment.id) as book:
        contents = {}
        for row in book.rows():
            data = book.result(row.student).to_dict()
            data.pop("execution_time")
            contents[row.student] = (row.entry, row.content_hash, row.checks_hash, row.score, row.max_score,
                                     row.status, row.error, data, book.tests(row.student), book.parts(row.student))
        return contents


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # the workers' course cache (grader.batch.course_bundle) in a temporary folder, not ~/.cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADER_COURSE_CACHE", str(tmp_path_factory.mktemp("course-cache")))
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=40) as local:
            yield local


@pytest.mark.slow
def test_dask_gradebook_equals_the_local_one(tmp_path, optimizers, cluster):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for i in range(10):
        write_fake(cohort, f"s{i}.py", gd_step=i % 4, adam_step=i, miss="adam_step:adam.t_off_by_one" if i % 2 else [])
    write_fake(cohort, "broken.py", broken="syntax error in broken.py line 1: invalid syntax")
    write_fake(cohort, "buggy.py", **{"raise": 1})
    local = run_batch(optimizers, cohort, tmp_path / "local", workers=2, grade_fn=fake_grade, stream=io.StringIO())
    log = io.StringIO()
    remote = run_batch(optimizers, cohort, tmp_path / "dask", scheduler=cluster.scheduler_address,
                       grade_fn=fake_grade, stream=log)
    assert "on the Dask cluster at tcp://" in log.getvalue()
    assert sorted(remote.graded) == sorted(local.graded) and len(remote.graded) == 12
    assert gradebook_contents(tmp_path / "dask", optimizers) == gradebook_contents(tmp_path / "local", optimizers)
    assert (tmp_path / "dask" / "grades.csv").read_text() == (tmp_path / "local" / "grades.csv").read_text()
    # resumable there too
    again = run_batch(optimizers, cohort, tmp_path / "dask", scheduler=cluster.scheduler_address,
                      grade_fn=fake_grade, stream=io.StringIO())
    assert sorted(again.graded) == ["buggy"] and len(again.skipped) == 11


@pytest.mark.slow
def test_dask_with_real_grading_equals_local(tmp_path, optimizers, cluster):
    """The real pipeline (sandbox, checks, diagnosis, reports) on Dask workers."""
    import shutil
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "demo" / "cohort"
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for name in ["amara_okafor.py", "eva_novak.ipynb", "farah_haddad.zip", "nadia_rahman.py", "uma_patel.py"]:
        shutil.copy(demo / name, cohort / name)
    run_batch(optimizers, cohort, tmp_path / "local", workers=2, stream=io.StringIO())
    remote = run_batch(optimizers, cohort, tmp_path / "dask", scheduler=cluster.scheduler_address,
                       stream=io.StringIO())
    assert len(remote.graded) == 5 and remote.failed == ["uma_patel"]
    assert gradebook_contents(tmp_path / "dask", optimizers) == gradebook_contents(tmp_path / "local", optimizers)
    assert (tmp_path / "dask" / "reports" / "nadia_rahman.html").is_file()


def test_without_dask_installed_the_error_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from grader.batch.runner import DaskRunner

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(UsageError, match=r"pip install 'grader\[dask\]'"):
        DaskRunner("tcp://127.0.0.1:1")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "alice.py").write_text("x = 1\n")
    assert main(["batch", "optimizers", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "grader[dask]" in err


def test_an_unreachable_scheduler_is_a_usage_error(monkeypatch):
    from grader.batch import runner
    from grader.batch.runner import DaskRunner

    monkeypatch.setattr(runner, "SCHEDULER_CONNECT_TIMEOUT", "1s")
    with pytest.raises(UsageError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:9"):
        DaskRunner("tcp://127.0.0.1:9")


@pytest.mark.slow
def test_a_scheduler_gone_before_the_course_is_sent_is_a_usage_error(optimizers):
    from grader.batch.runner import DaskRunner

    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=50) as gone:
        runner = DaskRunner(gone.scheduler_address)
    try:
        with pytest.raises(UsageError) as info:
            runner.ship(optimizers)
        assert str(info.value).startswith(f"cannot send the course to the Dask scheduler at {gone.scheduler_address}")
        assert "\n" not in str(info.value)
    finally:
        runner.close()
