"""Run grading jobs in parallel and hand each outcome to the caller as it completes.

Two runners behind one interface (`start()` / `restart()` an Executor, `capacity`, `close()`):
- `LocalRunner`: a `ProcessPoolExecutor` of warm workers started from a forkserver (numpy
  is imported once in the server; each worker imports the grading code once).
- `DaskRunner`: the same jobs on a Dask distributed cluster through its concurrent.futures
  executor (`Client(address).get_executor()`); Dask is an optional extra. The workers need
  neither the cohort nor the course on their file system: a job carries the submission's
  bytes, and `ship(assignment)` publishes the course bundle (`grader.batch.course_bundle`)
  as a Dask Variable held by the scheduler, which a worker fetches, through the Dask
  connection and only when its cache lacks that version, from inside its first job.

`ship(assignment, extra)` returns what jobs carry to find the course (a `CourseRef`), or
None for the local pool, whose workers read the course (and `extra`) where it is.

`run_jobs` keeps at most `capacity` jobs in flight and takes the next from `jobs` (an
iterable, read lazily: a job holds its submission's bytes) only when it submits it, so
memory stays flat for any cohort size; it never lets one submission stop the rest:
- `grade_job` itself never raises for a student's mistake (see `grader.batch.work`);
- a worker process that dies (a segfault, the OOM killer) breaks a local pool and fails
  every job in flight with BrokenProcessPool. The pool is recreated and those jobs become
  suspects, rerun one at a time alone in the pool: an innocent one is graded normally, the
  one that breaks the pool on its own is recorded as an error "grading crashed";
- any other failure of a future (Dask's KilledWorker, a lost connection) is recorded the
  same way for that one submission.
Crash outcomes are flagged, so the gradebook retries them on the next run.
"""
from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable

from grader.errors import UsageError
from grader.batch.course_bundle import CourseRef, course_bundle
from grader.course import Assignment
from grader.batch.work import GradeJob, GradeOutcome, crash_result, grade_job, warm_up

CRASHED = "grading crashed"
#: How long to keep trying to reach a Dask scheduler before giving up with a usage error.
SCHEDULER_CONNECT_TIMEOUT = "20s"
#: How long a worker waits for the scheduler to hand it a course bundle.
COURSE_FETCH_TIMEOUT = "120s"


class LocalRunner:
    """A pool of `workers` local processes (default: the number of cores)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        # two jobs per worker: a worker never waits for the parent to hand it the next one
        self.capacity = 2 * self.workers
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' * (self.workers != 1)}"

    def ship(self, assignment: Assignment, extra: dict[str, bytes] | None = None) -> None:
        """Nothing to send: the pool's processes read the course where it is."""
        return None

    def start(self) -> Executor:
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            # Imported once in the fork server, inherited by every worker (and by a
            # replacement after a crash). Only modules that are always importable.
            context.set_forkserver_preload(["numpy", "grader.batch.work"])
        else:
            context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=warm_up)
        return self._pool

    def restart(self) -> Executor:
        self.close()
        return self.start()

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None


class DaskRunner:
    """The jobs on a Dask cluster at `address` ("tcp://host:8786"). The workers need not see
    the course or the cohort (see the module docstring); results and reports come back to
    this process, which alone writes the output folder."""

    name = "dask"

    def __init__(self, address: str):
        try:
            import distributed
        except ImportError:
            raise UsageError("--scheduler needs Dask distributed, an optional extra: "
                             "pip install 'grader[dask]'") from None
        self.address = address
        try:
            self.client = distributed.Client(address, timeout=SCHEDULER_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"cannot connect to the Dask scheduler at {address}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        threads = sum(self.client.nthreads().values()) or 1
        self.capacity = 2 * threads
        self._threads = threads
        self._published: list = []  # the course Variables of this runner, deleted at close
        try:
            self.client.run(warm_up)
        except Exception:  # a worker without our code gets the error per job, with its reason
            pass

    def describe(self) -> str:
        return f"the Dask cluster at {self.address} ({self._threads} worker thread{'s' * (self._threads != 1)})"

    def ship(self, assignment: Assignment, extra: dict[str, bytes] | None = None) -> CourseRef:
        """Publish `assignment`'s course bundle (with `extra` files: `course_bundle`) on the
        scheduler for the workers to fetch when their cache lacks it. A Variable of this runner's own (a uuid in its name), so another
        batch closing cannot take it away; it goes with `close()`."""
        import distributed

        bundle = course_bundle(assignment, extra)
        name = f"grader-course-{bundle.hash[:16]}-{uuid.uuid4().hex[:12]}"
        variable = distributed.Variable(name, client=self.client)
        try:
            variable.set(bundle.data)
        except (OSError, TimeoutError) as exc:  # the scheduler went away since we connected
            raise UsageError(f"cannot send the course to the Dask scheduler at {self.address}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        self._published.append(variable)
        return CourseRef(bundle.hash, functools.partial(_fetch_course, name))

    def start(self) -> Executor:
        # pure=False: the same job submitted again (a regrade) must run again
        return self.client.get_executor(pure=False)

    def restart(self) -> Executor:
        return self.start()

    def close(self, cancel: bool = False) -> None:
        for variable in self._published:
            try:
                variable.delete()
            except Exception:  # the scheduler is gone: so is the Variable
                pass
        self._published.clear()
        self.client.close()


def _fetch_course(name: str) -> bytes:
    """On a Dask worker, inside a job: the bundle `DaskRunner.ship` published as `name`."""
    from distributed import Variable, get_client

    return Variable(name, client=get_client()).get(timeout=COURSE_FETCH_TIMEOUT)


#: A pool that breaks this many times before any job returned is not a submission's fault: the workers cannot start (a broken installation), so the batch stops.
STARTUP_BREAKS = 3


class WorkersUnusable(UsageError):
    """The worker processes die before grading anything; str() is one line."""


def run_jobs(runner, jobs: Iterable[GradeJob], on_outcome: Callable[[GradeOutcome], None],
             job_fn: Callable[[GradeJob], GradeOutcome] = grade_job) -> None:
    """Run every job; call `on_outcome` in this process, once per job, as each completes."""
    source = iter(jobs)
    pending: deque[GradeJob] = deque()  # taken from `source`, not yet submitted

    def more() -> bool:
        if not pending:
            pending.extend(itertools.islice(source, 1))
        return bool(pending)

    suspects: deque[GradeJob] = deque()  # in flight when a local pool broke
    in_flight: dict[Future, tuple[GradeJob, bool]] = {}  # future -> (job, ran alone)
    returned = 0  # jobs a worker finished (whatever the grade)
    breaks = 0

    def settle(future: Future) -> bool:
        nonlocal returned
        job, alone = in_flight.pop(future)
        state = _settle(future, job, alone, suspects, on_outcome)
        returned += state == "ok"
        return state == "broken"

    executor = runner.start()
    try:
        while more() or suspects or in_flight:
            broken = False
            if suspects:
                if not in_flight:  # a suspect runs alone, so a crash points at it
                    broken = not _submit(executor, job_fn, suspects, in_flight, alone=True)
            else:
                while len(in_flight) < runner.capacity and not broken and more():
                    broken = not _submit(executor, job_fn, pending, in_flight, alone=False)
            if in_flight and not broken:
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    broken |= settle(future)
            if broken:
                # every other job of a broken pool fails too; keep those that finished first
                for future in wait(list(in_flight)).done:
                    settle(future)
                breaks += 1
                if not returned and breaks >= STARTUP_BREAKS:
                    raise WorkersUnusable("the grading worker processes die before finishing any "
                                          "submission; check that `python -m grader grade` works here")
                executor = runner.restart()
    except BaseException:
        runner.close(cancel=True)
        raise
    runner.close()


def _submit(executor: Executor, job_fn, queue: deque, in_flight: dict, alone: bool) -> bool:
    """Submit the job at the head of `queue`; False (the job stays queued) if the pool is broken."""
    job = queue[0]
    try:
        future = executor.submit(job_fn, job)
    except (BrokenProcessPool, OSError):  # a dying pool may also fail with "handle is closed"
        return False
    queue.popleft()
    in_flight[future] = (job, alone)
    return True


def _settle(future: Future, job: GradeJob, alone: bool, suspects: deque, on_outcome) -> str:
    """Hand the outcome on. Returns "ok" (the worker returned), "broken" (a local pool broke;
    the job is a suspect, or recorded as crashed if it ran alone) or "failed" (recorded as
    crashed)."""
    try:
        outcome = future.result()
    except BrokenProcessPool:
        if alone:
            on_outcome(crashed_outcome(job, f"{CRASHED}: the worker process grading it died "
                                            "(killed by a signal or out of memory)"))
        else:
            suspects.append(job)
        return "broken"
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        on_outcome(crashed_outcome(job, f"{CRASHED}: {type(exc).__name__}{': ' + detail if detail else ''}"))
        return "failed"
    on_outcome(outcome)
    return "ok"


def crashed_outcome(job: GradeJob, reason: str) -> GradeOutcome:
    return GradeOutcome(job.student, crash_result(job.assignment, job.student, reason).to_dict(), crashed=True)
