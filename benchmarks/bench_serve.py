"""The submission service under load: S students each submitting K times at once over
loopback, against `grader batch` on the same files.

    python benchmarks/bench_serve.py [--students 100] [--per-student 3] [--workers W] [--keep]

Starts a real `grader serve` (uvicorn on 127.0.0.1, a free port, SQLite in a fresh DATA_DIR,
a roster of S students), then every submission at once from one asyncio client (httpx):
upload, poll its status every 2 s (as the page does), fetch the report. Prints:
- accepted / graded / lost (a 202 without exactly one grading in the database is lost);
- throughput: submissions graded per second, first upload to last report;
- p50 / p95 / max seconds from upload to report (includes waiting in the queue: with one
  in-flight job per student, a student's three submissions are graded one after another);
- `grader batch` on the same S x K files (one entry each) with the same workers, for
  comparison.
Distinct files: each is a variant of the demo cohort with a comment, so no two share a
content hash.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "cohort"
VARIANTS = ["amara_okafor.py", "ben_carter.py", "chen_wei.py", "eva_novak.ipynb",
            "hana_sato.py", "nadia_rahman.py", "priya_nair.py", "sam_taylor.py"]
POLL = 2.0  # as often as a student's page refreshes itself
TIMEOUT = 3600.0  # the whole run; every loop is bounded by it


def make_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    files = []
    for i in range(count):
        variant = DEMO / VARIANTS[i % len(VARIANTS)]
        target = folder / f"s{i:04d}{variant.suffix}"
        data = variant.read_bytes()
        if variant.suffix == ".py":
            data += f"\n# submission {i}\n".encode()
        else:  # a notebook: a distinct metadata value keeps it a valid notebook
            notebook = json.loads(data)
            notebook.setdefault("metadata", {})["bench"] = i
            data = json.dumps(notebook).encode()
        target.write_bytes(data)
        files.append(target)
    return files


def start_service(data: Path, roster: Path, workers: int | None, log) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "grader", "serve", "--data", str(data), "--roster", str(roster), "--port", "0"]
    if workers:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if not line and process.poll() is not None:
            raise SystemExit("grader serve did not start")
        if line.startswith("listening on "):
            return process, line.split()[2]
    raise SystemExit("grader serve did not start in time")


async def one_submission(client, token: str, path: Path, deadline: float) -> tuple[str | None, float | None]:
    headers = {"Authorization": f"Bearer {token}"}
    import httpx2 as httpx

    started = time.monotonic()
    reply = await client.post("/api/assignments/optimizers/submissions", headers=headers,
                              files={"file": (path.name, path.read_bytes())})
    if reply.status_code != 202:
        print(f"refused {path.name}: {reply.status_code} {reply.text}", file=sys.stderr)
        return None, None
    sid = reply.json()["id"]
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL)
        try:
            state = (await client.get(f"/api/submissions/{sid}", headers=headers)).json()
            if state["status"] in ("graded", "error"):
                report = await client.get(f"/api/submissions/{sid}/report", headers=headers)
                return sid, (time.monotonic() - started) if report.status_code == 200 else None
        except httpx.TransportError as exc:  # a GET is safe to repeat; say so, and poll again
            print(f"poll of {sid} failed ({exc!r}); polling again", file=sys.stderr)
    return sid, None


async def load(url: str, tokens: list[str], files: list[Path], per_student: int) -> list[tuple[str | None, float | None]]:
    import httpx2 as httpx

    deadline = time.monotonic() + TIMEOUT
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        jobs = [one_submission(client, tokens[i // per_student], files[i], deadline) for i in range(len(files))]
        return await asyncio.gather(*jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--per-student", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    total = args.students * args.per_student
    files = make_files(folder / "files", total)
    students = [f"student{i:03d}" for i in range(args.students)]
    roster = folder / "roster.csv"
    roster.write_text("id,name,email\n" + "".join(f"{s},{s},\n" for s in students))
    data = folder / "data"
    # the rate limit is the policy's (10 an hour by default): K <= 10 stays within it
    with open(folder / "serve.log", "wb") as log:
        process, url = start_service(data, roster, args.workers, log)
        try:
            import csv
            with open(data / "tokens.csv", newline="") as handle:
                by_id = {row["id"]: row["token"] for row in csv.DictReader(handle)}
            tokens = [by_id[s] for s in students]
            began = time.monotonic()
            outcomes = asyncio.run(load(url, tokens, files, args.per_student))
            seconds = time.monotonic() - began
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    accepted = [sid for sid, _ in outcomes if sid]
    latencies = sorted(t for _, t in outcomes if t is not None)
    with sqlite3.connect(data / "service.sqlite") as db:
        gradings = dict(db.execute("SELECT submission, COUNT(*) FROM gradings GROUP BY submission"))
    lost = [sid for sid in accepted if gradings.get(sid) != 1]
    print(f"service: {args.students} students x {args.per_student} submissions at once over loopback "
          f"({os.cpu_count()} cores, workers: {args.workers or 'default'})")
    print(f"  accepted {len(accepted)}/{total}, graded with a report {len(latencies)}, lost {len(lost)}")
    print(f"  throughput {len(latencies) / seconds:.2f} submissions/s ({seconds:.1f} s first upload to last report)")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"  upload to report: p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s, "
              f"max {latencies[-1]:.1f} s")

    sys.path.insert(0, str(ROOT))
    from grader.batch import run_batch
    from grader.course import Course
    import io

    began = time.monotonic()
    summary = run_batch(Course(ROOT).get("optimizers"), folder / "files", folder / "batch-out",
                        workers=args.workers, stream=io.StringIO(), progress_bar=False)
    batch_seconds = time.monotonic() - began
    print(f"grader batch on the same {total} files: {len(summary.graded) / batch_seconds:.2f} submissions/s "
          f"({batch_seconds:.1f} s)")
    if args.keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
