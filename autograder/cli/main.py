"""The command line: the only module that prints and exits.

Exit codes (also in README):
  0  done: every submission graded / build in sync / verify passed
  2  usage error (bad option, unknown assignment, cannot tell the assignment)
  3  unreadable input: at least one submission could not be read (its result, score 0, is written)
  4  infrastructure failure: no sandbox, no data, a broken reference solution or a build error (or a
     batch's similarity report the grader failed to make: the gradebook is written all the same; or a
     result `export gradescope-results` cannot read: a score-0 results.json is written all the same)
  5  verify failed: a solution below full marks, an assignment above 0, or assignments/ out of date
  6  diff: some student's grade would change (0: nothing changed)
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Callable

from .. import batch
from ..course.config import Config, load_config
from ..course.locate import find_course
from ..errors import GraderError, InfrastructureError, UsageError
from ..files import safe_name, write_atomic
from ..grading.grade import grade, grade_notebook, prepare_assignment
from ..grading.problems import lines as problem_lines
from ..grading.reference import reference_outputs
from ..grading.untrusted import clean_text
from ..handout.build import build
from ..questions import ASSIGNMENTS
from ..report import diff
from ..result import Result
from ..sandbox import bubblewrap_available, can_drop_uid, nonamespace
from ..similarity import CODE_DIR, ranked_lines, write_report
from . import parser as cli_parser


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2
    UNREADABLE = 3
    INFRASTRUCTURE = 4
    VERIFY_FAILED = 5
    CHANGED = 6


def _sandbox(args: argparse.Namespace) -> bool:
    if getattr(args, "no_namespaces", False):
        if args.no_sandbox:
            raise UsageError("--no-namespaces and --no-sandbox exclude each other")
        if not can_drop_uid():
            raise InfrastructureError(
                "--no-namespaces needs root and setpriv (util-linux) to start notebooks as an unprivileged uid"
            )
        print(
            "warning: --no-namespaces: notebooks run as unprivileged uids without namespaces (Landlock "
            "instead of mounts, TCP only denied); results say so",
            file=sys.stderr,
        )
        return True
    if args.no_sandbox:
        print("warning: --no-sandbox: submissions run unconfined; results say sandboxed: false", file=sys.stderr)
        return False
    if not bubblewrap_available():
        raise InfrastructureError(
            "bubblewrap cannot create a sandbox here (apt-get install bubblewrap; it needs root "
            "or unprivileged user namespaces); pass --no-sandbox to grade unconfined"
        )
    return True


def summary(result: Result, seed: bool = True) -> str:
    lines = [
        f"{result.submission}: {result.score:g} / {result.max_score:g}  ({result.assignment}"
        f"{f', seed {result.seed}' if seed else ''}{', UNSANDBOXED' if not result.sandboxed else ''})"
    ]
    if result.error:
        lines.append(f"  unreadable: {result.error}")
    for q in result.questions:
        lines.append(f"  {q.status:8} {q.score:5g}/{q.max_score:g}  {q.id}  ({q.cases_passed}/{q.cases_total} cases)")
    lines += [f"  {line}" for line in problem_lines(result) if not line.startswith("unreadable:")]
    return "\n".join(lines)


def cmd_grade(args: argparse.Namespace, config: Config) -> ExitCode:
    if args.strict_assignment and not args.assignment:
        raise UsageError("--strict-assignment needs --assignment: the assignment the notebook must be")
    use_sandbox = _sandbox(args)
    args.out.mkdir(parents=True, exist_ok=True)
    if not config.namespaces:
        nonamespace.protect([args.out])  # the results: no notebook may read or forge them
    single = (
        len(args.submissions) == 1
        and args.submissions[0].suffix.lower() == ".ipynb"
        and args.submissions[0].is_file()
        and not args.dask_scheduler
        and not args.roster
    )
    if single:
        submission = args.submissions[0]
        result = grade_notebook(
            submission,
            config,
            assignment_id=args.assignment,
            seed=args.seed,
            use_sandbox=use_sandbox,
            student=args.student,
            strict_assignment=args.strict_assignment,
        )
        write_atomic(args.out / f"{safe_name(submission.stem)}.json", result.to_json() + "\n")
        print(summary(result))
        return ExitCode.UNREADABLE if result.error else ExitCode.OK
    if args.strict_assignment:
        raise UsageError("--strict-assignment is for a single notebook; a class is placed by its file names")
    if args.student:
        raise UsageError("--student names the student of a single notebook; a batch finds each student itself")
    return _grade_batch(args, config, use_sandbox)


def _grade_batch(args: argparse.Namespace, config: Config, use_sandbox: bool) -> ExitCode:
    options = batch.ClassOptions(
        assignment=args.assignment,
        roster=args.roster,
        seed=args.seed,
        workers=args.workers,
        force=args.force,
        dask_scheduler=args.dask_scheduler,
        use_sandbox=use_sandbox,
    )
    done = batch.grade_class(
        args.submissions,
        args.out,
        config,
        options,
        log=lambda line: print(line, file=sys.stderr, flush=True),
        on_progress=_progress_printer(),
    )
    for failure in done.failures:
        print(f"FAILED to grade {failure[0]}: {failure[1]}", file=sys.stderr)
    print(
        f"graded {len(done.results)} submissions; gradebook: {done.paths['gradebook']}; "
        f"summary: {done.paths['summary']}; feedback: {args.out / 'feedback'}; "
        f"similar code: {done.similarity or 'FAILED'}"
    )
    for line in unreadable_lines(done):
        print(line)
    if done.failures:
        return ExitCode.INFRASTRUCTURE
    return ExitCode.UNREADABLE if any(r.error for r in done.results) or done.unplaced else ExitCode.OK


SHOWN_UNREADABLE = 20  # a class of hundreds of broken uploads must not bury the summary line


def unreadable_lines(done: batch.ClassGrading, cap: int = SHOWN_UNREADABLE) -> list[str]:
    """One line per file behind exit 3 (unreadable, or not placed: no assignment, no roster match),
    the first `cap` of them and a count of the rest: the instructor learns which without opening
    summary.html. File names and reasons come from uploads: cleaned to one printable line."""
    problems = [
        ("unreadable", r.submission, r.error.removeprefix(f"{r.submission}: ")) for r in done.results if r.error
    ]
    problems += [("not graded", u.file, u.reason) for u in done.unplaced]
    lines = [
        f"{kind}: {clean_text(name, 300, one_line=True)}: {clean_text(why, 300, one_line=True)}"
        for kind, name, why in problems[:cap]
    ]
    if len(problems) > cap:
        lines.append(f"... and {len(problems) - cap} more (all in {done.paths.get('summary', 'summary.html')})")
    return lines


def _progress_printer() -> Callable[[batch.Progress], None]:
    tty = sys.stderr.isatty()

    def show(p: batch.Progress) -> None:
        if p.total == 0:
            print(f"batch: nothing to grade ({p.skipped} already done)", file=sys.stderr)
            return
        eta = "" if p.eta_seconds is None else f" ETA {int(p.eta_seconds) // 60}m{int(p.eta_seconds) % 60:02d}s"
        width = 24
        filled = int(width * p.done / p.total)
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}"
            f"{f' (+{p.skipped} done before)' if p.skipped else ''}{eta}  {p.current}"
        )
        if p.last is not None:
            line += f": {p.last.score:g}/{p.last.max_score:g}"
        if p.failure:
            line += f": FAILED ({p.failure[:80]})"
        print(
            ("\r\033[K" if tty else "") + line,
            end="" if tty and p.done < p.total else "\n",
            file=sys.stderr,
            flush=True,
        )

    return show


def _build(config: Config, use_sandbox: bool, check_only: bool) -> list[str]:
    """build() with the public reference outputs its self-check files embed (trusted solutions:
    sandboxed when possible, as everything that runs notebooks)."""
    return build(
        config.path(config.solutions_dir),
        config.path(config.assignments_dir),
        lambda plan: reference_outputs(plan, config.for_assignment(plan.assignment.id), use_sandbox=use_sandbox),
        check_only=check_only,
        assignments=[config.assignment(aid) for aid in ASSIGNMENTS],
    )


def cmd_check(args: argparse.Namespace, config: Config) -> ExitCode:
    result = grade_notebook(
        args.notebook, config, assignment_id=args.assignment, use_sandbox=_sandbox(args), public_only=True
    )
    print(summary(result, seed=False))
    for q in result.questions:
        for message in q.feedback:
            print(f"\n{q.id}: {message}")
    print("\n(public cases only: the grade also uses hidden cases)")
    return ExitCode.UNREADABLE if result.error else ExitCode.OK


def cmd_build(args: argparse.Namespace, config: Config) -> ExitCode:
    drift = _build(config, bubblewrap_available(), args.check)
    if args.check and drift:
        print("out of date (run `autograder build`): " + ", ".join(drift))
        return ExitCode.VERIFY_FAILED
    print("assignments/ is in sync" if not drift else "rebuilt: " + ", ".join(drift))
    return ExitCode.OK


def cmd_similarity(args: argparse.Namespace, config: Config) -> ExitCode:
    if not (args.results_dir / "results").is_dir():
        raise UsageError(f"{args.results_dir}: no results/ folder; pass the --out folder of `autograder grade`")
    if not (args.results_dir / CODE_DIR).is_dir():
        raise UsageError(
            f"{args.results_dir}: no {CODE_DIR}/ folder (code copies are kept by `autograder grade` "
            "of a class since this version): regrade the class into it (results are kept, only "
            "the copies are written)"
        )
    path, reports, skipped = write_report(args.results_dir, config, args.assignment)
    print("\n".join(ranked_lines(reports, args.top)))
    for label, why in skipped:
        print(f"not compared: {label}: {why}", file=sys.stderr)
    print(f"similarity report: {path} (a ranked list to read, not a verdict)")
    return ExitCode.OK


def cmd_verify(args: argparse.Namespace, config: Config) -> ExitCode:
    use_sandbox = _sandbox(args)
    problems = [f"{path} is out of date" for path in _build(config, use_sandbox, check_only=True)]
    for aid in args.only or list(ASSIGNMENTS):
        prepared = prepare_assignment(aid, config, seed=args.seed, use_sandbox=use_sandbox)
        for folder, want_full in ((config.solutions_dir, True), (config.assignments_dir, False)):
            path = config.path(folder) / f"{aid}.ipynb"
            print(f"verify: grading {path} ...", file=sys.stderr, flush=True)
            result = grade(path, prepared)
            print(summary(result))
            target = result.max_score if want_full else 0.0
            if result.score != target:
                problems.append(f"{path}: {result.score:g} / {result.max_score:g}, expected {target:g}")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("verify: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return ExitCode.VERIFY_FAILED if problems else ExitCode.OK


def cmd_diff(args: argparse.Namespace, config: Config | None) -> ExitCode:
    """Whose grade changes between two --out folders, and why; exit 6 if anyone's does."""
    for folder in (args.old, args.new):
        if not (folder / "results").is_dir():
            raise UsageError(f"{folder}: no results/ folder; pass two --out folders of `autograder grade`")
    old, bad_old = diff.load_results(args.old)
    new, bad_new = diff.load_results(args.new)
    for path, why in bad_old + bad_new:
        print(f"not compared: {clean_text(path, 300, one_line=True)}: {why}", file=sys.stderr)
    changes = diff.compare(old, new)
    print(diff.text(changes, len(set(old) | set(new))), end="")
    if args.csv:
        write_atomic(args.csv, diff.csv_text(changes))
        print(f"csv: {args.csv}")
    return ExitCode.CHANGED if changes else ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    args = cli_parser.parser().parse_args(argv)
    try:
        # export's targets carry their own handler (gradescope/commands.py); some read no course
        run = (
            getattr(args, "run", None)
            or {
                "grade": cmd_grade,
                "check": cmd_check,
                "build": cmd_build,
                "verify": cmd_verify,
                "similarity": cmd_similarity,
                "diff": cmd_diff,
            }[args.command]
        )
        config = (
            load_config(find_course(args.course), namespaces=False if getattr(args, "no_namespaces", False) else None)
            if getattr(args, "needs_course", True)
            else None
        )
        return int(run(args, config))
    except GraderError as exc:  # the one place the family becomes a message and an exit code
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE if isinstance(exc, UsageError) else ExitCode.INFRASTRUCTURE


if __name__ == "__main__":
    sys.exit(main())
