"""autograder.result: the versioned JSON schema of a grading result."""

from __future__ import annotations

import json

import pytest

from autograder.result import (
    SCHEMA_VERSION,
    CaseResult,
    CellError,
    CellStatus,
    Execution,
    Isolation,
    QuestionResult,
    QuestionStatus,
    Result,
    TimeLimits,
)


def sample(execution=True, error=None) -> Result:
    return Result(
        assignment="05_regularisation",
        submission="smith_05.ipynb",
        student="smith",
        score=2.5,
        max_score=12.0,
        seed=1234,
        grader_version="0.1.0",
        sandboxed=True,
        questions=(
            QuestionResult("l1_penalty", 1.0, 1.0, "passed", 4, 4),
            QuestionResult(
                "augment",
                1.5,
                2.0,
                "partial",
                3,
                4,
                ("hidden case 'max_shift 3': wrong dtype",),
                (
                    CaseResult("public-1", True, True, "400 images"),
                    CaseResult("hidden-1", False, False, "max_shift 3", "wrong dtype"),
                ),
            ),
        ),
        execution=Execution(
            12.5,
            False,
            False,
            False,
            1,
            ("cell:3",),
            (CellError(4, "error", "NameError", "x"),),
            TimeLimits(60.0, 30.0, 30.0, 0.5, 0.01, 0.003, 5.0, 30.0),
        )
        if execution
        else None,
        error=error,
        settings_hash="0" * 64,
        isolation=Isolation("bwrap", "none", 60001, "cgroup-v1", "cgroup-v1", "cgroup-v1") if execution else None,
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
        assert isinstance(back.isolation, Isolation) and doc["isolation"]["memory"] == "cgroup-v1"


def test_to_json_is_deterministic_and_plain():
    doc = json.loads(sample().to_json())
    assert list(doc) == sorted(doc)
    assert doc["questions"][1]["cases"][1] == {
        "id": "hidden-1",
        "public": False,
        "passed": False,
        "description": "max_shift 3",
        "message": "wrong dtype",
    }


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


def test_isolation_shortfalls_name_every_weaker_part():
    assert Isolation("bwrap", "none", 60001, "cgroup-v2", "cgroup-v1", "cgroup-v1").shortfalls() == ()
    weak = Isolation("none", "host", None, "rlimit", "none").shortfalls()
    assert len(weak) == 6 and any("CPU share" in m for m in weak)
    assert any("network" in m for m in weak) and any("RLIMIT_DATA" in m for m in weak)
    assert any("grader's own user" in m for m in weak)
    assert Isolation("bwrap", "none", 60001, "guard", "cgroup-v1", "cgroup-v1").shortfalls() == (
        "memory bounded by the watchdog's memory guard (polled), not by a cgroup",
    )


def test_run_only_details_stay_out_of_the_json():
    """A cell's traceback, the run's isolation and log are the grader's own details: the schema
    (the JSON) holds none of them, and a result read back still equals the one written."""
    plain = sample()
    detailed = Result(
        **{
            **plain.__dict__,
            "execution": Execution(
                **{
                    **plain.execution.__dict__,
                    "isolation": plain.isolation,
                    "log_tail": "the supervisor's log",
                    "cell_errors": (
                        CellError(4, "error", "NameError", "x", traceback="Traceback (most recent call last)"),
                    ),
                }
            ),
        }
    )
    assert detailed.to_json() == plain.to_json()
    assert detailed.execution.last_traceback == "Traceback (most recent call last)"
    doc = json.loads(detailed.to_json())
    assert doc["execution"]["cell_errors"] == [
        {"cell": 4, "status": "error", "ename": "NameError", "evalue": "x", "name": ""}
    ]
    assert "isolation" not in doc["execution"] and "log_tail" not in doc["execution"]
    assert Result.from_dict(doc) == detailed


def test_statuses_are_read_back_as_enums_and_an_unknown_one_is_refused():
    back = Result.from_dict(json.loads(sample().to_json()))
    assert back.questions[1].status is QuestionStatus.PARTIAL
    assert back.execution.cell_errors[0].status is CellStatus.ERROR
    doc = sample().to_dict()
    doc["execution"]["cell_errors"][0]["status"] = "exploded"
    with pytest.raises(ValueError):
        Result.from_dict(doc)
