"""A learner's self-check where the sandbox cannot run at all (Windows: no `os.fork`, no
`resource`): the public probes call the student's own functions in this process.

Only `grader check` / `grader.check()` (public checks, baked answers) ever take this path,
on the student's own computer and their own code: grading never does (`grade_loaded`
refuses), and the result says so in one plain sentence (`isolation` is "none"). There is
no time limit here (an endless loop needs Ctrl-C) and the student's code can do whatever
the student's user can, which on their own machine it could anyway.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import traceback
import types
import warnings
from dataclasses import dataclass
from typing import Any

#: The one sentence a self-check shows when it ran this way.
UNSANDBOXED_NOTE = ("Your code ran without a sandbox (this system has no os.fork or resource module), "
                    "which is fine for checking your own code; grading always uses the sandbox.")


def sandbox_available() -> bool:
    """Whether this Python can run the sandboxed worker (it forks and sets rlimits)."""
    return hasattr(os, "fork") and importlib.util.find_spec("resource") is not None


@dataclass
class Outcome:
    """What one probe produced, shaped as `grader.sandbox.ProbeOutcome` (the fields
    `grader.checking.StudentProbes` reads)."""

    status: str
    value: Any = None
    exc_type: str = ""
    message: str = ""
    traceback: str = ""
    output: str = ""


class UnsandboxedProbes:
    """`run(name, kwargs, timeout, group)` as the sandbox's `run_probe`, on a fresh copy of
    the student's module per probe (as the worker's fork per function gives), in this
    process. Values go through the worker protocol's round trip, so checks compare like
    for like."""

    def __init__(self, source: str, module_name: str, probes: types.ModuleType):
        self.module_name = module_name
        self.probes = probes
        self.filename = f"{module_name}.py"
        self._code = None
        self._source = source

    def _fresh(self) -> types.ModuleType:
        if self._code is None:
            import linecache

            self._code = compile(self._source, self.filename, "exec")
            # tracebacks show the student's lines (the name is not a file on disk)
            linecache.cache[self.filename] = (len(self._source), None, self._source.splitlines(True), self.filename)
        module = types.ModuleType(self.module_name)
        module.__file__ = self.filename
        exec(self._code, module.__dict__)
        return module

    def __call__(self, name: str, kwargs: dict, timeout: float | None = None, group: str | None = None,
                 max_reply_bytes: int | None = None) -> Outcome:
        from grader.checking import normalise

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = getattr(self.probes, name)(self._fresh(), **copy.deepcopy(kwargs))
            return Outcome("ok", value=normalise(value))
        except Exception as exc:  # the student's code raised: their error, their frames
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self.filename]
            shown = "\n".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}'
                              + (f"\n    {f.line.strip()}" if f.line else "") for f in frames)
            return Outcome("error", exc_type=type(exc).__name__, message=str(exc)[:2000], traceback=shown)
