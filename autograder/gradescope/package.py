"""Gradescope's autograder zip: `setup.sh`, `run_autograder`, the package, the course.

Apart from `gradescope.py` (the conversion of a result to Gradescope's results.json) and
`gradescope_cli.py` (the `autograder export gradescope-...` commands the scripts call) because
this is the packaging: what runs once when Gradescope
builds the image, and what runs per submission. The layout is described in `gradescope.py`.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from .. import __version__
from ..course.config import load_config
from ..errors import UsageError
from ..files import write_atomic
from ..grading import seeds
from ..questions import ASSIGNMENTS
from .settings import (
    CONTAINER_ISOLATION,
    DEFAULT_CONTAINER_MB,
    DEFAULT_TIMEOUT_MINUTES,
    GradescopeSettings,
    sized,
    sized_pyproject,
)

PLACEHOLDER = "@ASSIGNMENT@"
# The two scripts are files (package data), not Python strings: shellcheck reads them
# (tests/unit/test_gradescope_templates.py) and a maintainer edits them as the shell they are.
# Placeholders: @VERSION@, @SETTINGS_LOG@ (setup.sh), @ASSIGNMENT@, @ALLOW_UNSANDBOXED@ (run_autograder).
TEMPLATES = Path(__file__).resolve().parent / "templates"


def template(name: str) -> str:
    """A script of the zip as shipped with the package, placeholders unfilled."""
    return (TEMPLATES / name).read_text()


def scripts(*, version: str, settings_log: str, assignment: str, allow_unsandboxed: bool) -> dict[str, str]:
    """`setup.sh` and `run_autograder` with their placeholders filled."""
    return {
        "setup.sh": template("setup.sh").replace("@VERSION@", version).replace("@SETTINGS_LOG@\n", settings_log),
        "run_autograder": template("run_autograder")
        .replace("@VERSION@", version)
        .replace(PLACEHOLDER, assignment)
        .replace("@ALLOW_UNSANDBOXED@", "1" if allow_unsandboxed else ""),
    }


def build_autograder_zip(
    out: Path,
    repo_root: Path,
    *,
    assignment: str | None = None,
    allow_unsandboxed: bool = False,
    settings: GradescopeSettings | None = None,
) -> Path:
    """Write Gradescope's autograder zip to `out` and return it.

    `repo_root` is the course: the folder of `pyproject.toml`, `README.md` and `solutions/`; the
    package is this one's own source (a checkout's or an installed wheel's). One Gradescope
    assignment is one of ours: every submission is graded as `assignment` (without it, the
    course's only assignment with a solution, else a `UsageError`), and a notebook stamped as
    another assignment scores 0 saying so (`grade --strict-assignment`). Were the assignment told
    from the notebook, a student could upload another assignment's notebook and score its points
    in this one's slot. `solutions/` goes into
    `/autograder/source`, which no sandbox ever mounts. Where bubblewrap cannot make namespaces
    in the container, submissions are graded at the no-namespace level (`sandbox/nonamespace.py`);
    where not even an unprivileged uid works (not root), they score 0 with an explanation unless
    `allow_unsandboxed`: unsandboxed, the notebook runs as root beside `solutions/` and the
    grader, and could forge its score. The zip is reproducible for the same `settings` (fixed
    dates, sorted). `settings` (default: Gradescope's default timeout, a 3 GB container, the
    course's `seed` or a fresh one) go into the zip's pyproject.toml, `GRADESCOPE.md` and
    setup.sh's log; setup.sh computes the reference for that seed once, so that each submission
    costs only its own notebook.
    """
    repo_root = Path(repo_root)
    solutions = repo_root / "solutions"
    package = Path(__file__).resolve().parent.parent  # the grader that exports is the grader that runs there
    for needed in (repo_root / "pyproject.toml", repo_root / "README.md"):
        if not needed.is_file():
            raise UsageError(f"{needed} is missing: is {repo_root} a dnn-grader course?")
    assignment = assignment or only_assignment(solutions)
    if assignment not in ASSIGNMENTS:
        raise UsageError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    if not (solutions / f"{assignment}.ipynb").is_file():
        raise UsageError(f"no reference notebook for {assignment} in {solutions}")

    files: dict[str, bytes] = {}
    for name, folder in (("autograder", package), ("solutions", solutions)):
        for path in sorted(folder.rglob("*")):
            rel = Path(name) / path.relative_to(folder)
            if path.is_file() and not _excluded(rel):
                files[rel.as_posix()] = path.read_bytes()
    if settings is None:
        config = load_config(repo_root)
        settings = sized(
            config,
            timeout_minutes=DEFAULT_TIMEOUT_MINUTES,
            container_mb=DEFAULT_CONTAINER_MB,
            seed=seeds.choose(None, config.seed),
        )
    files["README.md"] = (repo_root / "README.md").read_bytes()
    files["pyproject.toml"] = sized_pyproject((repo_root / "pyproject.toml").read_text(), settings).encode()
    guide = "\n".join(f"- {line}" for line in settings.instructions())
    isolation = "\n".join(f"- {line}." for line in CONTAINER_ISOLATION)
    files["GRADESCOPE.md"] = (
        f"# Gradescope settings for this autograder (generated by autograder export gradescope)"
        f"\n\nPick these in the assignment's Autograder settings:\n\n{guide}\n"
        f"\n## Isolation in Gradescope's container\n\n{isolation}\n"
    ).encode()
    log = "".join(f'echo "setup: Gradescope settings: {line}"\n' for line in settings.instructions())
    filled = scripts(version=__version__, settings_log=log, assignment=assignment, allow_unsandboxed=allow_unsandboxed)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in filled.items():
            _add(zf, name, text.encode(), executable=True)
        for name in sorted(files):
            _add(zf, name, files[name], executable=False)
    return write_atomic(Path(out), buffer.getvalue())


def only_assignment(solutions: Path) -> str:
    """The assignment of a course with a solution for exactly one: the zip's, unasked."""
    have = [a for a in ASSIGNMENTS if (solutions / f"{a}.ipynb").is_file()]
    if len(have) != 1:
        raise UsageError(
            "a Gradescope assignment grades one of the course's assignments: pass --assignment, one of: "
            + ", ".join(have or ASSIGNMENTS)
        )
    return have[0]


def _excluded(rel: Path) -> bool:
    return any(
        part in ("__pycache__", ".ipynb_checkpoints") or part.startswith(".") for part in rel.parts
    ) or rel.suffix in (".pyc", ".pyo")


def _add(zf: zipfile.ZipFile, name: str, data: bytes, *, executable: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix, so that unzip keeps the modes
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)
