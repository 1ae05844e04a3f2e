"""The gradebooks: `gradebook.csv` (ours), `gradebook_canvas.csv` (Canvas' import format) and,
with a Moodle roster, `gradebook_moodle.csv` (Moodle's "Import grades: CSV file").

With a roster (`roster.py`) every student on it has a row, empty where nothing was graded, and
the Canvas file carries the roster's `ID`, `SIS User ID`, `SIS Login ID` and `Section`.

Both are deterministic (rows sorted by student id, columns by assignment id, fixed number format,
`\\r\\n` line ends as RFC 4180 says), so two runs on the same results give byte-identical files and
a diff of two gradebooks shows only real changes.

Text cells hold student ids taken from upload names; a cell starting with `=`, `+`, `-`, `@`, tab
or carriage return would be run as a formula by Excel or LibreOffice, so such a cell is written
with a leading `'` (the OWASP advice against CSV injection). Scores are numbers we write.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Protocol

from ..result import Result
from .common import assignments_of, fmt, lateness, max_scores, pick


class Upload(Protocol):
    """What the Canvas gradebook reads of how an LMS named an upload (`batch.lms.LmsName`): the
    reports take it as data and never import the batch that grades and calls them."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def lms_id(self) -> str: ...


class Student(Protocol):
    """What the gradebooks read of a roster's student (`batch.roster.Person`)."""

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def canvas_id(self) -> str: ...
    @property
    def sis_user_id(self) -> str: ...
    @property
    def sis_login_id(self) -> str: ...
    @property
    def section(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def id_number(self) -> str: ...
    @property
    def email(self) -> str: ...


class ClassList(Protocol):
    """What the gradebooks read of a roster (`batch.roster.Roster`): its LMS and its students."""

    @property
    def kind(self) -> str: ...
    @property
    def people(self) -> Sequence[Student]: ...


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def text_cell(value: str) -> str:
    """A text cell that a spreadsheet shows as text, never evaluates."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def rows_csv(rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows(rows)
    return buf.getvalue()


def _by_student(chosen: Sequence[Result], roster: ClassList | None) -> dict[str, dict[str, Result]]:
    """Results by student, with an empty entry for every roster student who has none."""
    by_student: dict[str, dict[str, Result]] = {p.key: {} for p in roster.people} if roster else {}
    for r in chosen:
        by_student.setdefault(r.student, {})[r.assignment] = r
    return by_student


TERM_COLUMNS = ("raw", "late", "penalty", "overrides")


def _term_cells(result: Result | None) -> list[str]:
    """`<assignment> raw, late, penalty, overrides` of one result: what `course/term.py` applied."""
    if result is None:
        return ["", "", "", ""]
    term = result.term
    if term is None:
        return [fmt(result.score), "", "", ""]
    late = term.late
    overrides = "; ".join(f"{o.question} {fmt(o.before)}->{fmt(o.after)} ({o.reason})" for o in term.overrides)
    return [
        fmt(term.raw_score),
        "" if late is None else lateness(late.seconds) + (" (extension)" if late.extension else ""),
        "" if late is None else fmt(late.penalty),
        text_cell(overrides),
    ]


def gradebook_csv(
    results: Sequence[Result], roster: ClassList | None = None, notes: Mapping[str, str] | None = None
) -> str:
    """`student, <assignment id>..., total, max_total`: a row per student, the score of each
    assignment (empty if not submitted; an unreadable submission is a 0, it was submitted),
    the total of the scores (empty for a roster student with nothing graded), and the sum of the
    points possible of every column. Where a late penalty or an override was applied to any result
    of an assignment, `<assignment> raw|late|penalty|overrides` columns follow (the graded score,
    the lateness, the points taken, the overrides with reasons); with `notes` (student -> how the
    roster match was accepted), a last `note` column. Without either, the columns are as before."""
    chosen = pick(results)
    aids = assignments_of(chosen)
    maxima = max_scores(chosen)
    max_total = fmt(sum(maxima[a] for a in aids))
    by_student = _by_student(chosen, roster)
    termed = [a for a in aids if any(r.term is not None for r in chosen if r.assignment == a)]
    notes = notes or {}
    rows: list[list[str]] = [
        [
            "student",
            *aids,
            "total",
            "max_total",
            *(f"{a} {c}" for a in termed for c in TERM_COLUMNS),
            *(["note"] if notes else []),
        ]
    ]
    for student in sorted(by_student):
        mine = by_student[student]
        rows.append(
            [
                text_cell(student),
                *(fmt(mine[a].score) if a in mine else "" for a in aids),
                fmt(sum(r.score for r in mine.values())) if mine else "",
                max_total,
                *(cell for a in termed for cell in _term_cells(mine.get(a))),
                *([text_cell(notes.get(student, ""))] if notes else []),
            ]
        )
    return rows_csv(rows)


def canvas_identity(student: str, uploads: Sequence[Upload]) -> tuple[str, str, str]:
    """(Student, ID, SIS Login ID) for the Canvas import, from how the LMS named the student's
    uploads (`uploads`: the `LmsName`s discovery parsed, carried on each `Submission`).

    Canvas matches an imported row to a student by `ID` (the Canvas user id) first, then by
    `SIS User ID` / `SIS Login ID`, then by the exact name. The grader only knows the Canvas user
    id when the submission came from a Canvas download (`name_<user id>_<attachment id>_file`,
    read once by `lms.parse_canvas` at discovery): then `ID` is that number and `Student` the
    name part.
    Any other student id (a folder per student, a flat `<login>_<assignment>.ipynb`, Moodle) is
    most likely the student's login, so it goes to `SIS Login ID` and `Student`, and `ID` stays
    empty: putting a number that is not a Canvas user id in `ID` could credit another student.
    `SIS User ID` (the registrar's id) is never known here and stays empty, as does `Section`.
    """
    for upload in uploads:
        if upload.kind == "canvas":
            return upload.name, upload.lms_id, ""
        if upload.kind == "canvas_anonymous":
            return student, "", ""  # an anonymous id is no login; Canvas matches it to no one
    return student, "", student


def canvas_csv(
    results: Sequence[Result],
    names: Mapping[str, str] | None = None,
    roster: ClassList | None = None,
    uploads: Mapping[str, Upload] | None = None,
) -> str:
    """Canvas' gradebook import: `Student, ID, SIS User ID, SIS Login ID, Section, <assignment>...`,
    then a `Points Possible` row, then a row per student.

    The assignment header is the assignment id (e.g. `04_optimizers`) unless `names` maps it to
    the name of the Canvas assignment: Canvas matches a column to an existing assignment by exact
    name (or a trailing `(<canvas assignment id>)`), offers to map unmatched columns in its import
    preview, and otherwise creates a new assignment. There is no total column: Canvas would
    import it as one more assignment. Empty cells (not submitted) leave Canvas' grade blank.
    A student id containing `Points Possible` is left out of `Student` (Canvas would take the
    row for the points row) and matched by `SIS Login ID` only. With a Canvas roster, each
    roster student's identity columns are the roster's own. `uploads` is how the LMS named
    each upload, by `<student>/<assignment>` (`batch.lms_names`).
    """
    chosen = pick(results)
    aids = assignments_of(chosen)
    maxima = max_scores(chosen)
    by_student = _by_student(chosen, roster)
    known = {p.key: p for p in roster.people} if roster and roster.kind == "canvas" else {}
    known_uploads = uploads or {}
    header = [*CANVAS_COLUMNS, *(text_cell((names or {}).get(a, a)) for a in aids)]
    rows: list[list[str]] = [header, ["Points Possible", "", "", "", "", *(fmt(maxima[a]) for a in aids)]]
    for student in sorted(by_student):
        mine = by_student[student]
        if person := known.get(student):
            identity = [person.name, person.canvas_id, person.sis_user_id, person.sis_login_id, person.section]
        else:
            named = [known_uploads[key] for key in sorted(f"{student}/{a}" for a in mine) if key in known_uploads]
            shown, canvas_id, login = canvas_identity(student, named)
            identity = [shown, canvas_id, "", login, ""]
        if "Points Possible" in identity[0]:  # Canvas would read the row as the points possible
            identity[0] = ""
        rows.append([*(text_cell(c) for c in identity), *(fmt(mine[a].score) if a in mine else "" for a in aids)])
    return rows_csv(rows)


def moodle_csv(results: Sequence[Result], roster: ClassList) -> str:
    """Moodle's grade import (Grades -> Import -> CSV file): `First name, Last name, ID number,
    Email address, <assignment>...`, a row per roster student, empty where nothing was graded.

    Moodle maps a row to a user by one identifier column chosen in the import form: choose
    `Email address` (or `ID number`), then map each assignment column to its grade item. Names
    are not identifiers there. Students not on the roster are never in this file.
    """
    chosen = pick(results)
    aids = assignments_of(chosen)
    by_student = _by_student(chosen, roster)
    rows: list[list[str]] = [["First name", "Last name", "ID number", "Email address", *aids]]
    for person in sorted(roster.people, key=lambda p: p.key):
        mine = by_student.get(person.key, {})
        rows.append(
            [
                *(text_cell(c) for c in (person.first_name, person.last_name, person.id_number, person.email)),
                *(fmt(mine[a].score) if a in mine else "" for a in aids),
            ]
        )
    return rows_csv(rows)
