"""autograder.judging.checks: how one case's plain-data output is judged against the reference."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import wire
from autograder.judging.checks import allclose, as_float_array, exact
from autograder.judging.verdict import Case, CaseContext
from autograder.wire import Raised

CASE = Case("public-1", {"type": "call", "function": "f", "args": [], "kwargs": {}}, "a case", True)


def judge(check, expected, got, modified_input=False):
    return check(CaseContext(CASE, {}, expected, got, {"modified_input": modified_input}))


# --- allclose ---------------------------------------------------------------------------------------


def test_allclose_passes_within_tolerance_and_fails_outside():
    exp = np.array([1.0, 2.0, 3.0])
    check = allclose(rtol=1e-6, atol=0)
    assert judge(check, exp, exp * (1 + 5e-7)).passed
    verdict = judge(check, exp, exp * (1 + 5e-6))
    assert not verdict.passed
    assert verdict.message == (
        "wrong values: worst error 1.5e-05 (relative 5e-06) at [2], 5x the tolerance (rtol 1e-06, atol 0): a near miss"
    )


def test_allclose_accepts_lists_and_scalars():
    check = allclose()
    assert judge(check, np.array([1.0, 2.0]), [1.0, 2.0]).passed
    assert judge(check, np.array(0.5), 0.5).passed
    assert judge(check, np.array(0.5), np.float32(0.5)).passed
    assert not judge(check, np.array(0.5), 0.6).passed


def test_allclose_tuple_arity():
    check = allclose()
    exp = (np.array(1.0), np.array([2.0, 3.0]))
    assert judge(check, exp, (1.0, [2.0, 3.0])).passed
    assert judge(check, exp, [1.0, [2.0, 3.0]]).passed  # a list is fine
    verdict = judge(check, exp, (1.0, [2.0, 3.0], 4.0))
    assert not verdict.passed and verdict.message == "should return a tuple of 2 values, returned 3 values"
    verdict = judge(check, exp, np.array([1.0, 2.0]))
    assert not verdict.passed and verdict.message == "should return a tuple of 2 values, returned ndarray"


def test_allclose_tuple_names_the_wrong_item():
    verdict = judge(allclose(), (np.array(1.0), np.array([2.0, 3.0])), (1.0, [2.0, 3.5]))
    assert not verdict.passed and verdict.message.startswith(
        "wrong values: worst error 0.5 (relative 0.17) at returned[1][1],"
    )
    named = allclose(returns=("clipped", "global_norm"))
    exp = ((np.ones((2, 2)), np.ones(3)), np.array(13.0))
    verdict = judge(named, exp, ((np.ones((2, 2)), np.array([1.0, 1.0, 1.1])), 13.0))
    assert verdict.message.startswith("wrong values: worst error 0.1 (relative 0.1) at clipped[1][2], 99,900x the")
    verdict = judge(named, exp, ((np.ones((2, 2)), np.ones(2)), 13.0))
    assert verdict.message == "clipped[1]: wrong shape: got (2,), expected (3,)"
    verdict = judge(named, exp, ((np.ones((2, 2)), np.ones(3)), 13.0 + 1e-4))
    assert verdict.message.startswith("wrong values: worst error 0.0001 (relative 7.7e-06) at global_norm, 7.7x the")
    assert verdict.message.endswith(": a near miss")


def test_allclose_shapes():
    check = allclose()
    verdict = judge(check, np.zeros((2, 3)), np.zeros((3, 2)))
    assert not verdict.passed and verdict.message == "wrong shape: got (3, 2), expected (2, 3)"
    verdict = judge(check, np.zeros(3), np.zeros((1, 3)))
    assert not verdict.passed and "wrong shape" in verdict.message
    # broadcasting allowed only when asked for
    assert judge(allclose(same_shape=False), np.zeros((2, 3)), 0.0).passed
    assert not judge(allclose(same_shape=False), np.zeros((2, 3)), np.zeros(2)).passed


def test_allclose_nan():
    check = allclose()
    verdict = judge(check, np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    assert not verdict.passed and "nan" in verdict.message
    assert judge(check, np.array([1.0, np.nan]), np.array([1.0, np.nan])).passed  # expected nan too
    assert not judge(check, np.array([1.0, np.nan]), np.array([1.0, 0.0])).passed
    assert judge(check, np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf])).passed
    assert not judge(check, np.array([1.0]), np.array([np.inf])).passed


def test_allclose_not_numbers():
    verdict = judge(allclose(), np.array([1.0]), "one")
    assert not verdict.passed and verdict.message == "returned str, expected an array of numbers"
    assert not judge(allclose(), np.array([1.0, 2.0]), [1.0, None]).passed
    assert not judge(allclose(), np.array([[1.0, 2.0]]), [[1.0], [1.0, 2.0]]).passed  # ragged


def test_raised_expected_vs_got():
    check = allclose()
    assert judge(check, Raised("ValueError", "bad"), Raised("ValueError", "other words")).passed
    verdict = judge(check, Raised("ValueError", "bad"), Raised("TypeError", "x"))
    assert not verdict.passed and verdict.message == "raised TypeError, expected ValueError"
    verdict = judge(check, Raised("ValueError", "bad"), np.array(1.0))
    assert not verdict.passed and verdict.message == "should raise ValueError but returned a value"
    verdict = judge(check, np.array(1.0), Raised("ZeroDivisionError", "division by zero"))
    assert not verdict.passed and verdict.message == "raised ZeroDivisionError: division by zero"


def test_modified_input_fails_even_with_right_values():
    check = allclose()
    assert judge(check, np.array([1.0]), np.array([1.0])).passed
    verdict = judge(check, np.array([1.0]), np.array([1.0]), modified_input=True)
    assert not verdict.passed and "modifies its input" in verdict.message


def test_trajectories_report_the_first_wrong_step():
    exp = {"theta": np.array([[1.0, 1.0], [0.5, 0.5], [0.25, 0.25]]), "m": np.zeros((3, 2))}
    got = {"theta": exp["theta"].copy(), "m": exp["m"].copy()}
    check = allclose()
    assert judge(check, exp, got).passed
    got["theta"][2, 1] = 0.3
    verdict = judge(check, exp, got)
    assert not verdict.passed and verdict.message.startswith("theta from step 3: wrong values: worst error 0.05")
    assert "at step 3, theta[1]" in verdict.message
    verdict = judge(check, exp, {"theta": exp["theta"]})
    assert not verdict.passed and "every step" in verdict.message


def test_plain_values_compared_exactly():
    assert judge(allclose(), "relu", "relu").passed
    assert not judge(allclose(), "relu", "elu").passed
    assert judge(allclose(), None, None).passed


# --- exact --------------------------------------------------------------------------------------------


def test_exact_integers_and_tuples():
    check = exact()
    exp = (np.array(4), np.array(2))
    assert judge(check, exp, (np.array(4), np.array(2))).passed
    verdict = judge(check, exp, (np.array(4), np.array(1)))
    assert not verdict.passed
    assert verdict.message == "wrong value: returned[1] (one less than expected: a count or an index one off?)"
    verdict = judge(exact(returns=("stopped_epoch", "best_epoch")), exp, (np.array(4), np.array(5)))
    assert verdict.message == "wrong value: best_epoch"
    verdict = judge(check, exp, (np.array(4),))
    assert not verdict.passed and verdict.message == "should return 2 integers"
    verdict = judge(check, np.array(3), np.array([3, 3]))
    assert not verdict.passed and verdict.message == "wrong type or shape"
    verdict = judge(check, np.array(3), "three")
    assert not verdict.passed
    # exact means exact: no tolerance
    assert not judge(check, np.array(3), np.array(3.0000001)).passed


def test_exact_handles_raised():
    check = exact()
    assert judge(check, Raised("ValueError", ""), Raised("ValueError", "")).passed
    assert not judge(check, Raised("ValueError", ""), (1, 2)).passed
    assert not judge(check, (np.array(1), np.array(2)), Raised("IndexError", "list index")).passed


def test_as_float_array():
    assert as_float_array([1, 2, 3]).dtype == float
    assert as_float_array((np.array(1), 2.5)).tolist() == [1.0, 2.5]
    assert as_float_array(True).tolist() == 1.0
    assert as_float_array("1.0") is None
    assert as_float_array({"a": 1}) is None
    assert as_float_array([[1, 2], [3]]) is None


@pytest.mark.parametrize("value", [np.array([1, 2], dtype=np.uint8), np.array([1.5], dtype=np.float32)])
def test_as_float_array_numeric_dtypes(value):
    out = as_float_array(value)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, value.astype(np.float64))


def test_public_feedback_survives_odd_student_values():
    """The feedback detail reads student values the check already failed; it must never raise."""
    from autograder.grading.compare import _explain, _show

    def steps(state):
        return wire.Trajectory("f", 2, state, ("@theta",), ("theta",), wire.array_ref("a"), wire.array_ref("b"))

    inputs = {"t0": np.array([1.0, 2.0])}
    exp = {"theta": np.array([[1.0, 1.0], [0.5, 0.5]])}
    text = _explain(
        True, "two steps", "wrong", steps({"theta": wire.array_ref("t0")}), inputs, exp, {"theta": np.array(3.0)}
    )
    assert text.startswith("public case (two steps): wrong") and text.endswith("got 3.")
    text = _explain(
        True, "two steps", "wrong", steps({"theta": wire.array_ref("gone")}), inputs, exp, {"theta": np.zeros(2)}
    )
    assert text == "public case (two steps): wrong"  # no state to show: the message alone
    assert _show({"$tuple": 5}) == "{...}" and _show((1, np.array(2.0))) == "(1, 2.)"


# --- as_float_array: bounded, one conversion ---------------------------------------------------------


def test_as_float_array_converts_a_long_list_without_an_object_per_element():
    """500,000 floats become one 4 MB array; the old element-by-element conversion held a 0-d array
    per element on the way (~60 MB here, 3.5 GB for 20 million)."""
    import tracemalloc

    values = [0.5] * 500_000
    tracemalloc.start()
    try:
        arr = as_float_array(values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert arr.shape == (500_000,) and arr.dtype == float and arr[0] == 0.5
    assert peak < 3 * arr.nbytes, f"peak {peak / 2**20:.1f} MB for a {arr.nbytes / 2**20:.1f} MB array"


def test_as_float_array_refuses_what_is_over_its_bounds_or_not_numbers():
    from autograder.judging import checks

    assert as_float_array([0] * (checks.MAX_LIST_NODES + 1)) is None  # refused before numpy builds anything
    assert as_float_array([np.zeros(10)] * 3, limit=29) is None and as_float_array([np.zeros(10)] * 3).shape == (3, 10)
    assert as_float_array(np.zeros(11), limit=10) is None
    assert as_float_array(["1.5"]) is None and as_float_array([1, "2"]) is None  # numpy would parse strings
    assert as_float_array([[1, 2], [3]]) is None  # ragged
    assert as_float_array([10**400]) is None  # beyond float's range
    assert as_float_array(([1, 2], (3, 4))).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert as_float_array(True).item() == 1.0 and as_float_array({"a": 1}) is None


def test_wrong_values_say_how_far_in_every_corner():
    """No tolerance (split_dataset's exact arrays), an infinite error, an expected 0: the sizes
    stay true (no relative error where it is infinite, no multiple of a zero tolerance)."""
    exact_arrays = allclose(rtol=0.0, atol=0.0, returns=(("X_A", "y_A"), ("X_B", "y_B")))
    exp = ((np.ones((2, 2)), np.zeros(2)), (np.ones(1), np.ones(1)))
    verdict = judge(exact_arrays, exp, ((np.ones((2, 2)), np.array([0.0, 1.0])), (np.ones(1), np.ones(1))))
    assert verdict.message == "wrong values: worst error 1 at y_A[1], beyond the tolerance (rtol 0, atol 0)"
    verdict = judge(allclose(), np.array([1.0, np.inf]), np.array([1.0, 5.0]))
    assert verdict.message == "wrong values: worst error inf at [1], beyond the tolerance (rtol 1e-06, atol 1e-09)"
    verdict = judge(allclose(), np.array(2.0), np.array(2.1))
    assert (
        verdict.message
        == "wrong values: worst error 0.1 (relative 0.05), 49,975x the tolerance (rtol 1e-06, atol 1e-09)"
    )
