"""Auto-grader for the optimisation module of a deep-learning course."""

__version__ = "0.1.0"


def check(function: str | None = None, assignment=None):
    """Self-check the functions defined in this notebook (or script) with the public tests,
    in the sandbox, and show a summary (HTML in Jupyter, text elsewhere); see
    `grader.notebooks.check`. Imported lazily so `import grader` stays fast."""
    from grader.notebooks import check as _check

    return _check(function, assignment)


def submit(assignment=None, *, server: str | None = None, token: str | None = None, timeout: float = 600.0):
    """Submit the functions defined in this notebook (or script) to the course's submission
    service and print the grade; see `grader.notebooks.submit`."""
    from grader.notebooks import submit as _submit

    return _submit(assignment, server=server, token=token, timeout=timeout)
