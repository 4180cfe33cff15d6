"""The service's JSON API (the contract's routes) and what the routes share (`Service`, the
caller, uploads, grades); `grader.serve.asgi` puts these routes and the pages
(`grader.serve.pages`) into one Starlette application with the security headers.

Routes (students see only their own submissions: anything else is 404, as if it did not
exist; the instructor sees everything):

    GET  /healthz                                   liveness
    POST /api/assignments/{id}/submissions          upload (multipart field `file`) -> 202
    GET  /api/submissions/{sid}                     one submission, with its result once graded
    GET  /api/submissions/{sid}/report              its HTML report (`notebook`: the notebook record)
    GET  /api/me/submissions                        the caller's submissions, newest first
    GET  /api/assignments/{id}/grades.csv           instructor: the gradebook as `grader batch` writes it
    POST /api/assignments/{id}/regrade              instructor: queue a new round ({"student": id} for one)
    GET  /api/queue                                 instructor: submissions per status
    GET  /login?token=...                           a login link: sets the session cookie, redirects to /
    GET  /, /assignments/{id}, /submissions/{sid}[/report|/notebook]    the student's pages
    POST /assignments/{id}/submissions, /logout     forms (CSRF token)
    GET  /instructor, /instructor/assignments/{id}/[dashboard|grades.csv|reports/..|results/..]
    POST /instructor/assignments/{id}/regrade

Every response carries the report's Content-Security-Policy (no script, nothing fetched
from anywhere; pages with forms may post to this origin only), `X-Content-Type-Options:
nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY` and `Cache-Control:
no-store`. Pages refresh themselves with `<meta http-equiv="refresh">` while something is
queued or grading: no JavaScript anywhere.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from grader.batch.final_grades import FinalGrade, final_grade
from grader.course import Assignment, Course, CourseError
from grader.load import SubmissionError
from grader.results import GradingResult
from grader.serve import auth, storage
from grader.serve.db import Database, RateLimited, SubmissionRow
from grader.serve.policy import Policy, load_policy

#: The report's policy (templates/report.html.j2), with forms allowed to post to us.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the CSRF field around the file


@dataclass
class Service:
    """What the routes share."""
    database: Database
    course: Course
    data_dir: Path
    queue: object | None = None  # grader.serve.queue.GradingQueue (None: accept only, e.g. in tests)
    _assignments: dict = field(default_factory=dict)

    def assignment(self, assignment_id: str) -> tuple[Assignment, Policy]:
        """The assignment and its policy; 404 when there is no such assignment."""
        if assignment_id not in self._assignments:
            if not assignment_id or "/" in assignment_id or assignment_id.startswith("."):
                raise ApiError(404, "no such assignment")
            try:
                assignment = self.course.get(assignment_id)
            except CourseError:
                raise ApiError(404, "no such assignment") from None
            self._assignments[assignment_id] = (assignment, load_policy(assignment))
        return self._assignments[assignment_id]

    def assignments(self) -> list[tuple[Assignment, Policy]]:
        return [self.assignment(a.id) for a in self.course.assignments()]


class ApiError(HTTPException):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(status, message, headers)


# --- who is asking ----------------------------------------------------------------------------

def caller_of(request: Request) -> auth.Caller | None:
    service: Service = request.app.state.service
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        return auth.caller_for_token(service.database, token.strip()) if scheme.lower() == "bearer" else None
    cookie = request.cookies.get(auth.COOKIE)
    return auth.caller_for_session(service.database, cookie) if cookie else None


def require_caller(request: Request) -> auth.Caller:
    caller = caller_of(request)
    if caller is None:
        raise ApiError(401, "log in with your link, or send Authorization: Bearer TOKEN")
    return caller


def require_instructor(request: Request) -> auth.Caller:
    caller = require_caller(request)
    if not caller.is_instructor:
        raise ApiError(403, "instructors only")
    return caller


def own_submission(service: Service, caller: auth.Caller, sid: str) -> SubmissionRow:
    """The submission `sid` if the caller may see it; 404 otherwise (never saying it exists)."""
    row = service.database.submission(sid) if _plausible_sid(sid) else None
    if row is None or not (caller.is_instructor or row.student == caller.student):
        raise ApiError(404, "no such submission")
    return row


def _plausible_sid(sid: str) -> bool:
    return 0 < len(sid) <= 64 and all(c in "0123456789abcdef" for c in sid)


def check_form_post(request: Request, caller: auth.Caller, csrf: str | None) -> None:
    """A browser form: the session's CSRF token, and our own origin when the browser says."""
    origin = request.headers.get("origin")
    # "null": what a browser sends from our own pages under Referrer-Policy: no-referrer
    if origin and origin != "null" and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise ApiError(403, "cross-site form rejected")
    if not auth.csrf_ok(caller, csrf):
        raise ApiError(403, "the form has expired; reload the page and try again")


# --- accepting a submission -------------------------------------------------------------------

async def read_upload(request: Request, limit: int) -> tuple[str, bytes, dict]:
    """(the file's name as sent, its bytes, the other form fields); 413 past `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise ApiError(413, f"the file is larger than this assignment's limit of {_mb(limit)}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + FORM_OVERHEAD:
            raise ApiError(413, f"the file is larger than this assignment's limit of {_mb(limit)}")

    async def replay():
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=8, max_part_size=4096)
    except Exception:
        raise ApiError(422, "send the submission as multipart/form-data with the field `file`") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "send the submission as multipart/form-data with the field `file`")
    data = await upload.read()
    if len(data) > limit:
        raise ApiError(413, f"the file is larger than this assignment's limit of {_mb(limit)}")
    if not data:
        raise ApiError(422, "the file is empty")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return upload.filename or "", data, fields


def _mb(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"


def accept(service: Service, caller: auth.Caller, assignment_id: str, filename: str, data: bytes) -> str:
    """Store and queue one submission; returns its id once file and row are durable."""
    assignment, policy = service.assignment(assignment_id)
    if caller.is_instructor:
        raise ApiError(403, "only students submit (the instructor token grades with `grader grade`)")
    now = time.time()
    sid = storage.new_submission_id()
    kind = storage.kind_of(filename, data[:64])
    try:
        content_hash = storage.store_upload(service.data_dir, sid, kind, data, assignment.module)
    except SubmissionError as exc:
        raise ApiError(422, str(exc)) from None
    limited = service.database.add_submission(sid, assignment.id, caller.student, kind, content_hash, len(data),
                                              now, late_seconds(assignment, now), rate_limit=policy.rate_limit,
                                              rate_window=policy.rate_window)
    if isinstance(limited, RateLimited):
        storage.upload_path(service.data_dir, sid, kind).unlink(missing_ok=True)
        raise ApiError(429, f"at most {policy.rate_limit} submissions an hour; try again in "
                            f"{limited.retry_after} s", {"Retry-After": str(limited.retry_after)})
    if service.queue is not None:
        service.queue.notify()
    return sid


def late_seconds(assignment: Assignment, when: float) -> float:
    """How long after the deadline (and its grace) `when` is, under the assignment's `[late]`
    policy (grader.late); 0 when on time or without a policy."""
    if assignment.late is None:
        return 0.0
    return max(0.0, when - (assignment.late.deadline + assignment.late.grace).timestamp())


def grade_of(assignment: Assignment, row: SubmissionRow) -> FinalGrade | None:
    """The submission's grade as the batch's outputs show it (grader.batch.final_grades):
    its result, then the late policy for its submission time. None until graded."""
    if row.result is None:
        return None
    submitted = datetime.fromtimestamp(row.submitted_at, timezone.utc).isoformat()
    return final_grade(assignment, GradingResult.from_dict(row.result_dict()), [],
                       {"submitted_at": submitted, "late": None})


# --- the API ----------------------------------------------------------------------------------

async def api_submit(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = await run_in_threadpool(require_caller, request)
    _, policy = await run_in_threadpool(service.assignment, request.path_params["assignment"])
    filename, data, _ = await read_upload(request, policy.max_upload_bytes)
    sid = await run_in_threadpool(accept, service, caller, request.path_params["assignment"], filename, data)
    return JSONResponse({"id": sid, "status": "queued"}, status_code=202)


def submission_json(row: SubmissionRow) -> dict:
    return {"id": row.id, "assignment": row.assignment, "student": row.student, "status": row.status,
            "submitted_at": iso(row.submitted_at), "late": row.late,
            "result": row.result_dict() if row.status in ("graded", "error") else None}


def iso(when: float | None) -> str | None:
    if when is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z"


def api_submission(request: Request) -> Response:
    service: Service = request.app.state.service
    row = own_submission(service, require_caller(request), request.path_params["sid"])
    return JSONResponse(submission_json(row))


def report_response(service: Service, row: SubmissionRow, what: str) -> Response:
    name = row.notebook if what == "notebook" else row.report
    if row.status not in ("graded", "error") or not name:
        if what == "notebook":
            raise ApiError(404, "no notebook record for this submission")
        raise ApiError(404, f"no report yet: the submission is {row.status}")
    try:
        html = storage.report_path(service.data_dir, name).read_bytes()
    except OSError:
        raise ApiError(404, "the report is missing; ask for a regrade") from None
    return HTMLResponse(html)


def api_report(request: Request) -> Response:
    service: Service = request.app.state.service
    what = request.path_params.get("what", "report")
    row = own_submission(service, require_caller(request), request.path_params["sid"])
    if what not in ("report", "notebook"):
        raise ApiError(404, "no such page")
    return report_response(service, row, what)


def me_json(row: SubmissionRow) -> dict:
    return {"id": row.id, "assignment": row.assignment, "status": row.status,
            "submitted_at": iso(row.submitted_at), "score": row.score, "max_score": row.max_score}


def api_me(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = require_caller(request)
    rows = service.database.submissions(student=None if caller.is_instructor else caller.student)
    return JSONResponse([me_json(r) for r in rows])


def api_grades_csv(request: Request) -> Response:
    require_instructor(request)
    service: Service = request.app.state.service
    return grades_csv_response(service, request.path_params["assignment"])


def grades_csv_response(service: Service, assignment_id: str) -> Response:
    from grader.batch.outputs import grades_csv

    assignment, policy = service.assignment(assignment_id)
    with snapshot_gradebook(service, assignment, policy) as (_, _, grades):
        text = grades_csv(grades, assignment)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{assignment.id}-grades.csv"'})


async def api_regrade(request: Request) -> Response:
    service: Service = request.app.state.service
    await run_in_threadpool(require_instructor, request)
    body = await request.body()
    try:
        student = json.loads(body).get("student") if body.strip() else None
    except (ValueError, AttributeError):
        raise ApiError(422, 'send JSON {"student": ID} or nothing') from None
    count = await run_in_threadpool(regrade, service, request.path_params["assignment"], student)
    return JSONResponse({"queued": count}, status_code=202)


def regrade(service: Service, assignment_id: str, student: str | None) -> int:
    assignment, _ = service.assignment(assignment_id)
    count = service.database.regrade(assignment.id, student or None)
    if service.queue is not None:
        service.queue.notify()
    return count


def api_queue(request: Request) -> Response:
    require_instructor(request)
    return JSONResponse(request.app.state.service.database.queue_counts())


def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


# --- what counts: latest or best, late penalties, the gradebook snapshot ------------------------

@dataclass(frozen=True)
class Standing:
    """One student's submissions of one assignment, summed up."""
    student: str
    submissions: int
    latest: SubmissionRow | None  # the newest graded (or error) submission
    best: SubmissionRow | None  # the one with the highest final score
    counted: SubmissionRow | None  # the one the policy counts
    grade: FinalGrade | None  # the counted one's grade (late policy applied)
    pending: int  # queued or grading

    @property
    def counted_score(self) -> float | None:
        return self.grade.score if self.grade is not None else None


def standings(service: Service, assignment: Assignment, policy: Policy) -> list[Standing]:
    by_student: dict[str, list[SubmissionRow]] = {}
    for row in service.database.submissions(assignment=assignment.id):
        by_student.setdefault(row.student, []).append(row)
    out = []
    for student, rows in sorted(by_student.items()):
        done = [r for r in rows if r.status in ("graded", "error") and r.result]
        grades = {r.id: grade_of(assignment, r) for r in done}

        def final(row: SubmissionRow) -> float:
            score = grades[row.id].score
            return -1.0 if score is None else score

        latest = done[0] if done else None
        best = max(done, key=lambda r: (final(r), r.submitted_at), default=None)
        counted = latest if policy.counts == "latest" else best
        out.append(Standing(student, len(rows), latest, best, counted, grades[counted.id] if counted else None,
                            sum(r.status in ("queued", "grading") for r in rows)))
    return out


class snapshot_gradebook:
    """A batch gradebook (grader.batch.gradebook) in a temporary folder holding each
    student's counted result, with the final grades (late policy applied; roster students
    without a submission "missing"): what the batch's CSV writer and dashboard read.
    Yields (gradebook, folder, grades)."""

    def __init__(self, service: Service, assignment: Assignment, policy: Policy):
        self.service, self.assignment, self.policy = service, assignment, policy

    def __enter__(self):
        from grader.batch.gradebook import Gradebook
        from grader.batch.layout import report_path

        self._folder = tempfile.TemporaryDirectory(prefix="grader-serve-")
        folder = Path(self._folder.name)
        self.gradebook = Gradebook(folder, self.assignment.id)
        grades = []
        seen = set()
        for standing in standings(self.service, self.assignment, self.policy):
            row = standing.counted
            if row is None:
                continue
            seen.add(standing.student)
            grades.append(standing.grade)
            self.gradebook.record(GradingResult.from_dict(row.result_dict()), entry=f"{row.id}.{row.kind}",
                                  content_hash=row.content_hash, checks_hash="service",
                                  report="written" if row.report else "unavailable")
            if row.report:
                # the dashboard links a student's report when its file exists in the folder;
                # the instructor's routes serve it from the stored grading
                marker = report_path(folder, standing.student)
                marker.parent.mkdir(exist_ok=True)
                marker.touch()
        for student, _, _ in self.service.database.students():
            if student not in seen:
                grades.append(final_grade(self.assignment, None, [], None, student=student))
        return self.gradebook, folder, grades

    def __exit__(self, *exc):
        self.gradebook.close()
        self._folder.cleanup()
