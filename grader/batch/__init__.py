"""Batch grading of a cohort: parallel (local processes or Dask), resumable (SQLite
gradebook), with a CSV, per-student reports and results, and a dashboard.

    cohort.py       discover_cohort(folder) -> [Entry(student, path)]
    fingerprint.py  entry_hash(path), checks_hash(assignment): when a stored grade is current
    gradebook.py    Gradebook(out, assignment_id): SQLite, one transaction per submission
    work.py         grade_job(GradeJob) -> GradeOutcome: what a worker process runs
    course_bundle.py  the course sent to Dask workers by content hash, cached privately there
    runner.py       LocalRunner / DaskRunner, run_jobs(): parallel, crash-tolerant
    progress.py     Progress: tqdm bar on a terminal, log lines otherwise
    outputs.py      grades.csv, results/*.json, stale-file cleanup
    dashboard.py    index.html from templates/dashboard.html.j2
    command.py      run_batch(), batch_command(), demo_command()
"""
from grader.batch.command import BatchSummary, batch_command, demo_command, run_batch

__all__ = ["BatchSummary", "batch_command", "demo_command", "run_batch"]
