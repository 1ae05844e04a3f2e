"""File names for per-student report files, made from student ids that the students control.

Feedback files are downloaded by instructors and uploaded to an LMS or mailed, so their names are
portable ASCII (`Élodie Müller` -> `Elodie_Muller`); the rules themselves (bounds, dot names,
collisions on case-insensitive file systems, a hash of the id as suffix) are `files.safe_name`
and `files.unique_names`, the one way from untrusted text to a file name.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..files import safe_name, unique_names


def sanitise(student: str) -> str:
    """A portable file-name stem for `student` (see `files.safe_name`)."""
    return safe_name(student, portable=True)


def file_names(students: Iterable[str]) -> dict[str, str]:
    """Each student id's portable file-name stem, unique within the feedback folder."""
    return unique_names(students, portable=True)
