"""What went wrong while running a submission, in words: one reading of a result's execution.

The feedback, the instructor's summary, Gradescope's output and the command line all say it, so it
is worked out once, here, from the result alone (never from logs): a list of `Problem`s, each a
fixed kind and its details. Details may hold student text (exception messages); each renderer
escapes them for its format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..result import CellError, CellStatus, ProblemKind, QuestionStatus, Result


@dataclass(frozen=True)
class Problem:
    """Something that went wrong while running a submission: `kind` is a fixed label
    (`ProblemKind`: unreadable | timed out | killed | out of memory | failed to run); `details` may
    hold student text."""

    kind: ProblemKind
    details: tuple[str, ...]


def cell_label(index: int, names: dict[int, str] | None = None) -> str:
    """A cell by the name the grader gave it from its code (`notebook.cell_name`: what it defines
    or its first line), since Jupyter shows no cell numbers; a result without names (an older
    result) counts cells from 1, text cells included."""
    return (names or {}).get(index) or f"cell {index + 1}"


MAX_DETAILS = 8


def problems(result: Result) -> list[Problem]:
    """The execution problems of one result, for the feedback and the instructor's table."""
    if result.error:
        return [Problem(ProblemKind.UNREADABLE, (result.error,))]
    found: list[Problem] = []
    ex = result.execution
    errors = list(ex.cell_errors) if ex else []
    names = {e.cell: e.name for e in errors if e.name}

    def cells(status: CellStatus) -> list[CellError]:
        return [e for e in errors if e.status == status]

    # The watchdog sets `timed_out` for the notebook limit and `killed` whenever it kills (a cell
    # or call stuck past its limit too, recorded as a "timeout" cell); a cell that ended the
    # interpreter itself (os._exit, a crash) is a "killed" cell. Stuck items are skipped on reruns.
    stuck = [e.cell for e in cells(CellStatus.TIMEOUT)]
    died = [e.cell for e in cells(CellStatus.KILLED)]
    call_timeouts = [q.id for q in result.questions if q.status == QuestionStatus.TIMEOUT]
    rerun = [f"{item} was skipped on a rerun" for item in _skipped(ex.skipped if ex else (), stuck + died, names)]
    timed_out = (ex is not None and ex.timed_out) or bool(stuck) or bool(call_timeouts)
    killed = bool(died) or (ex is not None and ex.killed and not timed_out)
    if timed_out:
        found.append(
            Problem(
                ProblemKind.TIMED_OUT,
                tuple(
                    (["the notebook exceeded its total time limit"] if ex is not None and ex.timed_out else [])
                    + [f"{cell_label(i, names)} did not finish in time" for i in stuck]
                    + [f"calling {qid} did not finish in time" for qid in call_timeouts]
                    + ([] if killed else rerun)
                ),
            )
        )
    if ex is not None and ex.memory_exceeded:
        found.append(Problem(ProblemKind.OUT_OF_MEMORY, ("the notebook used more memory than allowed",)))
    if killed:
        found.append(
            Problem(
                ProblemKind.KILLED,
                tuple(
                    [f"the Python process died in {cell_label(i, names)}" for i in died]
                    or ["the Python process was killed"]
                )
                + tuple(rerun),
            )
        )
    raised = cells(CellStatus.ERROR)
    if raised:
        details = [
            f"{cell_label(e.cell, names)}: {e.ename or 'error'}" + (f": {_short(e.evalue)}" if e.evalue else "")
            for e in raised
        ]
        if len(details) > MAX_DETAILS:
            details = details[:MAX_DETAILS] + [f"and {len(details) - MAX_DETAILS} more"]
        found.append(Problem(ProblemKind.FAILED_TO_RUN, tuple(details)))
    if not found and result.questions and all(q.status == QuestionStatus.MISSING for q in result.questions):
        found.append(
            Problem(
                ProblemKind.NOTHING_DEFINED,
                ("none of the assignment's functions or models is defined: the notebook has no code that ran",),
            )
        )
    return found


def _skipped(items: Sequence[str], known_cells: Sequence[int], names: dict[int, str]) -> list[str]:
    """Skipped items other than the cells already named as where the process died."""
    out = []
    for item in items:
        kind, _, rest = item.partition(":")
        if kind == "cell" and rest.isdigit():
            if int(rest) not in known_cells:
                out.append(cell_label(int(rest), names))
        elif kind == "probe" and rest:  # a hidden case's id says nothing a student may not know, but no more
            function, _, case = rest.partition("/")
            which = "a hidden case" if case.startswith("hidden") else f"case {case}" if case else "a case"
            out.append(f"calling {function} on {which}")
        else:
            out.append(item)
    return out


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lines(result: Result) -> list[str]:
    """The problems as plain text lines (`kind: detail`), for Gradescope and the command line."""
    return [f"{p.kind}: {detail}" for p in problems(result) for detail in p.details]
