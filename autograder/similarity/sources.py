"""Where the similarity pass finds each submission's code: a bounded copy the batch keeps.

Results record the submission's file name and sha256, not its code, and the files themselves do
not outlive the batch when they came in a zip (it is extracted into a temporary folder), so
`autograder grade` keeps, for each graded submission, a copy of its code cells in
`DIR/code/<folder>/<assignment>.json`, next to `DIR/results/<folder>/` (the student's folder,
`files.unique_names` of the class's ids, the same in both). `autograder similarity DIR` then
needs nothing but the folder the instructor already has, and a resumed or partly regraded batch
stays consistent: a copy is used only while its sha256 equals the result's (the file graded).

The copy is plain data read from a hostile notebook (never run): code cells only, the grader's
self-check cells left out (they are given), each cell cut at `MAX_CELL_CHARS`, the whole at
`MAX_CODE_CHARS` and `MAX_CELLS` (the largest reference solution, 01, has 29 code cells and
19,000 characters); a cut copy says `truncated`. Reading it back checks every type and size.
The given code (the assignment notebook from `assignments/`) is read the same way, as the
boilerplate to exclude.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nbformat import NotebookNode

from ..errors import SubmissionUnreadable
from ..files import safe_name, unique_names, write_atomic
from ..grading.grade import file_sha256
from ..grading.notebook import TAG_SELF_CHECK, read_notebook, tags
from ..grading.untrusted import clean_text

CODE_DIR = "code"
FORMAT = 1
MAX_CELL_CHARS = 50_000
MAX_CODE_CHARS = 200_000
MAX_CELLS = 500
MAX_COPY_BYTES = 8 * MAX_CODE_CHARS  # JSON escapes a character in at most 6 (\uXXXX) + field names


@dataclass(frozen=True)
class Code:
    student: str
    assignment: str
    submission: str
    sha256: str
    cells: tuple[tuple[int, str], ...]  # (the cell's index in the notebook, its source)
    truncated: bool = False

    def joined(self) -> tuple[list[str], list[tuple[int, str]]]:
        """The cells as one text (a `# [cell N]` line before each), as its lines, and each
        cell as (its first line in that text, its source): what tokens point into and the
        side-by-side view shows."""
        lines: list[str] = []
        starts: list[tuple[int, str]] = []
        for index, source in self.cells:
            lines.append(f"# [cell {index}]")
            starts.append((len(lines), source))
            lines += source.splitlines() or [""]
        return lines, starts

    def locate(self, line: int) -> tuple[int, int]:
        """(notebook cell index, 1-based line in that cell) of a line of `joined()`."""
        first = 1
        for index, source in self.cells:
            end = first + max(1, len(source.splitlines()))
            if line < end:
                return index, max(1, line - first + 1)
            first = end + 1
        return -1, 0


class Placed(Protocol):  # what `batch.Submission` gives: the file, whose it is, which assignment
    path: Path
    student: str
    assignment: str | None

    @property
    def upload(self) -> str: ...


def notebook_cells(path: Path) -> tuple[tuple[tuple[int, str], ...], bool]:
    """The code cells of a notebook, bounded, and whether anything was cut; unreadable: none."""
    try:
        nb = read_notebook(path)
    except (SubmissionUnreadable, OSError):  # graded as unreadable already; no code to compare
        return (), False
    return cells_of(nb)


def cells_of(nb: NotebookNode) -> tuple[tuple[tuple[int, str], ...], bool]:
    """The code cells of a notebook already read, bounded, and whether anything was cut."""
    cells: list[tuple[int, str]] = []
    total = 0
    truncated = False
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or TAG_SELF_CHECK in tags(cell):
            continue
        source = str(cell.get("source", ""))
        room = min(MAX_CELL_CHARS, MAX_CODE_CHARS - total)
        if len(source) > room or len(cells) == MAX_CELLS:
            truncated = True
        if len(cells) == MAX_CELLS or room <= 0:
            break
        source = clean_text(source[:room], limit=room)
        cells.append((index, source))
        total += len(source)
    return tuple(cells), truncated


def copy_path(out: Path, student: str, assignment: str, named: Mapping[str, str] | None = None) -> Path:
    """Where a student's code copy is kept: `named` is the class's folders (as for results)."""
    folder = (named or {}).get(student) or safe_name(student)
    return out / CODE_DIR / folder / f"{assignment}.json"


def keep_code(subs: Iterable[Placed], out: Path, named: Mapping[str, str] | None = None) -> int:
    """Write (or keep, when it is of the same file) each submission's code copy; returns how
    many were written. Called by the batch while the files still exist. A copy that cannot be
    written (a full disk) is left out of the comparison, never the end of the batch."""
    subs = list(subs)
    named = named if named is not None else unique_names(sub.student for sub in subs)
    written = 0
    for sub in subs:
        if sub.assignment is None:
            continue
        path = copy_path(out, sub.student, sub.assignment, named)
        digest = file_sha256(sub.path)
        old = _read_copy(path)
        if old is not None and old.sha256 == digest:
            continue
        written += _write_copy(path, sub, digest, *notebook_cells(sub.path))
    return written


def keep_read(sub: Placed, out: Path, named: Mapping[str, str], nb: NotebookNode, digest: str) -> None:
    """`keep_code` for one submission whose notebook the grader has just read (`grade(on_read=)`):
    the batch then reads each file once; `keep_code` finds the copy and leaves it."""
    if sub.assignment is not None:
        _write_copy(copy_path(out, sub.student, sub.assignment, named), sub, digest, *cells_of(nb))


def _write_copy(path: Path, sub: Placed, digest: str, cells: tuple[tuple[int, str], ...], truncated: bool) -> int:
    """Write one code copy; 1 if written, 0 if it could not be (a full disk: left out of the
    comparison, never the end of the batch)."""
    doc = {
        "format": FORMAT,
        "student": sub.student,
        "assignment": sub.assignment,
        "submission": clean_text(sub.upload, limit=300),
        "submission_sha256": digest,
        "truncated": truncated,
        "cells": [{"index": i, "source": s} for i, s in cells],
    }
    try:
        write_atomic(path, json.dumps(doc, indent=1) + "\n")
    except OSError:
        return 0
    return 1


def _read_copy(path: Path) -> Code | None:
    """A copy as written by `keep_code`, or None for anything else (missing, too big, damaged)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_COPY_BYTES:
            return None
        doc: Any = json.loads(path.read_text(encoding="utf-8"))
        cells = doc["cells"]
        if doc.get("format") != FORMAT or not isinstance(cells, list) or len(cells) > MAX_CELLS:
            return None
        parsed = tuple(
            (int(c["index"]), clean_text(c["source"], limit=MAX_CELL_CHARS))
            for c in cells
            if isinstance(c, dict) and isinstance(c.get("source"), str)
        )
        return Code(
            clean_text(doc["student"], limit=300, one_line=True),
            clean_text(doc["assignment"], limit=100),
            clean_text(doc["submission"], limit=300),
            str(doc["submission_sha256"]),
            parsed,
            bool(doc.get("truncated")),
        )
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None


def load_codes(out: Path) -> tuple[list[Code], list[tuple[str, str]]]:
    """Every usable code copy under `out`, and (copy, why) for those not used: a copy is used
    when `results/<student>/<assignment>.json` records the same sha256 (the file graded)."""
    codes: list[Code] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted((out / CODE_DIR).glob("*/*.json")):
        label = str(path.relative_to(out))
        code = _read_copy(path)
        if code is None:
            skipped.append((label, "not a readable code copy"))
            continue
        try:
            graded = json.loads((out / "results" / path.parent.name / path.name).read_text())
            graded_sha = graded.get("submission_sha256") if isinstance(graded, dict) else None
        except (OSError, ValueError, RecursionError):
            graded_sha = None
        if graded_sha != code.sha256:
            skipped.append((label, "no result for this file (a copy of another upload, or not graded)"))
            continue
        codes.append(code)
    return codes, skipped


def given_cells(assignment_notebook: Path) -> list[str]:
    """The code cells of the assignment notebook students start from (stubs, given cells and
    self-checks): the boilerplate every submission shares."""
    nb = read_notebook(assignment_notebook)
    return [str(c.get("source", "")) for c in nb.cells if c.get("cell_type") == "code"]
