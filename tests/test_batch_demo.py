"""`grader demo`: the bundled cohort is in sync with its generator, and grading it end to end
gives the outcomes each sample submission was written to show."""
from __future__ import annotations

import csv
import filecmp
import importlib.util
import sys
from pathlib import Path

import pytest

from grader.batch.command import demo_cohort
from grader.batch.gradebook import Gradebook
from grader.cli import main
from grader.course import Course
from grader.grade import grade_submission

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("make_cohort", ROOT / "demo" / "make_cohort.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_cohort_equals_a_fresh_generation(tmp_path):
    generator = load_generator()
    generator.write_cohort(tmp_path / "cohort")
    committed = ROOT / "demo" / "cohort"
    comparison = filecmp.dircmp(committed, tmp_path / "cohort", ignore=["__pycache__"])

    def differences(cmp) -> list[str]:
        found = cmp.left_only + cmp.right_only + cmp.funny_files
        found += [name for name in cmp.common_files
                  if not filecmp.cmp(Path(cmp.left) / name, Path(cmp.right) / name, shallow=False)]
        for sub in cmp.subdirs.values():
            found += differences(sub)
        return found

    assert differences(comparison) == [], "run `python demo/make_cohort.py` and commit demo/cohort"


def test_demo_cohort_has_every_kind_of_entry():
    assignment, cohort = demo_cohort(Course(ROOT))
    assert assignment.id == "optimizers"
    entries = sorted(p.name for p in cohort.iterdir())
    assert 25 <= len(entries) <= 40
    assert any(name.endswith(".ipynb") for name in entries)
    assert any(name.endswith(".zip") for name in entries)
    assert any((cohort / name).is_dir() for name in entries)


def test_a_mistake_that_no_longer_applies_fails_loudly():
    generator = load_generator()
    with pytest.raises(SystemExit, match="expected exactly one"):
        generator.replace_once("x = 1\n", "y = 2", "y = 3")


EXPECTED_MISCONCEPTIONS = {
    "hana_sato": "sign_flip", "ivan_petrov": "nag.no_lookahead", "jasmine_lee": "adagrad.no_sqrt",
    "kofi_mensah": "eps_outside_sqrt", "lena_fischer": "rmsprop.no_decay_weight",
    "mateo_garcia": "rmsprop.accumulates", "nadia_rahman": "adam.no_bias_correction",
    "omar_farouk": "adam.t_off_by_one", "priya_nair": "minibatch.drops_last",
    "quinn_obrien": "minibatch.one_step_per_epoch", "elif_yilmaz": "adam.no_bias_correction",
}
CORRECT = ["amara_okafor", "ben_carter", "chen_wei", "diego_ramos", "eva_novak", "farah_haddad",
           "gabriel_silva", "zoe_martin"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    from io import StringIO
    from contextlib import redirect_stdout

    printed = StringIO()
    with redirect_stdout(printed):
        code = main(["demo", "--out", str(out)])
    return code, printed.getvalue(), out


@pytest.mark.slow
def test_demo_grades_the_sample_cohort_as_intended(demo_run):
    code, printed, out = demo_run
    assert code == 0
    assert printed.strip().splitlines()[-1] == f"dashboard: {out / 'index.html'}"
    assignment, cohort = demo_cohort(Course(ROOT))
    with Gradebook(out, assignment.id) as book:
        rows = {row.student: row for row in book.rows()}
        assert len(rows) == len(list(cohort.iterdir()))
        for student in CORRECT:
            assert rows[student].score == assignment.max_score, student
        for student, misconception in EXPECTED_MISCONCEPTIONS.items():
            found = {m for part in book.parts(student) for m in part[4]}
            assert misconception in found, (student, found)
            assert rows[student].score < assignment.max_score
        assert rows["uma_patel"].status == "error" and rows["uma_patel"].error.startswith("syntax error in uma_patel.py")
        assert rows["ruth_adeyemi"].score == 0 and rows["ruth_adeyemi"].status == "graded"
        statuses = {t[2]: t[5] for t in book.tests("victor_hugo")}
        assert "timeout" in [s for name, s in statuses.items() if name.startswith("line_search_step")]
        assert rows["victor_hugo"].score == assignment.max_score - assignment.points_for("line_search_step")
        assert 0 < rows["sam_taylor"].score < rows["tara_singh"].score < assignment.max_score
    html = (out / "index.html").read_text()
    assert "uma_patel" in html and "syntax error in uma_patel.py" in html
    assert "adam.no_bias_correction" in html and 'href="reports/nadia_rahman.html"' in html
    assert (out / "reports" / "nadia_rahman.html").is_file() and (out / "results" / "nadia_rahman.json").is_file()
    grades = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert grades["uma_patel"]["status"] == "error" and "syntax error" in grades["uma_patel"]["error"]


@pytest.mark.slow
@pytest.mark.parametrize("student", ["eva_novak", "farah_haddad", "gabriel_silva", "wen_zhang", "bella_rossi"])
def test_each_stored_result_equals_grading_the_entry_alone(demo_run, student):
    _, _, out = demo_run
    assignment, cohort = demo_cohort(Course(ROOT))
    (entry,) = [p for p in cohort.iterdir() if p.name.split(".")[0] == student]
    alone = grade_submission(assignment, entry, student=student).to_dict()
    with Gradebook(out, assignment.id) as book:
        stored = book.result(student).to_dict()
    for data in (alone, stored):
        data.pop("execution_time")
    assert stored == alone


@pytest.mark.slow
def test_demo_rerun_regrades_nothing(demo_run, capsys):
    _, _, out = demo_run
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "grading 0" in printed and "unchanged" in printed
