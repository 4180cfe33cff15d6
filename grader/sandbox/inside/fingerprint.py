"""Inside the sandbox: a cheap fingerprint of what a student function can leave behind in
the process that ran it, so that one process can serve several functions' probes while
nothing visible has changed (see :func:`.zygote.serve`).

:func:`take` and :func:`own` return tuples, compared with ``==``.  They cover:

- the namespaces (names and the identity of what they are bound to) of the student's module,
  of the classes and functions defined there (their code, defaults and class attributes),
  of NumPy and the submodules probes use (``numpy.linalg``, ``numpy.random``), of
  ``builtins``, ``math``, ``random``, ``time``, ``os``, ``sys``, and of the programs that
  run here (the probes, the probe library, the protocol, this package's modules);
- the contents, one level deep, of the student module's mutable globals (lists, dicts,
  sets; arrays up to ``ARRAY_BYTES`` by their bytes, larger ones by shape and address);
- the set of imported modules, ``np.geterr()``/``np.geterrcall()``, NumPy's print options,
  the recursion limit, the switch interval, trace and profile functions, the garbage
  collector's state, ``sys.stdout``/``stderr``/``stdin``, the environment, the working
  directory and umask, the rlimits;
- every signal's handler, the blocked-signal mask and the interval timers;
- the threads (Python's and the kernel's count), child processes, and the open file
  descriptors with what each refers to (device and inode);
- the state of ``random`` and of NumPy's legacy global generator.

It is no proof of isolation, and is not meant to be: it is computed by the very process
the student's code ran in, so a student can blind or forge it (patch this module, keep state
where it does not look: a closure cell, an object deep inside a list, a C-level setting).
Why that is acceptable is in :func:`.zygote.serve`: a fingerprint that misses a change only
lets the same submission's later functions run beside it, and the trusted side re-runs in
isolation every function that then does not pass all its checks.
"""
import _signal
import os
import signal
import sys

#: Arrays among the student's globals up to this size are fingerprinted by their bytes.
ARRAY_BYTES = 1 << 16

#: Modules whose namespaces are compared (when imported).
MODULES = ("numpy", "numpy.linalg", "numpy.random", "builtins", "math", "random", "time", "os", "sys",
           "signal", "__main__", "_grader_probes", "_grader_protocol", "grader.probekit")

_SIGNALS = sorted(int(number) for number in signal.valid_signals())
_LIMITS = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE",
           "RLIMIT_STACK", "RLIMIT_DATA")


def _namespace(module) -> tuple:
    try:
        namespace = module.__dict__
        return tuple(dict.keys(namespace)), tuple(map(id, dict.values(namespace)))
    except BaseException:
        return ("unreadable", object())


def _contents(value) -> object:
    """What a mutable global holds, one level deep (identity of the items)."""
    kind = type(value)
    if kind is list:
        return ("list", tuple(map(id, list.__iter__(value))))
    if kind is dict:
        return ("dict", tuple((id(key), id(item)) for key, item in dict.items(value)))
    if kind is set:
        return ("set", frozenset(map(id, set.__iter__(value))))
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        if value.nbytes <= ARRAY_BYTES:
            return ("array", value.dtype.str, value.shape, value.tobytes())
        return ("array", value.dtype.str, value.shape, value.__array_interface__["data"])
    if isinstance(value, type):  # a class of the student's: its attributes
        return ("class", tuple((name, id(item)) for name, item in value.__dict__.items()))
    code = getattr(value, "__code__", None) if kind.__name__ == "function" else None
    if code is not None:
        return ("function", id(code), id(value.__defaults__), id(value.__kwdefaults__), id(value.__dict__),
                len(value.__dict__))
    return None


def _student(module) -> tuple:
    try:
        return tuple((name, id(value), _contents(value)) for name, value in dict.items(module.__dict__))
    except BaseException:
        return ("unreadable",)


def _signals() -> tuple:
    handlers = []
    for number in _SIGNALS:
        try:
            handlers.append(id(_signal.getsignal(number)))
        except (OSError, ValueError, RuntimeError):
            handlers.append(None)
    timers = tuple(signal.getitimer(which) for which in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL,
                                                          signal.ITIMER_PROF))
    return tuple(handlers), timers, tuple(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, ())))


def _descriptors() -> tuple:
    found = []
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:  # Landlock (the rlimits fallback) may hide /proc/self: the fds 0-255
        names = [str(fd) for fd in range(256)]
    for name in names:
        try:
            info = os.fstat(int(name))
        except (OSError, ValueError):
            continue
        found.append((name, info.st_dev, info.st_ino, info.st_mode))
    return tuple(sorted(found))


def _processes() -> tuple:
    import _thread

    kernel_threads = None
    try:
        with open("/proc/self/status") as handle:
            kernel_threads = next((line for line in handle if line.startswith("Threads:")), None)
    except OSError:
        pass
    try:
        children = os.waitpid(-1, os.WNOHANG)  # (0, 0): a child runs; a pid: a zombie
    except ChildProcessError:
        children = None
    return _thread._count(), kernel_threads, children


def _numpy() -> tuple:
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return ()
    try:
        legacy = numpy.random.get_state(legacy=False)
        state = (legacy["state"]["key"].tobytes(), legacy["state"]["pos"], legacy.get("has_gauss"),
                 legacy.get("gauss"))
    except BaseException:
        state = "unreadable"
    try:
        return tuple(numpy.geterr().items()), id(numpy.geterrcall()), tuple(numpy.get_printoptions().items()), state
    except BaseException:
        return ("unreadable", state)


def _process_settings() -> tuple:
    import gc
    import random
    import resource

    limits = tuple(resource.getrlimit(getattr(resource, name)) for name in _LIMITS if hasattr(resource, name))
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    return (sys.getrecursionlimit(), sys.getswitchinterval(), id(sys.gettrace()),
            id(sys.getprofile()), gc.isenabled(), gc.get_threshold(), id(sys.stdout), id(sys.stderr),
            id(sys.stdin), id(os.environ), frozenset(os.environ._data.items()), cwd, umask, limits,
            tuple(sys.modules), tuple(sys.path))


def take(student) -> tuple:
    """The fingerprint of this process's state with ``student`` as the student's module:
    everything above but what is the process's own (fds, threads, children: :func:`own`).
    Taken once where the module was imported, so that the forks of that process inherit it
    (taking it in each fork would write to every object it reads: copy-on-write faults).
    Never raises (what cannot be read is part of the fingerprint as such)."""
    try:
        modules = tuple(_namespace(sys.modules[name]) if name in sys.modules else None for name in MODULES)
        inside = tuple(_namespace(module) for name, module in sorted(sys.modules.items())
                       if name.startswith("_grader_inside"))
        return (_student(student), modules, inside, _numpy(), _process_settings(), _signals())
    except BaseException as exc:  # noqa: BLE001 - a student's patch may break anything here
        return ("unreadable", type(exc).__name__, object())  # never equal to another


def own() -> tuple:
    """What is this process's own, or set anew in every fork: its open file descriptors (and
    what each refers to), its threads and child processes, ``threading``'s namespace and the
    state of ``random`` (both reset after a fork).  Never raises."""
    import random

    try:
        threading = sys.modules.get("threading")
        return (_descriptors(), _processes(), hash(random.getstate()),
                _namespace(threading) if threading is not None else None)
    except BaseException as exc:  # noqa: BLE001
        return ("unreadable", type(exc).__name__, object())
