"""Read a cohort the way it was downloaded, and say who each entry belongs to.

`grader batch ID SOURCE` accepts, detected from the names inside (never from a flag):

- **a plain folder** of entries (`grader.batch.cohort`): an entry's name without its
  extension is the student id;
- **a Canvas "Download Submissions" zip**, or the folder it extracts to. Canvas names every
  file `<name>_<userid>_<attachmentid>_<original file name>`, with `LATE_` after the name
  when Canvas counted the submission late (`smithjohn_LATE_4021_88213_homework.py`); a
  text entry or URL is `<name>_<userid>_text.html` / `_link.html`. This is the convention
  Canvas's own "Re-Upload Submissions" parses back (instructure/canvas-lms,
  `Assignment#infer_comment_context_from_filename`: the first two all-digit fields are the
  user id and the attachment id). A file uploaded again under the same name gets `-1`,
  `-2`... before its extension (`homework-1.py`); attachment ids grow with every upload,
  so the largest is the latest;
- **a Moodle assignment download** ("Download all submissions"), zip or folder: one folder
  per student and plugin, `<Full Name>_<participant id>_assignsubmission_file` (Moodle 4.1
  and later; `..._file_` before, and flat files `<Full Name>_<id>_assignsubmission_file_<name>`
  in older versions). Moodle replaces `_` in names with spaces, so the first `_` ends the name
  (mod/assign/feedback/file/importziplib.php parses it the same way). The id is the
  assignment's participant id, not the Moodle user id;
- **a Gradescope submissions export**: `submission_metadata.yml` (keys `submission_<id>`,
  each with `:submitters:` (`:name:`, `:sid:`, `:email:`) and `:created_at:`) next to one
  `submission_<id>/` folder per submission.

A zip or folder that holds the extracted folder once more (zipped again by a person) is
unwrapped one level.

**Which file is graded.** From all of one student's files (several uploads, re-uploads,
several attempts or Gradescope submissions), the one named like the assignment's module
(`<module>.py` / `.ipynb`, after Canvas's `-N` re-upload suffix is removed) wins, then any
`.py`, `.ipynb` or `.zip`, then anything else (so a student who uploaded only a PDF is graded
as "could not be graded" with the loader's reason rather than forgotten); among equals the
latest counts (Canvas: the largest attachment id; Gradescope: the latest `created_at`;
Moodle: the latest modification time). The others are listed as superseded.

**Who it is.** With a roster (`grader.roster`) each entry is matched by the LMS user id, the
institution's id, e-mail or name. Without one, or when no roster student matches, the entry
keeps the LMS's own prefix as its id (`smithjohn_4021`, `Zoë Brown_1044`, a Gradescope SID)
and is listed as unmapped with the reason, so nothing is dropped and the instructor sees
exactly what to fix. Two entries that map to the same student: the later one is graded and
the other listed.

**Lateness** is kept as the LMS states it: Canvas's `LATE` marker (Canvas says late or not,
but not by how much), Gradescope's submission time; a Moodle download says neither.

Files inside a zip are copied into a private scratch folder (0700) given by the caller, under
a sanitised name in a folder of their own, never under a path the archive chose; files of a
folder download are graded where they are.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.batch.cohort import CohortError, Entry, discover_cohort
from grader.ids import clean_id, entry_name, stem_clashes
from grader.load import MAX_ARCHIVE_BYTES
from grader.roster import Roster, RosterStudent
from grader.untrusted import unicode_text

KINDS = ("folder", "canvas", "moodle", "gradescope")
LABELS = {"folder": "folder", "canvas": "Canvas download", "moodle": "Moodle download",
          "gradescope": "Gradescope export"}
GRADESCOPE_METADATA = "submission_metadata.yml"
GRADABLE = (".py", ".ipynb", ".zip")
#: What the feedback file of an entry is called after the LMS's prefix (Canvas keeps the
#: prefix's user and attachment ids; Moodle the folder name of the student's submission).
FEEDBACK_FILE = "feedback.html"
_CLUTTER = {"__MACOSX", "__pycache__", ".DS_Store", "Thumbs.db", "desktop.ini"}

CANVAS_NAME = re.compile(
    r"^(?P<name>[^_]*)_(?P<late>LATE_)?(?P<user>\d+)_"
    r"(?:(?P<attachment>\d+)_(?P<original>.+)|(?P<inline>text|link|media)(?P<ext>\.[^./]+)?)$", re.S)
MOODLE_NAME = re.compile(
    r"^(?P<name>[^_]+)_(?P<user>\d+)_assign(?:submission|feedback)_(?P<plugin>[a-z]+)(?:_(?P<rest>.*))?$", re.S)
GRADESCOPE_FOLDER = re.compile(r"^submission_(?P<id>\d+)$")
_REUPLOAD_SUFFIX = re.compile(r"^(?P<stem>.+)-\d+(?P<ext>\.[^.]+)$", re.S)
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class LmsEntry(Entry):
    """An entry of the cohort with what its LMS said about it."""

    label: str = ""  # the file or folder as the LMS named it (shown to the instructor)
    lms: str = "folder"  # one of KINDS
    lms_user: str = ""  # Canvas user id, Moodle participant id, Gradescope submission id
    lms_name: str = ""  # the name as the LMS wrote it
    late: bool | None = None  # the LMS's own late marker; None: the LMS does not say
    submitted_at: str = ""  # ISO 8601 with offset, "" when the LMS does not say
    feedback_name: str = ""  # the file name the LMS's bulk feedback upload expects
    superseded: tuple[str, ...] = ()  # this student's other files, not graded


@dataclass(frozen=True)
class Unmapped:
    """An entry the roster could not place: graded under `student` (its LMS prefix)."""

    student: str
    label: str
    reason: str


@dataclass
class CohortSource:
    kind: str
    entries: list[LmsEntry]
    unmapped: list[Unmapped] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (name, why) not an entry
    missing: list[RosterStudent] = field(default_factory=list)  # roster students with no entry

    @property
    def label(self) -> str:
        return LABELS[self.kind]


@dataclass(frozen=True)
class Upload:
    """One file as the LMS delivered it: on disk (a folder download) or a zip member."""

    rel: str  # "/"-separated path inside the download
    size: int
    modified: float  # POSIX time, 0 when unknown
    disk: Path | None = None
    member: zipfile.ZipInfo | None = None

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


@dataclass
class _Candidate:
    """One student's uploads in a download, before the roster and the choice of file."""

    fallback_id: str
    lms_user: str
    lms_name: str
    # (upload, base name, order: larger is later, what the LMS said about that upload)
    uploads: list[tuple[Upload, str, float, dict]] = field(default_factory=list)
    sis_id: str = ""
    email: str = ""


def read_source(source: Path, module: str, roster: Roster | None, scratch: Path) -> CohortSource:
    """The cohort in `source` (a folder or a zip), each entry mapped to its student. Files
    from a zip are copied into `scratch` (a private folder the caller removes). Raises
    CohortError (one line) for a source that is no cohort."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CohortError(f"{source}: not a readable zip ({exc})") from None
        with archive:
            uploads = _zip_uploads(archive)
            kind, uploads, ignored = _detect(uploads)
            if kind == "folder":
                raise CohortError(f"{source} is a zip but not a Canvas, Moodle or Gradescope download; "
                                  f"extract it and give the folder of entries")
            found = _parse(kind, uploads, ignored, archive)
            return _resolve(kind, found, ignored, module, roster, scratch, archive)
    if not source.is_dir():
        what = "not a folder or a zip" if source.exists() else "no such folder or zip"
        raise CohortError(f"{source}: {what}; give the folder of entries or the LMS's download")
    kind, uploads, ignored = _detect(_folder_uploads(source))
    if kind == "folder":
        return _plain_folder(source, roster)
    found = _parse(kind, uploads, ignored, None)
    return _resolve(kind, found, ignored, module, roster, scratch, None)


# listing ----------------------------------------------------------------------------------
def _clutter(rel: str) -> bool:
    return any(part.startswith(".") or part in _CLUTTER for part in rel.split("/"))


def _folder_uploads(root: Path) -> list[Upload]:
    uploads = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _clutter(d))
        for name in sorted(files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if _clutter(rel):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            uploads.append(Upload(rel, st.st_size, st.st_mtime, disk=path))
    return uploads


def _zip_uploads(archive: zipfile.ZipFile) -> list[Upload]:
    uploads = []
    for info in archive.infolist():
        rel = "/".join(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        if info.is_dir() or not rel or _clutter(rel):
            continue
        try:
            modified = datetime(*info.date_time).timestamp()
        except (ValueError, OverflowError):
            modified = 0.0
        uploads.append(Upload(rel, info.file_size, modified, member=info))
    return uploads


def _detect(uploads: list[Upload]) -> tuple[str, list[Upload], list[tuple[str, str]]]:
    """(kind, uploads relative to the download's real top, ignored). One wrapping folder is
    removed when the top level is nothing but that folder."""
    tops = {u.rel.split("/", 1)[0] for u in uploads}
    if len(tops) == 1 and all("/" in u.rel for u in uploads):
        top = next(iter(tops))
        if not (CANVAS_NAME.match(top) or MOODLE_NAME.match(top) or GRADESCOPE_FOLDER.match(top)):
            uploads = [Upload(u.rel.split("/", 1)[1], u.size, u.modified, u.disk, u.member) for u in uploads]
            tops = {u.rel.split("/", 1)[0] for u in uploads}
    if GRADESCOPE_METADATA in tops:
        return "gradescope", uploads, []
    scores = {
        "moodle": sum(bool(MOODLE_NAME.match(t)) for t in tops),
        "canvas": sum(bool(CANVAS_NAME.match(t)) and not MOODLE_NAME.match(t) for t in tops),
    }
    kind = max(scores, key=scores.get)
    if not scores[kind] or 2 * scores[kind] <= len(tops):
        return "folder", uploads, []
    pattern = MOODLE_NAME if kind == "moodle" else CANVAS_NAME
    ignored = [(t, f"not named as a {LABELS[kind]} names its files") for t in sorted(tops) if not pattern.match(t)]
    return kind, [u for u in uploads if pattern.match(u.rel.split("/", 1)[0])], ignored


# parsing, per LMS ---------------------------------------------------------------------------
def _parse(kind: str, uploads: list[Upload], ignored: list, archive) -> dict[str, _Candidate]:
    if kind == "canvas":
        return _parse_canvas(uploads, ignored)
    if kind == "moodle":
        return _parse_moodle(uploads, ignored)
    return _parse_gradescope(uploads, ignored, archive)


def _canvas_base(original: str) -> str:
    """The name a student gave a file, without Canvas's `-N` re-upload suffix."""
    match = _REUPLOAD_SUFFIX.match(original)
    return match["stem"] + match["ext"] if match else original


def _parse_canvas(uploads: list[Upload], ignored: list) -> dict[str, _Candidate]:
    found: dict[str, _Candidate] = {}
    for upload in uploads:
        top = upload.rel.split("/", 1)[0]
        match = CANVAS_NAME.match(top)
        user = match["user"]
        candidate = found.setdefault(user, _Candidate(f"{match['name']}_{user}", user, match["name"]))
        if match["attachment"]:
            base = _canvas_base(match["original"] if "/" not in upload.rel else upload.name)
            order = float(match["attachment"])
            prefix = f"{match['name']}_{match['late'] or ''}{user}_{match['attachment']}_"
        else:  # a text entry or a URL: nothing to grade, but the student did hand something in
            base, order, prefix = f"{match['inline']}{match['ext'] or ''}", -1.0, ""
        candidate.uploads.append((upload, base, order, {"late": bool(match["late"]), "feedback_prefix": prefix}))
    return found


def _parse_moodle(uploads: list[Upload], ignored: list) -> dict[str, _Candidate]:
    found: dict[str, _Candidate] = {}
    for upload in uploads:
        top, _, inner = upload.rel.partition("/")
        match = MOODLE_NAME.match(top)
        user, name = match["user"], match["name"]
        candidate = found.setdefault(user, _Candidate(f"{name}_{user}", user, name))
        plugin = match["plugin"]
        # the folder name as this Moodle wrote it, which its feedback import parses back
        prefix = f"{name}_{user}_assignsubmission_{plugin}_"
        base = (inner or match["rest"] or upload.name).rsplit("/", 1)[-1]
        rank = upload.modified if plugin == "file" else -1.0  # an online text is never preferred
        candidate.uploads.append((upload, base, rank, {"feedback_prefix": prefix}))
    return found


def _gradescope_field(record: dict, name: str):
    """Gradescope writes Ruby symbols as keys (":submitters:"); accept either spelling."""
    return record.get(f":{name}", record.get(name))


def _parse_gradescope(uploads: list[Upload], ignored: list, archive) -> dict[str, _Candidate]:
    import yaml

    meta_upload = next(u for u in uploads if u.rel == GRADESCOPE_METADATA)
    raw = _read_upload(meta_upload, archive, 20 << 20)
    try:
        metadata = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise CohortError(f"{GRADESCOPE_METADATA}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(metadata, dict):
        raise CohortError(f"{GRADESCOPE_METADATA}: expected submission_<id> keys at the top")
    files: dict[str, list[Upload]] = {}
    for upload in uploads:
        top, _, inner = upload.rel.partition("/")
        if GRADESCOPE_FOLDER.match(top) and inner:
            files.setdefault(top, []).append(upload)
        elif upload.rel != GRADESCOPE_METADATA:
            ignored.append((upload.rel, "not inside a submission_<id> folder"))
    found: dict[str, _Candidate] = {}
    for key, record in metadata.items():
        if not (isinstance(key, str) and GRADESCOPE_FOLDER.match(key) and isinstance(record, dict)):
            continue
        created = _gradescope_field(record, "created_at")
        when = _iso(created)
        order = datetime.fromisoformat(when).timestamp() if when else 0.0
        for submitter in _gradescope_field(record, "submitters") or []:
            if not isinstance(submitter, dict):
                continue
            sid = str(_gradescope_field(submitter, "sid") or "").strip()
            email = str(_gradescope_field(submitter, "email") or "").strip()
            name = str(_gradescope_field(submitter, "name") or "").strip()
            person = sid or email or name or key
            candidate = found.setdefault(person, _Candidate(person, key, name, sis_id=sid, email=email))
            for upload in files.get(key, []):
                candidate.uploads.append((upload, upload.name, order, {"lms_user": key, "submitted_at": when}))
        if key not in files:
            ignored.append((key, "listed in the metadata without a folder of files"))
    return found


def _iso(value) -> str:
    """ISO 8601 with an offset (UTC when none is given), or ""."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace(" -", "-").replace(" +", "+"))
        except ValueError:
            return ""
    else:
        return ""
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).isoformat()


# choosing, mapping, materialising -------------------------------------------------------------
def _resolve(kind: str, found: dict[str, _Candidate], ignored: list, module: str, roster: Roster | None,
             scratch: Path, archive) -> CohortSource:
    preferred = {f"{module}.py".casefold(), f"{module}.ipynb".casefold()}
    result = CohortSource(kind, [], ignored=ignored)
    chosen: dict[str, tuple[LmsEntry, float]] = {}
    for index, candidate in enumerate(found.values()):
        usable = [item for item in candidate.uploads if item[0].size <= MAX_ARCHIVE_BYTES]
        result.ignored.extend((u.rel, f"too large ({u.size} bytes)") for u, *_ in candidate.uploads
                              if u.size > MAX_ARCHIVE_BYTES)
        if not usable:
            continue

        def rank(item):
            upload, base, order, _ = item
            name = base.casefold()
            gradable = name.endswith(GRADABLE) and not name.startswith("test_")
            return (name in preferred, gradable, order, upload.rel)

        upload, base, order, said = max(usable, key=rank)
        lms_user = said.get("lms_user", candidate.lms_user)
        student, reason = clean_id(candidate.fallback_id), ""  # a name from outside: grader.ids
        if roster is not None:
            match, reason = roster.match(lms_id=lms_user if kind != "gradescope" else "",
                                         sis_id=candidate.sis_id, email=candidate.email,
                                         name=candidate.lms_name)
            if match is not None:
                student = match.id
        path = upload.disk if upload.disk is not None else _extract(upload, base, archive, scratch / str(index))
        entry = LmsEntry(
            student, path, label=unicode_text(upload.rel), lms=kind, lms_user=lms_user, lms_name=candidate.lms_name,
            late=said.get("late"), submitted_at=said.get("submitted_at", ""),
            feedback_name=said["feedback_prefix"] + FEEDBACK_FILE if said.get("feedback_prefix") else "",
            superseded=tuple(sorted(u.rel for u, *_ in candidate.uploads if u is not upload)))
        if roster is not None and reason:
            result.unmapped.append(Unmapped(student, unicode_text(upload.rel), reason))
        if student in chosen:  # two entries for one student: the later one counts
            other, other_order = chosen[student]
            loser, winner = (other, entry) if order >= other_order else (entry, other)
            result.unmapped.append(Unmapped(student, loser.label, f"another entry ({winner.label}) is also "
                                                                  f"student '{student}'; the later one is graded"))
            if winner is other:
                continue
        chosen[student] = (entry, order)
    entries = sorted((entry for entry, _ in chosen.values()), key=lambda e: e.student)
    clashing = {s for students in stem_clashes(e.student for e in entries).values() for s in students}
    result.entries = [dataclasses.replace(e, problem="this id and another's would share output files; "
                                                      "fix the roster or the LMS names") if e.student in clashing else e
                      for e in entries]
    if roster is not None:
        present = {e.student for e in result.entries}
        result.missing = [s for s in roster.students if s.id not in present]
    if not result.entries:
        raise CohortError(f"the {LABELS[kind]} holds no submissions")
    return result


def _safe_file_name(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, ext) if dot else (name, "")
    stem = _UNSAFE_FILE_CHARS.sub("_", stem).strip("._")[:80] or "submission"
    ext = _UNSAFE_FILE_CHARS.sub("", ext)[:10]
    return f"{stem}.{ext}" if ext else stem


def _read_upload(upload: Upload, archive, cap: int) -> bytes:
    if upload.disk is not None:
        with open(upload.disk, "rb") as f:
            data = f.read(cap + 1)
    else:
        with archive.open(upload.member) as member:
            data = member.read(cap + 1)
    if len(data) > cap:
        raise CohortError(f"{upload.rel}: larger than {cap} bytes")
    return data


def _extract(upload: Upload, name: str, archive: zipfile.ZipFile, folder: Path) -> Path:
    """Copy a zip member into its own private folder under `name` (the name the student gave
    the file, sanitised), so the loader's messages speak of it. A member that cannot be read
    becomes an empty file (the loader then says it holds nothing to grade)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / _safe_file_name(name)
    try:
        data = _read_upload(upload, archive, MAX_ARCHIVE_BYTES)
    except Exception:  # encrypted, corrupt or lying about its size
        data = b""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return target


def _plain_folder(source: Path, roster: Roster | None) -> CohortSource:
    entries = [LmsEntry(e.student, e.path, e.problem, label=entry_name(e.path)) for e in discover_cohort(source)]
    result = CohortSource("folder", entries)
    if roster is not None:
        result.unmapped = [Unmapped(e.student, e.label, "not in the roster") for e in entries
                           if roster.get(e.student) is None]
        present = {e.student for e in entries}
        result.missing = [s for s in roster.students if s.id not in present]
    return result


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
