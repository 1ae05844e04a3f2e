"""autograder.result: the versioned JSON schema of a grading result."""

from __future__ import annotations

import json

import pytest

from autograder.result import SCHEMA_VERSION, CaseResult, Execution, QuestionResult, Result, TimeLimits


def sample(execution=True, error=None) -> Result:
    return Result(
        assignment="05_regularisation", submission="smith_05.ipynb", student="smith", score=2.5, max_score=12.0,
        seed=1234, grader_version="0.1.0", sandboxed=True,
        questions=(
            QuestionResult("l1_penalty", 1.0, 1.0, "passed", 4, 4),
            QuestionResult("augment", 1.5, 2.0, "partial", 3, 4, ("hidden case 'max_shift 3': wrong dtype",),
                           (CaseResult("public-1", True, True, "400 images"),
                            CaseResult("hidden-1", False, False, "max_shift 3", "wrong dtype"))),
        ),
        execution=Execution(12.5, False, False, False, 1, ("cell:3",),
                            ({"cell": 4, "status": "error", "ename": "NameError", "evalue": "x"},),
                            TimeLimits(60.0, 30.0, 30.0, 0.5, 0.01, 0.003, 5.0, 30.0))
        if execution else None,
        error=error, settings_hash="0" * 64,
    )


@pytest.mark.parametrize("result", [sample(), sample(execution=False, error="sub.ipynb: the file is empty")])
def test_json_round_trip(result):
    text = result.to_json()
    doc = json.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION
    back = Result.from_dict(doc)
    assert back == result
    assert back.to_json() == text
    assert isinstance(back.questions, tuple) and isinstance(back.questions[1].cases[0], CaseResult)
    assert isinstance(back.questions[1].feedback, tuple)
    if result.execution:
        assert isinstance(back.execution, Execution) and isinstance(back.execution.skipped, tuple)
        assert isinstance(back.execution.limits, TimeLimits) and doc["execution"]["limits"]["cell_seconds"] == 30.0


def test_to_json_is_deterministic_and_plain():
    doc = json.loads(sample().to_json())
    assert list(doc) == sorted(doc)
    assert doc["questions"][1]["cases"][1] == {"id": "hidden-1", "public": False, "passed": False,
                                                "description": "max_shift 3", "message": "wrong dtype"}


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 0, None, "1"])
def test_wrong_schema_version_is_rejected(version):
    doc = sample().to_dict()
    doc["schema_version"] = version
    with pytest.raises(ValueError, match="schema"):
        Result.from_dict(doc)


def test_missing_schema_version_is_rejected():
    doc = sample().to_dict()
    del doc["schema_version"]
    with pytest.raises(ValueError):
        Result.from_dict(doc)


def test_results_differ_when_a_field_differs():
    doc = sample().to_dict()
    doc["questions"][0]["score"] = 0.5
    assert Result.from_dict(doc) != sample()
