"""What a check sees and what it answers: a case, its context, the verdict.

These live here, not in `questions/`, so that the checks can be written against them without
importing the question declarations (which import the checks): the judging layer depends on
nothing in `questions/`, and `questions/` depends on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Case:
    """One call of the student's code; `call` is the probe's call spec without its id."""

    id: str
    call: dict[str, Any]
    description: str
    public: bool


@dataclass(frozen=True)
class Verdict:
    """The outcome of one case: passed, and if not, a message safe to show for this case."""

    passed: bool
    message: str = ""


@dataclass(frozen=True)
class CaseContext:
    """What a check may look at: the case, its decoded inputs, the reference's output (if the
    question uses one) and the student's output. Everything here is plain data."""

    case: Case
    inputs: dict[str, np.ndarray]
    expected: Any
    got: Any
    extra: dict[str, Any] = field(default_factory=dict)


Check = Callable[[CaseContext], Verdict]
