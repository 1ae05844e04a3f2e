"""Similar code across a class: which pairs of submissions share the code their students wrote.

`autograder similarity DIR` (and the section of `summary.html` after a batch) reads the code
copies the batch keeps (`sources.py`), and per assignment ranks the pairs of submissions by the
fingerprints they share (`tokens.py` -> `fingerprints.py` -> `pairs.py`), the given code of the
assignment notebook excluded, and writes `DIR/similarity.html` (`page.py`): the ranked list and,
for each pair at or above `similarity_threshold`, the matching regions side by side.

Why not `copydetect` (PyPI, 0.5.0 of March 2024, MIT, by B. Lingenfelter), which implements the
same paper and was evaluated for this before writing these ~500 lines:
- fit: it compares files on disk by extension (Pygments lexers); notebooks are not among them,
  so every submission would be written out as `.py` files first, and IPython syntax (`%magic`)
  would reach the lexer;
- report: its HTML loads Bootstrap's scripts and styles from a CDN (`data/report.html`), against
  this project's self-contained, script-free pages; only its numbers would be used;
- speed: its comparison loop visits every pair of files (n^2 / 2 numpy intersections: 44,850 for
  300 submissions); here an index visits only the pairs that share a fingerprint;
- reproducibility: it hashes k-grams of characters with Python's `hash` of `str`, which is salted
  per process (`PYTHONHASHSEED`), so fingerprints differ between runs;
- dependencies: jinja2, pygments and tqdm besides numpy and matplotlib (three new ones);
- its normalisation (names -> V/F/O, strings -> S, whitespace and comments dropped, boilerplate
  fingerprints removed) is what this package does with Python's own `tokenize`.
Its quality is otherwise sound (MIT licence, tested, maintained by one author, releases
2020-2024); the algorithm here is the published one (Schleimer, Wilkerson, Aiken 2003), written
from the paper, no code taken from copydetect, MOSS or Dolos.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..course.config import Config
from ..errors import SubmissionUnreadable
from ..files import write_atomic
from ..questions import ASSIGNMENTS
from .obfuscation import Obfuscation
from .page import section, similarity_page
from .pairs import AssignmentPairs, Pair, compare
from .sources import CODE_DIR, Code, Placed, given_cells, keep_code, load_codes

REPORT_NAME = "similarity.html"


def analyse(out: Path, config: Config, only: str | None = None) -> tuple[list[AssignmentPairs], list[tuple[str, str]]]:
    """The ranked pairs per assignment of the class graded into `out`, and the code copies not
    compared (with why)."""
    codes, skipped = load_codes(out)
    by_assignment: dict[str, list[Code]] = {}
    for code in codes:
        if code.assignment not in ASSIGNMENTS:
            skipped.append((f"{code.student}/{code.assignment}", "not an assignment of this course"))
        elif only is None or code.assignment == only:
            by_assignment.setdefault(code.assignment, []).append(code)
    reports = []
    for aid in sorted(by_assignment):
        try:
            given = given_cells(config.path(config.assignments_dir) / f"{aid}.ipynb")
        except SubmissionUnreadable:  # no assignment notebook: nothing is excluded, and the page says so
            given = []
            skipped.append((f"assignments/{aid}.ipynb", "unreadable: its given code is not excluded"))
        reports.append(compare(by_assignment[aid], given, config.similarity_threshold))
    return reports, skipped


def write_report(
    out: Path, config: Config, only: str | None = None
) -> tuple[Path, list[AssignmentPairs], list[tuple[str, str]]]:
    """`out/similarity.html`, and what it shows."""
    reports, skipped = analyse(out, config, only)
    path = out / REPORT_NAME
    write_atomic(path, similarity_page(reports, skipped))
    return path, reports, skipped


def ranked_lines(reports: Iterable[AssignmentPairs], top: int) -> list[str]:
    """What `autograder similarity` prints: per assignment its counts and its first `top` pairs."""
    lines = []
    for report in reports:
        lines.append(
            f"{report.assignment}: {report.submissions} submissions, {len(report.flagged)} pairs at or "
            f"above {report.threshold:g}"
        )
        lines += [
            f"  #{rank:<3} {p.similarity:.2f}  {p.left.student}  {p.right.student}{'  flagged' * p.flagged}"
            for rank, p in enumerate(report.pairs[: max(0, top)], 1)
        ]
        by_student: dict[str, list[Obfuscation]] = {}
        for o in report.obfuscated:  # one line per student: one notebook's many cells hide no other
            by_student.setdefault(o.student, []).append(o)
        lines += [
            f"  code run from a string: {student}, cell {found[0].cell} line {found[0].line}: {found[0].what}"
            + (f" (and {len(found) - 1} more places)" if len(found) > 1 else "")
            for student, found in list(by_student.items())[: max(0, top)]
        ]
    return lines


@dataclass(frozen=True)
class AfterBatch:
    path: Path | None  # similarity.html, None if it failed
    section: str  # for summary.html ("" if it failed)
    error: str | None = None


def after_batch(
    subs: Iterable[Placed], out: Path, config: Config, named: Mapping[str, str] | None = None
) -> AfterBatch:
    """The batch's similarity stage: code copies, `similarity.html`, the summary's section.
    Student text cannot make it fail (it is bounded and cleaned where read); should the grader's
    own code fail here, the error is returned, not raised, so the gradebook is still written."""
    try:
        keep_code(subs, out, named)
        path, reports, skipped = write_report(out, config)
        return AfterBatch(path, section(reports, skipped))
    except Exception as exc:  # noqa: BLE001 - see above: reported by the CLI (exit 4)
        return AfterBatch(None, "", f"similarity report failed: {type(exc).__name__}: {exc}")


__all__ = [
    "CODE_DIR",
    "REPORT_NAME",
    "AfterBatch",
    "AssignmentPairs",
    "Code",
    "Pair",
    "after_batch",
    "analyse",
    "compare",
    "keep_code",
    "ranked_lines",
    "section",
    "similarity_page",
    "write_report",
]
