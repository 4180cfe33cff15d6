"""Who is asking: tokens, browser sessions and CSRF.

- A student's token (in `tokens.csv`) and the instructor's (`instructor.token`) are random
  (192 bits). The database keeps only their SHA-256; a presented token is hashed, looked up,
  and the stored hash compared with `hmac.compare_digest` (constant time). Tokens are never
  logged (uvicorn's access log is off: it would log the login link's query).
- API: `Authorization: Bearer TOKEN`. Browser: `GET /login?token=...` (the link) starts a
  session: a new random cookie `grader_session` (HttpOnly, SameSite=Lax, Secure over HTTPS,
  Path=/), of which the database keeps the hash, then redirects to a URL without the token.
- CSRF: every form carries `csrf` = HMAC-SHA256(session cookie, "csrf"); a POST from a
  browser session must present it (compared in constant time) and, when the browser sends
  an Origin header, come from this origin. Bearer requests need no CSRF token (a browser
  never adds that header by itself).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from grader.serve.db import Database

COOKIE = "grader_session"
SESSION_MAX_AGE = 30 * 86400  # a term's login lasts a month
INSTRUCTOR = "instructor"
STUDENT = "student"
INSTRUCTOR_TOKEN_KEY = "instructor_token_sha256"


@dataclass(frozen=True)
class Caller:
    role: str  # "student" | "instructor"
    student: str  # the student id ("" for the instructor)
    session: str = ""  # the browser session cookie, when authenticated by one

    @property
    def is_instructor(self) -> bool:
        return self.role == INSTRUCTOR

    def csrf_token(self) -> str:
        return csrf_for(self.session) if self.session else ""


def new_token() -> str:
    """A random token that starts with a letter or digit (never a spreadsheet formula's
    first character in tokens.csv)."""
    while True:
        token = secrets.token_urlsafe(24)
        if token[0].isalnum():
            return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def csrf_for(session: str) -> str:
    return hmac.new(session.encode("ascii", "replace"), b"csrf", hashlib.sha256).hexdigest()


def csrf_ok(caller: Caller, presented: str | None) -> bool:
    return bool(caller.session) and hmac.compare_digest(csrf_for(caller.session).encode(),
                                                        (presented or "").encode("utf-8", "replace"))


def caller_for_token(database: Database, token: str) -> Caller | None:
    """The student or instructor whose token this is, or None."""
    if not token or len(token) > 200:
        return None
    wanted = token_hash(token)
    instructor = database.meta(INSTRUCTOR_TOKEN_KEY)
    if instructor and hmac.compare_digest(instructor, wanted):
        return Caller(INSTRUCTOR, "")
    found = database.student_by_token_hash(wanted)
    if found and hmac.compare_digest(found[1], wanted):
        return Caller(STUDENT, found[0])
    return None


def caller_for_session(database: Database, cookie: str) -> Caller | None:
    if not cookie or len(cookie) > 200:
        return None
    wanted = token_hash(cookie)
    found = database.session(wanted, SESSION_MAX_AGE)
    if found and hmac.compare_digest(found[0], wanted):
        return Caller(found[2], found[1], session=cookie)
    return None


def start_session(database: Database, caller: Caller) -> str:
    """A new session cookie for `caller` (stored hashed)."""
    cookie = secrets.token_urlsafe(32)
    database.add_session(token_hash(cookie), caller.student, caller.role)
    return cookie
