"""A student's side of the submission service (`grader serve`): upload a submission, wait for
its grading, return the result (the `grader grade --json` object). Standard library only,
so it works from a student bundle.

Where the server and the token come from, first found wins:
1. the arguments (`grader submit --server URL --token TOKEN`, `grader.submit(server=, token=)`);
2. the environment: `GRADER_SERVER`, `GRADER_TOKEN`;
3. a `submit.toml` (`server = "https://..."`, `token = "..."`) in the working folder or
   one above it (the release bundle's root), then `~/.config/grader/submit.toml`.
The token is the `token=` part of the student's login link.
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from grader.untrusted import terminal_line
from grader.errors import UsageError

CONFIG_NAME = "submit.toml"
POLL_SECONDS = 1.0
DEFAULT_TIMEOUT = 600.0


class SubmitError(UsageError):
    """Submitting failed; str() is one line saying what and where."""


def find_settings(server: str | None = None, token: str | None = None,
                  start: Path | None = None) -> tuple[str, str]:
    """(server URL, token) from the arguments, the environment or submit.toml."""
    server = server or os.environ.get("GRADER_SERVER")
    token = token or os.environ.get("GRADER_TOKEN")
    if not (server and token):
        here = (start or Path.cwd()).resolve()
        candidates = [d / CONFIG_NAME for d in (here, *here.parents)]
        candidates.append(Path.home() / ".config" / "grader" / CONFIG_NAME)
        for path in candidates:
            if path.is_file():
                try:
                    config = tomllib.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                    raise SubmitError(f"{path}: not a valid TOML file ({exc})") from None
                server = server or config.get("server")
                token = token or config.get("token")
                if server and token:
                    break
    if not server:
        raise SubmitError("no server: pass --server URL, set GRADER_SERVER, or put server = \"...\" in submit.toml")
    if not token:
        raise SubmitError("no token: pass --token TOKEN (the token= part of your login link) or set GRADER_TOKEN")
    if not str(server).startswith(("http://", "https://")):
        raise SubmitError(f"server {server!r}: give a URL starting with https:// (or http://)")
    return str(server).rstrip("/"), str(token)


def _request(method: str, url: str, token: str, body: bytes | None = None,
             content_type: str | None = None, timeout: float = 60.0) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read().decode("utf-8")).get("error", "")
        except (ValueError, AttributeError, OSError):
            message = ""
        retry = exc.headers.get("Retry-After") if exc.headers else None
        detail = f"{exc.code}: {message or exc.reason}" + (f" (retry after {retry} s)" if retry else "")
        raise SubmitError(f"the server refused it ({detail})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SubmitError(f"cannot reach {url.split('/api/')[0]} ({reason})") from None


def upload(server: str, token: str, assignment: str, filename: str, data: bytes) -> str:
    """POST the file; returns the submission id once the server has stored it."""
    boundary = "grader-" + secrets.token_hex(16)
    safe_name = "".join(c for c in Path(filename).name if c.isascii() and (c.isalnum() or c in "._-")) or "submission"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    reply = _request("POST", f"{server}/api/assignments/{urllib.request.quote(assignment, safe='')}/submissions",
                     token, body, f"multipart/form-data; boundary={boundary}")
    return str(reply["id"])


def wait_for(server: str, token: str, sid: str, timeout: float = DEFAULT_TIMEOUT, progress=None) -> dict:
    """The submission's JSON once graded (or error); SubmitError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        state = _request("GET", f"{server}/api/submissions/{sid}", token)
        if state.get("status") in ("graded", "error") and state.get("result") is not None:
            return state
        if progress is not None and state.get("status") != last:
            progress(f"{state.get('status')}…")
            last = state.get("status")
        if time.monotonic() > deadline:
            raise SubmitError(f"submission {sid} is still {state.get('status')} after {timeout:g} s; "
                              f"it will be graded: look later on {server}")
        time.sleep(POLL_SECONDS)


def submit_source(assignment: str, filename: str, data: bytes, server: str | None = None,
                  token: str | None = None, timeout: float = DEFAULT_TIMEOUT, progress=None) -> dict:
    """Upload `data` as a file named `filename` and wait for its grading."""
    server, token = find_settings(server, token)
    sid = upload(server, token, assignment, filename, data)
    if progress is not None:
        progress(f"submitted as {sid}")
    return wait_for(server, token, sid, timeout, progress)


def submit_path(assignment: str, path: str | os.PathLike, server: str | None = None, token: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, progress=None) -> dict:
    """Upload the file at `path` (a module, notebook or zip) and wait for its grading."""
    path = Path(path)
    if path.is_dir():
        raise SubmitError(f"{path}: a folder; submit the module, the notebook or a .zip of the folder")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SubmitError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return submit_source(assignment, path.name, data, server, token, timeout, progress)


def print_progress(message: str) -> None:
    print(f"grader submit: {terminal_line(message)}", file=sys.stderr, flush=True)  # may quote the server
