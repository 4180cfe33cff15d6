"""What a stored grade depends on, as hashes: a resumed batch regrades a submission when
either hash changed.

- `entry_hash`: what was handed in, the whole entry's bytes (a file's bytes; a folder's
  relative paths and file bytes; a zip's bytes). It never follows a symlink and never opens
  anything but a regular file (a FIFO would block).
- `checks_hash`: what it was graded against: the hidden checks, the probes, the reference,
  the known-mistake mutants, the assignment's parts and points, the seed secret and the
  grader's version.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from grader import __version__
from grader.course import Assignment

_CHUNK = 1 << 20


def checks_hash(assignment: Assignment) -> str:
    digest = hashlib.sha256(f"grader {__version__}\0".encode())
    sources = {
        "toml": assignment.directory / "assignment.toml",
        "probes": assignment.probes_path,
        "reference": assignment.reference_path,
        "checks": assignment.hidden_checks,
        "mutants": assignment.mutants_directory,
    }
    for label, path in sources.items():
        digest.update(f"{label}\0".encode())
        _feed(digest, path, "", skip_hidden=True)
    # the secret seeds every student's inputs; only its hash enters this hash
    digest.update(hashlib.sha256(assignment.secret().encode()).digest())
    return digest.hexdigest()


def entry_hash(path: Path) -> str:
    """sha256 over the entry: a file's bytes; a folder's relative paths and file bytes in
    sorted order; a symlink's target text; for a device, FIFO or socket only its kind."""
    digest = hashlib.sha256()
    _feed(digest, Path(path), "", skip_hidden=False)
    return digest.hexdigest()


def _feed(digest, path: Path, rel: str, skip_hidden: bool) -> None:
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        digest.update(f"unreadable:{rel}:{exc.errno}\0".encode())
        return
    if stat.S_ISLNK(mode):
        digest.update(f"link:{rel}:{os.readlink(path)}\0".encode(errors="surrogateescape"))
    elif stat.S_ISDIR(mode):
        digest.update(f"dir:{rel}\0".encode(errors="surrogateescape"))
        try:
            children = sorted(os.listdir(path))
        except OSError as exc:
            digest.update(f"unlistable:{exc.errno}\0".encode())
            return
        for name in children:
            if name == "__pycache__" or (skip_hidden and name.startswith(".")):
                continue
            _feed(digest, path / name, f"{rel}/{name}" if rel else name, skip_hidden)
    elif stat.S_ISREG(mode):
        digest.update(f"file:{rel}\0".encode(errors="surrogateescape"))
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            digest.update(f"\0unreadable:{exc.errno}".encode())
        digest.update(b"\0")
    else:
        digest.update(f"special:{rel}:{stat.S_IFMT(mode)}\0".encode(errors="surrogateescape"))
