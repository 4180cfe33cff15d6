"""Run untrusted student code in a separate, limited worker process.

A :class:`Sandbox` (:mod:`.client`) owns one warm worker (the programs of :mod:`.inside`) that
has imported the student's module and the assignment's probes; :meth:`Sandbox.run_probe`
sends it one request and waits for the reply with a wall-clock timeout.  The worker runs
the probes in forks of itself (see :mod:`.inside.zygote`): optimistically one fork serves a
submission's functions one after another while nothing visible changes, and a function
that does not pass there is run again the isolated way (:func:`grader.grade.functions_to_rerun`);
a probe that dies is reported as ``"crashed"`` and the worker carries on.  When a probe times out,
the worker dies or sends anything but a well-formed reply, the worker is killed with its
whole process tree and a fresh one is started (and re-imports the student module) on the
next probe, so one broken function costs only its own probes.

Isolation (:mod:`.isolation`, :func:`isolation_available`):

``"bubblewrap"``
    The worker runs under ``bwrap`` in new PID, network, IPC, UTS and cgroup namespaces
    and sees only: the Python runtime and its site-packages (read-only), the system
    libraries, a read-only ``/runtime`` with the worker, the protocol, the probes and the
    student's module, and size-capped tmpfs mounts at ``/scratch`` (its working directory)
    and ``/tmp``.  The environment is cleared.  When the grader runs as root, bwrap keeps
    only CAP_SETUID/CAP_SETGID and the worker drops to a random unprivileged uid before any
    student code runs (the kernel does not apply RLIMIT_NPROC to root, so this is what
    makes the process limit real); otherwise bwrap adds a user namespace.
``"rlimits"``
    Fallback when bubblewrap is missing or does not work (or ``GRADER_SANDBOX=rlimits`` /
    ``Limits(isolation="rlimits")``): the same worker with the same rlimits in its own
    session, with a clean environment, closed inherited fds and a private scratch
    directory.  Where Linux has Landlock the worker confines itself to the Python runtime
    (read-only) and its scratch directory, without TCP or signals out (by ABI); without
    Landlock it can read and write whatever the grader's user can.  When the grader runs as
    root (a Gradescope container) the worker switches to a fresh unprivileged uid, with no
    capability and no_new_privs, before any student code runs, as under bubblewrap (or
    refuses to start): it then reaches only what any user may, plus its own runtime files
    and scratch folder.  :attr:`Sandbox.warning`
    says which (:data:`RLIMITS_WARNING` or :func:`landlock_warning`); callers must show it.

Warm pool (:mod:`.pool`): ``Sandbox(...,
pool=SandboxPool())`` (``grader.grade`` passes the thread's pool when the environment
variable ``GRADER_SANDBOX_POOL=1`` is set) gets its worker forked by a long-lived
bubblewrap process that has already imported NumPy and the probes, instead of starting
bwrap and Python per submission; from the student's import on the worker is the same, and
so is everything above (timeouts, crashes, the sticky import error).  Only bubblewrap uses
a pool; in rlimits mode a Sandbox given one starts its own worker as without it.

In both modes the worker has rlimits on CPU seconds, address space, file size, processes
and core dumps, its stdin is /dev/null, its stdout/stderr are captured per probe up to
``Limits.output_bytes`` (the rest is discarded), and it talks to this process only over
two dedicated pipes whose every byte is treated as untrusted (see :mod:`grader.protocol`).

The package, in the order a submission meets it:

``base``        Limits, ProbeOutcome, SandboxError: the data every other module shares
``isolation``   isolation set-up: bubblewrap or the rlimits fallback, bwrap's arguments and
                mounts, the worker's environment and ``/runtime`` files, Landlock rules
``processes``   process control: handles of a running worker, killing a process tree,
                how a death is told
``client``      :class:`Sandbox`, the client the checks talk to
``pool``        :class:`SandboxPool`, warm bubblewrap processes that fork workers
``inside/``     the programs that run inside the sandbox (standard library, NumPy and the
                protocol only; never imported by the trusted side's grading code)
"""

from grader.sandbox.base import ISOLATE_FUNCTIONS_ENV, STOP_GRACE, Limits, PoolGone, ProbeOutcome, SandboxError
from grader.sandbox.client import Sandbox
from grader.sandbox.isolation import (FALLBACK_WARNING_PREFIX, ISOLATION_ENV, RLIMITS_WARNING, bubblewrap_failure,
                                      is_root, isolation_available, landlock_warning)
from grader.sandbox.pool import POOL_ENV, SandboxPool, pool_from_environment, thread_pool

__all__ = ["FALLBACK_WARNING_PREFIX", "ISOLATE_FUNCTIONS_ENV", "ISOLATION_ENV", "POOL_ENV", "RLIMITS_WARNING", "STOP_GRACE", "Limits",
           "PoolGone", "ProbeOutcome", "Sandbox", "SandboxError", "SandboxPool", "bubblewrap_failure", "is_root",
           "isolation_available", "landlock_warning", "pool_from_environment", "thread_pool"]
