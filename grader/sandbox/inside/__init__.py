"""The programs that run INSIDE the sandbox: ``python -I -B /runtime/inside CONFIG_JSON``.

These modules import only the standard library, NumPy and ``protocol.py`` (loaded by path
from the config; never the ``grader`` package, which is not visible in the sandbox).  The
trusted side copies them to ``/runtime/inside/`` (:func:`grader.sandbox.isolation.runtime_files`)
and never runs them itself; ``__main__`` registers them as the package ``_grader_inside``.

``worker``     the worker program: steps 1-3 below, then the zygote
``confine``    rlimits, Landlock, the uid switch, output capture (steps 1-3)
``loading``    loading modules by path or from source
``zygote``     steps 4-5: the student's import, then one fork per probe (group)
``replies``    exceptions as replies, with the student's frames only
``fingerprint`` what a student function could leave behind in a process, compared cheaply
``warm_pool``  the warm pool's program (bubblewrap only)

A worker's sequence:

1. set rlimits (core 0, CPU, address space, file size, processes), ignore SIGXFSZ so an
   oversized write fails with an error instead of killing the worker;
2. load protocol.py; in rlimits mode, confine itself with Landlock where the kernel has it
   (read-only Python runtime, writable scratch folder, no TCP, no signals out; see
   :func:`.confine.landlock`), as root first reaching the import path through file descriptors
   (:func:`.confine.reach_runtime_through_fds`); drop to the configured uid/gid if any (the grader
   runs as root: bubblewrap or not, student code never runs as uid 0, with a capability or
   without no_new_privs; if the switch fails the worker stops here), ask to be killed with
   the grader (rlimits mode), become a child subreaper, import the probes module (or send
   ``{"status": "fatal", ...}`` if it is broken);
3. point fds 0/1/2 at /dev/null and ``sys.stdout``/``sys.stderr`` at a capture that keeps
   the first ``output_bytes`` characters of each probe's printed output, then send
   ``{"status": "started", "landlock": ABI or 0}``.  No student code has run so far, so
   the student cannot forge these first messages;
4. import the student module and send ``{"status": "ready"}`` or ``{"status":
   "import_error", ...}`` (then exit);
5. serve as a *zygote*: for each ``{"op": "probe", "id": n, "name": ..., "kwargs": ...,
   "group": optional str}`` request, run the probe in a forked child that replies
   ``{"status": "ok", "id": n, "value": ..., "output": ..., "alone": bool}`` or
   ``{"status": "error", "id": n, "exc_type": ..., "message": ..., "traceback": ...,
   "output": ...}``; if the child dies without replying, the zygote replies ``{"status":
   "crashed", "id": n, "exit_code": c}`` (or ``"signal": s``); if its reply frame is longer
   than the request's ``"max_reply"``, the zygote kills it unread and replies ``{"status":
   "too_large", "id": n, "size": bytes}``.  After each probe the zygote kills whatever
   processes the probe left behind.  A request may carry ``"timeout"`` (its
   limit in seconds): a probe still running when it is up is stopped by the zygote,
   which asks the fork for its Python stack first (faulthandler, on a private pipe) and
   replies ``{"status": "timeout", "id": n, "seconds": s, "traceback": ...}`` with the
   student's own frames only: where the code was when it was stopped.

In pool mode (``{"pool": true, ...}``, see :mod:`.warm_pool` and :mod:`grader.sandbox.pool`) the process stops after step 2 (trusted code only) and forks,
per submission, a worker that applies steps 1-3 to itself (limits, its own uid, stdio),
receives the student's source as the first frame on its own request pipe, and goes on
with steps 4-5.

A child starts from the module as its import left it (the trusted side also runs each
reference probe on a fresh module) and serves consecutive probes, of one group or, unless
the request says ``"isolated": true``, of several groups (student functions) one after
another, while each succeeds, leaves nothing running and, when the group changes, its
:mod:`.fingerprint` shows nothing changed (see :func:`.zygote.serve`); replies say whether
their probe ran in a child that had served another group (``"shared"``).  So what a student
function does at call time and the fingerprint sees (monkeypatching NumPy or builtins,
changing module globals or signal handlers, closing or scribbling on fds, threads and
processes left running) never reaches the probes of another function; what it does not see
can reach only the same submission's later functions, which the trusted side runs again the
isolated way when they do not pass (:func:`grader.grade.functions_to_rerun`).

Tracebacks keep only frames from the student's file (named by its base name): the probe
and worker frames never reach a student's feedback.  Everything the student's code raises,
BaseException included (SystemExit, KeyboardInterrupt), becomes an error reply; whatever
kills the process instead (os._exit, signals, limits) becomes a crashed reply.  The
student's code runs in these processes and can therefore tamper with anything here,
including the reply pipe: the trusted side treats every reply as untrusted data.
"""
