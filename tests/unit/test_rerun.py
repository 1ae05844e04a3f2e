"""autograder.grading.rerun: the rerun policy as pure functions of one pass's facts (no sandbox runs)."""

from __future__ import annotations

from dataclasses import replace

from autograder.grading.rerun import blamed_cell, culprit, merge_cells, skips_after
from autograder.result import CellError, CellStatus
from autograder.sandbox import Limits, RunOutcome

ITEMS = {
    "cell:0",
    "cell:1",
    "cell:2",
    "probe:adam_step/public-1",
    "probe:adam_step/hidden-1",
    "probe:momentum_step/public-1",
}
CALLS = ["adam_step/public-1", "adam_step/hidden-1", "momentum_step/public-1"]
DIED = RunOutcome(
    returncode=1, seconds=2.0, timed_out=False, killed=False, memory_exceeded=False, stuck_item=None, sandboxed=True
)
LIMITS = Limits(memory_bytes=512 * 1024**2, file_size_bytes=64 * 1024**2)


def test_the_watchdogs_stuck_item_is_blamed_first_then_the_running_then_the_last_started():
    both = replace(DIED, stuck_item="cell:2", last_item="cell:1", last_started="cell:0")
    assert culprit(both, ITEMS, []) == "cell:2"
    assert culprit(replace(both, stuck_item=None), ITEMS, []) == "cell:1"
    # a cell that printed its own end and then exited: nothing is running, the last started is to blame
    assert culprit(replace(both, stuck_item=None, last_item=None), ITEMS, []) == "cell:0"


def test_no_culprit_when_nothing_of_the_job_ran_or_all_is_skipped_already():
    assert culprit(DIED, ITEMS, []) is None  # died before any cell: a rerun would do the same
    invented = replace(DIED, stuck_item="cell:99", last_item="runner", last_started="probe:not/ours")
    assert culprit(invented, ITEMS, []) is None  # names the notebook made up count for nothing
    assert culprit(replace(DIED, last_item="cell:1"), ITEMS, ["cell:1"]) is None  # a rerun must make progress
    assert culprit(replace(DIED, stuck_item="cell:1", last_item="cell:2"), ITEMS, ["cell:1"]) == "cell:2"


def test_a_hung_call_skips_its_questions_other_calls_and_no_other_question():
    assert skips_after("probe:adam_step/hidden-1", CALLS, []) == [
        "probe:adam_step/hidden-1",
        "probe:adam_step/public-1",
    ]
    assert skips_after("probe:adam_step/hidden-1", CALLS, ["probe:adam_step/public-1"]) == ["probe:adam_step/hidden-1"]
    assert skips_after("cell:1", CALLS, []) == ["cell:1"]


def test_the_blamed_cell_says_why_it_ended():
    earlier = CellError(1, CellStatus.KILLED, "ValueError", "told before dying")
    assert blamed_cell(1, replace(DIED, stuck_item="cell:1", killed=True), None, LIMITS) == CellError(1, "timeout")
    assert blamed_cell(1, replace(DIED, timed_out=True), None, LIMITS).status == CellStatus.TIMEOUT
    assert blamed_cell(1, DIED, earlier, LIMITS) == CellError(1, "killed", "ValueError", "told before dying")
    guard = blamed_cell(1, replace(DIED, killed=True, memory_exceeded=True), None, LIMITS)
    assert (guard.status, guard.ename, guard.evalue) == (
        "killed",
        "MemoryExceeded",
        "the notebook's processes held more than 512 MB",
    )
    disk = blamed_cell(1, replace(DIED, stuck_item="cell:1", disk_exceeded=True), earlier, LIMITS)
    assert (disk.status, disk.ename) == ("killed", "DiskQuotaExceeded") and "128 MB" in disk.evalue


def test_a_skipped_cell_keeps_the_word_of_the_pass_that_ran_it():
    first = {0: CellError(0, CellStatus.OK), 1: CellError(1, CellStatus.TIMEOUT)}
    second = {
        0: CellError(0, CellStatus.ERROR, "E"),
        1: CellError(1, CellStatus.SKIPPED),
        2: CellError(2, CellStatus.SKIPPED),
    }
    merged = merge_cells(first, second)
    assert merged == {0: CellError(0, "error", "E"), 1: CellError(1, "timeout"), 2: CellError(2, "skipped")}
    assert first == {0: CellError(0, CellStatus.OK), 1: CellError(1, CellStatus.TIMEOUT)}  # not changed in place


def test_the_books_of_two_passes_make_the_results_execution():
    """execute's bookkeeping, without a sandbox: a cell that died in pass 1 is skipped in pass 2,
    keeps pass 1's word, and only failed cells reach `cell_errors` (the JSON's)."""
    from autograder.grading.execute import _Books

    books = _Books()
    first = replace(DIED, seconds=1.25, killed=True, last_item="cell:1")
    books.count(
        first,
        [
            {"item": "cell:0", "event": "start"},
            {"item": "cell:0", "event": "end", "status": "ok"},
            {"item": "cell:1", "event": "start"},
        ],
    )
    books.blame(culprit(first, ITEMS, books.skip), first, LIMITS, CALLS)
    second = replace(DIED, seconds=2.0)
    books.count(
        second,
        [
            {"item": "cell:0", "event": "end", "status": "ok"},
            {"item": "cell:1", "event": "skipped"},
            {"item": "cell:2", "event": "end", "status": "error", "ename": "E", "traceback": "tb"},
        ],
    )
    execution = books.execution(None)
    assert (execution.seconds, execution.passes, execution.killed, execution.skipped) == (3.25, 2, True, ("cell:1",))
    assert execution.cell_errors == (CellError(1, "killed"), CellError(2, "error", "E"))
    assert execution.last_traceback == "tb" and books.stuck == ["cell:1"]
