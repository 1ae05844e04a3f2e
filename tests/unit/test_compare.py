"""compare: a real plan's cases, outputs made by hand, scored as the grader scores them.

No notebook runs here: the cases come from `make_plan` and the declarations (never written by
hand), the outputs are `collect.CallOutput`s, the plain data collect hands over. Values are
arbitrary arrays, identical on both sides where a student is right: the questions judged on
values pass exactly when the student's output equals the reference's, whatever it is.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from autograder.errors import InfrastructureError
from autograder.grading.compare import compare, score_question
from autograder.grading.prepare import Plan, call_id, make_plan
from autograder.questions import ASSIGNMENTS
from autograder.wire import CallOutput, Raised

FUNCTIONS = "01_activations_and_initialisation"
SEED = 20260101
MARKER = 987654.321  # a value no case uses: if it shows in feedback, a value was shown


def plan_of(assignment_id: str = FUNCTIONS) -> Plan:
    return make_plan(ASSIGNMENTS[assignment_id], SEED)


def value_questions(plan: Plan) -> list:
    return [q for q in plan.assignment.questions if q.compares_values]


def reference_of(plan: Plan) -> dict[str, CallOutput]:
    """One distinct array per case, as the reference solution would have answered."""
    rng = np.random.default_rng(0)
    return {
        call_id(q.id, c.id): CallOutput(rng.normal(size=4))
        for q in plan.assignment.questions
        if q.uses_reference
        for c in plan.cases[q.id]
    }


def ids(plan: Plan, qid: str, public: bool | None = None) -> list[str]:
    return [call_id(qid, c.id) for c in plan.cases[qid] if public is None or c.public == public]


@pytest.mark.parametrize("assignment_id", [FUNCTIONS, "04_optimizers", "05_regularisation"])
def test_full_marks_when_the_student_answers_as_the_reference(assignment_id):
    plan = plan_of(assignment_id)
    reference = reference_of(plan)
    for q in value_questions(plan):
        got = score_question(q, plan, dict(reference), reference)
        assert (got.status, got.score, got.max_score, got.feedback) == ("passed", q.points, q.points, ())
        assert got.cases_passed == got.cases_total == len(plan.cases[q.id]) > 0
        assert any(c.public for c in got.cases) and any(not c.public for c in got.cases)


def test_every_question_of_the_plan_is_scored_once():
    plan = plan_of()
    reference = reference_of(plan)
    results = compare(plan, reference, reference)
    assert [r.id for r in results] == [q.id for q in plan.assignment.questions]


WRONG = CallOutput(np.full(4, MARKER))
# status -> the student's output for the question's i-th case, given the reference's
STATUSES = {
    "missing": lambda i, right: CallOutput(Raised("Missing", "no such function")),
    "timeout": lambda i, right: CallOutput(Raised("Timeout", "call timed out")) if i == 0 else WRONG,
    "error": lambda i, right: CallOutput(Raised("ValueError", "shapes do not broadcast")),
    "failed": lambda i, right: WRONG,
    "partial": lambda i, right: right if i % 2 == 0 else WRONG,
}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_statuses(status):
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("sigmoid")
    student = dict(reference)
    for i, cid in enumerate(ids(plan, q.id)):
        student[cid] = STATUSES[status](i, reference[cid])
    got = score_question(q, plan, student, reference)
    assert got.status == status
    assert got.score == round(q.points * got.cases_passed / len(plan.cases[q.id]), 4)
    assert (got.cases_passed > 0) == (status == "partial")
    if status == "missing":
        assert got.feedback and all("`sigmoid` is not defined" in f for f in got.feedback)


def test_a_case_without_output_is_no_output_not_a_crash():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("relu")
    got = score_question(q, plan, {}, reference)  # the probe wrote nothing at all
    assert (got.status, got.score, got.cases_passed) == ("error", 0.0, 0)


def test_hidden_feedback_never_shows_values():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("elu")
    student = dict(reference, **{cid: WRONG for cid in ids(plan, q.id)})
    got = score_question(q, plan, student, reference)
    hidden = [f for f in got.feedback if f.startswith("hidden case")]
    public = [f for f in got.feedback if f.startswith("public case")]
    assert hidden and public and len(hidden) + len(public) == len(got.feedback)
    hidden_cases = {c.id: c for c in got.cases if not c.public}
    assert hidden == [f"hidden case ({c.description}): {c.message}" for c in hidden_cases.values()]
    for line in hidden:  # one line: the kind of case and what went wrong, no input/expected/got
        assert "\n" not in line and "987654" not in line
    # the public cases do show input, expected and got: that is what the hidden ones leave out
    assert all("input:" in f and "expected:" in f and "987654" in f for f in public)


def test_a_check_that_raises_fails_its_case_visibly():
    plan = plan_of()
    reference = reference_of(plan)

    def broken(ctx):
        raise ZeroDivisionError("the check divided by a student's zero")

    q = dataclasses.replace(plan.assignment.question("relu"), check=broken)
    got = score_question(q, plan, dict(reference), reference)
    assert (got.status, got.score, got.cases_passed) == ("failed", 0.0, 0)
    assert all("could not be checked (ZeroDivisionError)" in c.message for c in got.cases)


def test_a_huge_student_list_is_cut_in_feedback():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("sigmoid")
    first_public = ids(plan, q.id, public=True)[0]
    items = 50_000
    student = dict(reference, **{first_public: CallOutput([float(i) for i in range(items)])})
    got = score_question(q, plan, student, reference)
    (line,) = [f for f in got.feedback if f.startswith("public case")]
    shown = line.split("got:", 1)[1]
    assert f"({items:,} items)" in shown and str(items - 1) not in shown
    assert len(shown) < 2_000


def test_a_reference_without_an_answer_is_the_graders_failure_not_the_students():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("sigmoid")
    broken = dict(reference, **{ids(plan, q.id)[0]: CallOutput(Raised("Timeout", "call timed out"))})
    with pytest.raises(InfrastructureError, match="the reference solution gave no answer"):
        score_question(q, plan, dict(reference), broken)


@pytest.mark.parametrize(
    "raised",
    [
        Raised("ValueError", "LEAK [[-0.2604115222863416, 0.5]]"),
        Raised("LEAK_m6p2604115222863416", "x"),
        Raised("Timeout", "LEAK [[-0.2604115222863416]]"),  # a forged probe can name any type
        Raised("Timeout", "did not return within 2604 s"),  # the probe's own words, numbers and all
    ],
)
def test_a_hidden_case_that_raises_shows_neither_its_message_nor_its_own_class(raised):
    """The student's code saw the hidden inputs and chose the exception's message and class name:
    neither reaches the feedback or the result of a hidden case (the public ones keep them)."""
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("elu")
    student = dict(reference, **{cid: CallOutput(raised) for cid in ids(plan, q.id)})
    got = score_question(q, plan, student, reference)
    hidden = [f for f in got.feedback if f.startswith("hidden case")] + [c.message for c in got.cases if not c.public]
    assert hidden and not any("LEAK" in line for line in hidden), hidden
    if raised.message.startswith("did not return"):  # the probe's own words pass as they are
        assert all("did not return within 2604 s" in line for line in hidden)
    else:
        assert not any("2604" in line for line in hidden), hidden
    public = [f for f in got.feedback if f.startswith("public case")]
    if raised.type == "ValueError":
        assert all("LEAK" in line for line in public)


LEAKY_ANSWERS = [  # answers whose own numbers spell 2604115222863416: a shape, a length, a size
    np.zeros((0, 2604, 1152228, 63416)),
    tuple(range(26)),
    np.full(4, 2604.115222863416),
    [[0.2604115222863416], [1.0, 2.0]],
    "2604115222863416",
]


@pytest.mark.parametrize(("assignment_id", "qid"), [(FUNCTIONS, "elu"), (FUNCTIONS, "clip_by_global_norm")])
def test_a_hidden_case_says_nothing_its_answer_chose(assignment_id, qid):
    """The student's code saw the hidden inputs and chose its answer: a hidden case's message may
    depend on the answer only through words and coarse bands. Every leaky answer's hidden lines
    are free of its digits, and two different wrong answers of a kind read the same."""
    plan = plan_of(assignment_id)
    reference = reference_of(plan)
    q = plan.assignment.question(qid)
    seen: dict[str, set[str]] = {}
    for answer in [*LEAKY_ANSWERS, np.zeros((0, 7, 8))]:
        student = dict(reference, **{cid: CallOutput(answer) for cid in ids(plan, q.id)})
        got = score_question(q, plan, student, reference)
        hidden = [f for f in got.feedback if f.startswith("hidden case")] + [
            c.message for c in got.cases if not c.public
        ]
        assert hidden and not any(d in line for line in hidden for d in ("2604", "1152", "63416")), hidden
        if isinstance(answer, np.ndarray) and answer.size == 0:
            seen.setdefault("empty", set()).update(c.message for c in got.cases if not c.public)
    assert len(seen["empty"]) == 1, seen  # two empty arrays of chosen shapes: one message
