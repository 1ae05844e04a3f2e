"""One exception family for everything the grader itself cannot do.

A student's mistakes are never exceptions here: they become scores with messages. These errors
are about the grader's input (an unreadable file, an unknown assignment), its configuration or
its machine, and `cli/main.py` turns each into one message and one exit code.
"""


class GraderError(Exception):
    """Base class; `cli/main.py` catches this family once."""


class UsageError(GraderError):
    """The command was asked for something that cannot be done (bad option, unknown assignment)."""


class SubmissionUnreadable(GraderError):
    """The submission is not a notebook we can read; graded as zero with this message in batch."""


class InfrastructureError(GraderError):
    """The machine cannot do what grading needs (no sandbox, no data, a cgroup that will not die)."""


class BuildError(GraderError):
    """`solutions/` does not follow the conventions `build` relies on (markers, declarations)."""
