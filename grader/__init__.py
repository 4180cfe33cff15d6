"""Auto-grader for the optimisation module of a deep-learning course."""

__version__ = "0.1.0"


def check(function: str | None = None, assignment=None):
    """Self-check the functions defined in this notebook (or script) with the public tests,
    in the sandbox, and show a summary (HTML in Jupyter, text elsewhere); see
    `grader.notebooks.check`. Imported lazily so `import grader` stays fast."""
    from grader.notebooks import check as _check

    return _check(function, assignment)


class skip_if_unfinished:
    """`with grader.skip_if_unfinished():` around a notebook's demo code: if a function it
    calls is still the stub (raises NotImplementedError), the cell prints one line naming
    that function instead of stopping "Run all"; any other error shows as usual."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if kind is None or not issubclass(kind, NotImplementedError):
            return False
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        name = tb.tb_frame.f_code.co_name if tb is not None else ""
        what = f"{name}, which is" if name and not name.startswith("<") else "a function that is"
        print(f"Skipped: this cell needs {what} not written yet (it raises NotImplementedError).")
        return True


def submit(assignment=None, *, server: str | None = None, token: str | None = None, timeout: float = 600.0):
    """Submit the functions defined in this notebook (or script) to the course's submission
    service and print the grade; see `grader.notebooks.submit`."""
    from grader.notebooks import submit as _submit

    return _submit(assignment, server=server, token=token, timeout=timeout)
