"""The seed policy (autograder/grading/seeds.py): one order of precedence for every command."""

from __future__ import annotations

from autograder.grading import seeds


def test_requested_then_stored_then_configured_then_random():
    assert seeds.choose(5, 7, 9) == 5  # --seed wins, even over a resumed batch's
    assert seeds.choose(None, 7, 9) == 9  # a resumed batch keeps its seed over the course's
    assert seeds.choose(None, 7) == 7
    drawn = {seeds.choose(None, None) for _ in range(20)}
    assert len(drawn) > 1 and all(0 <= s < 2**31 for s in drawn)


def test_a_self_check_has_no_hidden_cases_and_seed_zero():
    assert seeds.choose(5, 7, 9, public_only=True) == seeds.SELF_CHECK == 0


def test_seed_zero_is_a_seed_not_a_missing_one():
    assert seeds.choose(0, 7) == 0 and seeds.choose(None, 0) == 0
