"""The service's HTML pages, rendered from `templates/serve/*.html.j2` (the course's
templates/ first, then the grader checkout's), autoescaped: every student string is data.

No page has a script. A page whose submission is queued or grading, and the instructor's
live view, refresh themselves with `<meta http-equiv="refresh">`; forms carry the session's
CSRF token (grader.serve.auth).
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from grader import __version__
from grader.ids import file_name
from grader.serve import auth
from grader.serve.app import (ApiError, Service, accept, check_form_post, caller_of, grade_of, grades_csv_response,
                              late_seconds, own_submission, read_upload, regrade, report_response, require_caller,
                              require_instructor, snapshot_gradebook, standings)

PACKAGE_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
REFRESH_PENDING = 2  # seconds between refreshes of a submission being graded
REFRESH_INSTRUCTOR = 10


@lru_cache(maxsize=4)
def _environment(course_root: Path) -> jinja2.Environment:
    dirs = [d for d in (course_root / "templates", PACKAGE_TEMPLATES) if (d / "serve").is_dir()]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(d) for d in dict.fromkeys(dirs)]),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["points"] = lambda v: "" if v is None else f"{v:g}"
    env.filters["duration"] = duration
    return env


def when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)) if epoch is not None else ""


def duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    return " ".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n) or f"{seconds} s"


def render(request: Request, template: str, status: int = 200, headers: dict | None = None, **context) -> Response:
    service: Service = request.app.state.service
    caller = context.pop("caller", None)
    html = _environment(service.course.root).get_template(f"serve/{template}").render(
        caller=caller, csrf=caller.csrf_token() if caller else "", version=__version__, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    return render(request, "message.html.j2", status=status, headers=headers, title=f"{status}",
                  message=message, login_hint=status == 401)


def page_caller(request: Request) -> auth.Caller:
    caller = caller_of(request)
    if caller is None:
        raise ApiError(401, "You are not logged in. Open the login link your instructor sent you.")
    return caller


# --- pages ------------------------------------------------------------------------------------

def login(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = auth.caller_for_token(service.database, request.query_params.get("token", ""))
    if caller is None:
        raise ApiError(401, "This login link is not valid (mistyped, or from another course).")
    cookie = auth.start_session(service.database, caller)
    response = RedirectResponse("/instructor" if caller.is_instructor else "/", status_code=303)
    response.set_cookie(auth.COOKIE, cookie, max_age=auth.SESSION_MAX_AGE, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    return response


async def logout(request: Request) -> Response:
    caller = await run_in_threadpool(page_caller, request)
    form = await request.form(max_files=0, max_fields=4)
    check_form_post(request, caller, form.get("csrf"))
    await run_in_threadpool(request.app.state.service.database.drop_session, auth.token_hash(caller.session))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response


def home(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = caller_of(request)
    if caller is None:
        return render(request, "message.html.j2", title="grader", message="Log in with the link your "
                      "instructor sent you.", login_hint=True)
    if caller.is_instructor:
        return RedirectResponse("/instructor", status_code=303)
    mine = service.database.submissions(student=caller.student)
    assignments = []
    for assignment, policy in service.assignments():
        own = [r for r in mine if r.assignment == assignment.id]
        assignments.append({"assignment": assignment, "policy": policy, "count": len(own),
                            "latest": own[0] if own else None})
    return render(request, "home.html.j2", caller=caller, assignments=assignments, now=time.time())


def assignment_page(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = page_caller(request)
    assignment, policy = service.assignment(request.path_params["assignment"])
    rows = service.database.submissions(student=caller.student, assignment=assignment.id) \
        if not caller.is_instructor else []
    pending = any(r.status in ("queued", "grading") for r in rows)
    now = time.time()
    late = assignment.late
    return render(request, "assignment.html.j2", caller=caller, assignment=assignment, policy=policy,
                  rows=rows, now=now, late_now=late_seconds(assignment, now),
                  cut_off=late is not None and late.cutoff is not None and now > late.cutoff.timestamp(),
                  refresh=REFRESH_PENDING if pending else None)


async def submit_form(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = await run_in_threadpool(page_caller, request)
    _, policy = await run_in_threadpool(service.assignment, request.path_params["assignment"])
    filename, data, fields = await read_upload(request, policy.max_upload_bytes)
    check_form_post(request, caller, fields.get("csrf"))
    sid = await run_in_threadpool(accept, service, caller, request.path_params["assignment"], filename, data)
    return RedirectResponse(f"/submissions/{sid}", status_code=303)


def submission_page(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = page_caller(request)
    row = own_submission(service, caller, request.path_params["sid"])
    assignment, policy = service.assignment(row.assignment)
    pending = row.status in ("queued", "grading")
    return render(request, "submission.html.j2", caller=caller, row=row, assignment=assignment, policy=policy,
                  result=row.result_dict(), gradings=service.database.gradings(row.id),
                  ahead=service.database.queue_ahead(row.id) if row.status == "queued" else 0,
                  grade=grade_of(assignment, row),
                  refresh=REFRESH_PENDING if pending else None)


def submission_file(request: Request) -> Response:
    service: Service = request.app.state.service
    row = own_submission(service, page_caller(request), request.path_params["sid"])
    if request.path_params["what"] not in ("report", "notebook"):
        raise ApiError(404, "no such page")
    return report_response(service, row, request.path_params["what"])


# --- the instructor ---------------------------------------------------------------------------

def instructor_home(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = require_instructor(request)
    overview = [{"assignment": a, "policy": p, "counts": service.database.queue_counts(a.id)}
                for a, p in service.assignments()]
    return render(request, "instructor.html.j2", caller=caller, overview=overview,
                  students=service.database.students(), refresh=REFRESH_INSTRUCTOR)


def instructor_assignment(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = require_instructor(request)
    assignment, policy = service.assignment(request.path_params["assignment"])
    rows = standings(service, assignment, policy)
    counted = [s.counted_score for s in rows if s.counted_score is not None]
    full = sum(score >= assignment.max_score - 1e-9 for score in counted)
    parts, misconceptions = [], []
    with snapshot_gradebook(service, assignment, policy) as (gradebook, _, _):
        parts = gradebook.part_stats()
        misconceptions = gradebook.misconception_counts()
    roster = {s[0] for s in service.database.students()}
    return render(request, "instructor_assignment.html.j2", caller=caller, assignment=assignment, policy=policy,
                  standings=rows, counts=service.database.queue_counts(assignment.id),
                  mean=sum(counted) / len(counted) if counted else None, full=full, graded=len(counted),
                  parts=parts, misconceptions=misconceptions, not_submitted=sorted(roster - {s.student for s in rows}),
                  refresh=REFRESH_INSTRUCTOR)


def instructor_dashboard(request: Request) -> Response:
    from grader.batch.dashboard import render_dashboard

    service: Service = request.app.state.service
    require_instructor(request)
    assignment, policy = service.assignment(request.path_params["assignment"])
    with snapshot_gradebook(service, assignment, policy) as (gradebook, folder, grades):
        html = render_dashboard(gradebook, assignment, folder, grades)
    return HTMLResponse(html)


def instructor_grades_csv(request: Request) -> Response:
    require_instructor(request)
    return grades_csv_response(request.app.state.service, request.path_params["assignment"])


def _counted_row(request: Request):
    service: Service = request.app.state.service
    require_instructor(request)
    assignment, policy = service.assignment(request.path_params["assignment"])
    name = request.path_params["student"]  # the dashboard's link: the batch's file name of the id
    for standing in standings(service, assignment, policy):
        if name in (file_name(standing.student, ".html"), file_name(standing.student, ".json")) \
                and standing.counted is not None:
            return service, standing.counted
    raise ApiError(404, "no graded submission of this student")


def instructor_student_report(request: Request) -> Response:
    service, row = _counted_row(request)
    return report_response(service, row, "report")


def instructor_student_result(request: Request) -> Response:
    from starlette.responses import JSONResponse

    _, row = _counted_row(request)
    return JSONResponse(row.result_dict())


async def instructor_regrade(request: Request) -> Response:
    service: Service = request.app.state.service
    caller = await run_in_threadpool(require_instructor, request)
    form = await request.form(max_files=0, max_fields=4)
    check_form_post(request, caller, form.get("csrf"))
    assignment_id = request.path_params["assignment"]
    await run_in_threadpool(regrade, service, assignment_id, (form.get("student") or "").strip() or None)
    return RedirectResponse(f"/instructor/assignments/{assignment_id}/", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/login", login),
        Route("/logout", logout, methods=["POST"]),
        Route("/", home),
        Route("/assignments/{assignment}", assignment_page),
        Route("/assignments/{assignment}/submissions", submit_form, methods=["POST"]),
        Route("/submissions/{sid}", submission_page),
        Route("/submissions/{sid}/{what:str}", submission_file),
        Route("/instructor", instructor_home),
        Route("/instructor/assignments/{assignment}/", instructor_assignment),
        Route("/instructor/assignments/{assignment}/dashboard", instructor_dashboard),
        Route("/instructor/assignments/{assignment}/grades.csv", instructor_grades_csv),
        Route("/instructor/assignments/{assignment}/regrade", instructor_regrade, methods=["POST"]),
        Route("/instructor/assignments/{assignment}/reports/{student:path}", instructor_student_report),
        Route("/instructor/assignments/{assignment}/results/{student:path}", instructor_student_result),
    ]
