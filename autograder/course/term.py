"""The term around the grading: due dates, extensions, a late policy, and the instructor's overrides.

Why here, and why after grading: what a submission scored is the sandboxed run compared with the
reference (`grading/`); what it is *worth* in the term (late, excused, regraded by hand) is the
instructor's rule, applied by the trusted grader to the finished `Result`, from the course's
settings and the instructor's files only. Nothing the notebook can reach (its cells, its
metadata, what it prints) decides lateness or an override: lateness comes from the LMS's download
(Canvas' `LATE` marker, `batch/lms.py`) or the instructor's submission-times CSV.

`apply` always starts from the graded (raw) scores a `Result.term` keeps, so applying again, on a
resumed batch or after the overrides file changed, gives the same answer as applying once: the
rules are state-free and the result files are their output, never their input.

Order: question overrides replace or adjust question scores; the late penalty is a fraction of
that score; total overrides come last (an instructor who waives a penalty sets the total).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..errors import UsageError
from ..questions import ASSIGNMENTS
from ..result import Late, Override, Result, Term

POLICIES = ("none", "fixed", "per_day", "per_hour")
UNIT_SECONDS = {"per_day": 86400.0, "per_hour": 3600.0}
MAX_FILE_BYTES = 10 * 1024**2  # an instructor's CSV; a larger file is a mistake (the wrong file)
TOTAL = "total"


@dataclass(frozen=True)
class Policy:
    """`late_policy` and its numbers (`config.Config`): `fraction` of the score per unit (once, for
    `fixed`), at most `cap`; later than `cutoff_hours` after the due date scores 0 whatever the policy."""

    kind: str = "none"
    fraction: float = 0.0
    cap: float = 1.0
    cutoff_hours: float | None = None

    def words(self) -> str:
        base = {
            "none": "no penalty",
            "fixed": f"{self.fraction:.0%} of the score",
            "per_day": f"{self.fraction:.0%} of the score per day or part of one, at most {self.cap:.0%}",
            "per_hour": f"{self.fraction:.0%} of the score per hour or part of one, at most {self.cap:.0%}",
        }[self.kind]
        return base + (f"; 0 after {self.cutoff_hours:g} hours" if self.cutoff_hours is not None else "")


@dataclass(frozen=True)
class Submitted:
    """What the download and the instructor's files say of when one submission came in."""

    marker: bool = False  # Canvas wrote `LATE` into its name (late by Canvas' own due date)
    time: datetime | None = None  # the submission-times CSV's time, if it has a row


@dataclass(frozen=True)
class OverrideLine:
    """One row of the overrides file, checked (`read_overrides`); `line` is its line number."""

    line: int
    student: str
    assignment: str
    question: str
    reason: str
    points: float | None = None
    adjustment: float | None = None


def aware(value: object, where: str) -> datetime:
    """A due date or submission time with its UTC offset: a time without one means something else on
    every machine, and a penalty must not depend on where the grader runs."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"{where}: {value!r} is not a date and time (2026-11-20T23:59:00+01:00)") from None
    if not isinstance(value, datetime):
        raise UsageError(f"{where}: {value!r} is not a date and time (2026-11-20T23:59:00+01:00)")
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"{where}: {value.isoformat()} has no UTC offset (write it as {value.isoformat()}+01:00)")
    return value


def parse_due(value: object, where: str) -> dict[str, datetime]:
    """`[tool.autograder.due]`: `"<assignment>" = 2026-11-20T23:59:00+01:00` (a TOML date or a string)."""
    if not isinstance(value, Mapping):
        raise UsageError(f'{where} must be a table of "<assignment>" = date and time, not {value!r}')
    due = {}
    for aid, when in value.items():
        if aid not in ASSIGNMENTS:
            raise UsageError(f"{where} {aid!r}: unknown assignment; known: {', '.join(ASSIGNMENTS)}")
        due[str(aid)] = aware(when, f"{where} {aid!r}")
    return due


def parse_extensions(value: object, where: str) -> dict[tuple[str, str], datetime]:
    """`[tool.autograder.extensions]`: `"<student>.<assignment>" = date and time` (or a table per
    student): the student's own due date. The student is the id the gradebook shows."""
    if not isinstance(value, Mapping):
        raise UsageError(f'{where} must be a table of "<student>.<assignment>" = date and time, not {value!r}')
    flat: dict[str, object] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            flat |= {f"{key}.{inner}": when for inner, when in item.items()}
        else:
            flat[str(key)] = item
    extensions = {}
    for key, when in flat.items():
        student, _, aid = key.rpartition(".")
        if not student or aid not in ASSIGNMENTS:
            raise UsageError(f'{where} "{key}": write "<student>.<assignment>" with one of {", ".join(ASSIGNMENTS)}')
        extensions[(student, aid)] = aware(when, f'{where} "{key}"')
    return extensions


def late(
    submitted: Submitted, due: datetime | None, extended: datetime | None, policy: Policy
) -> tuple[Late | None, float | None]:
    """(how late, the fraction of the score it costs) or (None, None) when on time. The fraction is
    None only when it is not known; the `Late` record says why in its `note`."""
    applied = extended or due
    due_text = applied.isoformat() if applied else "Canvas' due date"
    if submitted.time is not None:
        if applied is None:
            return None, None  # nothing to compare with: the config has no due date for it
        seconds = (submitted.time - applied).total_seconds()
        if seconds <= 0:
            return None, None
        record = Late(due_text, "the submission times CSV", seconds, extended is not None, policy.words(), 0.0)
        if policy.cutoff_hours is not None and seconds > policy.cutoff_hours * 3600:
            return replace(record, note=f"after the {policy.cutoff_hours:g}-hour cutoff"), 1.0
        return record, _fraction(policy, math.ceil(seconds / UNIT_SECONDS.get(policy.kind, 1.0)))
    if not submitted.marker:
        return None, None
    record = Late(due_text, "Canvas' LATE marker", None, extended is not None, policy.words(), 0.0)
    if extended is not None:  # Canvas judged it by its own due date; without a time, not by the extension
        return (
            replace(
                record,
                note="late by Canvas' due date; with no submission time to compare with the "
                "extension, not penalised (add it to the submission times CSV)",
            ),
            0.0,
        )
    note = (
        "" if policy.kind in ("none", "fixed") else "no submission time: counted as one unit late, the least it can be"
    )
    if policy.cutoff_hours is not None:
        note = (note + "; " if note else "") + "the cutoff needs a submission time: not applied"
    return replace(record, note=note), _fraction(policy, 1)


def _fraction(policy: Policy, units: int) -> float:
    if policy.kind == "none":
        return 0.0
    if policy.kind == "fixed":
        return min(1.0, policy.fraction)
    return min(policy.cap, policy.fraction * max(1, units))


def raw(result: Result) -> Result:
    """The result as graded, before anything `apply` did."""
    if result.term is None:
        return result
    questions = tuple(replace(q, score=result.term.raw_questions.get(q.id, q.score)) for q in result.questions)
    return replace(result, questions=questions, score=result.term.raw_score, term=None)


def apply(result: Result, lateness: tuple[Late | None, float | None], overrides: Sequence[OverrideLine]) -> Result:
    """`result` (as graded, or as applied before: it starts over from the raw scores) with the
    overrides and the late penalty applied and recorded; unchanged when none apply."""
    result = raw(result)
    record, fraction = lateness
    if record is None and not overrides:
        return result
    scores = {q.id: q.score for q in result.questions}
    maxima = {q.id: q.max_score for q in result.questions}
    applied: list[Override] = []
    for line in (o for o in overrides if o.question != TOTAL and o.question in scores):  # checked: all are
        before = scores[line.question]
        after = line.points if line.points is not None else before + (line.adjustment or 0.0)
        scores[line.question] = min(maxima[line.question], max(0.0, after))
        applied.append(_applied(line, before, scores[line.question]))
    total = sum(scores.values())
    if record is not None:
        penalty = round(total * (fraction or 0.0), 6)
        record = replace(record, penalty=penalty)
        total = max(0.0, total - penalty)
    for line in (o for o in overrides if o.question == TOTAL):
        before = total
        total = max(0.0, line.points if line.points is not None else total + (line.adjustment or 0.0))
        applied.append(_applied(line, before, total))
    term = Term(result.score, {q.id: q.score for q in result.questions}, record, tuple(applied))
    return replace(
        result,
        questions=tuple(replace(q, score=scores[q.id]) for q in result.questions),
        score=round(total, 6),
        term=term,
    )


def _applied(line: OverrideLine, before: float, after: float) -> Override:
    return Override(line.question, line.reason, before, after, line.points, line.adjustment)


# --- the instructor's CSV files ------------------------------------------------------------------


def _rows(path: Path, what: str, header: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, cells) of a CSV with `header` (other columns after it are allowed); a usage
    error naming the file and line for anything else."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{what} {path}: larger than {MAX_FILE_BYTES // 1024**2} MB; is it the right file?")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {path}: cannot read it ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, dict[str, str]]] = []
    columns: list[str] | None = None
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in row]
        if columns is None:
            columns = [c.lower() for c in cells]
            if columns[: len(header)] != list(header):
                raise UsageError(f"{what} {path}, line {number}: the header must be {','.join(header)}")
            continue
        rows.append((number, {c: cells[i] if i < len(cells) else "" for i, c in enumerate(columns)}))
    return rows


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{where}: {text!r} is not a number")
    return value


def read_overrides(path: Path, students: set[str], maxima: Mapping[str, Mapping[str, float]]) -> list[OverrideLine]:
    """The overrides file: `student,assignment,question,points,reason`. `question` is a question id
    or `total`; `points` is the score to give (`7`) or a change to it (`+1`, `-2.5`); a reason is
    required (it is shown to the student). `students` are the batch's students (the roster's, with
    one); `maxima` each assignment's question maxima (the course's points)."""
    lines: list[OverrideLine] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, cell in _rows(path, "overrides", ("student", "assignment", "question", "points", "reason")):
        where = f"overrides {path}, line {number}"
        student, aid, question, points, reason = (
            cell[k] for k in ("student", "assignment", "question", "points", "reason")
        )
        if student not in students:
            raise UsageError(f"{where}: unknown student {student!r} (not among this batch's students)")
        if aid not in maxima:
            raise UsageError(f"{where}: unknown assignment {aid!r}; known: {', '.join(maxima)}")
        if question != TOTAL and question not in maxima[aid]:
            raise UsageError(f"{where}: {aid} has no question {question!r}; known: {', '.join(maxima[aid])}, total")
        if not reason:
            raise UsageError(f"{where}: give a reason (the student reads it)")
        value = _number(points, where)
        top = sum(maxima[aid].values()) if question == TOTAL else maxima[aid][question]
        adjust = points.startswith(("+", "-"))
        if not adjust and not 0 <= value <= top:
            raise UsageError(f"{where}: {points} points is outside 0..{top:g} for {question}")
        if (student, aid, question) in seen:
            raise UsageError(
                f"{where}: a second line for {student} {aid} {question} (the first is line {seen[(student, aid, question)]})"
            )
        seen[(student, aid, question)] = number
        lines.append(
            OverrideLine(number, student, aid, question, reason, None if adjust else value, value if adjust else None)
        )
    return lines


def read_times(path: Path, students: set[str]) -> dict[tuple[str, str], datetime]:
    """The submission-times CSV: `student,assignment,submitted` (a date and time with its offset),
    for LMSs whose download carries no submission time the grader can trust."""
    times: dict[tuple[str, str], datetime] = {}
    for number, cell in _rows(path, "submission times", ("student", "assignment", "submitted")):
        where = f"submission times {path}, line {number}"
        if cell["student"] not in students:
            raise UsageError(f"{where}: unknown student {cell['student']!r} (not among this batch's students)")
        if cell["assignment"] not in ASSIGNMENTS:
            raise UsageError(f"{where}: unknown assignment {cell['assignment']!r}")
        times[(cell["student"], cell["assignment"])] = aware(cell["submitted"], where)
    return times


def read_matches(path: Path) -> list[tuple[int, str, str]]:
    """The roster matches file: `upload,student`: the student id the batch gave an upload (as the
    "not graded" line names it) and the roster student it is (roster key, Canvas ID, email or SIS
    login). Checked against the roster by `batch/roster.py`."""
    found = []
    for number, cell in _rows(path, "roster matches", ("upload", "student")):
        if not cell["upload"] or not cell["student"]:
            raise UsageError(f"roster matches {path}, line {number}: both columns are needed")
        found.append((number, cell["upload"], cell["student"]))
    return found
