"""What confined a run, as the sandbox enforced it: the record every result carries.

It lives with the sandbox that sets it up (`levels.enforced`) and decides whether it is enough
(`levels.require`); the result, the reports and Gradescope's output read it.
"""

from __future__ import annotations

from dataclasses import dataclass

# The levels each part of the isolation can have, strongest first (`Isolation.shortfalls`).
FULL_LEVELS = {
    "namespaces": ("bwrap",),
    "network": ("none",),
    "memory": ("cgroup-v1", "cgroup-v2"),
    "pids": ("cgroup-v1", "cgroup-v2"),
    "cpu": ("cgroup-v1", "cgroup-v2"),
}
WEAKER = {
    "namespaces": {"none": "no namespaces: the notebook saw the host's files that its uid can read"},
    "network": {
        "no-tcp": "no network namespace: TCP was denied (Landlock), other protocols (UDP) were open",
        "host": "no network isolation: the notebook could reach the network",
    },
    "memory": {
        "guard": "memory bounded by the watchdog's memory guard (polled), not by a cgroup",
        "rlimit": "memory bounded per process only (RLIMIT_DATA): no cgroup, no guard",
        "none": "no memory limit",
    },
    "pids": {
        "rlimit": "processes bounded by RLIMIT_NPROC of the sandbox's uid, not by a cgroup",
        "none": "no process limit (no cgroup, and RLIMIT_NPROC does not bind root)",
    },
    "cpu": {
        "none": "no CPU share of its own: the time limits were the wall clock's, so other load counted against them",
    },
}


@dataclass(frozen=True)
class Isolation:
    """What confined the run, as the sandbox enforced it (not as configured): a limit that could
    not be set on this machine shows here as a weaker level, never silently as the configured one.

    namespaces: bwrap | none; network: none | no-tcp (Landlock) | host; uid: the unprivileged uid
    the notebook ran as (None: the grader's own); memory: cgroup-v1 | cgroup-v2 | guard | rlimit | none;
    pids: cgroup-v1 | cgroup-v2 | rlimit | none; cpu: cgroup-v1 | cgroup-v2 (a CPU share of its
    own, and the time limits counted its own CPU time) | none (wall clock only; also every record
    written before the CPU share existed); container_memory_mb: the memory limit of the
    cgroup the grader itself runs in (a container's `docker run --memory`), which bounds the grader
    and the notebook together (None: no such limit, or unreadable); landlock: the Landlock ABI the
    no-namespace level confined the run with (0: none; 0 under bubblewrap, whose mounts do that job).
    """

    namespaces: str
    network: str
    uid: int | None
    memory: str
    pids: str
    cpu: str = "none"
    container_memory_mb: int | None = None
    landlock: int = 0

    def shortfalls(self) -> tuple[str, ...]:
        """One sentence per part weaker than full isolation (empty: fully isolated): what the
        feedback, the summary and Gradescope's output warn about."""
        out = [
            WEAKER[part].get(getattr(self, part), f"{part}: {getattr(self, part)}")
            for part, full in FULL_LEVELS.items()
            if getattr(self, part) not in full
        ]
        if self.namespaces == "none" and self.landlock:
            out[0] = f"no namespaces: Landlock (ABI {self.landlock}) kept the notebook to the interpreter, data and job"
        if self.uid is None:
            out.append("the notebook ran as the grader's own user")
        if self.memory not in FULL_LEVELS["memory"] and self.container_memory_mb is not None:
            out.append(
                f"the container's own memory limit ({self.container_memory_mb} MB) bounds the grader and the notebook together"
            )
        return tuple(out)
