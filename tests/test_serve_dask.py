"""`grader serve --scheduler`: the service's queue grades on a Dask cluster (the batch's
DaskRunner) and stores the same result as grading locally."""
from __future__ import annotations

import os

import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from grader.batch.runner import DaskRunner  # noqa: E402
from serve_helpers import COHORT, Harness, copy_course, submit, wait_graded  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_queue_grades_on_a_dask_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_COURSE_CACHE", str(tmp_path / "course-cache"))  # the workers' cache, not ~/.cache
    course = copy_course(tmp_path / "course")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        harness = Harness(course, tmp_path / "data", runner=DaskRunner(cluster.scheduler_address))
        try:
            with TestClient(harness.app) as client:
                sid = submit(client, harness, "alice", COHORT / "nadia_rahman.py").json()["id"]
                state = wait_graded(client, harness, "alice", sid, timeout=300)
                report = client.get(f"/api/submissions/{sid}/report", headers=harness.bearer("alice"))
        finally:
            harness.close()
    from grader.grade import grade_submission

    local = grade_submission(course.get("optimizers"), COHORT / "nadia_rahman.py", student="alice").to_dict()
    got = state["result"]
    assert got["status"] == "graded" and got["score"] == local["score"] < local["max_score"]
    assert [t["status"] for t in got["tests"]] == [t["status"] for t in local["tests"]]
    assert report.status_code == 200 and "feedback for alice" in report.text


def test_the_queue_grades_on_a_worker_without_the_course_or_data_dir(tmp_path):
    """A Dask worker in a bubblewrap view holding neither the course nor DATA_DIR grades an
    upload (a notebook: the record comes back too) as grading locally does."""
    from test_batch_dask_remote import bwrap_works, isolated_worker

    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    if not bwrap_works(worker_tmp):
        pytest.skip("bubblewrap cannot make the worker's view here")
    course = copy_course(tmp_path / "course")
    data = tmp_path / "data"
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster.scheduler_address) as client, \
            isolated_worker(cluster.scheduler_address, worker_tmp, client):
        seen = client.run(lambda paths: [os.path.exists(p) for p in paths], [str(course.root), str(tmp_path)])
        assert list(seen.values()) == [[False, False]]
        harness = Harness(course, data, runner=DaskRunner(cluster.scheduler_address))
        try:
            with TestClient(harness.app) as web:
                sid = submit(web, harness, "alice", COHORT / "eva_novak.ipynb").json()["id"]
                state = wait_graded(web, harness, "alice", sid, timeout=300)
                report = web.get(f"/api/submissions/{sid}/report", headers=harness.bearer("alice"))
        finally:
            harness.close()
    from grader.grade import grade_submission

    local = grade_submission(course.get("optimizers"), COHORT / "eva_novak.ipynb", student="alice").to_dict()
    got = state["result"]
    assert got["status"] == "graded" and got["score"] == local["score"]
    assert [(t["name"], t["status"]) for t in got["tests"]] == [(t["name"], t["status"]) for t in local["tests"]]
    # the notebook record came back with the report (the report links it only then)
    assert report.status_code == 200 and "The notebook as submitted" in report.text
    assert len([p for p in worker_tmp.rglob("*") if p.is_dir() and len(p.name) == 64]) == 1  # the course, cached
