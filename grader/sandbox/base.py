"""The sandbox's data: the limits of a worker, what a probe produced, and its errors.

Small, dependency-free types shared by the client (:mod:`grader.sandbox.client`), the pool
(:mod:`grader.sandbox.pool`) and every caller of the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass


class PoolGone(Exception):
    """A pool process (grader.sandbox.pool) died or misbehaved; it has been killed."""


class SandboxError(RuntimeError):
    """The sandbox itself cannot run (a grader or installation problem, not the student's)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker.

    ``cpu_seconds``, ``memory_bytes`` (address space), ``file_bytes`` and ``processes`` are
    rlimits of each process (every probe runs in a fresh fork, with a fresh CPU budget; the
    process limit counts the worker's uid), ``probe_timeout`` the wall-clock limit of one probe
    and of the student module's import, ``output_bytes`` how much printed output is kept
    per probe.  ``scratch_bytes`` sizes the tmpfs ``/scratch`` and ``/tmp`` under
    bubblewrap.  ``reply_bytes`` is how many bytes of replies the trusted side reads from
    one Sandbox (one submission) in all; replies beyond it are refused unread (an honest
    submission's replies add up to kilobytes).  ``isolation`` is ``"auto"`` (bubblewrap when it works, unless the
    environment variable GRADER_SANDBOX says ``rlimits``), ``"bubblewrap"`` (error if
    unavailable) or ``"rlimits"``.  ``startup_timeout`` bounds interpreter + NumPy start-up,
    which runs no student code.  ``isolate_functions`` sends every probe the isolated way
    (each student function's probes in processes of their own, see
    :meth:`grader.sandbox.Sandbox.run_probe`), as does the environment variable
    ``GRADER_ISOLATE_FUNCTIONS=1``; by default the sandbox is optimistic.  (In the optimistic
    way the functions of a submission that share a process share its CPU-seconds limit.)
    """

    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 64
    probe_timeout: float = 3.0  # per probe call; a correct probe takes milliseconds
    output_bytes: int = 1 << 20
    scratch_bytes: int = 64 << 20
    reply_bytes: int = 64 << 20
    isolation: str = "auto"
    startup_timeout: float = 30.0
    isolate_functions: bool = False


@dataclass
class ProbeOutcome:
    """What one probe produced.  ``status`` is ``"ok"`` (``value`` holds the decoded result,
    see :mod:`grader.protocol`), ``"error"`` (the student's code raised: ``exc_type``,
    ``message`` and a traceback of the student's frames only), ``"timeout"`` or
    ``"crashed"`` (``message`` says how; a timeout's ``traceback`` holds the student's frames
    where the code was when the worker stopped it, when known).  ``output`` is what the
    student's code printed.  ``shared``: the probe ran in a process that had served another
    group's probes (the worker's word for it; see :meth:`grader.sandbox.Sandbox.run_probe`)."""

    status: str
    value: object = None
    exc_type: str | None = None
    message: str = ""
    traceback: str = ""
    output: str = ""
    seconds: float = 0.0
    shared: bool = False


#: Set to 1 (yes, on, true): every probe runs the isolated way (as Limits.isolate_functions).
ISOLATE_FUNCTIONS_ENV = "GRADER_ISOLATE_FUNCTIONS"

#: How long past a probe's time limit the grader waits for the worker's own report of a
#: stopped probe (with the student's line) before it kills the worker.
STOP_GRACE = 0.5
