"""File names for per-student files, made from student ids that the students themselves control.

A student id comes from an upload's file or folder name, so it may hold path separators, `..`,
leading dots, characters a file system refuses, or differ from another id only by case (one file
on macOS and Windows). Every id is reduced to a short, portable name, and ids whose names collide
get a suffix derived from the id itself (not from its position in the class), so that adding a
student does not rename another student's files.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

MAX_LENGTH = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_UNDERSCORES = re.compile(r"_{2,}")
# Device names that Windows refuses as a file name, with or without an extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def sanitise(student: str) -> str:
    """A portable file-name stem for `student`: only `A-Za-z0-9._-`, no `..`, no leading dot or
    dash, not a Windows device name, at most MAX_LENGTH characters, never empty."""
    # Accented letters keep their base letter (Müller -> Muller) rather than becoming "_".
    name = "".join(c for c in unicodedata.normalize("NFKD", student) if not unicodedata.combining(c))
    name = _UNSAFE.sub("_", name)
    name = _DOTS.sub(".", name)
    name = _UNDERSCORES.sub("_", name)
    name = name[:MAX_LENGTH].lstrip("._-").rstrip(".")
    if not name:
        return "student"
    if name.split(".")[0].lower() in _RESERVED:
        name = f"student_{name}"
    return name


def file_names(students: Iterable[str]) -> dict[str, str]:
    """Map each student id to a unique file-name stem (unique even on case-insensitive file systems).

    Ids whose sanitised names collide all get `-<8 hex of sha256(id)>`; anything still taken (a
    student deliberately named like another's suffixed name) gets a counter, in sorted id order,
    so the mapping depends only on the set of ids.
    """
    ids = sorted(set(students))
    plain = {s: sanitise(s) for s in ids}
    groups: dict[str, int] = {}
    for name in plain.values():
        groups[name.casefold()] = groups.get(name.casefold(), 0) + 1
    wanted = {s: name if groups[name.casefold()] == 1 else f"{name}-{_digest(s)}" for s, name in plain.items()}
    taken: set[str] = set()
    result: dict[str, str] = {}
    # Ids keeping their plain name go first, so they never lose it to a suffixed name.
    for s in sorted(ids, key=lambda s: (wanted[s] != plain[s], s)):
        name, n = wanted[s], 2
        while name.casefold() in taken:
            name, n = f"{wanted[s]}-{n}", n + 1
        taken.add(name.casefold())
        result[s] = name
    return result


def _digest(student: str) -> str:
    return hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]
