"""The one user-facing error type of the grader.

`UsageError` is a user's mistake or an unusable input (a bad argument, a missing file, a
broken course file, a submission that cannot be read): str() is ONE line that says what and
where. Every module raises it, or a subclass that names its domain (CourseError,
SubmissionError, ReleaseError, ...); the command line alone turns it into
`grader: error: <line>` and exit code 2 (`grader.cli.main`, the one error boundary). Any
other exception is a bug of ours and keeps its traceback.
"""
from __future__ import annotations


class UsageError(Exception):
    """A user mistake or an unusable input; str() is the one line printed after `grader: error:`."""
