"""Grade one submission: load -> prepare -> execute (sandbox) -> collect -> compare -> report.

The whole pipeline, top to bottom. Student failures never raise out of here: an unreadable file,
a crash, a timeout all end as a `Result` with a score and messages. Only the grader's own
problems (no sandbox, no data, a broken reference) raise `GraderError`s.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from .. import __version__
from ..course.config import Config
from ..errors import SubmissionUnreadable, UsageError
from ..questions import ASSIGNMENTS, Assignment, get_assignment
from ..result import QuestionResult, QuestionStatus, Result
from . import execute, limits, seeds
from .compare import compare
from .notebook import assignment_from_name, code_cells, read_notebook, stamped_assignment
from .prepare import make_plan, sandbox_data_dir
from .reference import reference_outputs, reference_timing


def resolve_assignment(submission: Path, stamped: str | None, explicit: str | None) -> str:
    """An explicit --assignment wins (the instructor knows what was handed in; a notebook's
    metadata is the student's to edit), then the id `build` stamped, then the file name."""
    for candidate in (explicit, stamped, assignment_from_name(submission.name, list(ASSIGNMENTS))):
        if candidate:
            return get_assignment(candidate).id
    raise UsageError(
        f"{submission.name}: cannot tell which assignment this is (no autograder metadata, "
        f"no id in the file name); pass --assignment, one of: {', '.join(ASSIGNMENTS)}"
    )


def grade(
    submission: Path,
    config: Config,
    *,
    assignment_id: str | None = None,
    seed: int | None = None,
    use_sandbox: bool = True,
    student: str | None = None,
    public_only: bool = False,
) -> Result:
    """Grade one notebook; `public_only` is `autograder check`, the student's own check: the public
    cases only (the self-check's), seed 0, no hidden case run or shown."""
    # load
    student = student or submission.stem
    digest = file_sha256(submission)
    try:
        nb = read_notebook(submission)
        stamped = stamped_assignment(nb)
    except SubmissionUnreadable as exc:
        nb, stamped, unreadable = None, None, str(exc)
    # the course's points, thresholds and this assignment's limits (settings.py), recorded as a hash
    assignment_id = resolve_assignment(submission, stamped, assignment_id)
    assignment, settings_hash = config.assignment(assignment_id), config.settings_hash(assignment_id)
    config = config.for_assignment(assignment_id)
    seed = seeds.choose(seed, config.seed, public_only=public_only)
    if nb is None:
        return replace(
            _unreadable(submission, student, assignment, seed, use_sandbox, unreadable),
            submission_sha256=digest,
            settings_hash=settings_hash,
        )

    # prepare: cases from the declarations, reference outputs from solutions/ (never sandbox-visible),
    # time limits from the solution's own times (limits.py)
    plan = make_plan(assignment, seed, hidden=not public_only)
    reference = reference_outputs(plan, config, use_sandbox=use_sandbox)
    time_limits = limits.derive(reference_timing(assignment, config, use_sandbox=use_sandbox), config)
    data_dir = sandbox_data_dir(config.cache_dir) if assignment.needs_data else None

    # execute + collect (sandbox)
    job = execute.Job(code_cells(nb), plan.calls(), plan.inputs, submission, data_dir)
    execution, outputs = execute.run(
        job,
        limits.applied(config, time_limits),
        use_sandbox=use_sandbox,
        max_passes=config.max_passes,
        tf_threads=config.tf_threads,
        time_limits=time_limits,
    )

    # compare (trusted) + report
    questions = compare(plan, outputs, reference)
    return Result(
        assignment=assignment.id,
        submission=submission.name,
        student=student,
        score=round(sum(q.score for q in questions), 4),
        max_score=assignment.max_score,
        seed=seed,
        grader_version=__version__,
        sandboxed=use_sandbox,
        questions=tuple(questions),
        execution=execution,
        submission_sha256=digest,
        settings_hash=settings_hash,
        isolation=execution.isolation,
    )


def file_sha256(path: Path) -> str:
    """Identifies the exact bytes graded: a resumed batch regrades a file that changed."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def prepare_assignment(assignment_id: str, seed: int, config: Config, use_sandbox: bool) -> None:
    """Compute (and cache) what every submission of this assignment will need."""
    assignment, config = config.assignment(assignment_id), config.for_assignment(assignment_id)
    reference_outputs(make_plan(assignment, seed), config, use_sandbox=use_sandbox)
    if assignment.needs_data:
        sandbox_data_dir(config.cache_dir)
    reference_timing(assignment, config, use_sandbox=use_sandbox)


def _unreadable(submission: Path, student: str, assignment: Assignment, seed: int, sandboxed: bool, why: str) -> Result:
    questions = tuple(
        QuestionResult(q.id, 0.0, q.points, QuestionStatus.ERROR, 0, 0, (why,)) for q in assignment.questions
    )
    return Result(
        assignment=assignment.id,
        submission=submission.name,
        student=student,
        score=0.0,
        max_score=assignment.max_score,
        seed=seed,
        grader_version=__version__,
        sandboxed=sandboxed,
        questions=questions,
        execution=None,
        error=why,
    )
