"""Writing a file whole or not at all: a private temporary file in the same folder, given
its final mode once complete, then renamed over the target (a reader never sees half a
file, even when the writer is killed). Used by the batch's output folder, the report and
the service's stored uploads and reports."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None, durable: bool = False) -> None:
    """Write `data` (str as UTF-8) to `path`, making its folders. The file is private (0600)
    while written, then gets `mode` (default: 0666 minus the umask). `durable`: the file and
    its folder entry are on disk when this returns (fsync), for what a crash must not lose."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
            os.fchmod(f.fileno(), (0o666 & ~current_umask()) if mode is None else mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
