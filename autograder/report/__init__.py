"""The reporting stage: from a batch's results to the files an instructor and students read.

`write_reports` writes, into one folder:

- `gradebook.csv`: a row per student, a column per assignment, total and max_total;
- `gradebook_canvas.csv`: the same scores in Canvas' gradebook import format;
- `feedback/<name>.md` and `.html`: per student, what to fix (names sanitised, never colliding);
- `summary.html`: charts, problem submissions and unplaced uploads for the instructor (and the
  similarity section the caller made, which reads code copies: not from `Result`s).

It only reads `Result`s (never notebooks or the grader's cache), so reports can be rebuilt from
`results/*.json` at any time; the Canvas gradebook's `ID` column also needs how the LMS named
each upload (`uploads`, from the batch's discovery: without it, ids go to `SIS Login ID`). Output is deterministic: the same results give the same bytes
(the time chart of course follows the recorded grading times).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..files import write_atomic
from ..result import Result
from .feedback import feedback_html, feedback_markdown, write_feedback
from .gradebook import ClassList, Upload, canvas_csv, gradebook_csv, moodle_csv
from .naming import file_names, sanitise
from .summary import summary_html


def write_reports(
    results: list[Result],
    out_dir: Path,
    unplaced: Sequence[tuple[str, str]] = (),
    roster: ClassList | None = None,
    similarity: str = "",
    uploads: Mapping[str, Upload] | None = None,
    failed: list[tuple[str, str]] | None = None,
    notes: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write every report into `out_dir`; returns their paths by name: `gradebook`,
    `gradebook_canvas`, (`gradebook_moodle` with a Moodle roster), `summary`, `feedback` (the
    folder). `unplaced` lists (file, reason) of uploads the batch could not attribute to a
    student and assignment; with a `roster`, its students without any result are listed too;
    `similarity` is the similarity section of `summary.html` (`autograder.similarity.section`);
    `uploads` how the LMS named each upload, by `<student>/<assignment>` (`batch.lms_names`);
    a student's feedback that cannot be written is appended to `failed` (else raised); `notes`
    (student -> how an upload was accepted as them, `roster.match`) go into `gradebook.csv`."""
    out_dir = Path(out_dir)
    unplaced = tuple((str(f), str(why)) for f, why in unplaced)
    paths = {
        "gradebook": write_atomic(out_dir / "gradebook.csv", gradebook_csv(results, roster, notes)),
        "gradebook_canvas": write_atomic(
            out_dir / "gradebook_canvas.csv", canvas_csv(results, roster=roster, uploads=uploads)
        ),
    }
    if roster is not None and roster.kind == "moodle":
        paths["gradebook_moodle"] = write_atomic(out_dir / "gradebook_moodle.csv", moodle_csv(results, roster))
    graded = {r.student for r in results}
    missing = sorted(p.name for p in roster.people if p.key not in graded) if roster else []
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    write_feedback(results, feedback_dir, failed)
    paths["feedback"] = feedback_dir
    paths["summary"] = write_atomic(out_dir / "summary.html", summary_html(results, unplaced, missing, similarity))
    return paths


__all__ = [
    "canvas_csv",
    "feedback_html",
    "feedback_markdown",
    "file_names",
    "gradebook_csv",
    "moodle_csv",
    "sanitise",
    "summary_html",
    "write_feedback",
    "write_reports",
]
