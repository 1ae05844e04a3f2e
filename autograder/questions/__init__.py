"""The question declarations, one module per assignment; the single source of truth for grading.

Each module declares its questions once (id = the contract's name, points, public and hidden
cases, the check). Notebooks, self-check tests and hidden grading all derive from these plus
`solutions/`.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import UsageError
from .base import Assignment, Case, CaseBuilder, Question

# The registry: one line per assignment, the module that declares it (docs/adding-an-exercise.md).
MODULES = (
    "a01_activations_and_initialisation",
    "a02_batch_normalisation",
    "a03_transfer_learning",
    "a04_optimizers",
    "a05_regularisation",
)

ASSIGNMENTS: dict[str, Assignment] = {
    module.ASSIGNMENT.id: module.ASSIGNMENT for module in (import_module(f".{name}", __name__) for name in MODULES)
}


def get_assignment(assignment_id: str) -> Assignment:
    try:
        return ASSIGNMENTS[assignment_id]
    except KeyError:
        raise UsageError(f"unknown assignment {assignment_id!r}; known: {', '.join(ASSIGNMENTS)}") from None


__all__ = ["ASSIGNMENTS", "Assignment", "Case", "CaseBuilder", "Question", "get_assignment"]
