"""reference: the cache of the solutions' outputs is keyed by everything that could change them.

A stale reference is the one failure a grader cannot see: every student would be judged against
outputs of an older solution, runtime or case list. The sandboxed run itself is replaced here
(`_compute`, `collect.read_outputs`): what is tested is when it runs, not what it computes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.course.config import load_config
from autograder.errors import InfrastructureError
from autograder.grading import jobfolder, reference
from autograder.grading.prepare import call_id, make_plan
from autograder.questions import ASSIGNMENTS
from autograder.wire import CallOutput, Raised
from tests.conftest import REPO

ASSIGNMENT = "04_optimizers"


@pytest.fixture
def course(tmp_path):
    """A course of its own (its solution is edited by the tests) with an empty cache."""
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return load_config(tmp_path, cache_dir=tmp_path / "cache")


def solution(config):
    return reference.solution_path(config, ASSIGNMENT)


def test_the_key_changes_with_the_solution_the_cases_the_runtime_and_the_version(course, tmp_path, monkeypatch):
    plan = make_plan(ASSIGNMENTS[ASSIGNMENT], 7)
    key = reference.cache_key(solution(course), plan)
    assert reference.cache_key(solution(course), make_plan(ASSIGNMENTS[ASSIGNMENT], 7)) == key  # nothing changed

    assert reference.cache_key(solution(course), make_plan(ASSIGNMENTS[ASSIGNMENT], 8)) != key  # other hidden cases

    original = solution(course).read_bytes()
    solution(course).write_bytes(original + b" ")
    assert reference.cache_key(solution(course), plan) != key  # a solution edited, by one byte
    solution(course).write_bytes(original)
    assert reference.cache_key(solution(course), plan) == key

    runtime = tmp_path / "runtime"
    runtime.mkdir()
    copies = tuple(Path(shutil.copy(path, runtime / path.name)) for path in jobfolder.RUNTIME_FILES)
    monkeypatch.setattr(jobfolder, "RUNTIME_FILES", copies)
    assert reference.cache_key(solution(course), plan) == key  # the same files elsewhere
    for path in copies:  # each file the sandbox runs counts (the wire and questions/*_calls.py too)
        before = path.read_bytes()
        path.write_bytes(before + b"\n# changed\n")
        assert reference.cache_key(solution(course), plan) != key, path.name
        path.write_bytes(before)

    monkeypatch.setattr(reference, "__version__", "999.0")
    assert reference.cache_key(solution(course), plan) != key


@pytest.fixture
def runs(monkeypatch):
    """Each sandboxed reference run, recorded instead of made: the cache folder it fills."""
    made = []

    def fake_compute(plan, config, calls, solution, folder, use_sandbox):
        folder.mkdir(parents=True)
        (folder / "probe.json").write_text("{}")
        made.append(folder)

    monkeypatch.setattr(reference, "_compute", fake_compute)
    monkeypatch.setattr(
        reference.collect, "read_outputs", lambda folder, ids, *a, **k: {cid: CallOutput(1.0) for cid in ids}
    )
    return made


def test_the_reference_is_computed_once_and_reused_until_the_solution_changes(course, runs):
    plan = make_plan(ASSIGNMENTS[ASSIGNMENT], 7)
    first = reference.reference_outputs(plan, course, use_sandbox=True)
    wanted = {call_id(q.id, c.id) for q in plan.assignment.questions if q.uses_reference for c in plan.cases[q.id]}
    assert set(first) == wanted and len(runs) == 1
    assert reference.reference_outputs(plan, course, use_sandbox=True) == first
    assert reference.reference_outputs(make_plan(ASSIGNMENTS[ASSIGNMENT], 7), course, use_sandbox=True) == first
    assert len(runs) == 1, "nothing changed, yet the solution ran again"

    solution(course).write_bytes(solution(course).read_bytes() + b" ")
    reference.reference_outputs(plan, course, use_sandbox=True)
    assert len(runs) == 2 and runs[1] != runs[0]


def test_a_damaged_cached_reference_is_removed_not_used(course, runs, monkeypatch):
    plan = make_plan(ASSIGNMENTS[ASSIGNMENT], 7)
    reference.reference_outputs(plan, course, use_sandbox=True)
    monkeypatch.setattr(
        reference.collect,
        "read_outputs",
        lambda folder, ids, *a, **k: {cid: CallOutput(Raised("NoOutput", "gone")) for cid in ids},
    )
    with pytest.raises(InfrastructureError, match="damaged"):
        reference.reference_outputs(plan, course, use_sandbox=True)
    assert not runs[0].exists()


def test_a_missing_solution_names_the_setting():
    config = load_config(REPO, solutions_dir=REPO / "no-such-folder")
    with pytest.raises(InfrastructureError, match="solutions_dir"):
        reference.solution_path(config, ASSIGNMENT)
