"""dnn-grader: a sandboxed autograder for the Lecture 13 notebooks on training deep networks.

Public API: `grade_notebook()` grades one notebook; `prepare_assignment()` then `grade()` grade
many of one assignment (prepared once); `build()` regenerates the student notebooks; `Result` is
what grading returns. The command line (`autograder ...`) is in `cli/`.

The API is imported on first use (PEP 562), not here: importing any one module of the package
then imports only what that module needs, so an import cycle cannot hide behind the order in
which this file happens to import things (tests/unit/test_imports.py imports each module alone).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "build": ".handout.build",
    "grade": ".grading.grade",
    "grade_notebook": ".grading.grade",
    "prepare_assignment": ".grading.grade",
    "Result": ".result",
}
__all__ = ["Result", "__version__", "build", "grade", "grade_notebook", "prepare_assignment"]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'autograder' has no attribute {name!r}")
    value = getattr(import_module(_API[name], __name__), name)
    globals()[name] = value
    return value
