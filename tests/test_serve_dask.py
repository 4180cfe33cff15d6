"""`grader serve --scheduler`: the service's queue grades on a Dask cluster (the batch's
DaskRunner) and stores the same result as grading locally."""
from __future__ import annotations

import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from grader.batch.runner import DaskRunner  # noqa: E402
from serve_helpers import COHORT, Harness, copy_course, submit, wait_graded  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_queue_grades_on_a_dask_cluster(tmp_path):
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
