"""Settings from `[tool.autograder]` in pyproject.toml, as one frozen dataclass.

Read from the course's pyproject.toml (where the course is: `course.py`); every key is optional
and documented by its `help`, from which docs/configuration.md's table is generated
(`reference_table`; `python -m autograder.course.config docs/configuration.md` rewrites it). Unknown keys are an error, so a typo does not silently fall back to a
default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..questions import ASSIGNMENTS, get_assignment
from ..questions.base import Assignment
from ..sandbox import Limits
from ..sandbox.levels import PARTS
from . import settings, term
from .locate import has_table


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dnn-grader"


def key(default: object = dataclasses.MISSING, *, help: str, shown: str | None = None, factory=None) -> Any:
    """A `[tool.autograder]` key: its default, and the `help` the configuration reference
    (docs/configuration.md, `reference_table`) is generated from, so the page cannot drift from
    the keys; `shown` is the default as the page states it, where the value itself would mislead."""
    metadata = {"help": help, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    solutions_dir: Path = key(Path("solutions"), help="the reference notebooks, relative to the pyproject")
    assignments_dir: Path = key(Path("assignments"), help="the generated student notebooks, relative to the pyproject")
    cache_dir: Path = key(
        factory=_default_cache, shown="~/.cache/dnn-grader", help="reference outputs and times, sandbox data"
    )
    seed: int | None = key(
        None,
        shown="random per run (recorded)",
        help="seed of the hidden cases; a course seed fixed for a term lets single grades reuse the cached "
        "reference (the Gradescope export always fixes one)",
    )
    memory_mb: int = key(3072, help="cgroup memory limit and `RLIMIT_DATA` of one sandbox")
    pids: int = key(256, help="processes and threads one sandbox may hold (`pids.max`, else `RLIMIT_NPROC`)")
    file_size_mb: int = key(512, help="the largest file a sandbox may write (`RLIMIT_FSIZE`)")
    disk_mb: int | None = key(
        None,
        shown="twice `file_size_mb`",
        help="everything one sandbox may write, all files together and what it prints",
    )
    notebook_seconds: float = key(
        900.0,
        help="ceiling of the wall-clock limit of a whole run; the limit applied is derived from the reference "
        "solution's own time (`limit_multiple`, `limit_floor_seconds`), never above this",
    )
    cell_seconds: float = key(600.0, help="ceiling of the limit of one cell, derived likewise")
    call_seconds: float = key(60.0, help="ceiling of the limit of one probe call, derived likewise")
    limit_multiple: float = key(
        5.0,
        help="a limit is `max(floor, multiple x the reference solution's time)`: its longest cell, longest call, "
        "whole run (a run: at least the cell limit + floor); measured once per solution on this machine, in the "
        "cache. Generous on purpose: an honest notebook on a loaded machine must never be cut "
        "(`autograder/grading/limits.py`)",
    )
    limit_floor_seconds: float = key(30.0, help="the least any derived limit is")
    max_passes: int = key(3, help="runs of a notebook at most: reruns after a cell kills or hangs the interpreter")
    tf_threads: int = key(1, help="TensorFlow/OpenMP threads in the sandbox (0: TensorFlow's default, one per core)")
    points: Mapping[str, float] = key(
        factory=dict,
        shown="the declarations' points (README's table of exercises)",
        help='`"<assignment>.<question>" = points`, a positive number: the question\'s '
        "maximum score (a case is worth points / cases)",
    )
    thresholds: Mapping[str, float] = key(
        factory=dict,
        help='`"<assignment>.<question>" = accuracy` in (0, 1]: the test accuracy '
        "a trained model needs to pass; only trained-model questions have one. Defaults: 2 points below the worst "
        "of 3 measured seeds (`benchmarks/budgets/`)",
    )
    assignments: Mapping[str, Mapping[str, object]] = key(
        factory=dict,
        shown="the global keys",
        help="that assignment's own limits, for its reference runs "
        "and its submissions; a batch sizes its workers by the largest `memory_mb` among its assignments",
    )
    similarity_threshold: float = key(
        0.4,
        help="pairs flagged in the similarity report: the share of fingerprints two submissions have in common, "
        "above 0 and at most 1 (`autograder/similarity/pairs.py`)",
    )
    accept_weaker: tuple[str, ...] = key(
        (),
        help="limits that may run below the level asked for when the machine cannot give it (no writable cgroup, "
        "controller not delegated; `landlock`: the no-namespace level without Landlock ABI 6, docs/security.md). Unlisted, such a run is an infrastructure error (exit 4), never a silent "
        "default; listed, it runs at the best level left and the result's `isolation` and the reports say so",
    )
    cgroups: bool = key(
        True,
        help="`false`: make no cgroup; memory is then bounded by the watchdog's memory guard "
        '(`isolation.memory = "guard"`), processes by `RLIMIT_NPROC` of the sandbox\'s own uid',
    )
    namespaces: bool = key(
        True,
        help="`false`: the no-namespace level (as `--no-namespaces`, [security.md](security.md)), for containers "
        "that refuse namespaces",
    )
    due: Mapping[str, datetime] = key(
        factory=dict,
        shown="none",
        help='`"<assignment>" = 2026-11-20T23:59:00+01:00` (a TOML date and time with its offset): the due date '
        "a submission-times CSV is compared with. Canvas' `LATE` marker needs none (Canvas judged it)",
    )
    extensions: Mapping[tuple[str, str], datetime] = key(
        factory=dict,
        shown="none",
        help='`"<student>.<assignment>" = date and time`: that student\'s own due date (the student id the '
        "gradebook shows). A Canvas `LATE` upload of a student with an extension and no submission time is not "
        "penalised (Canvas judged it by its own date) and the result says so",
    )
    late_policy: str = key(
        "none",
        help="what lateness costs: `none`, `fixed` (`late_fraction` of the score), `per_day` or `per_hour` "
        "(`late_fraction` per day or hour begun, at most `late_cap`); applied after grading, recorded in the "
        "result (raw score, lateness, penalty), the gradebook and the feedback (docs/instructors.md, A term)",
    )
    late_fraction: float = key(0.0, help="the fraction of the score one unit of lateness costs, in [0, 1]")
    late_cap: float = key(1.0, help="the most `per_day`/`per_hour` lateness costs, in (0, 1]")
    late_cutoff_hours: float | None = key(
        None, shown="none", help="later than this many hours after the due date scores 0, whatever the policy"
    )
    submission_times: Path | None = key(
        None,
        shown="none",
        help="a CSV `student,assignment,submitted` (times with their offset), relative to the pyproject: "
        "lateness where the download carries no `LATE` marker the grader can trust (Moodle, folders)",
    )
    overrides: Path | None = key(
        None,
        shown="none",
        help="a CSV `student,assignment,question,points,reason` (question: an id or `total`; points: `7` sets, "
        "`+1`/`-2` adjusts), relative to the pyproject: applied after grading, on every regrade and resume",
    )
    roster_matches: Path | None = key(
        None,
        shown="none",
        help="a CSV `upload,student`: accepts the upload the roster check could not match (its student id, as "
        '"not graded" names it) as that roster student (roster key, Canvas ID, email or SIS login); the '
        "gradebook says so",
    )
    root: Path = Path(".")

    @property
    def late_rules(self) -> term.Policy:
        return term.Policy(self.late_policy, self.late_fraction, self.late_cap, self.late_cutoff_hours)

    @property
    def limits(self) -> Limits:
        return Limits(
            memory_bytes=self.memory_mb * 1024**2,
            pids=self.pids,
            file_size_bytes=self.file_size_mb * 1024**2,
            notebook_seconds=self.notebook_seconds,
            cell_seconds=self.cell_seconds,
            call_seconds=self.call_seconds,
            disk_bytes=None if self.disk_mb is None else self.disk_mb * 1024**2,
            accept_weaker=frozenset(self.accept_weaker),
            cgroups=self.cgroups,
            namespaces=self.namespaces,
            secrets=(self.path(self.solutions_dir), self.cache_dir),
        )

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else self.root / value

    def for_assignment(self, assignment_id: str) -> Config:
        """These settings with the assignment's own limits (`[tool.autograder.assignments."<id>"]`)
        in place of the global ones: what its reference and its submissions run under."""
        return dataclasses.replace(self, **self.assignments.get(assignment_id, {}))  # type: ignore[arg-type]

    def assignment(self, assignment_id: str) -> Assignment:
        """The declared assignment with this course's points and thresholds (`settings.effective`)."""
        return settings.effective(get_assignment(assignment_id), self.points, self.thresholds)

    def settings_hash(self, assignment_id: str) -> str:
        """What every result of the assignment records: a regrade under other settings shows."""
        own = self.for_assignment(assignment_id)
        return settings.digest(self.assignment(assignment_id), {key: getattr(own, key) for key in HASHED})


# The limits that bound a run and so can change a score; paths, cache and seed (recorded on its own) cannot.
HASHED = (
    "memory_mb",
    "pids",
    "file_size_mb",
    "disk_mb",
    "notebook_seconds",
    "cell_seconds",
    "call_seconds",
    "limit_multiple",
    "limit_floor_seconds",
    "max_passes",
    "tf_threads",
)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.autograder] table at or above `start` (another
    project's pyproject.toml on the way up is not a course)."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if has_table(candidate):
            return candidate
    return None


def load_config(start: Path | None = None, **overrides: object) -> Config:
    """The settings of the course at or above `start` (a course folder from `find_course`, or any
    folder inside one); none found: the defaults, relative to `start`."""
    start = (start or Path.cwd()).resolve()
    values: dict[str, object] = {}
    table: dict[str, object] = {}
    pyproject = find_pyproject(start)
    root = start
    if pyproject is not None:
        root = pyproject.parent
        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("autograder", {})
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{pyproject}: {exc}") from None
        names = {f.name for f in dataclasses.fields(Config)} - {"root"}
        unknown = set(table) - names
        if unknown:
            raise UsageError(f"{pyproject}: unknown [tool.autograder] keys: {', '.join(sorted(unknown))}")
        values.update(table)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key, value in list(values.items()):
        values[key] = _checked(key, value, pyproject)
    config = Config(root=root, **values)  # type: ignore[arg-type]
    _check_ceilings(config, pyproject, set(table))
    return config


_PATHS = ("solutions_dir", "assignments_dir", "cache_dir")
_TERM_FILES = ("submission_times", "overrides", "roster_matches")
_UNITS = {"limit_multiple": "", "late_cutoff_hours": " of hours"}
_FLOATS = (
    "notebook_seconds",
    "cell_seconds",
    "call_seconds",
    "limit_floor_seconds",
    "limit_multiple",
    "late_cutoff_hours",
)


def _checked(key: str, value: object, pyproject: Path | None, table: str = "[tool.autograder]") -> object:
    """The value in the type its field needs, or a UsageError: `memory_mb = "3G"` would otherwise
    surface as a TypeError deep inside a sandbox run, long after the typo."""
    where = f"{pyproject}: {table} {key}" if pyproject else key
    if key in ("points", "thresholds", "assignments"):
        named = f"{pyproject}: [tool.autograder.{key}]" if pyproject else key
        if key == "points":
            return settings.parse_points(value, named)
        if key == "thresholds":
            return settings.parse_thresholds(value, named)
        return {
            aid: {k: _checked(k, v, pyproject, f'[tool.autograder.assignments."{aid}"]') for k, v in limits.items()}
            for aid, limits in settings.assignment_tables(value, named).items()
        }
    if key == "due":
        return term.parse_due(value, f"{pyproject}: [tool.autograder.due]" if pyproject else key)
    if key == "extensions":
        return term.parse_extensions(value, f"{pyproject}: [tool.autograder.extensions]" if pyproject else key)
    if key == "late_policy":
        if value not in term.POLICIES:
            raise UsageError(f"{where} must be one of {', '.join(map(repr, term.POLICIES))}, not {value!r}")
        return value
    if key in ("late_fraction", "late_cap"):
        low_ok = key == "late_fraction"
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (0 <= value <= 1)
            or (not low_ok and value == 0)
        ):
            raise UsageError(f"{where} must be a number in {'[0, 1]' if low_ok else '(0, 1]'}, not {value!r}")
        return float(value)
    if key in _PATHS or key in _TERM_FILES:
        if not isinstance(value, (str, Path)):
            raise UsageError(f"{where} must be a path (a string), not {value!r}")
        return Path(str(value)).expanduser()
    if key == "similarity_threshold":  # a share of fingerprints: 0 would flag every pair, above 1 none
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise UsageError(f"{where} must be a number above 0 and at most 1, not {value!r}")
        return float(value)
    if key in ("cgroups", "namespaces"):
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false, not {value!r}")
        return value
    if key == "accept_weaker":
        if not isinstance(value, (list, tuple)) or any(v not in PARTS for v in value):
            raise UsageError(
                f"{where} must be a list of limits among {', '.join(map(repr, PARTS))} "
                f"(those that may run below the level asked for: a cgroup's, Landlock's ABI 6), not {value!r}"
            )
        return tuple(value)
    if key in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise UsageError(f"{where} must be a positive number{_UNITS.get(key, ' of seconds')}, not {value!r}")
        if key == "limit_multiple" and value < 1:  # below 1 the reference solution itself would be cut
            raise UsageError(f"{where} must be at least 1, not {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where} must be an integer, not {value!r}")
    lowest = 0 if key == "tf_threads" else 1  # tf_threads = 0: TensorFlow's own default
    if key != "seed" and value < lowest:
        raise UsageError(f"{where} must be at least {lowest}, not {value}")
    return value


def _check_ceilings(config: Config, pyproject: Path | None, global_keys: set[str]) -> None:
    """A cell or call ceiling above its run's ceiling can never apply: the run is cut first. Such a
    value set in an assignment's table (or in the global table) is surely a mistake, e.g. raising
    03's `cell_seconds` for its training and forgetting its `notebook_seconds`."""
    tables = [(None, global_keys)] + [(aid, set(limits)) for aid, limits in config.assignments.items()]
    for aid, keys in tables:
        own = config if aid is None else config.for_assignment(aid)
        table = "[tool.autograder]" if aid is None else f'[tool.autograder.assignments."{aid}"]'
        where = f"{pyproject}: {table}" if pyproject else table
        for key in ("cell_seconds", "call_seconds"):
            if keys & {key, "notebook_seconds"} and getattr(own, key) > own.notebook_seconds:
                raise UsageError(
                    f"{where} {key} = {getattr(own, key):g} is above notebook_seconds = "
                    f"{own.notebook_seconds:g}: the run would be cut before; raise notebook_seconds too"
                )


GENERATED = (
    "<!-- generated by `python -m autograder.course.config docs/configuration.md`: edit the keys' help -->",
    "<!-- end of generated table -->",
)
_TABLES = {
    "due": "[tool.autograder.due]",
    "extensions": "[tool.autograder.extensions]",
    "points": "[tool.autograder.points]",
    "thresholds": "[tool.autograder.thresholds]",
    "assignments": '[tool.autograder.assignments."<assignment>"]',
}


def reference_table() -> str:
    """The configuration reference, one row per `[tool.autograder]` key, from the keys' `help`; the
    defaults of the tables (thresholds, per-assignment limit keys) come from the declarations."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Config):
        if f.name == "root":
            continue
        shown, help_text = f.metadata["shown"], f.metadata["help"]
        if f.name == "thresholds":
            declared = [
                (q.id, t.minimum) for a in ASSIGNMENTS.values() for q in a.questions if (t := settings.threshold_of(q))
            ]
            shown = ", ".join(f"`{qid}` {minimum:g}" for qid, minimum in declared)
        if f.name == "assignments":
            help_text += " (keys: " + ", ".join(f"`{k}`" for k in settings.LIMIT_KEYS) + ")"
        if f.name == "accept_weaker":
            help_text += " (values: " + ", ".join(f'`"{part}"`' for part in PARTS) + ")"
        if shown is None:
            shown = _shown(f.default)
        name = _TABLES.get(f.name, f.name)
        rows.append(f"| `{name}` | {shown} | {help_text.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"{value}"


def write_reference(page: Path) -> bool:
    """Put the generated table between the `GENERATED` markers of `page`; whether it changed."""
    text = page.read_text()
    head, rest = text.split(GENERATED[0], 1)
    _, tail = rest.split(GENERATED[1], 1)
    new = f"{head}{GENERATED[0]}\n{reference_table()}\n{GENERATED[1]}{tail}"
    if new != text:
        page.write_text(new)
    return new != text


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        print(f"{name}: {'rewritten' if write_reference(Path(name)) else 'unchanged'}")
