"""`grader serve`: open DATA_DIR and the database, add the roster's students (their tokens in
DATA_DIR/tokens.csv), start the grading queue and uvicorn, print the URL; stop cleanly on
SIGINT/SIGTERM (uvicorn's handlers), giving unfinished gradings back to the queue.

`--demo` serves the course's demo cohort (demo/demo.toml): its students are the roster,
DATA_DIR defaults to a fresh temporary folder, and it prints one student's login link (with
a file of the sample cohort to upload) and the instructor's.
"""
from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from grader.errors import UsageError
from grader.course import Course
from grader.serve import auth
from grader.serve.db import Database, DatabaseError
from grader.serve.storage import write_durably
from grader.untrusted import csv_row, terminal_line

TOKENS_CSV = "tokens.csv"
INSTRUCTOR_TOKEN = "instructor.token"
LOCK = ".serve.lock"
MAX_ROSTER_BYTES = 20 << 20


def open_data_dir(data_dir: Path) -> Path:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)  # submissions, tokens and the database: the owner's only
    except OSError as exc:
        raise UsageError(f"--data {data_dir}: cannot use it ({exc.strerror or exc})") from None
    return data_dir


def lock_data_dir(data_dir: Path):
    """With SQLite, one service process per DATA_DIR (the kernel drops the lock however the
    process ends): what is `grading` at start was left by a dead predecessor."""
    handle = open(data_dir / LOCK, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"another `grader serve` is using {data_dir}; stop it first "
                         "(several processes need --database postgresql://...)") from None
    return handle


def instructor_token(database: Database, data_dir: Path) -> str | None:
    """The instructor's token: made on first start (DATA_DIR/instructor.token, owner-only);
    None when another machine made it (its file is there)."""
    path = data_dir / INSTRUCTOR_TOKEN
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    token = auth.new_token()
    stored = database.set_meta_once(auth.INSTRUCTOR_TOKEN_KEY, auth.token_hash(token))
    if stored != auth.token_hash(token):
        return None
    _write_private(path, token + "\n")
    return token


def _write_private(path: Path, text: str) -> None:
    write_durably(path, text.encode("utf-8"))
    os.chmod(path, 0o600)


def read_roster(path: Path) -> list[tuple[str, str, str]]:
    """(id, name, email) rows of a roster CSV (header `id,name,email`; more columns ignored)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--roster {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise UsageError(f"--roster {path}: larger than {MAX_ROSTER_BYTES >> 20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"--roster {path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
        raise UsageError(f"--roster {path}: the header must have an `id` column (id,name,email)")
    rows, seen = [], set()
    for line, record in enumerate(reader, start=2):
        record = {(k or "").strip(): (v or "") for k, v in record.items() if k is not None}
        student = record.get("id", "").strip()
        if not student:
            raise UsageError(f"--roster {path}: line {line}: empty id")
        if student in seen:
            raise UsageError(f"--roster {path}: line {line}: duplicate id '{terminal_line(student)}'")
        seen.add(student)
        rows.append((student, record.get("name", "").strip(), record.get("email", "").strip()))
    return rows


def read_tokens(data_dir: Path, database: Database) -> dict[str, str]:
    """{student id: token} from DATA_DIR/tokens.csv. Ids are found by the token's hash in the
    database: the file's id column is neutralised for spreadsheets, not a key."""
    path = data_dir / TOKENS_CSV
    if not path.is_file():
        return {}
    tokens = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            found = database.student_by_token_hash(auth.token_hash(row.get("token") or ""))
            if found:
                tokens[found[0]] = row["token"]
    return tokens


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login?token={quote(token)}"


def add_roster(database: Database, data_dir: Path, roster: list[tuple[str, str, str]], base_url: str) -> int:
    """Add the roster's new students with fresh tokens (known students keep theirs) and
    rewrite DATA_DIR/tokens.csv (`id,token,link`, owner-only). Returns how many were added."""
    tokens = read_tokens(data_dir, database)
    added = 0
    for student, name, email in roster:
        token = tokens.get(student) or auth.new_token()
        if database.add_student(student, name, email, auth.token_hash(token)):
            added += 1
            tokens[student] = token
        elif student not in tokens:
            continue  # known from another machine's tokens.csv; its token is not ours to show
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "token", "link"])
    for student in sorted(tokens):
        # the id is the instructor's roster text: neutralised like any CSV cell
        writer.writerow([*csv_row([student]), tokens[student], login_link(base_url, tokens[student])])
    _write_private(data_dir / TOKENS_CSV, buffer.getvalue())
    return added


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_command(course: Course, data_dir: Path | None, *, roster: Path | None = None, host: str = "127.0.0.1",
                  port: int = 8000, workers: int | None = None, scheduler: str | None = None,
                  database_url: str | None = None, public_url: str | None = None, demo: bool = False) -> int:
    """The CLI's `grader serve`; returns when the server stopped (SIGINT/SIGTERM)."""
    try:
        import uvicorn
        from grader.serve.app import Service
        from grader.serve.asgi import create_app
    except ImportError as exc:
        raise UsageError(f"the service needs its extra: pip install 'grader[serve]' ({exc.name} is missing)") from None
    from grader.batch.runner import DaskRunner, LocalRunner
    from grader.serve.queue import GradingQueue

    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    demo_rows, demo_files = [], {}
    if demo:
        from grader.batch.cohort import discover_cohort
        from grader.batch.command import demo_cohort

        _, cohort = demo_cohort(course)
        for entry in discover_cohort(cohort):
            demo_rows.append((entry.student, entry.student.replace("_", " ").title(), ""))
            demo_files[entry.student] = entry.path
        data_dir = data_dir or Path(tempfile.mkdtemp(prefix="grader-serve-demo-"))
    if data_dir is None:
        raise UsageError("--data DATA_DIR is required (where the service keeps everything)")
    data_dir = open_data_dir(Path(data_dir))
    lock = None
    try:
        database = Database(data_dir, database_url)
    except DatabaseError as exc:
        raise UsageError(str(exc)) from None
    if database.dialect == "sqlite":
        lock = lock_data_dir(data_dir)
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    base_url = (public_url or f"http://{shown_host}:{bound_port}").rstrip("/")
    rows = read_roster(roster) if roster else []
    added = add_roster(database, data_dir, rows + demo_rows, base_url) if rows or demo_rows else 0
    token = instructor_token(database, data_dir)

    runner = DaskRunner(scheduler) if scheduler else LocalRunner(workers)
    service = Service(database, course, data_dir)
    queue = GradingQueue(database, course, data_dir, runner, exclusive=database.dialect == "sqlite")
    service.queue = queue
    app = create_app(service)
    logging.basicConfig(level=logging.WARNING, format="grader serve: %(levelname)s %(message)s")
    config = uvicorn.Config(app, access_log=False, log_level="warning", proxy_headers=True,
                            forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
                            # keep-alive as long as a proxy's (nginx: 75 s): a client reusing a connection the
                            # server had just closed would see its request fail
                            timeout_graceful_shutdown=10, timeout_keep_alive=75)
    server = uvicorn.Server(config)

    print(f"grader serve: {len(database.students())} students ({added} new), {database.describe}, "
          f"grading on {runner.describe()}; tokens in {data_dir / TOKENS_CSV}")
    if token and (demo or sys.stdout.isatty()):  # never into a log file or the journal
        print(f"instructor: {login_link(base_url, token)}")
    else:
        print(f"instructor: the login link is {base_url}/login?token=<the token in {data_dir / INSTRUCTOR_TOKEN}>")
    if demo and demo_rows:
        first = demo_rows[0][0]
        tokens = read_tokens(data_dir, database)
        print(f"student {terminal_line(first)}: {login_link(base_url, tokens[first])}  "
              f"(upload {demo_files[first]})")
    print(f"listening on {base_url}  (Ctrl-C stops)", flush=True)
    queue.start()
    # uvicorn handles SIGINT/SIGTERM while serving (a graceful shutdown), then re-raises the
    # signal to the handler that was there before: ours, so the clean-up below still runs
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in stop_signals}
    try:
        server.run(sockets=[sock])
    finally:
        queue.stop()
        database.close()
        sock.close()
        if lock is not None:
            lock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("grader serve: stopped", file=sys.stderr)
    return 0
