"""load_submission: the happy paths (module, notebook, folder, zip) and ordinary user mistakes.

Hostile files (zip-slip, bombs, symlinks, devices, huge files) are in test_load_hostile.py.
"""
import hashlib
import shutil
import json
import warnings
import zipfile
from pathlib import Path

import nbformat
import nbformat.v4 as v4
import pytest

from grader.ids import student_id
from grader.load import Submission, SubmissionError, load_submission

MODULE = "def adam_step(theta):\n    return theta\n"


def error_for(path, module_name="optimizers") -> str:
    """The SubmissionError message for `path`, checked to be one line naming the file."""
    with pytest.raises(SubmissionError) as info:
        load_submission(path, module_name)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert Path(path).name in message, message
    return message


def write_notebook(path: Path, *cells) -> Path:
    """Cells are strings: "md:..." for markdown, anything else is a code cell."""
    nb = v4.new_notebook()
    for cell in cells:
        nb.cells.append(v4.new_markdown_cell(cell[3:]) if cell.startswith("md:") else v4.new_code_cell(cell))
    nbformat.write(nb, str(path))
    return path


def write_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# ---------------------------------------------------------------- module files


def test_module_file(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(MODULE)
    sub = load_submission(path, "optimizers")
    assert sub == Submission(source=MODULE, module_name="optimizers", origin=path, kind="module",
                             content_hash=hashlib.sha256(MODULE.encode()).hexdigest())
    assert sub.line_map is None and sub.notebook_path is None
    assert sub.location(7) == "line 7"


def test_module_with_any_name_and_str_path(tmp_path):
    path = tmp_path / "my_work.PY"
    path.write_text(MODULE)
    sub = load_submission(str(path), "optimizers")
    assert sub.source == MODULE and sub.origin == path and sub.module_name == "optimizers"


def test_content_hash_is_stable_and_follows_the_code(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(MODULE)
    first = load_submission(path, "optimizers").content_hash
    assert load_submission(path, "optimizers").content_hash == first
    path.write_text(MODULE.replace("theta\n", "theta * 2\n"))
    assert load_submission(path, "optimizers").content_hash != first


def test_utf8_bom_is_allowed_and_stripped(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_bytes(b"\xef\xbb\xbf" + "# é\n".encode() + MODULE.encode())
    assert load_submission(path, "optimizers").source == "# é\n" + MODULE


def test_module_name_must_be_an_identifier(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text(MODULE)
    with pytest.raises(ValueError):
        load_submission(path, "not-a-module")


# ---------------------------------------------------------------- notebooks


def test_notebook_code_cells_only_with_ipython_lines_blanked(tmp_path):
    path = write_notebook(
        tmp_path / "hw.ipynb",
        "md:# Adam",
        "%matplotlib inline\nimport numpy as np\n!pip install numpy\n  %time x = 1",
        "np.zeros?\n?np.ones\nnp.array??\nx = 2",
        "%%bash\necho not python",
        "  \n%%timeit\nslow()",  # a cell magic after blank lines is still a cell magic
        "md:text",
        "def f():\n    return 3\n",
    )
    sub = load_submission(path, "optimizers")
    assert sub.kind == "notebook" and sub.notebook_path == path and sub.origin == path
    assert sub.source == "\nimport numpy as np\n\n\n" "\n\n\nx = 2\n" "def f():\n    return 3\n"
    # cell numbers count every cell from the top, as the student sees them
    assert sub.line_map == ((1, 4, 2), (5, 8, 3), (9, 10, 7))
    assert [sub.location(n) for n in (1, 4, 5, 8, 9, 10)] == [
        "cell 2, line 1", "cell 2, line 4", "cell 3, line 1", "cell 3, line 4", "cell 7, line 1", "cell 7, line 2"]
    assert sub.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_notebook_keeps_percent_lines_that_are_python(tmp_path):
    # "% 7" continues an expression and "!x" sits in a string: the cell is valid as written
    cell = 'total = (10\n         % 7)\ndoc = """\n!x\n"""'
    sub = load_submission(write_notebook(tmp_path / "hw.ipynb", cell), "optimizers")
    assert sub.source == cell + "\n"


def test_notebook_source_as_list_of_lines(tmp_path):
    nb = v4.new_notebook(cells=[v4.new_code_cell("x = 1\ny = 2\n")])
    raw = json.loads(nbformat.writes(nb))
    raw["cells"][0]["source"] = ["x = 1\n", "y = 2\n"]
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(raw))
    assert load_submission(path, "optimizers").source == "x = 1\ny = 2\n"


def test_notebook_version_3_is_converted(tmp_path, caplog):
    import nbformat.v3 as v3

    nb = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[v3.new_code_cell(input="x = 1"),
                                                            v3.new_text_cell("markdown", source="hi")])])
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(nb, version=3))
    assert load_submission(path, "optimizers").source == "x = 1\n"
    assert caplog.records == []


def test_notebook_syntax_error_names_cell_and_line(tmp_path):
    path = write_notebook(tmp_path / "hw.ipynb", "md:intro", "x = 1", "%load_ext foo\ny = 2\ndef f(:\n    pass")
    assert error_for(path) == f"syntax error in {path} cell 3, line 3: invalid syntax"


def test_notebook_indentation_error_line_reference_is_mapped(tmp_path):
    path = write_notebook(tmp_path / "hw.ipynb", "a = 1\nb = 2", "if a:\nb = 3")
    message = error_for(path)
    assert message.startswith(f"syntax error in {path} cell 2, line 2: expected an indented block")
    assert "on cell 2, line 1" in message


def test_notebook_without_code(tmp_path):
    path = write_notebook(tmp_path / "hw.ipynb", "md:only words", "%%bash\nls", "%pwd\n")
    assert "has no code cells" in error_for(path)


def test_loading_prints_and_warns_nothing(tmp_path, capfd):
    # SyntaxWarning at compile time and nbformat's missing-cell-id warning must stay inside
    nb = json.loads(nbformat.writes(v4.new_notebook(cells=[v4.new_code_cell('x = 1 is 1\ny = "\\d"')])))
    del nb["cells"][0]["id"]
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(nb))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_submission(path, "optimizers")
    assert caught == []
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("content, expected", [
    ('{"cells": [', "invalid JSON at line 1, column 12"),
    ("[1, 2]", "is not a Jupyter notebook"),
    ('{"cells": []}', "is not a Jupyter notebook"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "is not a valid notebook: 'cells' is not a list"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [1]}', "'cells' is not a list of cells"),
    ('{"nbformat": 4, "nbformat_minor": 5, "cells": []}', "is not a valid notebook: 'metadata' is a required"),
    ('{"nbformat": 99, "nbformat_minor": 0, "metadata": {}, "cells": []}', "only 3 and 4 are supported"),
    ('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}}', "is not a valid notebook: 'worksheets' is a required"),
])
def test_notebook_that_is_not_a_notebook(tmp_path, content, expected, caplog, capfd):
    path = tmp_path / "hw.ipynb"
    path.write_text(content)
    assert expected in error_for(path)
    assert caplog.records == [] and capfd.readouterr() == ("", "")  # nbformat logs instead of raising


def test_notebook_schema_error_names_the_cell(tmp_path):
    raw = json.loads(nbformat.writes(v4.new_notebook(cells=[v4.new_code_cell("x = 1"), v4.new_code_cell("y")])))
    raw["cells"][1]["source"] = 42
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(raw))
    assert "is not a valid notebook (cell 2)" in error_for(path)


# ---------------------------------------------------------------- folders


def test_folder_with_one_module(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "solution.py").write_text(MODULE)
    sub = load_submission(folder, "optimizers")
    assert (sub.kind, sub.source, sub.origin, sub.notebook_path) == ("folder", MODULE, folder, None)
    assert sub.content_hash == hashlib.sha256(MODULE.encode()).hexdigest()  # same code, same hash


def test_folder_prefers_module_name_and_ignores_noise(tmp_path):
    folder = tmp_path / "alice"
    for name in ("helpers.py", "optimizers.py", "test_optimizers.py", ".hidden.py",
                 "__pycache__/optimizers.cpython-311.py", ".ipynb_checkpoints/optimizers-checkpoint.ipynb",
                 "notes.txt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(MODULE if name == "optimizers.py" else "x = 1\n")
    assert load_submission(folder, "optimizers").source == MODULE


def test_folder_with_the_notebook(tmp_path):
    folder = tmp_path / "bob"
    folder.mkdir()
    write_notebook(folder / "optimizers.ipynb", "%matplotlib inline\nx = 1")
    (folder / "scratch.py").write_text("y = 2\n")
    sub = load_submission(folder, "optimizers")
    assert (sub.kind, sub.source, sub.notebook_path) == ("folder", "\nx = 1\n", folder / "optimizers.ipynb")
    assert sub.line_map == ((1, 2, 1),)


def test_folder_wrapped_in_single_subfolders(tmp_path):
    inner = tmp_path / "carol" / "submission" / "code"
    inner.mkdir(parents=True)
    (inner / "optimizers.py").write_text(MODULE)
    (tmp_path / "carol" / ".DS_Store").write_text("junk")
    assert load_submission(tmp_path / "carol", "optimizers").source == MODULE


def test_folder_with_several_candidates_lists_them(tmp_path):
    folder = tmp_path / "dave"
    folder.mkdir()
    for name in ("a.py", "b.py", "c.ipynb"):
        (folder / name).write_text("x = 1\n")
    message = error_for(folder)
    assert "several candidate files (a.py, b.py, c.ipynb)" in message and "optimizers.py" in message


def test_folder_with_both_module_and_notebook_is_ambiguous(tmp_path):
    folder = tmp_path / "erin"
    folder.mkdir()
    (folder / "optimizers.py").write_text(MODULE)
    write_notebook(folder / "optimizers.ipynb", "x = 1")
    assert "optimizers.ipynb, optimizers.py" in error_for(folder)


@pytest.mark.parametrize("layout", [[], ["notes.txt", "test_optimizers.py"], ["a/x.py", "b/y.py"]])
def test_folder_without_a_candidate(tmp_path, layout):
    folder = tmp_path / "frank"
    folder.mkdir()
    for name in layout:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x = 1\n")
    assert "no .py or .ipynb file in" in error_for(folder)


# ---------------------------------------------------------------- zips


@pytest.mark.parametrize("prefix", ["", "alice/", "alice/optimizers_hw/"])
def test_zip_with_or_without_top_directory(tmp_path, prefix):
    path = write_zip(tmp_path / "alice.zip", {
        f"{prefix}optimizers.py": MODULE, f"{prefix}README.md": "hi", f"{prefix}test_optimizers.py": "x=1",
        f"__MACOSX/{prefix}._optimizers.py": b"\x00\x05\x16\x07binary",
    })
    sub = load_submission(path, "optimizers")
    assert (sub.kind, sub.source, sub.origin, sub.notebook_path) == ("zip", MODULE, path, None)
    assert sub.content_hash == hashlib.sha256(MODULE.encode()).hexdigest()


def test_zip_with_a_notebook(tmp_path):
    nb = write_notebook(tmp_path / "hw.ipynb", "md:hi", "!ls\nx = 1")
    path = write_zip(tmp_path / "bob.zip", {"bob/optimizers.ipynb": nb.read_bytes()})
    sub = load_submission(path, "optimizers")
    assert (sub.kind, sub.source, sub.line_map, sub.notebook_path) == ("zip", "\nx = 1\n", ((1, 2, 2),), None)


def test_zip_errors_name_the_member(tmp_path):
    path = write_zip(tmp_path / "carol.zip", {"carol/optimizers.py": "def f(:\n"})
    assert error_for(path) == f"syntax error in {path}:carol/optimizers.py line 1: invalid syntax"


def test_zip_with_several_candidates(tmp_path):
    path = write_zip(tmp_path / "dave.zip", {"dave/a.py": "x=1", "dave/b.py": "x=2"})
    assert "(in dave) holds several candidate files (a.py, b.py)" in error_for(path)


def test_zip_without_candidate(tmp_path):
    path = write_zip(tmp_path / "erin.zip", {"erin/report.pdf": "%PDF"})
    assert "no .py or .ipynb file in" in error_for(path)


# ---------------------------------------------------------------- ordinary mistakes


def test_missing_path(tmp_path):
    assert error_for(tmp_path / "nope.py") == f"no such file or folder: {tmp_path / 'nope.py'}"


@pytest.mark.parametrize("content", [b"", b"  \n\n\t", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "optimizers.py"
    path.write_bytes(content)
    assert error_for(path) == f"{path} is empty"


def test_empty_notebook_file(tmp_path):
    path = tmp_path / "hw.ipynb"
    path.write_bytes(b"")
    assert error_for(path) == f"{path} is empty"


def test_syntax_error_in_module_gives_the_line(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_text("x = 1\n\ndef f(theta)\n    return theta\n")
    assert error_for(path) == f"syntax error in {path} line 3: expected ':'"


def test_non_utf8_source_gives_byte_offset(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_bytes("# caf".encode() + "é".encode("latin-1") + b"\nx = 1\n")
    assert error_for(path) == (f"{path} is not UTF-8 text: invalid byte 0xe9 at byte offset 5; save it as UTF-8")


def test_non_utf8_offset_counts_the_bom(tmp_path):
    path = tmp_path / "optimizers.py"
    path.write_bytes(b"\xef\xbb\xbfx = '\xff'\n")
    assert "invalid byte 0xff at byte offset 8" in error_for(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "optimizers.txt"
    path.write_text(MODULE)
    assert error_for(path) == f"{path} is not a .py, .ipynb or .zip file"


# ---------------------------------------------------------------- student ids


def test_student_id_is_the_name_without_extension(tmp_path):
    (tmp_path / "carol.v2.py").mkdir()  # a folder keeps its name as is
    assert student_id("cohort/alice.zip") == "alice"
    assert student_id(Path("cohort/bob.PY")) == "bob"
    assert student_id("dave.ipynb") == "dave"
    assert student_id(tmp_path / "carol.v2.py") == "carol.v2.py"
    assert student_id(tmp_path / "erin") == "erin"
    assert student_id("frank.tar.gz") == "frank.tar.gz"


# ---------------------------------------------------------------- read here, load elsewhere


def _entries(tmp_path: Path) -> list[Path]:
    module = tmp_path / "alice.py"
    module.write_text(MODULE)
    notebook = write_notebook(tmp_path / "bob.ipynb", "md:# Adam", "import numpy as np", MODULE)
    folder = tmp_path / "carol"
    (folder / "inner").mkdir(parents=True)
    write_notebook(folder / "inner" / "optimizers.ipynb", MODULE)
    (folder / "inner" / "notes.txt").write_text("not graded")
    archive = write_zip(tmp_path / "dave.zip", {"dave/optimizers.py": MODULE, "dave/README.md": "hi"})
    broken = tmp_path / "erin.py"
    broken.write_text("def adam_step(:\n")
    return [module, notebook, folder, archive, broken]


def test_a_submission_read_into_memory_loads_as_its_path_does_after_the_files_are_gone(tmp_path):
    """A batch reads each entry on the instructor's machine and a worker elsewhere loads it:
    the same Submission (origin and notebook path name the instructor's files) and the same
    one-line error, with no file left to read."""
    from grader.load import read_submission_file

    entries = _entries(tmp_path)
    expected = []
    for path in entries:
        try:
            expected.append(load_submission(path, "optimizers"))
        except SubmissionError as exc:
            expected.append((str(exc), exc.detail))
    read = [read_submission_file(path, "optimizers") for path in entries]
    shutil.rmtree(tmp_path)
    got = []
    for file in read:
        try:
            got.append(load_submission(file, "optimizers"))
        except SubmissionError as exc:
            got.append((str(exc), exc.detail))
    assert got == expected
    assert [s.kind for s in got[:4]] == ["module", "notebook", "folder", "zip"]
    assert got[1].notebook_text and got[2].notebook_path == entries[2] / "inner" / "optimizers.ipynb"
    assert got[4][0].startswith(f"syntax error in {entries[4]} line 1") and "^" in got[4][1]


def test_an_entry_that_cannot_be_read_carries_its_error_to_where_it_is_loaded(tmp_path):
    from grader.load import MAX_SOURCE_BYTES, read_submission_file

    big = tmp_path / "alice.py"
    big.write_bytes(b"#" * (MAX_SOURCE_BYTES + 1))
    link = tmp_path / "bob.py"
    link.symlink_to(big)
    for path in [big, link, tmp_path / "missing.py"]:
        message = error_for(path)
        with pytest.raises(SubmissionError):
            read_submission_file(path, "optimizers")
        file = read_submission_file(path, "optimizers", defer_errors=True)
        assert file.kind == "unreadable" and file.data == b""
        with pytest.raises(SubmissionError) as info:
            load_submission(file, "optimizers")
        assert str(info.value) == message
