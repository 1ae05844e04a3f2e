"""The rerun policy: when a pass ended early, what to blame, what to skip next, what the blamed cell says.

A cell that kills the interpreter (`os._exit`, an OOM kill, a hang the watchdog ends) would also
take the functions defined by every other cell with it, so `execute.run` runs the notebook again
with the item to blame skipped: one bad cell costs that cell, not the whole notebook. These
functions decide from one pass's plain facts (the sandbox's `RunOutcome`) and the items known to
the job; they touch no file and no process, so each rule is tested on its own
(`tests/unit/test_rerun.py`), and `execute.run` only keeps the books.

Item names are the runner's: `cell:<index>` and `probe:<question>/<case>` (`runtime/runner.py`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..result import CellError, CellStatus
from ..sandbox import MAX_DISK_ENTRIES, Limits, RunOutcome


def culprit(outcome: RunOutcome, known_items: Collection[str], skipped: Collection[str]) -> str | None:
    """The item the pass's early end is blamed on, or None: then a rerun would do the same (the
    interpreter died before running any cell of the job), and the run stops.

    The watchdog's stuck item first, then what was running at the end, then the last item that
    started, even if it claimed its own end before the run died (a cell may print a forged end
    event, then exit). Only the job's own items count (the notebook can invent names), and never
    one already skipped (a rerun must make progress)."""
    return next(
        (
            item
            for item in (outcome.stuck_item, outcome.last_item, outcome.last_started)
            if item in known_items and item not in skipped
        ),
        None,
    )


def skips_after(item: str, call_ids: Sequence[str], skipped: Collection[str]) -> list[str]:
    """What the next pass skips besides what it already does: the blamed item and, for a probe
    call, every other call of the same question. A function that hung once (ignoring its alarm)
    would hang on its other cases too, one rerun each; skipping them all makes it cost its own
    question, not every later one."""
    new = [item]
    if item.startswith("probe:"):
        question = item[len("probe:") :].split("/", 1)[0]
        new += [
            f"probe:{cid}"
            for cid in call_ids
            if cid.split("/", 1)[0] == question and f"probe:{cid}" not in skipped and f"probe:{cid}" != item
        ]
    return new


def blamed_cell(index: int, outcome: RunOutcome, earlier: CellError | None, limits: Limits) -> CellError:
    """The record of the cell that ended the pass. `timeout` when the watchdog found it stuck or
    the notebook's time ran out while it ran; `killed` otherwise (it ended the interpreter itself,
    or the disk quota was hit: then the cause is named, since the cell itself raised nothing). The
    exception the cell reported before it died, if any, is kept; else the memory guard's kill
    (no cgroup on this machine) is named as such, for the student to see why."""
    status = (
        CellStatus.KILLED
        if outcome.disk_exceeded
        else CellStatus.TIMEOUT
        if outcome.stuck_item or outcome.timed_out
        else CellStatus.KILLED
    )
    ename, evalue = (earlier.ename, earlier.evalue) if earlier else ("", "")
    if outcome.memory_exceeded and outcome.killed and not ename:
        ename, evalue = "MemoryExceeded", f"the notebook's processes held more than {limits.memory_bytes // 1024**2} MB"
    if outcome.disk_exceeded:
        ename, evalue = (
            "DiskQuotaExceeded",
            f"the notebook wrote more than {limits.disk_quota // 1024**2} MB (or {MAX_DISK_ENTRIES:,} files) to disk",
        )
    return CellError(index, status, ename, evalue)


def merge_cells(known: dict[int, CellError], this_pass: dict[int, CellError]) -> dict[int, CellError]:
    """The last word on each cell over all passes so far. A later pass's word wins, except that a
    cell it skipped keeps what the pass that ran it said (the skip is the consequence of that)."""
    merged = dict(known)
    for index, cell in this_pass.items():
        if cell.status != CellStatus.SKIPPED or index not in merged:
            merged[index] = cell
    return merged
