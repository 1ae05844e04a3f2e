"""End to end: time limits derived from the reference's run, in the real sandbox.

With the repository's settings (ceilings 600 s per cell, 900 s per run), a cell that swallows
interrupts in an 04 notebook must be ended at the limit derived from the 04 solution's own times
(about 30 s), not at the ceiling: the test gives grading 300 s, half the old cell limit alone.
"""

from __future__ import annotations

import threading

import nbformat
import pytest

from autograder.grading import limits
from autograder.grading.grade import grade_notebook
from autograder.grading.reference import reference_timing
from autograder.questions import get_assignment
from autograder.sandbox import bubblewrap_available
from tests.conftest import make_variant
from tests.submissions.variants import A04, Variant

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]

HANG = """while True:
    try:
        while True:
            n = 0
    except BaseException:  # the runner's alarm, KeyboardInterrupt, SystemExit: all swallowed
        pass"""


def test_a_hang_in_04_is_ended_at_the_derived_limit_and_costs_that_cell_only(config, tmp_path):
    timing = reference_timing(get_assignment(A04), config, use_sandbox=True)
    expected = limits.derive(timing, config)
    assert config.cell_seconds == 600 and expected.cell_seconds < config.cell_seconds / 4
    assert timing.longest_cell > 0 and timing.calls and timing.total >= timing.longest_cell

    box: dict = {}
    path = make_variant(Variant("hangs", A04, insert_first=(HANG,)), tmp_path)
    thread = threading.Thread(target=lambda: box.update(result=grade_notebook(path, config, seed=7)), daemon=True)
    thread.start()
    thread.join(300)
    assert not thread.is_alive(), "grading a hang took longer than 300 s: the derived limit was not applied"

    result = box["result"]
    assert result.execution.limits == expected
    hang = next(i for i, c in enumerate(nbformat.read(path, as_version=4).cells) if c.source == HANG)
    (error,) = result.execution.cell_errors
    assert (error.cell, error.status) == (hang, "timeout"), result.execution
    assert result.execution.passes == 2 and result.execution.skipped == (f"cell:{hang}",)
    assert result.score == result.max_score  # the hang costs its own cell, not the functions after it


def test_an_honest_notebook_records_the_same_limits(config, graded_solution):
    result = graded_solution(A04)
    assert result.execution.cell_errors == () and result.score == result.max_score
    assert result.execution.limits == limits.derive(
        reference_timing(get_assignment(A04), config, use_sandbox=True), config
    )
