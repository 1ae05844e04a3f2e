"""The command line: the only module that prints and exits.

Exit codes (also in README):
  0  done: every submission graded / build in sync / verify passed
  2  usage error (bad option, unknown assignment, cannot tell the assignment)
  3  unreadable input: at least one submission could not be read (its result, score 0, is written)
  4  infrastructure failure: no sandbox, no data, a broken reference solution or a build error
  5  verify failed: a solution below full marks, an assignment above 0, or assignments/ out of date
"""

from __future__ import annotations

import argparse
import enum
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, batch
from .build import build
from .config import Config, load_config
from .course import find_course
from .errors import BuildError, GraderError, InfrastructureError, UsageError
from .grade import grade, prepare_assignment
from .gradescope_settings import DEFAULT_CONTAINER_MB, DEFAULT_TIMEOUT_MINUTES, sized
from .questions import ASSIGNMENTS
from .reference import reference_outputs
from .result import Result
from .sandbox import bubblewrap_available, can_drop_uid, nonamespace


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2
    UNREADABLE = 3
    INFRASTRUCTURE = 4
    VERIFY_FAILED = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description="Sandboxed grader for the Lecture 13 notebooks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the course folder (solutions/, [tool.autograder]); default: $AUTOGRADER_COURSE, "
                             "else the nearest pyproject.toml with [tool.autograder], else the installed course")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="regenerate assignments/ from solutions/")
    b.add_argument("--check", action="store_true", help="write nothing; exit 5 if assignments/ is out of date")

    g = sub.add_parser("grade", help="grade one notebook, or a class (folders, .zip downloads, many files)")
    g.add_argument("submissions", nargs="+", type=Path, help="notebook files, folders or .zip files")
    g.add_argument("--out", type=Path, required=True,
                   help="output folder: one notebook -> DIR/<stem>.json; a class -> DIR/results/<student>/<id>.json "
                        "plus gradebook, feedback and summary")
    g.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="grade every submission as this assignment")
    g.add_argument("--student", help="student id to record for a single notebook (default: the file name's stem)")
    g.add_argument("--workers", type=int, help="parallel submissions (default: from cores and memory)")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have a result")
    g.add_argument("--dask-scheduler", metavar="ADDRESS", help="run the batch on a Dask distributed cluster")
    g.add_argument("--roster", type=Path, metavar="FILE",
                   help="class list: a Canvas gradebook export or a Moodle participants CSV")
    _common(g)

    c = sub.add_parser("check", help="a student's check: public cases only, same sandboxed pipeline")
    c.add_argument("notebook", type=Path)
    c.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="check as this assignment")
    c.add_argument("--no-sandbox", action="store_true", help="run WITHOUT bubblewrap (rlimits and watchdog only)")

    x = sub.add_parser("export", help="export the grader for another platform")
    targets = x.add_subparsers(dest="target", required=True)
    gs = targets.add_parser("gradescope", help="Gradescope autograder zip (setup.sh, run_autograder)")
    gs.add_argument("--out", type=Path, default=Path("autograder.zip"))
    gs.add_argument("--assignment", choices=sorted(ASSIGNMENTS),
                    help="grade every submission as this assignment (recommended: one Gradescope assignment each)")
    gs.add_argument("--timeout-minutes", type=int, default=DEFAULT_TIMEOUT_MINUTES,
                    help="the autograder timeout you set in Gradescope (default %(default)s, at most 40): the "
                         "limits are sized so that a submission with every rerun fits")
    gs.add_argument("--memory-mb", type=int, default=DEFAULT_CONTAINER_MB,
                    help="the container memory you pick in Gradescope (default %(default)s)")
    gs.add_argument("--seed", type=int, help="the hidden-case seed of every submission (default: the config's, "
                                             "else a fresh one); its reference is computed once in setup.sh")
    gs.add_argument("--allow-unsandboxed", action="store_true",
                    help="if bubblewrap cannot run in Gradescope's container, grade without it (a notebook could "
                         "then read solutions/ and forge its score); default: such submissions score 0 with a message")

    v = sub.add_parser("verify", help="solutions score full marks, assignments 0, build in sync")
    v.add_argument("--only", choices=sorted(ASSIGNMENTS), action="append", help="restrict to these assignments")
    _common(v)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="seed of the hidden cases (default: config, else random, recorded)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run submissions WITHOUT bubblewrap (only rlimits and a watchdog); recorded in results")
    parser.add_argument("--no-namespaces", action="store_true",
                        help="where bubblewrap cannot make namespaces (Gradescope, Docker): run each notebook as an "
                             "unprivileged uid of its own, secrets closed by file modes, no network isolation "
                             "(needs root); recorded in results")


def _sandbox(args: argparse.Namespace) -> bool:
    if getattr(args, "no_namespaces", False):
        if args.no_sandbox:
            raise UsageError("--no-namespaces and --no-sandbox exclude each other")
        if not can_drop_uid():
            raise InfrastructureError("--no-namespaces needs root and setpriv (util-linux) to start notebooks as "
                                      "an unprivileged uid")
        print("warning: --no-namespaces: notebooks run as unprivileged uids without namespaces (no network "
              "isolation); results say so", file=sys.stderr)
        return True
    if args.no_sandbox:
        print("warning: --no-sandbox: submissions run unconfined; results say sandboxed: false", file=sys.stderr)
        return False
    if not bubblewrap_available():
        raise InfrastructureError("bubblewrap cannot create a sandbox here (apt-get install bubblewrap; it needs root "
                                  "or unprivileged user namespaces); pass --no-sandbox to grade unconfined")
    return True


def summary(result: Result, seed: bool = True) -> str:
    lines = [f"{result.submission}: {result.score:g} / {result.max_score:g}  ({result.assignment}"
             f"{f', seed {result.seed}' if seed else ''}{', UNSANDBOXED' if not result.sandboxed else ''})"]
    if result.error:
        lines.append(f"  unreadable: {result.error}")
    for q in result.questions:
        lines.append(f"  {q.status:8} {q.score:5g}/{q.max_score:g}  {q.id}  ({q.cases_passed}/{q.cases_total} cases)")
    if result.execution and result.execution.cell_errors:
        for err in result.execution.cell_errors[:5]:
            lines.append(f"  cell {err['cell']}: {err['status']}: {err['ename']}: {err['evalue'][:100]}")
    return "\n".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def cmd_grade(args: argparse.Namespace, config: Config) -> ExitCode:
    use_sandbox = _sandbox(args)
    args.out.mkdir(parents=True, exist_ok=True)
    if not config.namespaces:
        nonamespace.protect([args.out])  # the results: no notebook may read or forge them
    single = len(args.submissions) == 1 and args.submissions[0].suffix.lower() == ".ipynb" \
        and args.submissions[0].is_file() and not args.dask_scheduler and not args.roster
    if single:
        submission = args.submissions[0]
        result = grade(submission, config, assignment_id=args.assignment, seed=args.seed,
                       use_sandbox=use_sandbox, student=args.student)
        _write_atomic(args.out / f"{submission.stem}.json", result.to_json() + "\n")
        print(summary(result))
        return ExitCode.UNREADABLE if result.error else ExitCode.OK
    if args.student:
        raise UsageError("--student names the student of a single notebook; a batch finds each student itself")
    return _grade_batch(args, config, use_sandbox)


DASK_CONNECT_SECONDS = 10.0  # README: how long an unreachable scheduler is waited for


def _dask_client(address: str) -> Any:
    """A connected Dask client, or a one-line error: a usage error when the extra is not installed
    (nothing ran yet), an infrastructure error naming the address and the time waited when the
    scheduler cannot be reached (distributed would otherwise retry for 30 s, then raise a traceback)."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask-scheduler needs the Dask extra: pip install 'dnn-grader[dask]'") from None
    start = time.monotonic()
    try:
        return Client(address, timeout=DASK_CONNECT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address...
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InfrastructureError(f"cannot reach the Dask scheduler at {address} (waited "
                                  f"{time.monotonic() - start:.0f} s): {reason}") from None


def _grade_batch(args: argparse.Namespace, config: Config, use_sandbox: bool) -> ExitCode:
    client = _dask_client(args.dask_scheduler) if args.dask_scheduler else None
    try:
        return _run_batch(args, config, use_sandbox, client)
    finally:
        if client is not None:
            client.close()


def _run_batch(args: argparse.Namespace, config: Config, use_sandbox: bool, client: Any) -> ExitCode:
    with tempfile.TemporaryDirectory(prefix="dnn-grader-batch-") as tmp:
        found = batch.discover(args.submissions, Path(tmp), args.assignment)
        class_list = _apply_roster(args.roster, found) if args.roster else None
        for item in found.unplaced:
            print(f"not graded: {item.file}: {item.reason}", file=sys.stderr)
        seed = batch.batch_seed(args.out, args.seed, config.seed)
        workers = args.workers or batch.default_workers(config)
        needed = sorted({s.assignment for s in found.submissions if s.assignment})
        print(f"batch: {len(found.submissions)} submissions, {len(needed)} assignments, seed {seed}, "
              + (f"Dask scheduler {args.dask_scheduler}" if args.dask_scheduler else f"{workers} workers"),
              file=sys.stderr, flush=True)
        for aid in needed:  # once, before the workers start, so that they share it
            print(f"batch: preparing the reference for {aid} ...", file=sys.stderr, flush=True)
            prepare_assignment(aid, seed, config, use_sandbox)
        results, failures = batch.run_batch(
            found.submissions, args.out, seed,
            lambda sub, seed: grade(sub.path, config, assignment_id=sub.assignment, seed=seed,
                                    use_sandbox=use_sandbox, student=sub.student),
            workers=workers, force=args.force, on_progress=_progress_printer(),
            dask=client, dask_config={"root": str(config.root), "cache_dir": str(config.cache_dir),
                                      "sandbox": use_sandbox, "namespaces": config.namespaces})
    from .report import write_reports  # matplotlib is imported only when a batch needs reports

    paths = write_reports(results, args.out, [(u.file, u.reason) for u in found.unplaced], class_list)
    for failure in failures:
        print(f"FAILED to grade {failure[0]}: {failure[1]}", file=sys.stderr)
    print(f"graded {len(results)} submissions; gradebook: {paths['gradebook']}; summary: {paths['summary']}; "
          f"feedback: {args.out / 'feedback'}")
    if failures:
        return ExitCode.INFRASTRUCTURE
    return ExitCode.UNREADABLE if any(r.error for r in results) or found.unplaced else ExitCode.OK


def _apply_roster(path: Path, found: batch.Discovery) -> Any:
    """Re-key the found submissions to the roster's students (`roster.match`); the unmatched join
    the unplaced (listed, exit 3), who submitted nothing is printed."""
    from .roster import load_roster, match

    class_list = load_roster(path)
    matched = match(class_list, found.submissions)
    found.submissions = matched.submissions
    found.unplaced += matched.unmatched
    for person in matched.missing:
        print(f"nothing graded for {person.label} (on the roster)", file=sys.stderr)
    return class_list


def _progress_printer() -> Callable[[batch.Progress], None]:
    tty = sys.stderr.isatty()

    def show(p: batch.Progress) -> None:
        if p.total == 0:
            print(f"batch: nothing to grade ({p.skipped} already done)", file=sys.stderr)
            return
        eta = "" if p.eta_seconds is None else f" ETA {int(p.eta_seconds) // 60}m{int(p.eta_seconds) % 60:02d}s"
        width = 24
        filled = int(width * p.done / p.total)
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}"
                f"{f' (+{p.skipped} done before)' if p.skipped else ''}{eta}  {p.current}")
        if p.last is not None:
            line += f": {p.last.score:g}/{p.last.max_score:g}"
        if p.failure:
            line += f": FAILED ({p.failure[:80]})"
        print(("\r\033[K" if tty else "") + line, end="" if tty and p.done < p.total else "\n",
              file=sys.stderr, flush=True)

    return show


def _build(config: Config, use_sandbox: bool, check_only: bool) -> list[str]:
    """build() with the public reference outputs its self-check files embed (trusted solutions:
    sandboxed when possible, as everything that runs notebooks)."""
    return build(config.path(config.solutions_dir), config.path(config.assignments_dir),
                 lambda plan: reference_outputs(plan, config, use_sandbox=use_sandbox), check_only=check_only)


def cmd_check(args: argparse.Namespace, config: Config) -> ExitCode:
    result = grade(args.notebook, config, assignment_id=args.assignment, use_sandbox=_sandbox(args), hidden=False)
    print(summary(result, seed=False))
    for q in result.questions:
        for message in q.feedback:
            print(f"\n{q.id}: {message}")
    print("\n(public cases only: the grade also uses hidden cases)")
    return ExitCode.UNREADABLE if result.error else ExitCode.OK


def cmd_export(args: argparse.Namespace, config: Config) -> ExitCode:
    from .gradescope import build_autograder_zip

    seed = args.seed if args.seed is not None else config.seed if config.seed is not None else secrets.randbelow(2**31)
    settings = sized(config, timeout_minutes=args.timeout_minutes, container_mb=args.memory_mb, seed=seed)
    path = build_autograder_zip(args.out, config.root, assignment=args.assignment,
                                allow_unsandboxed=args.allow_unsandboxed, settings=settings)
    print(f"wrote {path}: upload it as the autograder of a Gradescope programming assignment, with:")
    for line in settings.instructions():
        print(f"  {line}")
    return ExitCode.OK


def cmd_build(args: argparse.Namespace, config: Config) -> ExitCode:
    drift = _build(config, bubblewrap_available(), args.check)
    if args.check and drift:
        print("out of date (run `autograder build`): " + ", ".join(drift))
        return ExitCode.VERIFY_FAILED
    print("assignments/ is in sync" if not drift else "rebuilt: " + ", ".join(drift))
    return ExitCode.OK


def cmd_verify(args: argparse.Namespace, config: Config) -> ExitCode:
    use_sandbox = _sandbox(args)
    problems = [f"{path} is out of date" for path in _build(config, use_sandbox, check_only=True)]
    for aid in args.only or list(ASSIGNMENTS):
        for folder, want_full in ((config.solutions_dir, True), (config.assignments_dir, False)):
            path = config.path(folder) / f"{aid}.ipynb"
            print(f"verify: grading {path} ...", file=sys.stderr, flush=True)
            result = grade(path, config, assignment_id=aid, seed=args.seed, use_sandbox=use_sandbox)
            print(summary(result))
            target = result.max_score if want_full else 0.0
            if result.score != target:
                problems.append(f"{path}: {result.score:g} / {result.max_score:g}, expected {target:g}")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("verify: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return ExitCode.VERIFY_FAILED if problems else ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(find_course(args.course), namespaces=False if getattr(args, "no_namespaces", False) else None)
        return int({"grade": cmd_grade, "check": cmd_check, "build": cmd_build, "verify": cmd_verify,
                    "export": cmd_export}[args.command](args, config))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except (InfrastructureError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.INFRASTRUCTURE
    except GraderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.INFRASTRUCTURE


if __name__ == "__main__":
    sys.exit(main())
