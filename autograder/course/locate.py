"""Where the course is: the folder of `solutions/`, `assignments/` and `[tool.autograder]`.

An instructor installs the grader once and grades a download wherever it lies, so the course
cannot simply be "the current folder". It is, in this order:

1. `--course DIR` (the command line names it: nothing is guessed);
2. `$AUTOGRADER_COURSE` (a course fixed for a shell, a cron job or a cluster's workers);
3. the nearest `pyproject.toml` with a `[tool.autograder]` table at or above the current folder
   (working inside a course checkout);
4. the course installed with the package: the checkout the package runs from (an editable
   install), else the copy a wheel carries under `<prefix>/share/dnn-grader`.

A folder is a course if its `pyproject.toml` has a `[tool.autograder]` table or it holds a
`solutions/` folder. When nothing is found, one error lists every place that was tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import UsageError

ENV = "AUTOGRADER_COURSE"
TABLE = "[tool.autograder]"


def has_table(pyproject: Path) -> bool:
    """True if the file declares `[tool.autograder]` (read as text: a broken TOML file of a course
    must still be found, so that loading it reports the syntax error instead of skipping it)."""
    try:
        text = pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.strip().startswith(TABLE) for line in text.splitlines())


def is_course(folder: Path) -> bool:
    return has_table(folder / "pyproject.toml") or (folder / "solutions").is_dir()


def installed_courses() -> list[Path]:
    """The course beside the package (a checkout or editable install), then a wheel's copy."""
    return [Path(__file__).resolve().parent.parent.parent, Path(sys.prefix) / "share" / "dnn-grader"]


def find_course(
    explicit: Path | None = None, *, cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The course folder (resolved), or a UsageError that lists what was tried."""
    environ = os.environ if environ is None else environ
    cwd = (cwd or Path.cwd()).resolve()
    tried: list[str] = []
    for how, value in (("--course", explicit), (f"${ENV}", environ.get(ENV) or None)):
        if value is None:
            continue
        folder = Path(value).expanduser().resolve()
        if is_course(folder):
            return folder
        raise UsageError(f"{how} {folder}: not a course (no pyproject.toml with {TABLE} and no solutions/ folder)")
    for folder in (cwd, *cwd.parents):
        if has_table(folder / "pyproject.toml"):
            return folder
    tried.append(f"a pyproject.toml with {TABLE} in {cwd} or above")
    for folder in installed_courses():
        if is_course(folder):
            return folder
        tried.append(f"the installed course {folder}")
    raise UsageError(
        "no course found (solutions/ and [tool.autograder]); tried --course, "
        f"${ENV}, " + ", ".join(tried) + ". Pass --course DIR."
    )
