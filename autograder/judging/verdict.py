"""What a check sees and what it answers: a case, its context, the verdict.

These live here, not in `questions/`, so that the checks can be written against them without
importing the question declarations (which import the checks): the judging layer depends on
nothing in `questions/`, and `questions/` depends on it. Pasted into the self-check (see
checks.py): no `from __future__ import annotations`, whose string annotations a dataclass cannot
resolve in a namespace that is not a module in `sys.modules`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Case:
    """One call of the student's code; `call` is its kind's `wire` dataclass (a `wire.Call`, ...)."""

    id: str
    call: Any
    description: str
    public: bool


@dataclass(frozen=True)
class Verdict:
    """The outcome of one case: passed, and if not, a message safe to show for this case, and
    what a hidden case may say instead (`hidden`).

    A hidden case's message must not be a channel: the student's code saw the hidden inputs, so
    any number, shape, length or text taken from its answer can carry them to the feedback
    (a returned `np.zeros((0, a, b))` is an empty array whose shape spells two inputs). `hidden`
    holds only words, the contract's names and coarse bands that no answer can choose more than
    a few bits of; empty, a hidden case says only that the answer is wrong (`grading/compare`).
    """

    passed: bool
    message: str = ""
    hidden: str = ""


def fixed_failure(text: str) -> Verdict:
    """A failure whose words no answer chooses: said the same for a public and a hidden case."""
    return Verdict(False, text, text)


@dataclass(frozen=True)
class CaseContext:
    """What a check may look at: the case, its decoded inputs, the reference's output (if the
    question uses one) and the student's output. Everything here is plain data."""

    case: Case
    inputs: dict[str, np.ndarray]
    expected: Any
    got: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def args(self) -> list[Any]:
        """The case's arguments as the function received them (a `wire.Call`; generators as
        `wire.Rng` markers), so a check never reads the wire encoding."""
        return self.case.call.decoded_args(self.inputs)

    @cached_property
    def kwargs(self) -> dict[str, Any]:
        return self.case.call.decoded_kwargs(self.inputs)

    def sub_args(self, index: int) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of call `index` of a `wire.Calls` case."""
        sub = self.case.call.calls[index]
        return sub.decoded_args(self.inputs), sub.decoded_kwargs(self.inputs)


Check = Callable[[CaseContext], Verdict]
