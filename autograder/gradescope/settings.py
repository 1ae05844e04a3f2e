"""Settings that fit Gradescope: time limits inside its timeout with every rerun, memory inside its
container, a fixed hidden-case seed; written into the zip's pyproject.toml and said in its README.

Why: the course's own ceilings (`notebook_seconds` 900) already exceed Gradescope's
default 10-minute timeout, and a submission may run `max_passes` times (one rerun per cell that
kills or hangs the interpreter), so the worst case is `max_passes x notebook_seconds` plus the
grader's own start; Gradescope then kills the whole container and the student gets no result at
all. The limits actually applied are derived from the reference's times (`limits.py`), measured
in the container by `setup.sh`: these are only the ceilings, so honest notebooks are never cut by
this sizing unless the container is slower than 1/`limit_multiple` of the machine they were
measured on. Memory: the notebook's limit is the container's minus what the grader itself holds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..course.config import Config
from ..errors import UsageError

DEFAULT_TIMEOUT_MINUTES = 10  # Gradescope's default autograder timeout
MAX_TIMEOUT_MINUTES = 40  # the most Gradescope allows
DEFAULT_CONTAINER_MB = 3072  # what to pick in Gradescope's settings (its default, 768 MB, is too little)
GRADER_START_SECONDS = 60  # run_autograder around the runs: interpreter start, collect, compare, results
GRADER_RESERVE_MB = 512  # the grader's own process beside the sandbox
MIN_NOTEBOOK_MB = 1024  # importing TensorFlow under RLIMIT_DATA needs about this (shared notes)
# Gradescope grades in a Docker container: its seccomp profile refuses the namespaces bubblewrap
# needs, and /sys/fs/cgroup is mounted read-only, so no sandbox can make its own memory or pids
# cgroup. What the container does give, and the zip accepts (the zip's pyproject.toml, `accept_weaker`):
ACCEPT_WEAKER = ("memory", "pids", "cpu", "landlock")
CONTAINER_ISOLATION = (
    "Namespaces: none where the container refuses them (Docker's default seccomp): the notebook runs "
    "as an unprivileged uid of its own (the no-namespace level), not as root",
    "Secrets (solutions/, the cached reference, the grader's package, results/): closed to that uid by file "
    "modes; a notebook that reads them gets PermissionError",
    "Memory: the watchdog's memory guard (every process of the run and of its uid, summed, polled) at the "
    "notebook limit, RLIMIT_DATA per process, and the container's own memory limit (the memory you pick) "
    "around the grader and the notebook together; no cgroup of the sandbox's own",
    "Processes: RLIMIT_NPROC of the sandbox's uid (it binds: the uid is not root); no pids cgroup",
    "Files and network: Landlock where the container's kernel has it (ABI 6: reads limited to the "
    "interpreter, data and job, no TCP, signals and abstract sockets kept inside); where it has not, file "
    "modes alone, and the result's isolation says so (landlock 0)",
    "CPU: no share of the sandbox's own (no cpu cgroup): its time limits are the wall clock's, so a "
    "neighbour's load counts against it; Gradescope grades one submission per container",
    "Network: not isolated by the grader (no network namespace); Gradescope's container decides",
    "Each result records this in its `isolation` (memory `guard`, pids `rlimit`, container_memory_mb), and "
    "Gradescope shows it to instructors only (a hidden test, and the autograder's stdout)",
    "A run below these (no memory guard, processes not bounded) fails closed: the submission scores 0 with "
    "a message, and the log says why",
)


@dataclass(frozen=True)
class GradescopeSettings:
    timeout_minutes: int  # to set in Gradescope
    container_mb: int  # to pick in Gradescope
    seed: int  # the hidden cases of every submission (the reference is computed once)
    notebook_seconds: int  # ceilings written into the zip's pyproject.toml
    cell_seconds: int
    memory_mb: int
    max_passes: int

    def worst_case_seconds(self) -> int:
        """A submission whose every pass runs to the notebook limit, and the grader around it."""
        return self.max_passes * self.notebook_seconds + GRADER_START_SECONDS

    def overrides(self) -> dict[str, int]:
        return {
            "seed": self.seed,
            "notebook_seconds": self.notebook_seconds,
            "cell_seconds": self.cell_seconds,
            "memory_mb": self.memory_mb,
        }

    def instructions(self) -> list[str]:
        """What to pick in Gradescope's settings, for the zip's README and setup.sh's log."""
        return [
            f"Autograder timeout: at least {self.timeout_minutes} minutes (a submission takes at most "
            f"{math.ceil(self.worst_case_seconds() / 60)} min: {self.max_passes} passes x {self.notebook_seconds} s "
            f"+ {GRADER_START_SECONDS} s)",
            f"Container memory: at least {self.container_mb} MB (notebook limit {self.memory_mb} MB + "
            f"{GRADER_RESERVE_MB} MB for the grader; Gradescope's default 768 MB is too little for TensorFlow)",
            f"Hidden-case seed: {self.seed} for every submission (the reference is computed once, in setup.sh)",
        ]


def sized(config: Config, *, timeout_minutes: int, container_mb: int, seed: int) -> GradescopeSettings:
    """The course's settings shrunk to fit a Gradescope timeout and container, or a UsageError
    naming what to pick when they cannot fit."""
    if not 1 <= timeout_minutes <= MAX_TIMEOUT_MINUTES:
        raise UsageError(
            f"--timeout-minutes must be 1 to {MAX_TIMEOUT_MINUTES} (Gradescope's maximum), not {timeout_minutes}"
        )
    budget = timeout_minutes * 60 - GRADER_START_SECONDS
    notebook = int(min(config.notebook_seconds, budget // config.max_passes))
    cell = int(min(config.cell_seconds, notebook - config.limit_floor_seconds))
    if cell < config.limit_floor_seconds:
        raise UsageError(
            f"a {timeout_minutes}-minute timeout leaves {notebook} s per pass ({config.max_passes} passes): "
            f"too little; choose a longer --timeout-minutes (Gradescope allows {MAX_TIMEOUT_MINUTES})"
        )
    memory = min(config.memory_mb, container_mb - GRADER_RESERVE_MB)
    if memory < MIN_NOTEBOOK_MB:
        raise UsageError(
            f"a {container_mb} MB container leaves {memory} MB for the notebook; TensorFlow needs "
            f"{MIN_NOTEBOOK_MB}: pick at least {MIN_NOTEBOOK_MB + GRADER_RESERVE_MB} MB (--memory-mb)"
        )
    return GradescopeSettings(
        timeout_minutes=timeout_minutes,
        container_mb=container_mb,
        seed=seed,
        notebook_seconds=notebook,
        cell_seconds=cell,
        memory_mb=memory,
        max_passes=config.max_passes,
    )


def sized_pyproject(text: str, settings: GradescopeSettings) -> str:
    """The course's pyproject.toml with the overridden keys of [tool.autograder] replaced (each key
    once: TOML refuses duplicates), marked as generated."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "[tool.autograder]")
    except StopIteration:
        raise UsageError("the course's pyproject.toml has no [tool.autograder] table") from None
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"\s*\[", lines[i])), len(lines))
    keys = settings.overrides()
    replaced = [*keys, "accept_weaker"]
    body = [line for line in lines[start + 1 : end] if not re.match(rf"\s*({'|'.join(replaced)})\s*=", line)]
    while body and not body[-1].strip():
        body.pop()
    body += ["# Sized for Gradescope by `autograder export gradescope` (generated; see GRADESCOPE.md):"]
    body += [f"{key} = {value}" for key, value in keys.items()]
    body += [
        "# Gradescope's container: no sandbox cgroup (read-only /sys/fs/cgroup); the memory guard and the",
        "# sandbox uid's RLIMIT_NPROC instead, never less (GRADESCOPE.md):",
        "accept_weaker = [" + ", ".join(f'"{part}"' for part in ACCEPT_WEAKER) + "]",
    ]
    return "\n".join(lines[: start + 1] + body + [""] + lines[end:]) + "\n"
