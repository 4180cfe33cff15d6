"""The service's ASGI application: the JSON API (`grader.serve.app`) and the students' and
the instructor's pages (`grader.serve.pages`) in one Starlette application; errors answered
as JSON for API clients and as a page for browsers; the security headers (see
`grader.serve.app`'s docstring) on every response."""
from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from grader.serve import pages
from grader.serve.app import (CSP, Service, api_grades_csv, api_me, api_queue, api_regrade, api_report, api_submission,
                              api_submit, healthz)


# --- errors and headers -----------------------------------------------------------------------

async def http_error(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    if request.url.path.startswith("/api/") or request.url.path == "/healthz" or \
            request.headers.get("authorization"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)
    return pages.error_page(request, exc.status_code, str(exc.detail), headers)


async def server_error(request: Request, exc: Exception) -> Response:
    import logging

    logging.getLogger("grader.serve").exception("internal error on %s", request.url.path)
    return JSONResponse({"error": "internal error"}, status_code=500)


class SecurityHeaders:
    """ASGI middleware: the headers of every response (see the module docstring)."""

    HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
               (b"cache-control", b"no-store")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in self.HEADERS if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(service: Service) -> Starlette:
    routes = [
        Route("/healthz", healthz),
        Route("/api/assignments/{assignment}/submissions", api_submit, methods=["POST"]),
        Route("/api/assignments/{assignment}/grades.csv", api_grades_csv),
        Route("/api/assignments/{assignment}/regrade", api_regrade, methods=["POST"]),
        Route("/api/submissions/{sid}", api_submission),
        Route("/api/submissions/{sid}/{what:str}", api_report),
        Route("/api/me/submissions", api_me),
        Route("/api/queue", api_queue),
        *pages.routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.service = service
    app.add_middleware(SecurityHeaders)
    return app

