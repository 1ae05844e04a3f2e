"""The command line's grammar: every command and option of `autograder`, and nothing else.

Kept apart from `cli.py` (which runs the commands, prints and picks the exit code) so that the
options can be read in one place; README's command table follows this file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..gradescope.commands import add_gradescope_targets
from ..questions import ASSIGNMENTS


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="autograder", description="Sandboxed grader for the Lecture 13 notebooks.")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    top.add_argument(
        "--course",
        type=Path,
        metavar="DIR",
        help="the course folder (solutions/, [tool.autograder]); default: $AUTOGRADER_COURSE, "
        "else the nearest pyproject.toml with [tool.autograder], else the installed course",
    )
    sub = top.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="regenerate assignments/ from solutions/")
    b.add_argument("--check", action="store_true", help="write nothing; exit 5 if assignments/ is out of date")

    g = sub.add_parser("grade", help="grade one notebook, or a class (folders, .zip downloads, many files)")
    g.add_argument("submissions", nargs="+", type=Path, help="notebook files, folders or .zip files")
    g.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: one notebook -> DIR/<stem>.json; a class -> DIR/results/<student>/<id>.json "
        "plus gradebook, feedback and summary",
    )
    g.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="grade every submission as this assignment")
    g.add_argument(
        "--strict-assignment",
        action="store_true",
        help="with --assignment, a single notebook stamped as another assignment scores 0 saying so "
        "(Gradescope's run_autograder: the upload's slot is the assignment)",
    )
    g.add_argument("--student", help="student id to record for a single notebook (default: the file name's stem)")
    g.add_argument("--workers", type=int, help="parallel submissions (default: from cores and memory)")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have a result")
    g.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="run the batch on a Dask distributed cluster: local (the batch's own, --workers processes, "
        "with credentials made for it) or a tls:// scheduler (Dask's TLS configuration)",
    )
    g.add_argument(
        "--roster", type=Path, metavar="FILE", help="class list: a Canvas gradebook export or a Moodle participants CSV"
    )
    common(g)

    c = sub.add_parser("check", help="a student's check: public cases only, same sandboxed pipeline")
    c.add_argument("notebook", type=Path)
    c.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="check as this assignment")
    c.add_argument("--no-sandbox", action="store_true", help="run WITHOUT bubblewrap (rlimits and watchdog only)")

    x = sub.add_parser("export", help="export the grader for another platform (and the commands its scripts call)")
    add_gradescope_targets(x.add_subparsers(dest="target", required=True))

    s = sub.add_parser("similarity", help="pairs of submissions of an assignment with similar code: a ranked list")
    s.add_argument("results_dir", type=Path, help="the --out folder of `autograder grade` (its code/ and results/)")
    s.add_argument("--assignment", choices=sorted(ASSIGNMENTS), help="only this assignment")
    s.add_argument("--top", type=int, default=20, help="pairs printed per assignment (default 20; the page has all)")

    d = sub.add_parser("diff", help="whose grade changes between two --out folders, and why (exit 6 if anyone's does)")
    d.add_argument("old", type=Path, help="the --out folder graded before")
    d.add_argument("new", type=Path, help="the --out folder regraded")
    d.add_argument("--csv", type=Path, metavar="FILE", help="also write the changes as CSV")
    d.set_defaults(needs_course=False)

    v = sub.add_parser("verify", help="solutions score full marks, assignments 0, build in sync")
    v.add_argument("--only", choices=sorted(ASSIGNMENTS), action="append", help="restrict to these assignments")
    common(v)
    return top


def common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="seed of the hidden cases (default: config, else random, recorded)")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions WITHOUT bubblewrap (only rlimits and a watchdog); recorded in results",
    )
    parser.add_argument(
        "--no-namespaces",
        action="store_true",
        help="where bubblewrap cannot make namespaces (Gradescope, Docker): run each notebook as an "
        "unprivileged uid of its own, confined by Landlock (files, TCP) and file modes "
        "(needs root); recorded in results",
    )
