"""The class list (`--roster FILE`): every upload mapped to exactly one student on it, or listed.

Names in a download are what the LMS made of a student's name (`lms.py`); the roster is what the
LMS knows about the student. Read from the file the instructor already has:

- Canvas, the gradebook export (Grades -> Export): `Student, ID, SIS User ID, SIS Login ID,
  Section, <assignments>...`, a `Points Possible` row after the header. A Canvas upload names its
  user id, which is `ID`: the match is exact.
- Moodle, the participants download (Participants -> "Download table data as" CSV): `First name,
  Last name, ID number, Email address, ...`. A Moodle upload names the full name (its number is
  a participant id valid in one assignment only, `lms.py`), matched as `First name Last name`
  (Moodle's default `fullnamedisplay`); an upload in a folder or flat file of its own is matched
  by email, its local part, or ID number, and only then by full name.

Anything matching no one, or more than one student (two "Anna Schmidt"), is listed with the
candidates and not graded: a grade credited to the wrong student is worse than a missing one.
Only the instructor can accept such an upload, by naming it in the roster matches file
(`roster_matches`, `accepted`); the gradebook then says which upload was accepted as whom.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..errors import UsageError
from .discover import Submission, Unplaced, latest_per_key, student_id
from .lms import canvas_name, nfc

Kind = Literal["canvas", "moodle"]
CANVAS_HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_HEADER = ("First name", "Last name")


@dataclass(frozen=True)
class Person:
    """One student on the roster; `key` is the student id the batch records for them."""

    key: str
    name: str
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    first_name: str = ""
    last_name: str = ""
    id_number: str = ""
    email: str = ""

    @property
    def label(self) -> str:
        """Name and the identifier that tells two students of one name apart, for messages."""
        return f"{self.name} <{self.email or self.sis_login_id or self.id_number or self.canvas_id}>"


@dataclass(frozen=True)
class Roster:
    kind: Kind
    people: tuple[Person, ...]

    def by_key(self) -> dict[str, Person]:
        return {p.key: p for p in self.people}


def load_roster(path: Path) -> Roster:
    """Read a Canvas gradebook export or a Moodle participants CSV; anything else is a usage
    error naming the columns that were expected."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--roster {path}: cannot read it ({exc})") from None
    rows = [[nfc(cell.strip()) for cell in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    header = rows[0] if rows else []
    if all(column in header for column in CANVAS_HEADER[:2]):
        return _canvas(header, rows[1:])
    if all(column in header for column in MOODLE_HEADER):
        return _moodle(header, rows[1:])
    raise UsageError(
        f"--roster {path}: neither a Canvas gradebook export (columns {', '.join(CANVAS_HEADER)}) "
        f"nor a Moodle participants CSV (columns {', '.join(MOODLE_HEADER)}, ID number, Email address)"
    )


def _cells(header: list[str], row: list[str]) -> dict[str, str]:
    return {column: row[i] if i < len(row) else "" for i, column in enumerate(header)}


def _canvas(header: list[str], rows: list[list[str]]) -> Roster:
    people = []
    for row in rows:
        cell = _cells(header, row)
        if not cell["ID"].isdigit() or "Points Possible" in cell["Student"]:  # the points row, Canvas' muted rows
            continue
        key = student_id(f"{canvas_name(cell['Student'])}_{cell['ID']}")  # the key a download gives, see lms.py
        people.append(
            Person(
                key,
                cell["Student"],
                cell["ID"],
                cell.get("SIS User ID", ""),
                cell.get("SIS Login ID", ""),
                cell.get("Section", ""),
            )
        )
    return Roster("canvas", tuple(people))


def _moodle(header: list[str], rows: list[list[str]]) -> Roster:
    people = []
    for row in rows:
        cell = _cells(header, row)
        first, last = cell["First name"], cell["Last name"]
        name = " ".join(f"{first} {last}".split())
        if not name:
            continue
        email, number = cell.get("Email address", ""), cell.get("ID number", "")
        people.append(Person(student_id(name), name, first_name=first, last_name=last, id_number=number, email=email))
    names = [p.name.casefold() for p in people]
    # Two students with one name get keys that tell them apart (email, else ID number).
    people = [
        p
        if names.count(p.name.casefold()) == 1
        else replace(p, key=student_id(f"{p.name}_{p.email or p.id_number or len(people)}"))
        for p in people
    ]
    return Roster("moodle", tuple(people))


def _same(known: str, student: str) -> bool:
    """`student` was made an id by the batch (`student_id`), so compare it with the roster's
    value made an id the same way (`a.b@x.org` is the id `a.b_x.org`)."""
    return student_id(known).casefold() == student.casefold()


def _candidates(roster: Roster, sub: Submission) -> list[Person]:
    lms = sub.lms
    if roster.kind == "canvas":
        if lms is not None and lms.kind == "canvas":  # the id, and the name Canvas makes of it: no misread id
            return [p for p in roster.people if p.canvas_id == lms.lms_id and canvas_name(p.name) == lms.name]
        if lms is None:
            return [p for p in roster.people if p.sis_login_id and _same(p.sis_login_id, sub.student)]
        return []
    if lms is not None and lms.kind == "moodle":
        return [p for p in roster.people if p.name.casefold() == lms.name.casefold()]
    if lms is not None:
        return []
    for value in (lambda p: p.email, lambda p: p.email.split("@")[0], lambda p: p.id_number, lambda p: p.name):
        found = [p for p in roster.people if value(p) and _same(value(p), sub.student)]
        if found:
            return found
    return []


def accepted(roster: Roster, lines: Sequence[tuple[int, str, str]], where: str) -> dict[str, Person]:
    """The roster matches file's lines (`term.read_matches`: line, upload's student id, roster
    student) -> the upload's student id -> the one roster student it names (by roster key, Canvas
    ID, email, SIS login or ID number); a usage error naming the line for anyone else."""
    found: dict[str, Person] = {}
    for number, upload, wanted in lines:
        people = [
            p
            for p in roster.people
            if wanted in (p.key, p.canvas_id, p.sis_login_id, p.id_number)
            or (p.email and p.email.casefold() == wanted.casefold())
        ]
        if len(people) != 1:
            what = "no one" if not people else f"{len(people)} students ({'; '.join(p.label for p in people)})"
            raise UsageError(f"{where}, line {number}: {wanted!r} is {what} on the roster")
        if upload in found:
            raise UsageError(f"{where}, line {number}: a second line for the upload {upload!r}")
        found[upload] = people[0]
    return found


def _why_not(roster: Roster, sub: Submission) -> str:
    lms = sub.lms
    if lms is not None and lms.kind == "canvas" and roster.kind == "canvas":
        same_id = [p for p in roster.people if p.canvas_id == lms.lms_id]
        if same_id:
            return (
                f"user id {lms.lms_id} is {same_id[0].name} on the roster, but the upload is named {lms.name!r} "
                f"(Canvas would write {canvas_name(same_id[0].name)!r}): a renamed student or a misread name; "
                f"if it is them, add `{sub.student},{lms.lms_id}` to the roster matches file (roster_matches)"
            )
    if lms is not None and lms.kind in ("canvas_anonymous", "moodle_blind"):
        return "an anonymous upload cannot be matched to the roster: reveal the names in the LMS and download again"
    if lms is not None and lms.kind.startswith("canvas") != (roster.kind == "canvas"):
        return f"a {lms.kind.split('_')[0].title()} upload and a {roster.kind.title()} roster"
    return f"matches no one on the roster ({sub.student}; accept it as a roster student with roster_matches)"


@dataclass
class Matched:
    submissions: list[Submission]
    unmatched: list[Unplaced]
    missing: list[Person]  # on the roster, nothing graded
    notes: dict[str, str] = field(default_factory=dict)  # roster key -> how an upload was accepted as them


def match(roster: Roster, subs: Sequence[Submission], accept: Mapping[str, Person] | None = None) -> Matched:
    """Each submission re-keyed to its one roster student; the rest listed with the reason.
    `accept` (from `accepted`): uploads the instructor matched by hand, by their student id."""
    mapped: list[Submission] = []
    unmatched: list[Unplaced] = []
    notes: dict[str, str] = {}
    for sub in subs:
        if accept and (person := accept.get(sub.student)) is not None:
            mapped.append(replace(sub, student=person.key))
            notes[person.key] = f"upload {sub.student} accepted as {person.name} (roster matches)"
            continue
        found = _candidates(roster, sub)
        if len(found) == 1:
            mapped.append(replace(sub, student=found[0].key))
        elif found:
            who = "; ".join(sorted(p.label for p in found))
            unmatched.append(
                Unplaced(
                    sub.upload,
                    f"matches {len(found)} students on the roster ({who}): not "
                    f"graded; rename it <email>_{sub.assignment}.ipynb",
                )
            )
        else:
            unmatched.append(Unplaced(sub.upload, _why_not(roster, sub)))
    kept, dropped = latest_per_key(mapped)
    graded = {s.student for s in kept}
    missing = [p for p in roster.people if p.key not in graded]
    return Matched(kept, unmatched + dropped, missing, notes)
