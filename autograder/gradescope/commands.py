"""The Gradescope commands of the one CLI: `autograder export gradescope...`.

`cli.py` owns parsing and exit codes; the Gradescope targets of `export` are defined here, beside
the code they run, so that the CLI stays one parser without growing a page per platform (and the
zip's scripts call the same `autograder` an instructor types, not a second entry point):

- `export gradescope [--out ZIP] ...`: the instructor's command, the autograder zip.
- `export gradescope-level`: prints the isolation level this machine allows, `bubblewrap`,
  `no-namespaces` or `none` (setup.sh and run_autograder pick their options from it); a level, not
  an exit status, so that "cannot" is never confused with "the command failed" in the table of
  exit codes.
- `export gradescope-prepare [--no-namespaces]`: setup.sh: the reference outputs and times for the
  seed fixed in the zip's pyproject.toml, computed once into the grader's cache.
- `export gradescope-results RESULT RESULTS_JSON`: run_autograder: a result of `autograder grade`
  converted to Gradescope's results.json (`gradescope.to_gradescope`).
- `export gradescope-failure RESULTS_JSON REASON`: run_autograder: a results.json scoring 0 with
  the reason, when there is no result to convert.

`gradescope-level`, `-results` and `-failure` read no course (`needs_course=False`): run_autograder must leave a results.json
even when the course's pyproject.toml is what broke. Handlers return 0 or raise `UsageError` /
`InfrastructureError`, which `cli.main` turns into exit codes 2 / 4.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..course.config import Config
from ..errors import InfrastructureError, UsageError
from ..files import write_atomic
from ..grading import seeds
from ..grading.grade import prepare_assignment
from ..questions import ASSIGNMENTS
from ..result import Result
from ..sandbox import bubblewrap_available, can_drop_uid
from .export import failure, instructor_notes, to_gradescope
from .package import build_autograder_zip, only_assignment
from .settings import DEFAULT_CONTAINER_MB, DEFAULT_TIMEOUT_MINUTES, sized

LEVELS = ("bubblewrap", "no-namespaces", "none")


def add_gradescope_targets(targets: argparse._SubParsersAction) -> None:
    """The `export` targets for Gradescope, each with `run` (its handler) and `needs_course`."""
    gs = targets.add_parser("gradescope", help="Gradescope autograder zip (setup.sh, run_autograder)")
    gs.add_argument("--out", type=Path, default=Path("autograder.zip"))
    gs.add_argument(
        "--assignment",
        choices=sorted(ASSIGNMENTS),
        help="the assignment every submission is graded as (one Gradescope assignment is one of ours; "
        "required unless the course has a solution for only one); a notebook of another assignment scores 0",
    )
    gs.add_argument(
        "--timeout-minutes",
        type=int,
        default=DEFAULT_TIMEOUT_MINUTES,
        help="the autograder timeout you set in Gradescope (default %(default)s, at most 40): the "
        "limits are sized so that a submission with every rerun fits",
    )
    gs.add_argument(
        "--memory-mb",
        type=int,
        default=DEFAULT_CONTAINER_MB,
        help="the container memory you pick in Gradescope (default %(default)s)",
    )
    gs.add_argument(
        "--seed",
        type=int,
        help="the hidden-case seed of every submission (default: the config's, "
        "else a fresh one); its reference is computed once in setup.sh",
    )
    gs.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="if bubblewrap cannot run in Gradescope's container, grade without it (a notebook could "
        "then read solutions/ and forge its score); default: such submissions score 0 with a message",
    )
    gs.set_defaults(run=_zip, needs_course=True)

    level = targets.add_parser(
        "gradescope-level",
        help="(the zip's scripts) print the isolation level this machine allows: " + " | ".join(LEVELS),
    )
    level.set_defaults(run=_level, needs_course=False)

    prepare = targets.add_parser(
        "gradescope-prepare",
        help="(setup.sh) compute the reference outputs and times for the seed fixed in the course's pyproject.toml",
    )
    prepare.add_argument("--no-namespaces", action="store_true", help="at the no-namespace level")
    prepare.set_defaults(run=_prepare, needs_course=True)

    results = targets.add_parser(
        "gradescope-results",
        help="(run_autograder) convert a result JSON of `autograder grade` to Gradescope's results.json",
    )
    results.add_argument("result", type=Path)
    results.add_argument("results_json", type=Path)
    results.set_defaults(run=_results, needs_course=False)

    fail = targets.add_parser(
        "gradescope-failure", help="(run_autograder) write a results.json that scores 0 with this reason"
    )
    fail.add_argument("results_json", type=Path)
    fail.add_argument("reason")
    fail.set_defaults(run=_failure, needs_course=False)


def _zip(args: argparse.Namespace, config: Config) -> int:
    seed = seeds.choose(args.seed, config.seed)
    settings = sized(config, timeout_minutes=args.timeout_minutes, container_mb=args.memory_mb, seed=seed)
    assignment = args.assignment or only_assignment(config.root / "solutions")
    path = build_autograder_zip(
        args.out, config.root, assignment=assignment, allow_unsandboxed=args.allow_unsandboxed, settings=settings
    )
    print(
        f"wrote {path} for {assignment}: upload it as the autograder of that Gradescope programming assignment, with:"
    )
    for line in settings.instructions():
        print(f"  {line}")
    return 0


def isolation_level() -> str:
    """The strongest level that works here: bubblewrap's namespaces, else an unprivileged uid
    without namespaces (Docker's default seccomp, Gradescope), else none."""
    if bubblewrap_available():
        return "bubblewrap"
    return "no-namespaces" if can_drop_uid() else "none"


def _level(args: argparse.Namespace, config: None) -> int:
    print(isolation_level())
    return 0


def _prepare(args: argparse.Namespace, config: Config) -> int:
    """The reference of every assignment of the zip (run_autograder's ASSIGNMENT, else every one
    with a solution) for the seed fixed in the zip's pyproject.toml, into the grader's cache."""
    if config.seed is None:
        raise UsageError(
            f"no seed in [tool.autograder] of {config.root}: nothing to prepare once "
            "(the zip of `autograder export gradescope` always fixes one)"
        )
    fixed = zip_assignment(config.root / "run_autograder")
    solutions = config.path(config.solutions_dir)
    wanted = [fixed] if fixed else [a for a in ASSIGNMENTS if (solutions / f"{a}.ipynb").is_file()]
    for aid in wanted:
        prepare_assignment(aid, config, seed=config.seed, use_sandbox=True)
        print(f"setup: reference of {aid} for seed {config.seed} cached")
    return 0


def zip_assignment(run_autograder: Path) -> str | None:
    """The assignment the zip's run_autograder grades every submission as (None: told per notebook)."""
    try:
        for line in run_autograder.read_text().splitlines():
            if line.startswith("ASSIGNMENT="):
                return line.split('"')[1] or None
    except (OSError, IndexError):
        pass
    return None


def _results(args: argparse.Namespace, config: None) -> int:
    try:
        result = Result.from_dict(json.loads(args.result.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        _write(
            args.results_json,
            failure(
                "the autograder could not read its own result. This is not a problem "
                "with your notebook; please tell your instructor."
            ),
        )
        raise InfrastructureError(f"cannot read the result {args.result}: {exc}") from exc
    _write(args.results_json, to_gradescope(result))
    for note in instructor_notes(result):  # run_autograder's stdout: the instructor's, hidden from students
        print(f"run_autograder: isolation: {note}")
    if result.isolation is not None:
        print(f"run_autograder: isolation record: {json.dumps(result.isolation.__dict__, sort_keys=True)}")
    return 0


def _failure(args: argparse.Namespace, config: None) -> int:
    _write(args.results_json, failure(args.reason))
    return 0


def _write(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(doc, indent=2) + "\n")
