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
import json
import os
import sys
from pathlib import Path

from . import __version__
from .build import build
from .config import Config, load_config
from .errors import BuildError, GraderError, InfrastructureError, UsageError
from .grade import grade
from .questions import ASSIGNMENTS
from .result import Result
from .sandbox import bubblewrap_available


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2
    UNREADABLE = 3
    INFRASTRUCTURE = 4
    VERIFY_FAILED = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description="Sandboxed grader for the Lecture 13 notebooks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="regenerate assignments/ from solutions/")
    b.add_argument("--check", action="store_true", help="write nothing; exit 5 if assignments/ is out of date")

    g = sub.add_parser("grade", help="grade submission notebooks")
    g.add_argument("submissions", nargs="+", type=Path, help="notebook files")
    g.add_argument("--out", type=Path, required=True, help="folder for <submission stem>.json")
    g.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="grade as this assignment")
    g.add_argument("--student", help="student id to record (default: the file name's stem)")
    _common(g)

    v = sub.add_parser("verify", help="solutions score full marks, assignments 0, build in sync")
    v.add_argument("--only", choices=sorted(ASSIGNMENTS), action="append", help="restrict to these assignments")
    _common(v)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="seed of the hidden cases (default: config, else random, recorded)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run submissions WITHOUT bubblewrap (only rlimits and a watchdog); recorded in results")


def _sandbox(args: argparse.Namespace) -> bool:
    if args.no_sandbox:
        print("warning: --no-sandbox: submissions run unconfined; results say sandboxed: false", file=sys.stderr)
        return False
    if not bubblewrap_available():
        raise InfrastructureError("bubblewrap cannot create a sandbox here (apt-get install bubblewrap; it needs root "
                                  "or unprivileged user namespaces); pass --no-sandbox to grade unconfined")
    return True


def summary(result: Result) -> str:
    lines = [f"{result.submission}: {result.score:g} / {result.max_score:g}  ({result.assignment}, seed {result.seed}"
             f"{', UNSANDBOXED' if not result.sandboxed else ''})"]
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
    code = ExitCode.OK
    for i, submission in enumerate(args.submissions, 1):
        print(f"[{i}/{len(args.submissions)}] grading {submission} ...", file=sys.stderr, flush=True)
        result = grade(submission, config, assignment_id=args.assignment, seed=args.seed,
                       use_sandbox=use_sandbox, student=args.student)
        _write_atomic(args.out / f"{submission.stem}.json", result.to_json() + "\n")
        print(summary(result))
        if result.error:
            code = ExitCode.UNREADABLE
    return code


def cmd_build(args: argparse.Namespace, config: Config) -> ExitCode:
    drift = build(config.path(config.solutions_dir), config.path(config.assignments_dir), check_only=args.check)
    if args.check and drift:
        print("out of date (run `autograder build`): " + ", ".join(drift))
        return ExitCode.VERIFY_FAILED
    print("assignments/ is in sync" if not drift else "rebuilt: " + ", ".join(drift))
    return ExitCode.OK


def cmd_verify(args: argparse.Namespace, config: Config) -> ExitCode:
    use_sandbox = _sandbox(args)
    problems = [f"{path} is out of date" for path in build(config.path(config.solutions_dir),
                                                           config.path(config.assignments_dir), check_only=True)]
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
        config = load_config()
        return int({"grade": cmd_grade, "build": cmd_build, "verify": cmd_verify}[args.command](args, config))
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
