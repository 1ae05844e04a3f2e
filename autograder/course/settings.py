"""Instructor settings without Python: per-question points, accuracy thresholds, per-assignment limits.

Why: a course that reweights a question, or loosens a threshold for a slower machine, should not
have to fork the grader. The declarations (`questions/`) stay the single source of what is
graded and of the default numbers; `[tool.autograder.points]`, `[tool.autograder.thresholds]` and
`[tool.autograder.assignments."<id>"]` in the course's pyproject.toml change numbers only. They
are checked against the declarations when the config is read (`config.load_config`), so a typo in
an id is a usage error before anything runs, never a silently ignored key.

Applied in one place, `effective`: the Assignment it returns (points replaced, trained-model
checks rebuilt with the new minimum) is what grading, `build` (the self-check's points and
required accuracy, read off the same question) and the reports see. `digest` hashes the effective
settings of one assignment (every question's points, every threshold, the limits that bound a
run); each result records it, so two results graded under other settings can be told apart, and
a resumed batch regrades results whose settings changed.

The reference cache needs no settings in its keys: reference outputs depend on neither points nor
thresholds (trained-model questions are judged without a reference, `judged_by="threshold"`) nor
limits (a reference run that fits its limits gives the same outputs; one that does not is an
error and is not cached). The reference's timing is cached likewise; the limits derived from it
use the assignment's ceilings at grading time (`limits.derive`) and are never cached.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import UsageError
from ..judging.models import Threshold, trained
from ..questions import ASSIGNMENTS
from ..questions.base import Assignment, Question
from ..questions.pictures import trained_accuracy

# The global keys an assignment may override (README "Configuration"): what bounds one run.
LIMIT_KEYS = ("notebook_seconds", "cell_seconds", "call_seconds", "memory_mb")


def threshold_of(question: Question) -> Threshold | None:
    """The accuracy threshold of a trained-model question (`checks.trained`), else None. Read off
    the check itself, as the self-check does, so there is no second place that could disagree."""
    check = question.check
    if getattr(check, "__qualname__", "") != "trained.<locals>.check":
        return None
    found = inspect.getclosurevars(check).nonlocals.get("threshold")
    return found if isinstance(found, Threshold) else None


def _flatten(value: object, where: str) -> dict[str, object]:
    """`"04_optimizers.momentum_step" = 3` (quoted), and the nested tables TOML makes of
    `04_optimizers.momentum_step = 3` or `[...points."04_optimizers"]`, all as "<assignment>.<question>"."""
    if not isinstance(value, Mapping):
        raise UsageError(f'{where} must be a table of "<assignment>.<question>" = number, not {value!r}')
    flat: dict[str, object] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            for inner, number in item.items():
                flat[f"{key}.{inner}"] = number
        else:
            flat[str(key)] = item
    return flat


def _question(key: str, where: str) -> tuple[Assignment, Question]:
    assignment_id, _, question_id = key.partition(".")
    assignment = ASSIGNMENTS.get(assignment_id)
    if assignment is None:
        raise UsageError(f'{where} "{key}": unknown assignment {assignment_id!r}; known: {", ".join(ASSIGNMENTS)}')
    known = [q.id for q in assignment.questions]
    if question_id not in known:
        raise UsageError(f'{where} "{key}": {assignment_id} has no question {question_id!r}; known: {", ".join(known)}')
    return assignment, assignment.question(question_id)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def parse_points(value: object, where: str) -> dict[str, float]:
    """`[tool.autograder.points]`: positive points per question."""
    points: dict[str, float] = {}
    for key, raw in _flatten(value, where).items():
        _question(key, where)
        number = _number(raw)
        if number is None or number <= 0:
            raise UsageError(f'{where} "{key}" must be a positive number of points, not {raw!r}')
        points[key] = number
    return points


def parse_thresholds(value: object, where: str) -> dict[str, float]:
    """`[tool.autograder.thresholds]`: the test accuracy a trained model needs, in (0, 1]."""
    trained_ids = [f"{a.id}.{q.id}" for a in ASSIGNMENTS.values() for q in a.questions if threshold_of(q)]
    thresholds: dict[str, float] = {}
    for key, raw in _flatten(value, where).items():
        _, question = _question(key, where)
        if threshold_of(question) is None:
            raise UsageError(
                f'{where} "{key}": not a trained-model question, it has no accuracy threshold; '
                f"those with one: {', '.join(trained_ids)}"
            )
        number = _number(raw)
        if number is None or not 0 < number <= 1:
            raise UsageError(f'{where} "{key}" must be an accuracy in (0, 1] (0.85 for 85 %), not {raw!r}')
        thresholds[key] = number
    return thresholds


def assignment_tables(value: object, where: str) -> dict[str, dict[str, object]]:
    """`[tool.autograder.assignments."<id>"]`: known ids and keys only; the values are the caller's
    to check (they follow the rules of the global keys they override)."""
    if not isinstance(value, Mapping):
        raise UsageError(f"{where} must hold one table per assignment, not {value!r}")
    tables: dict[str, dict[str, object]] = {}
    for assignment_id, table in value.items():
        here = f'{where}."{assignment_id}"'
        if assignment_id not in ASSIGNMENTS:
            raise UsageError(f"{here}: unknown assignment; known: {', '.join(ASSIGNMENTS)}")
        if not isinstance(table, Mapping):
            raise UsageError(f"{here} must be a table of limits ({', '.join(LIMIT_KEYS)}), not {table!r}")
        unknown = sorted(set(table) - set(LIMIT_KEYS))
        if unknown:
            raise UsageError(
                f"{here}: unknown keys {', '.join(unknown)}; an assignment may set {', '.join(LIMIT_KEYS)}"
            )
        tables[assignment_id] = dict(table)
    return tables


def effective(assignment: Assignment, points: Mapping[str, float], thresholds: Mapping[str, float]) -> Assignment:
    """The assignment as this course grades it: declared questions with the configured numbers."""
    questions = []
    for question in assignment.questions:
        key = f"{assignment.id}.{question.id}"
        if key in points:
            question = replace(question, points=points[key])
        declared = threshold_of(question)
        if key in thresholds and declared is not None:
            configured = replace(
                declared,
                minimum=thresholds[key],
                measured=f"[tool.autograder.thresholds] (declared {declared.minimum:g}: {declared.measured})",
            )
            picture = question.picture  # the feedback's accuracy picture draws the threshold that judges
            if picture is not None and picture.kind == "accuracy":
                picture = replace(picture, data=trained_accuracy(configured))
            question = replace(question, check=trained(configured), picture=picture)
        questions.append(question)
    return replace(assignment, questions=tuple(questions))


def digest(assignment: Assignment, limits: Mapping[str, Any]) -> str:
    """The hash of one assignment's effective settings: its points, thresholds and run limits."""
    doc = {
        "assignment": assignment.id,
        "points": {q.id: q.points for q in assignment.questions},
        "thresholds": {q.id: t.minimum for q in assignment.questions if (t := threshold_of(q)) is not None},
        "limits": dict(limits),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
