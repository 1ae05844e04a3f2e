"""The vocabulary of question declarations: a question, its cases, and how a case is judged.

A question is declared once (id = the contract's function or model name, points, the cases it is
tried on, the check). `build` derives the self-check tests from the public cases, grading adds
hidden cases drawn from the run's seed, and `compare` applies the check. Reference values are
not declared here: they come from running `solutions/` on the very same cases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import wire
from ..judging.verdict import Case, CaseContext, Check, Verdict

__all__ = ["Assignment", "Case", "CaseBuilder", "CaseContext", "Check", "Question", "Verdict"]

PICTURE_KINDS = ("curve", "trajectory", "distribution", "features", "accuracy")


@dataclass(frozen=True)
class Picture:
    """The feedback's picture of a failed question, drawn from one *public* case (`case`, its
    description, declared in `make_public` like every case), so it never shows a hidden value.

    kind: curve (an elementwise function over the case's input vector, against the reference),
    trajectory (an optimizer's path on the case's bowl), distribution (a random function's
    samples against the target), features (per-feature statistics of a batch-norm output) or
    accuracy (a trained model's test accuracy against its threshold, and its confusion matrix).
    `data` extracts the picture's numbers from the case when the kind's generic extractor
    (`pictures.py`: curve, trajectory) does not know where they are."""

    kind: str
    case: str
    data: Callable[[CaseContext], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in PICTURE_KINDS:
            raise ValueError(f"unknown picture kind {self.kind!r}, one of {PICTURE_KINDS}")


# How a question's cases are judged (`Question.judged_by`):
#   "values":     against the reference solution's outputs on the same cases (most questions);
#   "statistics": random functions: by statistical tests on the student's samples, with the
#                 reference's parameters (self-check files then embed no samples);
#   "threshold":  trained models: accuracy on the real test split against a threshold; the
#                 reference solution is not run for them at all.
JUDGED_BY = ("values", "statistics", "threshold")


@dataclass(frozen=True, kw_only=True)
class Question:
    """A graded question. Public cases are added by `make_public(builder)` and never depend on
    the seed, so self-checks are stable; hidden cases by `make_hidden(builder, rng)`, drawn from
    the run's seed (None: the question has public cases only, e.g. a model's architecture).
    `hints` and `warning_free` are declared here, once, and used by `grading.compare`."""

    id: str
    points: float
    make_public: Callable[[CaseBuilder], None]
    check: Check
    make_hidden: Callable[[CaseBuilder, np.random.Generator], None] | None = None
    judged_by: str = "values"
    title: str = ""
    # What the feedback draws when the question is not passed (None: numbers say it better).
    picture: Picture | None = None
    # What a failed case of a given description (its exact words) may say to help without values:
    # the kind of mistake its input catches. Hidden cases show nothing else of their input.
    hints: Mapping[str, str] = field(default_factory=dict)
    # The contract's promise of no warnings, in its words (empty: none promised): then a case whose
    # call warned fails, its message naming the warning.
    warning_free: str = ""

    def __post_init__(self) -> None:
        if self.judged_by not in JUDGED_BY:
            raise ValueError(f"{self.id}: judged_by must be one of {JUDGED_BY}, not {self.judged_by!r}")

    @property
    def uses_reference(self) -> bool:
        """The reference solution runs on this question's cases (all but trained models)."""
        return self.judged_by != "threshold"

    @property
    def compares_values(self) -> bool:
        """The student's outputs are compared with the reference's values (not statistics)."""
        return self.judged_by == "values"


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    questions: tuple[Question, ...]
    needs_data: bool = False

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    @property
    def max_score(self) -> float:
        return float(sum(q.points for q in self.questions))


class CaseBuilder:
    """Collects cases and their input arrays (which go to the sandbox as `inputs.npz`): one method
    per call kind of `wire.py`; arguments may be arrays, tuples, `wire.Rng(seed)`, JSON scalars,
    or lists of `array()` references."""

    def __init__(self, question_id: str, public: bool) -> None:
        self.question_id = question_id
        self.public = public
        self.cases: list[Case] = []
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: Any) -> dict[str, str]:
        key = f"{self.question_id}.{'p' if self.public else 'h'}{len(self.arrays)}"
        self.arrays[key] = np.array(value)
        return wire.array_ref(key)

    def value(self, value: Any) -> Any:
        """Arrays go by reference; Python scalars, strings and None go inline as JSON."""
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, tuple):
            return wire.tuple_ref(self.value(v) for v in value)
        if isinstance(value, wire.Rng):
            return wire.rng_ref(value.seed, value.shared)
        return value

    def add(self, description: str, call: Any) -> None:
        """A case of any kind (a `wire` dataclass)."""
        prefix = "public" if self.public else "hidden"
        self.cases.append(Case(f"{prefix}-{len(self.cases) + 1}", call, description, self.public))

    def sub(self, *args: Any, **kwargs: Any) -> wire.Call:
        """One call of a `calls` case (its function is the case's)."""
        return wire.Call("", tuple(self.value(a) for a in args), {k: self.value(v) for k, v in kwargs.items()})

    def call(self, description: str, function: str, *args: Any, **kwargs: Any) -> None:
        self.add(description, replace(self.sub(*args, **kwargs), function=function))

    def calls(self, description: str, function: str, calls: Sequence[wire.Call | wire.Initializer]) -> None:
        """Several calls of `function` in one case (`sub()` or `wire.Initializer("", shape)`)."""
        self.add(description, wire.Calls(function, tuple(replace(c, function=function) for c in calls)))

    def trajectory(
        self,
        description: str,
        function: str,
        *,
        steps: int,
        state: dict[str, np.ndarray],
        args: Sequence[Any],
        returns: Sequence[str],
        a: np.ndarray,
        b: np.ndarray,
    ) -> None:
        self.add(
            description,
            wire.Trajectory(
                function,
                steps,
                {k: self.array(v) for k, v in state.items()},
                tuple(args),
                tuple(returns),
                self.array(a),
                self.array(b),
            ),
        )

    def initializer(self, description: str, function: str, shape: Sequence[int]) -> None:
        self.add(description, wire.Initializer(function, tuple(int(d) for d in shape)))

    def model(self, description: str, function: str) -> None:
        self.add(description, wire.Model(function))

    def trained(self, description: str, name: str) -> None:
        self.add(description, wire.Trained(name))

    def b_on_a(self, description: str, function: str, base: dict[str, Any], seed: int) -> None:
        self.add(description, wire.BOnA(function, base, int(seed)))
