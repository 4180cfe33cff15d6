"""The checks of every assignment add up: points per function, public coverage, baked answers."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from grader.build import INVENTORY, collect_checks, inventory
from grader.checking import BakedReference, GraderPlugin, run_checks
from grader.course import Course

sys.path.insert(0, str(Path(__file__).parent))
from checks_harness import student_probes  # noqa: E402

ASSIGNMENTS = [a.id for a in Course(Path(__file__).resolve().parents[1]).assignments()]


def points_by_function(records) -> dict[str, float]:
    points: dict[str, float] = defaultdict(float)
    for record in records:
        points[record.function] += record.points
    return dict(points)


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_hidden_points_of_each_function_sum_to_its_part(course, assignment_id):
    assignment = course.get(assignment_id)
    points = points_by_function(collect_checks(assignment.hidden_checks))
    assert points == {part.function: part.points for part in assignment.parts}


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_every_function_has_public_checks_and_nothing_else(course, assignment_id):
    assignment = course.get(assignment_id)
    public = points_by_function(collect_checks(assignment.public_checks))
    assert set(public) == set(assignment.functions)


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_every_check_has_a_title_and_several_checks_cover_each_function(course, assignment_id):
    assignment = course.get(assignment_id)
    records = collect_checks(assignment.hidden_checks)
    assert all(r.title.split(": ", 1)[1] and not r.title.endswith(r.nodeid) for r in records)
    counts = defaultdict(int)
    for record in records:
        counts[record.function] += 1
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_committed_inventory_matches_the_checks(course, assignment_id):
    assignment = course.get(assignment_id)
    committed = json.loads((assignment.public_checks / INVENTORY).read_text(encoding="utf-8"))
    assert committed == inventory(assignment)


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_baked_answers_serve_every_public_check(course, assignment_id):
    """A student bundle has no reference: with the reference as the student, every public
    check passes against the baked answers alone (none is missing or stale)."""
    from grader.grade import PUBLIC_EXPECTED, reference_module

    assignment = course.get(assignment_id)
    baked = BakedReference(assignment.public_checks / PUBLIC_EXPECTED)
    plugin = GraderPlugin(student_probes(reference_module(assignment)), baked, seed_material="public",
                          per_student_seed=False)
    records = run_checks(assignment.public_checks, plugin)
    assert not plugin.collection_errors
    assert [(r.title, r.status, r.internal_error) for r in records if r.status != "passed"] == []


def test_same_named_check_files_of_two_assignments_do_not_shadow_each_other(course):
    """Both assignments have a checks/test_public.py; one process (batch grading, this suite)
    must run each assignment's own file."""
    for _ in range(2):
        for assignment in course.assignments():
            functions = set(points_by_function(collect_checks(assignment.public_checks)))
            assert functions == set(assignment.functions), assignment.id
