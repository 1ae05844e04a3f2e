"""A sleeping hang costs its plain limit: it waits for no CPU, so the wall clock is not stretched.

The 04 solution with a cell that sleeps for an hour between a cell that notes the time and one
that reports how long the sleep held the run (as its error: the result keeps a cell's message).
With a 4 s cell limit the runtime's alarm ends the sleep at about 4 s, the run goes on in the
same pass, and the notebook keeps its marks; stretched like a starved cell it would have slept
16 s (4 x), and killed from outside it would have cost a pass (docs/limits.md).
"""

from __future__ import annotations

import dataclasses
import re

import nbformat
import pytest

from autograder.grading.grade import grade_notebook
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
CELL_SECONDS = 4


def test_a_sleeping_cell_ends_at_its_plain_limit_and_the_run_goes_on(config, tmp_path):
    nb = nbformat.read(REPO / "solutions" / "04_optimizers.ipynb", as_version=4)
    nb.cells[:0] = [
        nbformat.v4.new_code_cell("import time\nstarted = time.monotonic()"),
        nbformat.v4.new_code_cell("time.sleep(3600)"),
        nbformat.v4.new_code_cell("raise RuntimeError(f'slept {time.monotonic() - started:.2f} s')"),
    ]
    path = tmp_path / "sleeper_04_optimizers.ipynb"
    nbformat.write(nb, path)
    small = dataclasses.replace(config, cell_seconds=CELL_SECONDS, call_seconds=CELL_SECONDS, notebook_seconds=120)
    result = grade_notebook(path, small, assignment_id="04_optimizers", seed=3)
    execution = result.execution
    assert execution is not None
    errors = {e.cell: e for e in execution.cell_errors}
    assert errors[1].ename == "CellTimeout", errors  # the alarm inside, not the watchdog's kill
    slept = float(re.search(r"slept ([0-9.]+) s", errors[2].evalue)[1])
    print(
        f"\nslept {slept:.2f} s of a {CELL_SECONDS} s limit; run {execution.seconds:.1f} s, {execution.passes} pass(es)"
    )
    assert CELL_SECONDS <= slept < 2.5 * CELL_SECONDS
    assert execution.passes == 1 and not execution.killed
    assert result.score == result.max_score
