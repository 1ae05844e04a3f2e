"""dnn-grader: a sandboxed autograder for the Lecture 13 notebooks on training deep networks.

Public API: `grade()` grades one notebook, `build()` regenerates the student notebooks,
`Result` is what grading returns. The command line (`autograder ...`) is in `cli.py`.
"""

__version__ = "0.1.0"

from .build import build  # noqa: E402
from .grade import grade  # noqa: E402
from .result import Result  # noqa: E402

__all__ = ["Result", "__version__", "build", "grade"]
