"""load_submission against hostile files: zip-slip, zip bombs, symlinks, devices, enormous
files, binary garbage, a 10,000-cell notebook. Every refusal is one line naming the file."""
import io
import json
import os
import stat
import struct
import zipfile
from pathlib import Path

import nbformat
import nbformat.v4 as v4
import pytest

from grader import load
from grader.load import SubmissionError, load_submission

MODULE = "def adam_step(theta):\n    return theta\n"


def error_for(path, module_name="optimizers") -> str:
    with pytest.raises(SubmissionError) as info:
        load_submission(path, module_name)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert Path(path).name in message, message
    return message


def zip_bytes(members) -> bytes:
    """members: {name or ZipInfo: data}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _bytes_read() -> int | None:
    """Bytes this process has read so far (Linux /proc/self/io rchar), None elsewhere."""
    try:
        with open("/proc/self/io") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("rchar:"))
    except (OSError, StopIteration, ValueError):
        return None


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def patch_central_directory(archive: bytes, offset: int, fmt: str, value) -> bytes:
    """Overwrite a field of the first central-directory entry (offsets per the zip spec)."""
    start = archive.index(b"PK\x01\x02")
    size = struct.calcsize(fmt)
    return archive[:start + offset] + struct.pack(fmt, value) + archive[start + offset + size:]


# ---------------------------------------------------------------- zip-slip


@pytest.mark.parametrize("evil", ["../optimizers.py", "alice/../../etc/cron.py", "/abs/optimizers.py",
                                  "C:/Users/x/optimizers.py", "c:optimizers.py", "alice\\..\\..\\evil.py"])
def test_zip_slip_members_are_refused(tmp_path, evil):
    # even when an innocent candidate is present: the whole archive is suspect
    path = write(tmp_path / "alice.zip", zip_bytes({"alice/optimizers.py": MODULE, zipfile.ZipInfo(evil): "x=1"}))
    assert "unsafe path" in error_for(path)


def test_dot_components_are_harmless(tmp_path):
    path = write(tmp_path / "alice.zip", zip_bytes({"./alice/./optimizers.py": MODULE}))
    assert load_submission(path, "optimizers").source == MODULE


# ---------------------------------------------------------------- symlinks


def symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("target", ["/work/main/solutions/optimizers/optimizers.py", "../../../etc/passwd"])
def test_zip_symlink_member_is_refused(tmp_path, target):
    path = write(tmp_path / "bob.zip", zip_bytes({symlink_member("bob/optimizers.py", target): target}))
    assert "symbolic link" in error_for(path)


def test_folder_symlink_to_outside_file_is_refused(tmp_path):
    secret = tmp_path / "reference.py"
    secret.write_text(MODULE)
    folder = tmp_path / "carol"
    folder.mkdir()
    (folder / "optimizers.py").symlink_to(secret)
    message = error_for(folder)
    assert "symbolic link" in message and "optimizers.py" in message


def test_folder_symlinked_subfolder_is_refused(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "optimizers.py").write_text(MODULE)
    folder = tmp_path / "dave"
    folder.mkdir()
    (folder / "work").symlink_to(tmp_path / "solutions", target_is_directory=True)
    assert "symbolic link" in error_for(folder)


def test_top_level_symlink_is_refused_and_names_its_target(tmp_path):
    real = tmp_path / "real.py"
    real.write_text(MODULE)
    link = tmp_path / "erin.py"
    link.symlink_to(real)
    message = error_for(link)
    assert "is a symbolic link" in message and str(real) in message


def test_dangling_symlink_is_refused(tmp_path):
    link = tmp_path / "frank.py"
    link.symlink_to(tmp_path / "missing.py")
    assert "symbolic link" in error_for(link)


def test_chosen_file_swapped_for_symlink_after_scan_is_not_followed(tmp_path):
    # _read_file opens with O_NOFOLLOW, so even a race that swaps the file is refused
    link = tmp_path / "optimizers.py"
    link.symlink_to(tmp_path / "elsewhere.py")
    (tmp_path / "elsewhere.py").write_text(MODULE)
    with pytest.raises(SubmissionError, match="symbolic link"):
        load._read_file(link, 1000, str(link))


# ---------------------------------------------------------------- devices and FIFOs


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "optimizers.py"
    os.mkfifo(fifo)
    assert "not a regular file" in error_for(fifo)


def test_fifo_inside_folder_is_refused_without_blocking(tmp_path):
    folder = tmp_path / "grace"
    folder.mkdir()
    os.mkfifo(folder / "optimizers.py")
    assert "not a regular file" in error_for(folder)


def test_device_is_refused():
    message = error_for("/dev/zero")
    assert "not a regular file" in message


# ---------------------------------------------------------------- enormous files


@pytest.mark.parametrize("name, size", [("optimizers.py", load.MAX_SOURCE_BYTES + 1),
                                        ("optimizers.ipynb", load.MAX_NOTEBOOK_BYTES + 1),
                                        ("alice.zip", load.MAX_ARCHIVE_BYTES + 1)])
def test_enormous_file_is_refused_without_reading_it(tmp_path, name, size):
    path = tmp_path / name
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: refusing must come from the size, not from reading it all
    read_before = _bytes_read()
    assert f"too large ({size} bytes;" in error_for(path)  # the size comes from fstat, before reading
    if read_before is not None:  # what this process read meanwhile (not how long it took)
        assert _bytes_read() - read_before < 1 << 20


def test_enormous_file_in_folder_is_refused(tmp_path):
    folder = tmp_path / "heidi"
    folder.mkdir()
    with open(folder / "optimizers.py", "wb") as f:
        f.truncate(load.MAX_SOURCE_BYTES + 1)
    assert "too large" in error_for(folder)


def test_large_member_in_zip_is_refused_by_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "MAX_SOURCE_BYTES", 1000)
    path = write(tmp_path / "ivan.zip", zip_bytes({"optimizers.py": os.urandom(1500).hex()}))
    assert "too large (3000 bytes; the limit is 1000)" in error_for(path)


# ---------------------------------------------------------------- zip bombs


def test_highly_compressed_member_is_refused(tmp_path):
    # 30 MB of zeros deflate to ~30 kB: a classic bomb, refused by its compression ratio
    path = write(tmp_path / "judy.zip", zip_bytes({"judy/optimizers.py": MODULE, "judy/data.bin": bytes(30 << 20)}))
    assert "compressed more than 200:1" in error_for(path)


def test_declared_total_size_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "MAX_ARCHIVE_BYTES", 5000)
    # hex text compresses about 2:1: the archive fits the cap, its declared contents do not
    path = write(tmp_path / "karl.zip", zip_bytes({"optimizers.py": MODULE, "blob.txt": os.urandom(3000).hex()}))
    assert "would expand to more than 5000 bytes" in error_for(path)


def test_too_many_members_is_refused_before_parsing(tmp_path, monkeypatch):
    archive = zip_bytes({"optimizers.py": MODULE, **{f"junk/{i}.txt": "" for i in range(1000)}})
    path = write(tmp_path / "liam.zip", archive)
    assert "declares 1001 members" in error_for(path)
    # zipfile must not even have been asked to parse it
    monkeypatch.setattr(zipfile, "ZipFile", None)
    assert "declares 1001 members" in error_for(path)


def test_member_count_is_checked_even_if_the_end_record_lies(tmp_path):
    archive = zip_bytes({"optimizers.py": MODULE, **{f"junk/{i}.txt": "" for i in range(1000)}})
    end = archive.rindex(b"PK\x05\x06")
    lying = archive[:end + 8] + struct.pack("<HH", 1, 1) + archive[end + 12:]
    path = write(tmp_path / "mia.zip", lying)
    assert "has 1001 members; the limit is 1000" in error_for(path)


def test_oversized_central_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "MAX_ARCHIVE_DIRECTORY_BYTES", 100)
    path = write(tmp_path / "nina.zip", zip_bytes({"optimizers.py": MODULE, "README": "x", "more": "y"}))
    assert "-byte directory" in error_for(path)


def test_member_whose_declared_size_lies_is_refused(tmp_path):
    # the central directory says 10 bytes; 50 kB come out: zipfile stops and the CRC fails
    archive = zip_bytes({"optimizers.py": "x = 1\n" * 10_000})
    archive = patch_central_directory(archive, 24, "<I", 10)  # uncompressed size
    assert "cannot be extracted" in error_for(write(tmp_path / "olga.zip", archive))


def test_actual_bytes_are_counted_while_reading(tmp_path, monkeypatch):
    # a zip reader that yields more than the member declares is cut off at the cap
    monkeypatch.setattr(load, "MAX_SOURCE_BYTES", 100)
    path = write(tmp_path / "pete.zip", zip_bytes({"optimizers.py": "x = 1\n"}))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info: io.BytesIO(b"#" * 10_000))
    assert "expands beyond 100 bytes" in error_for(path)


def test_encrypted_member_is_refused(tmp_path):
    archive = patch_central_directory(zip_bytes({"optimizers.py": MODULE}), 8, "<H", 0x1)  # flag bit 0
    assert "cannot be extracted" in error_for(write(tmp_path / "quinn.zip", archive))


def test_duplicate_member_names_are_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf, pytest.warns(UserWarning):
        zf.writestr("optimizers.py", MODULE)
        zf.writestr("optimizers.py", "import os\n")
    assert "two members named 'optimizers.py'" in error_for(write(tmp_path / "rose.zip", buffer.getvalue()))


# ---------------------------------------------------------------- binary garbage


def test_binary_garbage_as_module(tmp_path):
    data = bytes(range(256)) * 10
    assert "is not UTF-8 text: NUL byte at byte offset 0" in error_for(write(tmp_path / "optimizers.py", data))


def test_binary_garbage_without_nul(tmp_path):
    data = b"x = 1\n" + bytes(range(128, 256))
    assert "invalid byte 0x80 at byte offset 6" in error_for(write(tmp_path / "optimizers.py", data))


def test_binary_garbage_as_notebook(tmp_path):
    assert "is not UTF-8 text" in error_for(write(tmp_path / "hw.ipynb", os.urandom(4096) + b"\0"))


@pytest.mark.parametrize("data", [b"PK\x03\x04 not really", os.urandom(2048), b""], ids=["header", "random", "empty"])
def test_garbage_as_zip(tmp_path, data):
    assert "is not a zip archive" in error_for(write(tmp_path / "sam.zip", data))


def test_truncated_zip(tmp_path):
    archive = zip_bytes({"optimizers.py": MODULE * 100})
    assert "is not a zip archive" in error_for(write(tmp_path / "tess.zip", archive[: len(archive) // 2]))


def test_nul_character_inside_notebook_cell(tmp_path):
    nb = v4.new_notebook(cells=[v4.new_code_cell("x = '\0'")])
    path = tmp_path / "hw.ipynb"
    nbformat.write(nb, str(path))
    assert "cannot contain null bytes" in error_for(path)


@pytest.mark.parametrize("source", ["(" * 100_000, "-" * 200_000 + "1", "1" + "+1" * 200_000],
                         ids=["parentheses", "unary", "binary"])
def test_pathologically_nested_source(tmp_path, source):
    message = error_for(write(tmp_path / "optimizers.py", source.encode()))
    assert "syntax error" in message or "nested too deeply" in message


def test_deeply_nested_notebook_json(tmp_path):
    assert "is not a notebook" in error_for(write(tmp_path / "hw.ipynb", b"[" * 1_000_000))


def test_hostile_member_names_cannot_break_the_message(tmp_path):
    names = ["a\nFAKE: all tests passed\n.py", "\x1b[2J\x1b[31mb.py", "c" * 5000 + ".py"]
    path = write(tmp_path / "uma.zip", zip_bytes({name: "x = 1" for name in names}))
    message = error_for(path)  # checks: one line, no ESC
    assert "several candidate files" in message and len(message) <= 400


# ---------------------------------------------------------------- a notebook with 10,000 cells


def ten_thousand_cell_notebook() -> dict:
    """Markdown and code cells (IPython magics and help included), no outputs; how fast it
    loads is benchmarks/bench_load.py's figure, not a test's."""
    cells = []
    for i in range(10_000):
        if i % 3 == 0:
            cells.append({"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": f"## step {i}"})
        else:
            source = f"x{i} = {i}\n%time x{i} + 1\nx{i}?" if i % 3 == 1 else f"def f{i}(theta):\n    return theta\n"
            cells.append({"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": source,
                          "outputs": [], "execution_count": None})
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def test_ten_thousand_cell_notebook_loads(tmp_path):
    path = write(tmp_path / "big.ipynb", json.dumps(ten_thousand_cell_notebook()).encode())
    sub = load_submission(path, "optimizers")
    assert len(sub.line_map) == 6666 and sub.source.count("\n") == 3333 * 3 + 3333 * 2
    assert sub.location(sub.source.count("\n")) == "cell 9999, line 2"  # the last cell is markdown
