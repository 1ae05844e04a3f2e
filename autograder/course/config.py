"""Settings from `[tool.autograder]` in pyproject.toml, as one frozen dataclass.

Read from the course's pyproject.toml (where the course is: `course.py`); every key is optional
and documented in README. Unknown keys are an error, so a typo does not silently fall back to a
default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..questions import get_assignment
from ..questions.base import Assignment
from ..sandbox import Limits
from ..sandbox.levels import PARTS
from . import settings
from .locate import has_table


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dnn-grader"


@dataclass(frozen=True)
class Config:
    solutions_dir: Path = Path("solutions")
    assignments_dir: Path = Path("assignments")
    cache_dir: Path = field(default_factory=_default_cache)
    seed: int | None = None  # None: draw one per grading run and record it
    memory_mb: int = 3072
    pids: int = 256
    file_size_mb: int = 512
    disk_mb: int | None = None  # None: twice file_size_mb (all writable folders of one sandbox)
    notebook_seconds: float = 900.0  # the three *_seconds are ceilings: the limits applied are derived
    cell_seconds: float = 600.0  # from the reference's run (autograder/grading/limits.py), never above these
    call_seconds: float = 60.0
    limit_multiple: float = 5.0  # limit = max(floor, multiple x reference time); why 5 and 30: limits.py
    limit_floor_seconds: float = 30.0
    max_passes: int = 3
    tf_threads: int = 1
    # Instructor settings (autograder/course/settings.py), validated against the declarations on load:
    points: Mapping[str, float] = field(default_factory=dict)  # "<assignment>.<question>" -> points
    thresholds: Mapping[str, float] = field(default_factory=dict)  # "<assignment>.<question>" -> accuracy
    assignments: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # id -> LIMIT_KEYS overrides
    similarity_threshold: float = 0.4  # pairs flagged in the similarity report (autograder/similarity/pairs.py)
    accept_weaker: tuple[str, ...] = ()  # memory, pids below a cgroup's level; landlock below ABI 6 (docs/security.md)
    cgroups: bool = True  # False: no cgroup; memory by the watchdog's memory guard, processes by RLIMIT_NPROC
    namespaces: bool = True  # False: the no-namespace level (containers that refuse namespaces; README)
    root: Path = Path(".")

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
_FLOATS = ("notebook_seconds", "cell_seconds", "call_seconds", "limit_floor_seconds", "limit_multiple")


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
    if key in _PATHS:
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
            raise UsageError(
                f"{where} must be a positive number{'' if key == 'limit_multiple' else ' of seconds'}, not {value!r}"
            )
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
