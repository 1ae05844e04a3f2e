"""The result of grading one submission: frozen dataclasses with a versioned JSON schema.

`schema_version` changes whenever a field changes meaning or disappears; consumers (gradebook,
feedback, Gradescope export) check it. Only `execution.seconds` varies between two regrades of
the same submission with the same seed and settings (and `execution.limits`, if the reference's
timing was measured afresh in between: they are recorded so that a regrade shows which ones
applied). `settings_hash` tells results graded under other points, thresholds or limits apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any

from .sandbox.isolation import Isolation

SCHEMA_VERSION = 4  # 2: execution.limits; 3: settings_hash (the course's points, thresholds, limits),
#    isolation (what confined the run, as enforced), questions[].picture; 4: term (late penalty, overrides)
READS = (3, 4)  # a version-3 result is a version-4 one without `term`: graded, nothing applied after


class QuestionStatus(StrEnum):
    """How a question went (`compare._status`). A `StrEnum`: it is its own JSON string, so the
    schema stays the plain words it always was; the order is the summary's column order."""

    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    ERROR = "error"  # no case gave an answer: every one raised or came out unreadable
    TIMEOUT = "timeout"  # a call ran out of time
    MISSING = "missing"  # the function is not defined


STATUSES = tuple(QuestionStatus)


class CellStatus(StrEnum):
    """The last word on one cell of a run (`collect.cell_events`, the reruns in `execute`)."""

    OK = "ok"
    ERROR = "error"  # raised
    TIMEOUT = "timeout"  # ran past its limit (the runtime's alarm, or the watchdog)
    SKIPPED = "skipped"  # not run, on a rerun, because it ended an earlier pass
    KILLED = "killed"  # started and never ended: it ended the interpreter (os._exit, a crash, a kill)

    @property
    def failed(self) -> bool:
        """Whether the cell counts among a run's `cell_errors`: a skipped cell is not itself an error
        (the one that ended the pass before is, and `skipped` names the rerun)."""
        return self in (CellStatus.ERROR, CellStatus.TIMEOUT, CellStatus.KILLED)


class ProblemKind(StrEnum):
    """The run's status as the reports say it: the kinds of `problems.problems` (one run may have
    several, none when it ran cleanly). NOTHING_DEFINED: it ran, and defined nothing the assignment
    asks for (an empty notebook, or another assignment's)."""

    UNREADABLE = "unreadable"
    TIMED_OUT = "timed out"
    KILLED = "killed"
    OUT_OF_MEMORY = "out of memory"
    FAILED_TO_RUN = "failed to run"
    NOTHING_DEFINED = "nothing defined"


# A field with this metadata is the grader's own run-time detail, never part of the JSON schema
# (nor compared: a result read back equals the one written).
RUN_ONLY = {"json": False}


@dataclass(frozen=True)
class CaseResult:
    id: str
    public: bool
    passed: bool
    description: str
    message: str = ""


@dataclass(frozen=True)
class QuestionResult:
    id: str
    score: float
    max_score: float
    status: QuestionStatus
    cases_passed: int
    cases_total: int
    feedback: tuple[str, ...] = ()
    cases: tuple[CaseResult, ...] = ()
    # The feedback's picture of a failed question, from its public case only (questions/pictures.py):
    # plain JSON, bounded in size; None when passed, or when nothing is worth drawing.
    picture: dict[str, Any] | None = None


@dataclass(frozen=True)
class TimeLimits:
    """The wall-clock limits a run had, and the reference times they were derived from
    (`autograder.grading.limits`): seconds per notebook run, per cell, per probe call."""

    notebook_seconds: float
    cell_seconds: float
    call_seconds: float
    reference_total: float  # the solution's whole sandboxed run
    reference_cell: float  # its longest cell
    reference_call: float  # its longest probe call
    multiple: float
    floor_seconds: float


@dataclass(frozen=True)
class CellError:
    """What happened to one cell, as the supervisor's events and the reruns tell it (`cell` is the
    notebook's index, counted from 0, text cells included). `execute.run` keeps the failed ones
    (`status.failed`) in `Execution.cell_errors`; its text fields are clean and bounded
    (`collect.cell_events`). The traceback serves the grader's own messages (a reference solution
    that fails) and is not part of the result's JSON."""

    cell: int
    status: CellStatus
    ename: str = ""
    evalue: str = ""
    traceback: str = field(default="", compare=False, repr=False, metadata=RUN_ONLY)
    # How the student finds the cell (`notebook.cell_name`): Jupyter shows no cell numbers.
    name: str = ""

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> CellError:
        """Raises ValueError/KeyError/TypeError on anything `to_dict` does not write."""
        return CellError(
            int(doc["cell"]),
            CellStatus(doc["status"]),
            str(doc["ename"]),
            str(doc["evalue"]),
            name=str(doc.get("name", "")),
        )


@dataclass(frozen=True)
class Execution:
    """What happened when the notebook ran: what `execute.run` returns, as the result records it.

    `isolation` (recorded at the result's top level, `Result.isolation`) and `log_tail` (the
    supervisor's log of a pass that died before any cell ran) are the run's own details for the
    grader, not part of this object's JSON."""

    seconds: float
    timed_out: bool
    killed: bool
    memory_exceeded: bool
    passes: int
    skipped: tuple[str, ...]
    cell_errors: tuple[CellError, ...]
    limits: TimeLimits | None = None
    isolation: Isolation | None = field(default=None, compare=False, repr=False, metadata=RUN_ONLY)
    log_tail: str = field(default="", compare=False, repr=False, metadata=RUN_ONLY)

    @property
    def last_traceback(self) -> str:
        """The last failed cell's traceback, else the log of a pass that died before any cell."""
        return next((e.traceback for e in reversed(self.cell_errors) if e.traceback), self.log_tail)


@dataclass(frozen=True)
class Late:
    """How late a submission was and what it cost (`course/term.py`). `seconds` is None when only
    Canvas' `LATE` marker says so (no time of submission known); `due` is the due date applied,
    the extension's where the student has one (`extension` True)."""

    due: str
    source: str  # "Canvas' LATE marker" or "the submission times CSV"
    seconds: float | None
    extension: bool
    policy: str  # the policy in words, as the feedback states it
    penalty: float  # points taken from the score (after question overrides)
    note: str = ""  # why no penalty, or why only a lower bound of the lateness counted


@dataclass(frozen=True)
class Override:
    """One line of the overrides file as applied: `question` is a question id or "total"; `points`
    sets the score, `adjustment` adds to it (exactly one is set); `before`/`after` what it did."""

    question: str
    reason: str
    before: float
    after: float
    points: float | None = None
    adjustment: float | None = None


@dataclass(frozen=True)
class Term:
    """What the trusted grader applied after grading (`course/term.py`), and what it started from:
    the graded (raw) total and question scores, so applying again starts over rather than twice."""

    raw_score: float
    raw_questions: dict[str, float]
    late: Late | None = None
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Result:
    assignment: str
    submission: str
    student: str
    score: float
    max_score: float
    seed: int
    grader_version: str
    sandboxed: bool
    questions: tuple[QuestionResult, ...]
    execution: Execution | None
    error: str | None = None
    submission_sha256: str = ""
    # sha256 of the effective settings it was graded under (autograder/course/settings.py: every question's
    # points, the accuracy thresholds, the run's limits): a regrade under other settings shows.
    settings_hash: str = ""
    isolation: Isolation | None = None  # None: the notebook never ran (unreadable)
    # Late penalty and overrides applied after grading (None: none applied; `score` is then the raw score).
    term: Term | None = None
    schema_version: int = field(default=SCHEMA_VERSION)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> Result:
        if doc.get("schema_version") not in READS:
            raise ValueError(
                f"result schema {doc.get('schema_version')!r}, this grader reads {', '.join(map(str, READS))}"
            )
        execution = doc.get("execution")
        isolation = doc.get("isolation")
        term = doc.get("term")
        return Result(
            **{
                k: v
                for k, v in doc.items()
                if k not in ("questions", "execution", "isolation", "term", "schema_version")
            },
            isolation=None if isolation is None else Isolation(**isolation),
            term=None
            if term is None
            else Term(
                float(term["raw_score"]),
                {str(k): float(v) for k, v in term["raw_questions"].items()},
                None if term.get("late") is None else Late(**term["late"]),
                tuple(Override(**o) for o in term.get("overrides", ())),
            ),
            questions=tuple(
                QuestionResult(
                    **{
                        **q,
                        "status": QuestionStatus(q["status"]),
                        "feedback": tuple(q["feedback"]),
                        "cases": tuple(CaseResult(**c) for c in q["cases"]),
                    }
                )
                for q in doc["questions"]
            ),
            execution=None
            if execution is None
            else Execution(
                **{
                    **execution,
                    "skipped": tuple(execution["skipped"]),
                    "cell_errors": tuple(CellError.from_dict(e) for e in execution["cell_errors"]),
                    "limits": None if execution.get("limits") is None else TimeLimits(**execution["limits"]),
                }
            ),
        )


def _plain(value: Any) -> Any:
    """`dataclasses.asdict`, minus the `RUN_ONLY` fields: what the schema holds, and only that."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.metadata.get("json", True)}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
