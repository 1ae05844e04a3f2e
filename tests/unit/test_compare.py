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
from autograder.wire import CallOutput, Raised, Warned

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


def test_cases_that_raise_the_same_error_share_one_line_with_a_count():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("elu")
    raised = CallOutput(Raised("NotImplementedError", "implement elu"))
    student = dict(reference, **{cid: raised for cid in ids(plan, q.id)})
    got = score_question(q, plan, student, reference)
    total = len(plan.cases[q.id])
    assert got.feedback == (
        f"raised NotImplementedError in {total} of {total} cases; public case (a vector of small values): "
        "raised NotImplementedError: implement elu",
    )
    assert all(not c.passed for c in got.cases)


def test_a_missing_function_is_one_line_not_one_per_case():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("relu")
    student = dict(reference, **{cid: CallOutput(Raised("Missing", "x")) for cid in ids(plan, q.id)})
    got = score_question(q, plan, student, reference)
    total = len(plan.cases[q.id])
    assert got.feedback == (
        "`relu` is not defined: did the cell that defines it run without error, and is the name spelled exactly? "
        f"({total} of {total} cases)",
    )


def test_a_failed_hidden_case_names_its_kind_and_the_declared_hint_never_a_value():
    plan = plan_of("05_regularisation")
    reference = reference_of(plan)
    q = plan.assignment.question("l1_penalty")
    hidden = [c for c in plan.cases[q.id] if not c.public]
    student = dict(reference, **{call_id(q.id, c.id): WRONG for c in hidden})
    got = score_question(q, plan, student, reference)
    line = next(f for f in got.feedback if f.startswith("hidden case (2-D weights)"))
    assert "2-D input: a sum over all entries, not a matrix norm" in line
    assert "\n" not in line and "987654" not in line


def test_every_hint_names_a_case_its_question_has():
    """A hint is keyed by a case's exact description: a typo would silently never show. A table of
    hints shared by a family of questions must name a case of one of them."""
    tables: dict[int, tuple[dict, set[str]]] = {}
    for assignment in ASSIGNMENTS.values():
        plan = make_plan(assignment, SEED)
        for q in assignment.questions:
            _, described = tables.setdefault(id(q.hints), (q.hints, set()))
            described |= {c.description for c in plan.cases[q.id]}
    assert any(hints for hints, _ in tables.values())
    for hints, described in tables.values():
        assert set(hints) <= described, set(hints) - described


def test_a_warning_costs_the_case_where_the_contract_promises_none():
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("sigmoid")
    assert q.warning_free
    overflow = (Warned("RuntimeWarning", "overflow encountered in exp", 3),)
    cid = ids(plan, q.id, public=False)[0]
    student = dict(reference, **{cid: CallOutput(reference[cid].value, warnings=overflow)})
    got = score_question(q, plan, student, reference)
    assert got.cases_passed == len(plan.cases[q.id]) - 1
    (line,) = got.feedback
    assert "warned RuntimeWarning: overflow encountered, although" in line  # the kind: NumPy's function is a choice
    assert "3 times" not in line  # a count is a number the notebook's code chooses: not for a hidden case
    # the same warning on a question that promises nothing costs nothing
    other = plan.assignment.question("init_stddev")
    assert not other.warning_free
    oid = ids(plan, other.id)[0]
    student = dict(reference, **{oid: CallOutput(reference[oid].value, warnings=overflow)})
    assert score_question(other, plan, student, reference).feedback == ()


@pytest.mark.parametrize(
    "warned",
    [Warned("LEAK_0_2604115", "overflow encountered in exp"), Warned("RuntimeWarning", "LEAK 0.2604115222863416")],
)
def test_a_warnings_own_text_is_shown_only_in_numpys_words(warned):
    """The student's code chooses a warning's category and message, and it saw the hidden inputs."""
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("sigmoid")
    student = {cid: CallOutput(reference[cid].value, warnings=(warned,)) for cid in ids(plan, q.id)}
    got = score_question(q, plan, student, reference)
    text = " ".join(got.feedback) + " ".join(c.message for c in got.cases)
    assert "LEAK" not in text and "2604" not in text
    assert got.cases_passed == 0


def test_a_hidden_cases_warnings_are_not_a_channel():
    """Which of NumPy's messages a call warns, and in which order, is the notebook's choice (four
    warnings can spell six digits and the exponent of the input, in every hidden case's line).
    A hidden case names its first warning's category and kind only: two answers that differ in the
    rest, or in the first's function, read alike."""
    plan = plan_of()
    reference = reference_of(plan)
    q = plan.assignment.question("sigmoid")
    first = Warned("RuntimeWarning", "overflow encountered in asin")

    def feedback(*rest: str) -> tuple[str, ...]:
        warned = (first, *(Warned("RuntimeWarning", m) for m in rest))
        student = {cid: CallOutput(reference[cid].value, warnings=warned) for cid in ids(plan, q.id)}
        got = score_question(q, plan, student, reference)
        return tuple(f for f in got.feedback if f.startswith("hidden case"))

    one = feedback("underflow encountered in cos", "divide by zero encountered in atan2")
    other = feedback("underflow encountered in exp", "invalid value encountered in scalar frexp")
    assert one and one == other
    assert all("warned RuntimeWarning: overflow encountered and others, although" in line for line in one), one
    assert not any("cos" in line or "atan2" in line for line in one)
    first = Warned("RuntimeWarning", "overflow encountered in scalar exp")  # the first's function: a choice too
    assert feedback() != one and feedback() == tuple(line.replace(" and others", "") for line in one)


def test_a_hidden_dropout_case_does_not_say_its_rate():
    """'expected about 0.61 (1 - rate)' told the hidden rate; the student's share kept, next to a
    bug that keeps `rate`, told it as well."""
    plan = plan_of("05_regularisation")
    q = plan.assignment.question("dropout_train")
    reference = reference_of(plan)
    student = dict(reference)
    for case in plan.cases[q.id]:
        if case.description == "another rate":
            x = case.call.decoded_args(plan.inputs)[0]
            student[call_id(q.id, case.id)] = CallOutput(np.array(x))  # keeps everything
    got = score_question(q, plan, student, reference)
    rates = [c.call.decoded_args(plan.inputs)[1] for c in plan.cases[q.id] if c.description == "another rate"]
    lines = [f for f in got.feedback if f.startswith("hidden case (another rate)")]
    assert lines
    assert not any(f"{r:g}"[1:] in f or f"{1 - r:g}"[1:] in f for r in rates for f in lines), lines


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
            # the declared hint differs per kind of case, not per answer
            seen.setdefault("empty", set()).update(c.message.split(" (hint: ")[0] for c in got.cases if not c.public)
    assert len(seen["empty"]) == 1, seen  # two empty arrays of chosen shapes: one message
