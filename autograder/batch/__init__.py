"""Grade a class: find the submissions, grade them in parallel, never lose one, resume, report.

`grade_class` is the whole flow, as `grade.grade` is for one notebook:
discover (`discover.py`) -> match a roster (`roster.py`) -> the batch's seed (`store.py`) -> the
references, once per assignment -> grade what is not done (`run.py`, threads or Dask) -> the
similarity report (`similarity/`) -> reports.
The CLI parses options into `ClassOptions`, calls it, prints and chooses the exit code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..course import term
from ..course.config import Config
from ..files import write_atomic
from ..grading.grade import Prepared, grade, prepare_assignment
from ..questions import ASSIGNMENTS as ASSIGNMENT_IDS
from ..result import Result
from ..sandbox import nonamespace
from ..similarity import after_batch
from ..similarity.sources import keep_read
from .discover import MAX_NAME_BYTES, Discovery, Submission, Unplaced, discover, latest_per_key, lms_names, student_id
from .roster import accepted, load_roster, match
from .run import DASK_CONNECT_SECONDS, Dask, Executor, Progress, Threads, default_workers, grade_task, run_batch
from .store import batch_seed, folders, load_done, result_path


@dataclass(frozen=True)
class ClassOptions:
    assignment: str | None = None  # every file is this assignment (else from its name)
    roster: Path | None = None  # a Canvas or Moodle class list (`roster.py`)
    seed: int | None = None  # else the stored batch seed, else the course seed, else drawn
    workers: int | None = None  # else `default_workers` for the largest memory limit
    force: bool = False  # regrade what is already done
    dask_scheduler: str | None = None  # grade on a Dask cluster instead of threads
    use_sandbox: bool = True


@dataclass(frozen=True)
class ClassGrading:
    """What a class grading produced; `unplaced` lists the files that could not be graded."""

    results: list[Result]
    failures: list[tuple[str, str]]
    unplaced: list[Unplaced]
    missing: list[str] = field(default_factory=list)  # on the roster, nothing graded
    paths: dict[str, Path] = field(default_factory=dict)
    seed: int = 0
    similarity: Path | None = None  # similarity.html, None if making it failed (then in `failures`)


def grade_class(
    inputs: Sequence[Path],
    out: Path,
    config: Config,
    options: ClassOptions = ClassOptions(),
    *,
    log: Callable[[str], None] = lambda line: None,
    on_progress: Callable[[Progress], None] = lambda p: None,
) -> ClassGrading:
    """Grade every submission under `inputs` into `out` (results, gradebooks, feedback, summary)."""
    # A cluster first: an unreachable scheduler is one line before any work is done.
    dask = (
        Dask.connect(options.dask_scheduler, config, options.use_sandbox, options.workers or default_workers(config))
        if options.dask_scheduler
        else None
    )
    try:
        with tempfile.TemporaryDirectory(prefix="dnn-grader-batch-") as tmp:
            found = discover(inputs, Path(tmp), options.assignment)
            if options.use_sandbox and not config.namespaces:
                # No mount namespace hides the class from a notebook: every submission (and every
                # zip given) closed to the sandbox uids before the first runs, else one notebook
                # reads and runs its neighbour's answers. Files only: a folder
                # may hold what the notebook needs (the course's virtual environment).
                nonamespace.protect(
                    [*(i for i in inputs if i.is_file()), *(s.path for s in found.submissions if not s.refused)]
                )
            class_list, missing, notes = (
                _apply_roster(options.roster, found, config.roster_matches and config.path(config.roster_matches))
                if options.roster
                else (None, [], {})
            )
            rules = _term_rules(config, found, class_list, log)  # the instructor's files, checked before any run
            for item in found.unplaced:
                log(f"not graded: {item.file}: {item.reason}")
            for label in missing:
                log(f"nothing graded for {label} (on the roster)")
            seed = batch_seed(out, options.seed, config.seed)
            needed = sorted({s.assignment for s in found.submissions if s.assignment})
            named = folders(found.submissions)  # results/ and code/: one folder name per student
            workers = options.workers or _default_workers(config, needed)
            where = f"Dask scheduler {options.dask_scheduler}" if dask else f"{workers} workers"
            log(f"batch: {len(found.submissions)} submissions, {len(needed)} assignments, seed {seed}, {where}")
            prepared = {}
            for aid in needed:  # once, before the workers start, so that they share it
                log(f"batch: preparing the reference for {aid} ...")
                prepared[aid] = prepare_assignment(aid, config, seed=seed, use_sandbox=options.use_sandbox)
            executor = dask or _threads(prepared, workers, out, named)
            results, failures = run_batch(
                found.submissions,
                out,
                seed,
                executor,
                force=options.force,
                on_progress=on_progress,
                settings_hashes={aid: config.settings_hash(aid) for aid in needed},
                named=named,
            )
            results = _apply_term(results, found.submissions, config, rules, out, named, failures)
            similar = after_batch(found.submissions, out, config, named)  # while the files (a zip's) still exist
    finally:
        if dask is not None:
            dask.close()
    from ..report import write_reports  # matplotlib is imported only when a batch needs reports

    if similar.error:  # the gradebook is written all the same; the exit code says the report failed
        failures.append((str(out / "similarity.html"), similar.error))
    paths = write_reports(
        results,
        out,
        [(u.file, u.reason) for u in found.unplaced],
        class_list,
        similarity=similar.section,
        uploads=lms_names(found.submissions),
        failed=failures,
        notes=notes,
    )
    return ClassGrading(results, failures, list(found.unplaced), missing, paths, seed, similar.path)


def _default_workers(config: Config, needed: list[str]) -> int:
    """Memory per worker: the largest limit of the assignments in the batch (their own, if set)."""
    return default_workers(
        max((config.for_assignment(aid) for aid in needed), key=lambda c: c.memory_mb, default=config)
    )


def _threads(prepared: dict[str, Prepared], workers: int, out: Path, named: dict[str, str]) -> Threads:
    """Workers in this process, grading each submission against its assignment's prepared value
    (discovery placed every submission it returns; the seed is the batch's, already in it)."""

    def grade_one(sub: Submission, seed: int) -> Result:
        return grade(
            sub.path,
            prepared[sub.assignment],
            student=sub.student,
            refused=sub.refused or None,
            # the code copy for the similarity report, from the notebook as grading read it
            on_read=lambda nb, digest: keep_read(sub, out, named, nb, digest),
        )

    return Threads(grade_one, workers)


def _apply_roster(path: Path, found: Discovery, matches: Path | None = None) -> tuple[Any, list[str], dict[str, str]]:
    """Re-key the found submissions to the roster's students (`roster.match`), with the uploads the
    instructor accepted by hand (`roster_matches`); the unmatched join the unplaced (listed, exit 3);
    returns the class list, who submitted nothing, and how hand-matched students were matched."""
    class_list = load_roster(path)
    accept = {}
    if matches:
        accept = accepted(class_list, term.read_matches(matches), f"roster matches {matches}")
    matched = match(class_list, found.submissions, accept)
    found.submissions = matched.submissions
    found.unplaced += matched.unmatched
    return class_list, [person.label for person in matched.missing], matched.notes


@dataclass(frozen=True)
class _TermRules:
    overrides: dict[tuple[str, str], list[term.OverrideLine]]
    times: dict[tuple[str, str], Any]


def _term_rules(config: Config, found: Discovery, class_list: Any, log: Callable[[str], None]) -> _TermRules:
    """The overrides and submission-times files, checked against this batch's students (the
    roster's, with one) and the course's questions: a mistake is a usage error naming its line,
    before anything runs. Extensions naming no student of the batch are said (they may be for
    another assignment's batch)."""
    students = {s.student for s in found.submissions} | ({p.key for p in class_list.people} if class_list else set())
    overrides: dict[tuple[str, str], list[term.OverrideLine]] = {}
    if config.overrides is not None:
        maxima = {
            aid: {q.id: float(q.points) for q in config.assignment(aid).questions} for aid in sorted(ASSIGNMENT_IDS)
        }
        for line in term.read_overrides(config.path(config.overrides), students, maxima):
            overrides.setdefault((line.student, line.assignment), []).append(line)
    times = term.read_times(config.path(config.submission_times), students) if config.submission_times else {}
    for student, aid in sorted(config.extensions):
        if student not in students:
            log(f"extension for {student} ({aid}): no such student in this batch")
    return _TermRules(overrides, times)


def _apply_term(
    results: list[Result],
    subs: Sequence[Submission],
    config: Config,
    rules: _TermRules,
    out: Path,
    named: dict[str, str],
    failures: list[tuple[str, str]],
) -> list[Result]:
    """Lateness and overrides applied to each graded result (`term.apply`, from the raw scores it
    keeps: a resumed batch or a regrade applies them afresh), and kept in its result file."""
    by_key = {sub.key: sub for sub in subs}
    applied = []
    for result in results:
        sub = by_key.get(f"{result.student}/{result.assignment}")
        if sub is None:
            applied.append(result)
            continue
        key = (sub.student, result.assignment)
        submitted = term.Submitted(bool(sub.lms and sub.lms.late), rules.times.get(key))
        lateness = term.late(
            submitted, config.due.get(result.assignment), config.extensions.get(key), config.late_rules
        )
        new = term.apply(result, lateness, rules.overrides.get(key, []))
        if new != result:
            try:
                write_atomic(result_path(out, sub, named), new.to_json() + "\n", durable=True)
            except OSError as exc:
                failures.append(
                    (sub.upload, f"cannot keep the result ({exc.strerror or exc}); a rerun applies it again")
                )
        applied.append(new)
    return applied


__all__ = [
    "DASK_CONNECT_SECONDS",
    "MAX_NAME_BYTES",
    "ClassGrading",
    "ClassOptions",
    "Dask",
    "Discovery",
    "Executor",
    "Progress",
    "Submission",
    "Threads",
    "Unplaced",
    "batch_seed",
    "default_workers",
    "discover",
    "grade_class",
    "grade_task",
    "latest_per_key",
    "lms_names",
    "load_done",
    "result_path",
    "run_batch",
    "student_id",
]
