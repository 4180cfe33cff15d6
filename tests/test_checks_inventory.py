"""The checks of every assignment: every part checked, points from assignment.toml split by weight,
public coverage, baked answers."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from grader.build import collect_checks, inventory
from grader.course import INVENTORY
from grader.checking import BakedReference, GraderPlugin, run_checks
from grader.course import Course

sys.path.insert(0, str(Path(__file__).parent))
from checks_harness import student_probes  # noqa: E402

ASSIGNMENTS = [a.id for a in Course(Path(__file__).resolve().parents[1]).assignments()]


def weights_by_function(records) -> dict[str, float]:
    weights: dict[str, float] = defaultdict(float)
    for record in records:
        weights[record.function] += record.weight
    return dict(weights)


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_every_part_has_hidden_checks_and_no_check_judges_another_function(course, assignment_id):
    assignment = course.get(assignment_id)
    weights = weights_by_function(collect_checks(assignment.hidden_checks))
    assert set(weights) == set(assignment.functions) and all(w > 0 for w in weights.values())


def test_points_are_written_once_a_parts_points_are_split_among_its_checks_by_weight(course):
    """assignment.toml is the one place for points: changing a part's points changes its
    checks' points, with no check edited."""
    import dataclasses

    from grader.course import Part
    from grader.grade import check_points

    assignment = course.get("sigmoid_neuron")
    records = collect_checks(assignment.hidden_checks)
    points = check_points(assignment, records)
    for part in assignment.parts:
        own = [r for r in records if r.function == part.function]
        assert sum(points[r.nodeid] for r in own) == pytest.approx(part.points)
        total = sum(r.weight for r in own)
        assert all(points[r.nodeid] == pytest.approx(part.points * r.weight / total) for r in own)
    doubled = dataclasses.replace(assignment, parts=tuple(Part(p.function, 2 * p.points) for p in assignment.parts))
    assert check_points(doubled, records) == pytest.approx({nodeid: 2 * value for nodeid, value in points.items()})
    public = collect_checks(assignment.public_checks)
    assert set(check_points(assignment, public, public_only=True).values()) == {1.0}  # a public check is a test


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_every_function_has_public_checks_and_nothing_else(course, assignment_id):
    assignment = course.get(assignment_id)
    public = weights_by_function(collect_checks(assignment.public_checks))
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
            functions = set(weights_by_function(collect_checks(assignment.public_checks)))
            assert functions == set(assignment.functions), assignment.id
