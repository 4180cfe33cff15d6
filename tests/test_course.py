"""Course discovery and `grader list`."""
from __future__ import annotations

import pytest

from conftest import run_grader
from grader.course import Course, CourseError


def test_list_prints_both_assignments_with_parts_and_points(course):
    completed = run_grader("list")
    assert completed.returncode == 0, completed.stderr
    for assignment in course.assignments():
        assert assignment.id in completed.stdout
        for part in assignment.parts:
            assert part.function in completed.stdout
    assert {"sigmoid_neuron", "optimizers"} <= {a.id for a in course.assignments()}


def test_parts_follow_the_handout_order(optimizers, sigmoid_neuron):
    assert optimizers.functions[:3] == ["gd_step", "momentum_step", "nag_step"]
    assert optimizers.functions[-1] == "line_search_step"
    assert sigmoid_neuron.functions[0] == "sigmoid"
    assert sigmoid_neuron.functions[-1] == "gradient_descent"


def test_unknown_assignment_is_a_one_line_usage_error():
    completed = run_grader("grade", "no_such_assignment", "x.py")
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0
    assert "unknown assignment 'no_such_assignment'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_course_is_found_from_a_subfolder(course):
    assert Course.find(course.root / "assignments" / "optimizers").root == course.root


def test_broken_assignment_toml_is_reported(tmp_path):
    folder = tmp_path / "assignments" / "bad"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text("module = \n", encoding="utf-8")
    with pytest.raises(CourseError, match="invalid TOML"):
        Course(tmp_path).get("bad")
