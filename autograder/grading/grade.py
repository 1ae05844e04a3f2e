"""Grade submissions: load -> prepare (once per assignment) -> execute (sandbox) -> collect ->
compare (trusted) -> report.

`prepare_assignment` does what every submission of an assignment shares (its cases, the reference
outputs, the time limits, the data folder) once, into one `Prepared` value; `grade` is then the
whole pipeline of one submission, top to bottom. `grade_notebook` is one notebook on its own
(`autograder grade NB`, `autograder check`): it tells the assignment from the notebook, prepares,
grades. Student failures never raise out of here: an unreadable file, a crash, a timeout all end
as a `Result` with a score and messages. Only the grader's own problems (no sandbox, no data, a
broken reference) raise `GraderError`s.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from nbformat import NotebookNode

from .. import __version__
from ..course.config import Config
from ..errors import SubmissionUnreadable, UsageError
from ..questions import ASSIGNMENTS, Assignment, get_assignment
from ..result import CellError, QuestionResult, QuestionStatus, Result, TimeLimits
from ..wire import CallOutput
from . import collect, execute, limits, seeds
from .compare import compare
from .hidden import HiddenValues
from .notebook import assignment_from_name, cell_name, code_cells, read_notebook, stamped_assignment
from .prepare import Plan, make_plan, sandbox_data_dir
from .reference import reference_outputs, reference_timing


@dataclass(frozen=True)
class Prepared:
    """What every submission of one assignment shares, computed once: a batch of 300 notebooks
    finds the solution, hashes it and reads the cache once, not 300 times.

    `config` is already the assignment's own (`Config.for_assignment`); `reference` never enters a
    sandbox; `time_limits` are derived from the solution's own times (`limits.py`)."""

    assignment: Assignment
    config: Config
    settings_hash: str
    seed: int
    public_only: bool
    use_sandbox: bool
    plan: Plan
    time_limits: TimeLimits
    data_dir: Path | None
    outputs: Mapping[str, CallOutput] | Future[dict[str, CallOutput]]

    @cached_property
    def hidden_values(self) -> HiddenValues:
        """The hidden cases' numbers, kept out of the notebook's text in the feedback (made once)."""
        return HiddenValues.of(self.plan, self.reference)

    @property
    def reference(self) -> Mapping[str, CallOutput]:
        """The solution's outputs on the plan's calls; waits for them if they are being computed
        beside the submission's own run (`prepare_assignment(..., background=True)`)."""
        return self.outputs.result() if isinstance(self.outputs, Future) else self.outputs


def prepare_assignment(
    assignment_id: str,
    config: Config,
    *,
    seed: int | None = None,
    use_sandbox: bool = True,
    public_only: bool = False,
    background: bool = False,
) -> Prepared:
    """Compute (or read from the cache) what grading a submission of `assignment_id` needs;
    `public_only` is `autograder check`, the student's own check: the public cases only (the
    self-check's), seed 0, no hidden case run or shown.

    `background`: compute the reference outputs in a thread, so that a single notebook graded with
    a seed not cached yet runs beside the solution rather than after it (the outputs are needed
    only to compare); the time limits come first, from the solution's timing, which is cached per
    content whatever the seed. A batch prepares in the foreground, before its workers start."""
    assignment, settings_hash = config.assignment(assignment_id), config.settings_hash(assignment_id)
    config = config.for_assignment(assignment_id)
    seed = seeds.choose(seed, config.seed, public_only=public_only)
    plan = make_plan(assignment, seed, hidden=not public_only)
    time_limits = limits.derive(reference_timing(assignment, config, use_sandbox=use_sandbox), config)
    data_dir = sandbox_data_dir(config.cache_dir) if assignment.needs_data else None
    if background:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")
        outputs: Mapping[str, CallOutput] | Future[dict[str, CallOutput]] = pool.submit(
            reference_outputs, plan, config, use_sandbox=use_sandbox
        )
        pool.shutdown(wait=False)  # the thread ends with its one task
    else:
        outputs = reference_outputs(plan, config, use_sandbox=use_sandbox)
    return Prepared(
        assignment=assignment,
        config=config,
        settings_hash=settings_hash,
        seed=seed,
        public_only=public_only,
        use_sandbox=use_sandbox,
        plan=plan,
        time_limits=time_limits,
        data_dir=data_dir,
        outputs=outputs,
    )


def grade(
    submission: Path,
    prepared: Prepared,
    *,
    student: str | None = None,
    refused: str | None = None,
    on_read: Callable[[NotebookNode, str], None] | None = None,
    notebook: NotebookNode | None = None,
) -> Result:
    """Grade one notebook of the prepared assignment. `refused` is why the batch did not even
    unpack the upload (too large in a zip): graded 0 with it, the file never read. `notebook` is
    the file already read by the caller (`grade_notebook` reads it to tell its assignment): not
    read twice.
    `on_read(notebook, sha256)` is called once the file is read, so that a batch keeps what else
    it needs of the notebook (its code, for the similarity report) without reading it again."""
    # load
    student = student or submission.stem
    digest = file_sha256(submission)
    try:
        if refused:
            raise SubmissionUnreadable(refused)
        nb = notebook if notebook is not None else read_notebook(submission)
        if on_read is not None:
            on_read(nb, digest)
    except SubmissionUnreadable as exc:
        return _unreadable(
            submission,
            student,
            prepared.assignment,
            prepared.seed,
            prepared.use_sandbox,
            str(exc),
            digest,
            prepared.settings_hash,
        )

    # execute (sandbox): the notebook's cells, then the probe on the plan's calls
    plan, config = prepared.plan, prepared.config
    job = execute.Job(code_cells(nb), plan.calls(), plan.inputs, submission, prepared.data_dir)
    with tempfile.TemporaryDirectory(prefix="dnn-grader-out-") as out:
        execution = execute.run(
            job,
            limits.applied(config, prepared.time_limits),
            use_sandbox=prepared.use_sandbox,
            max_passes=config.max_passes,
            tf_threads=config.tf_threads,
            time_limits=prepared.time_limits,
            out=Path(out),
        )
        # collect: what the finished pass left, read as hostile input
        outputs = collect.read_outputs(Path(out), [c["id"] for c in job.calls], {c["id"]: c["type"] for c in job.calls})

    # compare (trusted) + report; a cell's error is the notebook's text: no hidden value in it
    hidden = prepared.hidden_values
    execution = replace(execution, cell_errors=shown_cell_errors(execution.cell_errors, nb, hidden))
    questions = compare(plan, outputs, prepared.reference, hidden)
    return Result(
        assignment=prepared.assignment.id,
        submission=submission.name,
        student=student,
        score=round(sum(q.score for q in questions), 4),
        max_score=prepared.assignment.max_score,
        seed=prepared.seed,
        grader_version=__version__,
        sandboxed=prepared.use_sandbox,
        questions=tuple(questions),
        execution=execution,
        submission_sha256=digest,
        settings_hash=prepared.settings_hash,
        isolation=execution.isolation,
    )


def shown_cell_errors(errors: tuple[CellError, ...], nb: NotebookNode, hidden: HiddenValues) -> tuple[CellError, ...]:
    """The failed cells as the feedback shows them: named as Jupyter shows them, and with the hidden
    values filtered out of both texts the notebook chose, its exception's message and its class's
    name (`type("LEAK_0p2604115...", (Exception,), {})` names a class with a hidden input)."""
    return tuple(
        replace(e, name=cell_name(nb, e.cell), ename=hidden.redact(e.ename), evalue=hidden.redact(e.evalue))
        for e in errors
    )


def grade_notebook(
    submission: Path,
    config: Config,
    *,
    assignment_id: str | None = None,
    seed: int | None = None,
    use_sandbox: bool = True,
    student: str | None = None,
    public_only: bool = False,
    strict_assignment: bool = False,
) -> Result:
    """One notebook on its own: which assignment it is (`resolve_assignment`), prepared for it,
    graded. An unreadable notebook is not worth preparing for: its result says why at once.
    `strict_assignment` (with `assignment_id`): a notebook stamped as another assignment scores 0
    saying so, where the upload's slot is the assignment (Gradescope) and another assignment's
    notebook in it is a wrong upload, or an attempt to be scored on another assignment's points."""
    try:
        nb, unreadable = read_notebook(submission), None
    except SubmissionUnreadable as exc:
        nb, unreadable = None, str(exc)
    stamped = None if nb is None else stamped_assignment(nb)
    aid = resolve_assignment(submission, stamped, assignment_id)
    if unreadable is None and strict_assignment and stamped is not None and stamped != aid:
        unreadable = wrong_assignment(stamped, aid)
    if unreadable is not None:
        seed = seeds.choose(seed, config.for_assignment(aid).seed, public_only=public_only)
        return _unreadable(
            submission,
            student or submission.stem,
            config.assignment(aid),
            seed,
            use_sandbox,
            unreadable,
            file_sha256(submission),
            config.settings_hash(aid),
        )
    prepared = prepare_assignment(
        aid, config, seed=seed, use_sandbox=use_sandbox, public_only=public_only, background=True
    )
    return grade(submission, prepared, student=student, notebook=nb)


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


def wrong_assignment(stamped: str, expected: str) -> str:
    """Why a notebook stamped as another assignment is not graded as `expected`; the stamp is the
    student's text, named only when it is one of the known ids."""
    which = f"assignment {stamped}" if stamped in ASSIGNMENTS else "another assignment"
    return (
        f"this notebook is {which} (its metadata), but this is {expected}: "
        f"upload your {expected} notebook (the one handed out for it) and submit again"
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


def _unreadable(
    submission: Path,
    student: str,
    assignment: Assignment,
    seed: int,
    sandboxed: bool,
    why: str,
    digest: str,
    settings_hash: str,
) -> Result:
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
        submission_sha256=digest,
        settings_hash=settings_hash,
    )
