"""hidden: the hidden cases' numbers are found in text however they are formatted, and nothing else is."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.grading.compare import score_question
from autograder.grading.hidden import SHOWN_INSTEAD, HiddenValues
from autograder.grading.prepare import call_id, make_plan
from autograder.questions import ASSIGNMENTS
from autograder.wire import CallOutput, Raised

SECRET = -0.2604115222863416


@pytest.mark.parametrize(
    "shown",
    [
        repr(SECRET),
        f"{SECRET:.6g}",
        f"{SECRET:.8f}",
        f"{SECRET:.10e}",
        f"{SECRET:.7E}",
        str(np.float32(SECRET)),
        np.array2string(np.array([SECRET, 1.0]), precision=17),
        "m" + repr(abs(SECRET)).replace(".", "p") + "e00",  # a type name's digits
        "0.260411",  # cut, not rounded
        "260411522286",  # the digits alone
    ],
)
def test_a_hidden_value_is_found_however_it_is_written(shown):
    hidden = HiddenValues([SECRET])
    redacted = hidden.redact(f"raised ValueError: LEAK {shown} here")
    assert SHOWN_INSTEAD in redacted and "260411" not in redacted, redacted


@pytest.mark.parametrize("text", ["0.5", "0.26", "0.2604", "wrong shape: got (3, 4)", "0.260413", "in 5 of 5 cases"])
def test_other_numbers_are_left_alone(text):
    assert HiddenValues([SECRET, 0.5]).redact(text) == text


def test_values_the_public_cases_use_too_are_not_secret():
    assert HiddenValues([SECRET], public=[SECRET]).redact(repr(SECRET)) == repr(SECRET)


def test_a_public_case_that_shows_what_a_hidden_case_saw_is_redacted():
    """A function may keep what a hidden case passed it and return it (or raise it) in a later
    public case: the public line shows every value but the hidden ones."""
    plan = make_plan(ASSIGNMENTS["05_regularisation"], 5)
    rng = np.random.default_rng(0)
    reference = {
        call_id(q.id, c.id): CallOutput(rng.normal(size=3))
        for q in plan.assignment.questions
        if q.uses_reference
        for c in plan.cases[q.id]
    }
    weights = next(c for c in plan.cases["l1_penalty"] if c.description == "2-D weights")
    seen = weights.call.decoded_args(plan.inputs)[0].ravel()
    q = plan.assignment.question("l2_penalty")
    public = call_id(q.id, plan.cases[q.id][0].id)
    student = dict(reference)
    student[public] = CallOutput(Raised("ValueError", "LEAK " + np.array2string(seen, precision=17)))
    got = score_question(q, plan, student, reference)
    text = "\n".join(got.feedback)
    assert "LEAK" in text and SHOWN_INSTEAD in text
    assert not any(f"{v:.6f}"[:8] in text for v in seen), text


def test_a_cells_exception_class_name_is_filtered_as_its_message_is():
    """A failing cell's error is shown with its class's name, which the notebook chooses as freely
    as the message (`type("LEAK_0p260411522286", (Exception,), {})`), and a cell can read the
    job's inputs file: the name is filtered too."""
    import nbformat

    from autograder.grading.grade import shown_cell_errors
    from autograder.result import CellError, CellStatus

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise Leak()")])
    name = "LEAK_" + repr(abs(SECRET)).replace(".", "p")
    (shown,) = shown_cell_errors((CellError(0, CellStatus.ERROR, name, repr(SECRET)),), nb, HiddenValues([SECRET]))
    assert "260411" not in shown.ename + shown.evalue, shown
    assert shown.ename.startswith("LEAK_") and SHOWN_INSTEAD in shown.ename
    honest = CellError(0, CellStatus.ERROR, "ResourceExhaustedError", "OOM when allocating tensor")
    assert shown_cell_errors((honest,), nb, HiddenValues([SECRET]))[0].ename == "ResourceExhaustedError"
