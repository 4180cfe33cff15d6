"""Ship an assignment's course files to batch workers that cannot see them (a Dask cluster
without a shared file system): one bundle per course version, named by its content hash,
cached on each worker machine in a private folder and reused by later jobs and batches.

Instructor's side, `course_bundle(assignment)`: a gzipped tar built deterministically (sorted
names, fixed times, owners and modes), so the same files give the same bytes and the same
hash, of what grading and the report read:
- `assignments/<id>/` (assignment.toml, the probes, the public checks, figures.py),
- `solutions/<id>/` (the reference, the hidden checks, the mutants) with `secret.txt` holding
  the secret as resolved HERE (`GRADER_SECRET` if set, else the file), so every worker draws
  the same per-student inputs as a local batch (the worker's own `GRADER_SECRET`, if any, is
  ignored for a shipped course: `Assignment.shipped`),
- `templates/` (the course's report templates),
- any `extra` files the caller names (`grader audit` adds its probe set under `audit/`).
`__pycache__` and hidden names are left out, as in the checks hash. A symlink to a file is
stored as that file; a symlink to a folder, or anything but files and folders, is refused
with a one-line CourseError: the bundle holds regular files and folders only.

Worker's side, `CourseRef.root()` (what a job carries: the hash, and how to fetch the bundle
when this machine's cache does not hold that version): the cache folder of the version, or
fetch, verify and install it. The cache (`$GRADER_COURSE_CACHE`, else
`$XDG_CACHE_HOME/grader/courses` or `~/.cache/grader/courses`, else
`<tmp>/grader-courses-<uid>` when the home folder is not writable) and every folder in it are
0700 and files 0600, owned by the worker's user (a cache owned by someone else, or a symlink,
is refused): `solutions/` holds the secret and the hidden checks. Installing treats the
bundle as hostile although it comes from the instructor's machine: its sha256 must be the
hash asked for, and every member must be a regular file or a folder with a relative name
(no `..`, no absolute path, no backslash), within `MAX_MEMBERS` and `MAX_UNPACKED_BYTES`;
anything else stops with a one-line CourseError before a byte is written. It unpacks into a
private temporary folder of the cache, renamed into place when complete, so a version folder
is always whole and two processes installing the same version at once both end up using it.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from grader.course import Assignment, CourseError

CACHE_ENV = "GRADER_COURSE_CACHE"
#: Bounds on what a worker unpacks (a course is well under a megabyte).
MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 512 << 20
MAX_BUNDLE_BYTES = 256 << 20
#: The folders of the course a bundle holds, relative to its root ({id}: the assignment's).
BUNDLED = ("assignments/{id}", "solutions/{id}", "templates")
_SECRET = "secret.txt"


@dataclass(frozen=True)
class CourseBundle:
    hash: str  # sha256 of `data`
    data: bytes  # the gzipped tar


@dataclass(frozen=True)
class CourseRef:
    """What a job carries instead of the course: the version's hash, and a picklable
    `fetch()` returning the bundle's bytes, called only where the cache lacks that version."""

    hash: str
    fetch: Callable[[], bytes]

    def root(self) -> Path:
        """The course root of this version on this machine, installed first if need be."""
        return cached_course(self.hash) or install_course(self.hash, self.fetch())

    def assignment(self, assignment: Assignment) -> Assignment:
        """`assignment` as read from this machine's copy of the course (whose secret.txt
        wins over this machine's GRADER_SECRET)."""
        return dataclasses.replace(assignment, course_root=self.root(), shipped=True)


def course_bundle(assignment: Assignment, extra: dict[str, bytes] | None = None) -> CourseBundle:
    """The bundle of `assignment`'s course files (see the module docstring), plus `extra`
    files by their path in the bundle (e.g. the audit's probe set, under `audit/`)."""
    root = assignment.course_root
    files: dict[str, bytes] = {}
    folders: set[str] = set()
    for name, data in (extra or {}).items():
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts) or "\\" in name:
            raise ValueError(f"not a relative path for the bundle: {name!r}")
        folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
        files[name] = data
    for pattern in BUNDLED:
        top = pattern.format(id=assignment.id)
        if (root / top).is_dir():
            _collect(root, top, files, folders)
    secret = f"solutions/{assignment.id}/{_SECRET}"
    if assignment.has_solutions:  # the public-only grading of a student bundle has no secret
        files[secret] = assignment.secret().encode() + b"\n"
        folders.add(f"solutions/{assignment.id}")
    if sum(len(data) for data in files.values()) > MAX_UNPACKED_BYTES or len(files) + len(folders) > MAX_MEMBERS:
        raise CourseError(f"{root}: the course files of {assignment.id} are too large to send to the workers "
                          f"(over {MAX_MEMBERS} files or {MAX_UNPACKED_BYTES >> 20} MiB)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(folders | set(files)):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if name in files:
                info.size, info.mode = len(files[name]), 0o600
                tar.addfile(info, io.BytesIO(files[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(info)
    data = gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)
    return CourseBundle(hashlib.sha256(data).hexdigest(), data)


def _collect(root: Path, rel: str, files: dict[str, bytes], folders: set[str]) -> None:
    folders.add(rel)
    for entry in sorted(os.scandir(root / rel), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        name = f"{rel}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            _collect(root, name, files, folders)
        elif entry.is_file():  # a regular file, or a symlink to one: its content
            files[name] = Path(entry.path).read_bytes()
        else:
            raise CourseError(f"{entry.path}: only files and folders can be sent to the workers "
                              "(a symlink to a folder, a device or a FIFO?)")


def cache_root() -> Path:
    """This user's private course cache, created 0700 if need be (see the module docstring)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        candidates = [Path(explicit)]
    else:
        candidates = [base / "grader" / "courses" for base in _user_cache()]
        candidates.append(Path(tempfile.gettempdir()) / f"grader-courses-{os.getuid()}")
    problem = ""
    for folder in candidates:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            problem = f"cannot create the course cache {folder}: {exc.strerror}"
            continue
        return _private(folder)
    raise CourseError(problem + (f" (set {CACHE_ENV} to a writable folder)" if not explicit else ""))


def _user_cache() -> list[Path]:
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return [Path(xdg)]
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry (a container)
        return []
    return [home / ".cache"] if home.is_dir() else []


def _private(folder: Path) -> Path:
    """`folder`, checked to be a real folder of ours and made 0700."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise CourseError(f"the course cache {folder} is not a folder (a symlink?); remove it or set {CACHE_ENV}")
    if info.st_uid != os.getuid():
        raise CourseError(f"the course cache {folder} belongs to another user; remove it or set {CACHE_ENV}")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(folder, 0o700)
    return folder


def cached_course(course_hash: str) -> Path | None:
    """The installed course of this hash on this machine, or None. Checked at every call (a
    few system calls per job): the cache may have been removed or tampered with meanwhile."""
    folder = cache_root() / _checked_hash(course_hash)
    if not os.path.lexists(folder):
        return None
    return _private(folder)


def install_course(course_hash: str, data: bytes) -> Path:
    """Verify and unpack a bundle into the cache; its folder (see the module docstring)."""
    _checked_hash(course_hash)
    if len(data) > MAX_BUNDLE_BYTES:
        raise CourseError(f"course bundle {course_hash[:12]}: {len(data)} bytes, over the limit of {MAX_BUNDLE_BYTES}")
    if hashlib.sha256(data).hexdigest() != course_hash:
        raise CourseError(f"course bundle {course_hash[:12]}: its content does not match its hash (corrupt?)")
    root = cache_root()
    staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=root))  # 0700
    try:
        _unpack(data, staging, course_hash[:12])
        try:
            os.rename(staging, root / course_hash)
        except OSError:  # another process installed it first
            if not (root / course_hash).is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cached_course(course_hash)


def _checked_hash(course_hash: str) -> str:
    if len(course_hash) != 64 or not all(c in "0123456789abcdef" for c in course_hash):
        raise CourseError(f"not a course hash: {course_hash[:80]!r}")
    return course_hash


def _unpack(data: bytes, into: Path, label: str) -> None:
    """Validate every member first, then write them (folders 0700, files 0600)."""
    try:
        # decompressed as it is read: a bomb stops at the bounds below, not in memory
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = []
            total = 0
            for member in tar:
                if len(members) >= MAX_MEMBERS:
                    raise CourseError(f"course bundle {label}: more than {MAX_MEMBERS} members")
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise CourseError(f"course bundle {label}: unpacks to more than {MAX_UNPACKED_BYTES} bytes")
                members.append((_safe_name(member, label), member))
            for parts, member in members:
                target = into.joinpath(*parts)
                for depth in range(1, len(parts) + member.isdir()):  # every folder 0700, parents too
                    into.joinpath(*parts[:depth]).mkdir(mode=0o700, exist_ok=True)
                if member.isdir():
                    continue
                source = tar.extractfile(member)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise CourseError(f"course bundle {label}: cannot unpack it ({type(exc).__name__}: {exc})") from None


def _safe_name(member: tarfile.TarInfo, label: str) -> tuple[str, ...]:
    """The member's path parts; CourseError for anything but a regular file or folder with
    a plain relative name."""
    name = member.name
    shown = repr(name[:120])
    if not (member.isreg() or member.isdir()):
        raise CourseError(f"course bundle {label}: {shown} is not a regular file or folder (a link or a device); "
                          "refused")
    parts = PurePosixPath(name).parts
    if (not parts or name.startswith("/") or "\\" in name or "\0" in name
            or any(part in ("", "..", ".") for part in name.split("/"))):
        raise CourseError(f"course bundle {label}: unsafe member name {shown} (absolute, .. or a backslash); refused")
    return parts
