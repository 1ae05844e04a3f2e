"""Numeric failures say how close: worst absolute and relative error, where (in the contract's
names), against what tolerance, and for a near miss the cause the check can tell.

Real mutants of the solutions (tests/submissions/variants.py `NEAR_MISSES`) are run in-process
through the probe's own handlers and judged by the grader's `score_question`, on the public and
the hidden cases, whose messages students see too: they say the band of the error against the
tolerance and the cause, never a size or a place, which the answer could choose so as to spell
the hidden values (`Verdict.hidden`).
"""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pytest

from autograder.grading.collect import decode
from autograder.grading.compare import score_question
from autograder.grading.prepare import Plan, make_plan
from autograder.questions import ASSIGNMENTS
from autograder.result import QuestionResult
from autograder.wire import CallOutput, Raised
from tests.conftest import REPO
from tests.submissions.variants import NEAR_MISSES
from tests.unit.private_runtime import arrays as new_arrays
from tests.unit.private_runtime import handle, runtime

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
MUTANTS = {v.name: v for v in NEAR_MISSES}


def function_env(assignment_id: str, qid: str, replace: dict[str, str] | None = None) -> dict:
    """numpy and the solution's cell that defines `qid` (or the mutant's source): no other cell
    runs, so 02's Keras cells are not imported for a numpy function."""
    env: dict = {"np": np, "__name__": "__main__"}
    for cell in nbformat.read(REPO / "solutions" / f"{assignment_id}.ipynb", 4).cells:
        if cell.cell_type == "code" and re.search(rf"^def {qid}\(", cell.source, re.M):
            exec(compile((replace or {}).get(qid, cell.source), f"<{qid}>", "exec"), env)
    assert qid in env
    return env


def outputs(env: dict, plan: Plan, qid: str) -> dict[str, CallOutput]:
    """What the sandboxed probe would report for the question's calls, by its own handlers."""
    out = {}
    for call in plan.calls():
        if not call["id"].startswith(f"{qid}/"):
            continue
        arrays = new_arrays()
        try:
            result = handle(env, call, plan.inputs, arrays)
        except Exception as exc:  # noqa: BLE001 - the code's exception is its answer
            out[call["id"]] = CallOutput(Raised(type(exc).__name__, runtime()["safe"].text(exc, 500)))
            continue
        value = decode(json.loads(runtime()["safe"].dumps(result["value"])), arrays.store)
        out[call["id"]] = CallOutput(value, bool(result.get("modified_input")))
    return out


def graded(name: str, seed: int = 7) -> QuestionResult:
    variant = MUTANTS[name]
    (qid,) = variant.lost
    assignment = ASSIGNMENTS[variant.assignment]
    plan = make_plan(assignment, seed=seed)
    reference = outputs(function_env(variant.assignment, qid), plan, qid)
    student = outputs(function_env(variant.assignment, qid, variant.replace), plan, qid)
    return score_question(assignment.question(qid), plan, student, reference)


def failures(result: QuestionResult) -> list[tuple[bool, str]]:
    """(public, message) of each failed case, a hidden case's declared hint left out (it is the
    question's words for the kind of case, tested in test_compare)."""
    assert result.cases_passed < result.cases_total
    return [(case.public, re.sub(r" \(hint: .*\)$", "", case.message)) for case in result.cases if not case.passed]


SIZES = re.compile(
    r"wrong values: worst error \d\.?\d*(e-\d+)? \(relative \d\.?\d*(e-\d+)?\) at (?P<where>[^,]+(, [^,]+)*?), "
    r"(?P<times>[\d.,]+)x the tolerance \(rtol (?P<rtol>\S+), atol (?P<atol>\S+)\)"
)
BAND = re.compile(
    r"wrong values(?P<name> in \S+)?: (?P<band>within 10x|10x to 100x|100x to 10,000x|more than 10,000x) "
    r"the tolerance \(rtol (?P<rtol>\S+), atol (?P<atol>\S+)\)"
)
NUMBER = re.compile(r"\d\.\d|e-\d|\[\d")  # a size or an index: never in a hidden case's message


def test_adam_in_float32_is_a_near_miss_of_float32_arithmetic():
    """The issue's example: adam_step in float32, a few to a few dozen times the tolerance off."""
    messages = failures(graded("adam_in_float32"))
    assert any(not public for public, _ in messages)
    for public, message in messages:
        assert message.startswith("theta from step "), message
        if not public:
            found = BAND.search(message)
            assert found and found["band"] in ("within 10x", "10x to 100x"), message
            assert not NUMBER.search(message.replace("rtol 1e-06, atol 1e-10", "")), message
            assert found["rtol"] == "1e-06" and found["atol"] == "1e-10"
        else:
            found = SIZES.search(message)
            assert found, message
            assert found["rtol"] == "1e-06" and found["atol"] == "1e-10"
            assert re.fullmatch(r"step \d+(, theta\[\d+(, \d+)*\])?", found["where"]), message
            assert float(found["times"].replace(",", "")) <= 100
        assert message.endswith(": a near miss; float32 arithmetic reproduces it: compute in float64"), message


def test_an_epsilon_outside_the_root_says_how_close_with_no_wrong_cause():
    """sqrt(var) + eps: 50-75x the tolerance where the variance is about 1 (a near miss), far off
    where it is small; sizes and place are given either way, and it is not blamed on a lower
    precision (the check cannot tell an epsilon's place without the exercise's formula)."""
    messages = failures(graded("batch_norm_inference_epsilon_outside_the_root"))
    assert any(not public for public, _ in messages)  # hidden cases say it too
    near = 0
    for public, message in messages:
        assert "float32" not in message and "float16" not in message
        if not public:
            found = BAND.search(message)
            assert found and found["rtol"] == "1e-05" and found["atol"] == "1e-07", message
            close = found["band"] in ("within 10x", "10x to 100x")
            assert message.endswith(": a near miss") == close, message
            near += close
            continue
        found = SIZES.search(message)
        assert found, message
        assert found["rtol"] == "1e-05" and found["atol"] == "1e-07"
        assert re.fullmatch(r"\[\d+, \d+\]", found["where"]), message
        times = float(found["times"].replace(",", ""))
        assert message.endswith(": a near miss") == (times <= 100), message
        near += times <= 100
    assert 0 < near < len(messages)


def test_an_epoch_count_one_off_is_named_by_the_contracts_names():
    messages = failures(graded("early_stopping_counts_epochs_from_1"))
    assert any(not public for public, _ in messages)
    for _, message in messages:
        assert re.fullmatch(
            r"wrong values?: (stopped_epoch, best_epoch|stopped_epoch|best_epoch) "
            r"\(one more than expected: a count or an index one off\?\)",
            message,
        ), message


def test_float32_is_told_only_when_float32_reproduces_it():
    """The cause is tested, not guessed: values off by more than float32 leaves are no near miss
    of float32, and float64 values a little off are a near miss of nothing named."""
    from autograder.judging.checks import lower_precision

    rng = np.random.default_rng(0)
    exp = rng.normal(size=50)
    assert lower_precision(exp.astype(np.float32).astype(float), exp, None) == "float32"
    assert lower_precision(exp.astype(np.float16).astype(float), exp, None) == "float16"
    assert lower_precision(exp * (1 + 3e-6), exp, None) is None
    off = (exp * (1 + 3e-5)).astype(np.float32)
    assert lower_precision(off.astype(float), exp, off) is None
