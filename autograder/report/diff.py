"""`autograder diff OLD_OUT NEW_OUT`: whose grade a regrade changes, and why, before it is published.

Two `--out` folders of `autograder grade` (say, last week's and one regraded after a grader or
settings change) are read back from their `results/` files, paired by (student, assignment), and
every pair whose total or any question's score or points possible differs is listed with the old
and new numbers and the recorded reasons a result can differ for: the grader's version, the
settings hash (points, thresholds, limits), the submission's bytes, the seed, and what the term
applied after grading (late penalty, overrides). When none of them differs, the grading itself
did (a run cut by a time limit on a loaded machine, a nondeterministic notebook): said so.

Results are data read from files (of this version or older, `Result.from_dict`); a damaged file is
listed and skipped, never the end of the diff. Student ids in the CSV go through `text_cell`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..result import Override, Result
from .common import fmt
from .gradebook import rows_csv, text_cell

NO_REASON = (
    "same grader, settings, submission and seed: the run itself differed (a time limit, a nondeterministic notebook)"
)


@dataclass(frozen=True)
class Change:
    student: str
    assignment: str
    old: Result | None
    new: Result | None
    questions: tuple[tuple[str, str, str], ...]  # (question, old "score/max", new "score/max")
    why: tuple[str, ...]


def load_results(out: Path) -> tuple[dict[tuple[str, str], Result], list[tuple[str, str]]]:
    """Every result under `out/results/`, by (student, assignment); and the files that could not be
    read, with why."""
    found: dict[tuple[str, str], Result] = {}
    bad: list[tuple[str, str]] = []
    for path in sorted((out / "results").rglob("*.json")):
        try:
            result = Result.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            bad.append((str(path), f"not a result this grader reads ({str(exc)[:200]})"))
            continue
        found[(result.student, result.assignment)] = result
    return found, bad


def _score(score: float, top: float) -> str:
    return f"{fmt(score)}/{fmt(top)}"


def _why(old: Result, new: Result) -> tuple[str, ...]:
    why = []
    if old.grader_version != new.grader_version:
        why.append(f"grader version {old.grader_version} -> {new.grader_version}")
    if old.settings_hash != new.settings_hash:
        why.append(f"settings (points, thresholds, limits) {old.settings_hash[:12]} -> {new.settings_hash[:12]}")
    if old.submission_sha256 != new.submission_sha256:
        why.append(f"submission bytes {old.submission_sha256[:12]} -> {new.submission_sha256[:12]}")
    if old.seed != new.seed:
        why.append(f"seed {old.seed} -> {new.seed}")
    old_late, new_late = (old.term.late if old.term else None), (new.term.late if new.term else None)
    if old_late != new_late:
        why.append(
            f"late penalty {fmt(old_late.penalty) if old_late else 'none'} -> {fmt(new_late.penalty) if new_late else 'none'}"
        )
    old_over, new_over = (old.term.overrides if old.term else ()), (new.term.overrides if new.term else ())
    if [_rule(o) for o in old_over] != [_rule(o) for o in new_over]:  # not before/after: those follow the scores
        shown = "; ".join(f"{o.question} ({o.reason})" for o in new_over) or "none"
        why.append(f"overrides now: {shown}")
    return tuple(why) or (NO_REASON,)


def _rule(override: Override) -> tuple[str, str, float | None, float | None]:
    return override.question, override.reason, override.points, override.adjustment


def compare(old: dict[tuple[str, str], Result], new: dict[tuple[str, str], Result]) -> list[Change]:
    """Every (student, assignment) whose total or any question changed, or that is in one only."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            why = "graded only in the new results" if a is None else "not in the new results"
            changes.append(Change(*key, a, b, (), (why,)))
            continue
        before = {q.id: q for q in a.questions}
        after = {q.id: q for q in b.questions}
        questions = tuple(
            (
                qid,
                _score(before[qid].score, before[qid].max_score) if qid in before else "",
                _score(after[qid].score, after[qid].max_score) if qid in after else "",
            )
            for qid in [*before, *(q for q in after if q not in before)]
            if qid not in before
            or qid not in after
            or (before[qid].score, before[qid].max_score) != (after[qid].score, after[qid].max_score)
        )
        if questions or (a.score, a.max_score) != (b.score, b.max_score):
            changes.append(Change(*key, a, b, questions, _why(a, b)))
    return changes


def _total(result: Result | None) -> str:
    return "" if result is None else _score(result.score, result.max_score)


def text(changes: list[Change], compared: int) -> str:
    """One block per changed student and assignment; a last line with the counts."""
    lines = []
    for c in changes:
        lines.append(f"{c.student}  {c.assignment}  total {_total(c.old) or '-'} -> {_total(c.new) or '-'}")
        lines += [f"  {qid}  {old or '-'} -> {new or '-'}" for qid, old, new in c.questions]
        lines += [f"  why: {reason}" for reason in c.why]
    lines.append(f"{len(changes)} of {compared} graded submissions changed")
    return "\n".join(lines) + "\n"


def csv_text(changes: list[Change]) -> str:
    """`student,assignment,question,old,new,why`: a `total` row per change, then one per question."""
    rows = [["student", "assignment", "question", "old", "new", "why"]]
    for c in changes:
        why = "; ".join(c.why)
        rows.append([text_cell(c.student), c.assignment, "total", _total(c.old), _total(c.new), text_cell(why)])
        rows += [[text_cell(c.student), c.assignment, qid, old, new, text_cell(why)] for qid, old, new in c.questions]
    return rows_csv(rows)
