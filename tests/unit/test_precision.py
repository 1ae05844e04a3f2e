"""Generated notebooks do not depend on the last bits of one CPU's floating point.

A reference value computed a few ulps apart on another CPU must leave `build --check` in sync,
even where it crosses a rounding boundary of the digits written; a change outside the check's
tolerance must still be reported. Shown on a small notebook built by the real `build` (the
repository's own notebooks: tests/e2e/test_grading.py, with the real reference perturbed).
"""

from __future__ import annotations

import ast
import importlib
import json

import numpy as np
import pytest

from autograder.grading.collect import CallOutput
from autograder.handout.precision import CASES_PREFIX, DRIFT, rounded, same_within_tolerance
from autograder.judging.checks import allclose
from autograder.questions.base import Assignment, Question
from tests.unit.test_build import BAR, FOO, solution_notebook

RTOL, ATOL = 0.0, 1.0  # gradient_ratio_log10's check: the value that drifted
LOG10 = Assignment(
    "99_fake",
    "Fake",
    (
        Question(id="foo", points=1.0, make_public=lambda b: b.call("one", "foo", 1.0), check=allclose(RTOL, ATOL)),
        Question(id="bar", points=1.0, make_public=lambda b: b.call("two", "bar", 2.0), check=allclose(1e-6, 1e-12)),
    ),
)
build_module = importlib.import_module("autograder.handout.build")  # the package exports a function of that name


def ulps(value: float, n: int) -> float:
    for _ in range(abs(n)):
        value = float(np.nextafter(value, np.inf if n > 0 else -np.inf))
    return value


def reference(foo: float, bar: float = 0.1234567891234):
    return lambda plan: {"foo/public-1": CallOutput(np.array(foo)), "bar/public-1": CallOutput(np.array(bar))}


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "ASSIGNMENTS", {"99_fake": LOG10})
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    solution_notebook(solutions, ["import numpy as np", FOO, BAR])
    return solutions, tmp_path / "assignments"


def expected_of(path, question: str) -> float:
    test = json.loads(path.read_text())["metadata"]["otter"]["tests"][question]
    line = next(line for line in test.split("\n") if line.startswith(CASES_PREFIX))
    return json.loads(ast.literal_eval(line[len(CASES_PREFIX) : -1]))[0]["expected"]["$nd"]


def test_values_are_written_with_ten_digits_far_inside_every_tolerance():
    assert rounded(7.02383627950001) == 7.02383628 and rounded(7.02383627949999) == 7.023836279  # the flip seen
    assert rounded(0.1234567891234) == 0.1234567891
    assert rounded(float("nan")) != rounded(float("nan")) and rounded(float("inf")) == float("inf")
    assert abs(7.02383628 - 7.023836279) < DRIFT * ATOL  # so that flip is within the drift allowed


def test_a_few_ulps_across_a_rounding_boundary_stay_in_sync(course):
    solutions, assignments = course
    boundary = 7.0238362795  # written with 10 digits: 7.023836279 just below it, 7.02383628 just above
    below, above = ulps(boundary, -3), ulps(boundary, +3)
    assert rounded(below) != rounded(above)  # the digits written do flip here
    assert build_module.build(solutions, assignments, reference(below)) == [str(assignments / "99_fake.ipynb")]
    committed = (assignments / "99_fake.ipynb").read_bytes()
    assert expected_of(assignments / "99_fake.ipynb", "foo") == rounded(below)
    # the same build on "another CPU": a few ulps up, and the other question's value a few ulps off too
    other_cpu = reference(above, ulps(0.1234567891234, 4))
    assert build_module.build(solutions, assignments, other_cpu, check_only=True) == []
    assert build_module.build(solutions, assignments, other_cpu) == []
    assert (assignments / "99_fake.ipynb").read_bytes() == committed  # in sync: not rewritten


def test_a_change_outside_the_tolerance_is_still_reported(course):
    solutions, assignments = course
    build_module.build(solutions, assignments, reference(7.0238362795))
    drift = [str(assignments / "99_fake.ipynb")]
    assert build_module.build(solutions, assignments, reference(7.0238362795 + 0.5), check_only=True) == drift
    assert build_module.build(solutions, assignments, reference(7.0238362795, 0.1234567891234 * (1 + 1e-6))) == drift
    assert expected_of(assignments / "99_fake.ipynb", "bar") == pytest.approx(0.1234569126, rel=1e-9)


def test_only_expected_values_may_differ():
    def notebook(expected, check=None, text="x"):
        check = check or {"kind": "allclose", "rtol": 0.0, "atol": 1.0, "same_shape": True}
        cases = [{"question": "q", "expected": {"$nd": expected, "dtype": "float64", "shape": []}, "check": check}]
        test = f"import json\nCASES = json.loads({json.dumps(json.dumps(cases))!s})\nprint({text!r})\n"
        return json.dumps({"metadata": {"otter": {"tests": {"q": test}}}, "cells": []})

    assert same_within_tolerance(notebook(7.023), notebook(7.024))
    assert not same_within_tolerance(notebook(7.023), notebook(7.5))  # 0.48 > DRIFT of atol 1
    assert not same_within_tolerance(notebook(7.023), notebook(7.024, text="y"))  # the test's code changed
    exact = {"kind": "exact"}
    assert not same_within_tolerance(notebook(7.023, exact), notebook(7.024, exact))  # no tolerance: exact
    other = {"kind": "allclose", "rtol": 0.0, "atol": 2.0, "same_shape": True}
    assert not same_within_tolerance(notebook(7.023), notebook(7.023, other))  # the check changed
    assert not same_within_tolerance("{", notebook(7.023))
