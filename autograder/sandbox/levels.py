"""Which isolation a run really has, and refusing to run with less than the config asks for.

Apart from the launcher because it is policy, not mechanism: the launcher sets up what the
machine allows (a cgroup may not be writable, a controller not delegated), this module names
the result (`result.Isolation`, recorded in every result) and decides whether it is enough.
A limit that vanished is an infrastructure error, never a silent default: before this, a cgroup
v2 machine ran every notebook without a memory limit and nothing said so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import InfrastructureError
from ..result import Isolation
from ..runtime import landlock as _landlock
from .cgroups import Cgroup, enclosing_memory_limit

# The limits the config can accept below the level it asks for (`accept_weaker`); without it, the
# strongest level the config asks for (cgroups on: a cgroup) is required. "landlock": the
# no-namespace level without Landlock, or with an ABI below LANDLOCK_NEEDED.
PARTS = ("memory", "pids", "cpu", "landlock")
# What an accepted weaker limit must still be, at the least: the memory guard (every process of
# the run and of its uid, summed), RLIMIT_NPROC of an unprivileged uid; for the CPU, no share of its
# own (the time limits are then the wall clock's). Accepting a weaker limit is accepting exactly
# these, never no limit at all. (An accepted "landlock" leaves file modes, always applied.)
FALLBACK = {"memory": ("guard",), "pids": ("rlimit",), "cpu": ("none",)}
# Files (1), TCP connect and bind (4), abstract sockets and signals scoped to the sandbox (6).
LANDLOCK_NEEDED = _landlock.SCOPE_ABI
LANDLOCK_KNOWN = 7  # the newest ABI whose rights runtime/landlock.py knows (a newer kernel adds none we use)


def landlock_abi() -> int:
    """The Landlock ABI runs get here (0: none); apart so that a test can take it away."""
    return min(_landlock.abi(), LANDLOCK_KNOWN)


def enforced(
    cgroup: Cgroup, *, namespaces: bool, uid: int | None, memory_guard: bool = False, landlock: int = 0
) -> Isolation:
    """The isolation a run set up: from the cgroup as it is (not as asked), the sandbox mode, the
    uid the notebook runs as and the Landlock ABI its supervisor applies (no-namespace level)."""
    memory = cgroup.memory_level or ("guard" if memory_guard else "rlimit")
    # RLIMIT_NPROC binds only a non-root uid: the sandbox's own, or the grader's when it is not root
    pids = cgroup.pids_level or ("rlimit" if uid is not None or os.geteuid() != 0 else "none")
    container = enclosing_memory_limit() if memory not in ("cgroup-v1", "cgroup-v2") else None
    return Isolation(
        namespaces="bwrap" if namespaces else "none",
        network="none" if namespaces else "no-tcp" if landlock >= _landlock.NET_ABI else "host",
        uid=uid,
        memory=memory,
        pids=pids,
        cpu=cgroup.cpu_level or "none",
        container_memory_mb=None if container is None else container // 1024**2,
        landlock=0 if namespaces else landlock,
    )


def required(cgroups: bool) -> dict[str, tuple[str, ...]]:
    """The levels each part must reach: with cgroups on, a cgroup; with cgroups turned off in the
    config, the fallback the config then asks for (the memory guard; the uid's RLIMIT_NPROC; for the
    CPU nothing: the time limits are then the wall clock's, and a neighbour's load counts)."""
    if cgroups:
        return {
            "memory": ("cgroup-v1", "cgroup-v2"),
            "pids": ("cgroup-v1", "cgroup-v2"),
            "cpu": ("cgroup-v1", "cgroup-v2"),
        }
    return {
        "memory": ("cgroup-v1", "cgroup-v2", "guard"),
        "pids": ("cgroup-v1", "cgroup-v2", "rlimit"),
        "cpu": ("cgroup-v1", "cgroup-v2", "none"),
    }


def require(
    isolation: Isolation, *, cgroups: bool, accept_weaker: frozenset[str], problems: Sequence[str] = ()
) -> None:
    """Raise `InfrastructureError` when a part is below what the config asks for and the config
    does not accept a weaker level for it (`accept_weaker`: then its `FALLBACK` is still
    required); `problems` (the cgroup's: why a limit could not be set) go into the message."""
    wanted = {
        part: levels + (FALLBACK[part] if part in accept_weaker else ()) for part, levels in required(cgroups).items()
    }
    short = [
        f"{part}: {getattr(isolation, part)} (needs {' or '.join(dict.fromkeys(levels))})"
        for part, levels in wanted.items()
        if getattr(isolation, part) not in levels
    ]
    if isolation.namespaces == "none" and isolation.uid is not None and "landlock" not in accept_weaker:
        if isolation.landlock < LANDLOCK_NEEDED:
            short.append(f"landlock: ABI {isolation.landlock} (needs {LANDLOCK_NEEDED} or newer: Linux 6.12)")
    if short:
        acceptable = [s.split(":")[0] for s in short if s.split(":")[0] not in accept_weaker]
        raise InfrastructureError(
            "the sandbox cannot enforce the limits the config asks for: "
            + "; ".join(short)
            + "".join(f". {p}" for p in problems)
            + ". Fix the machine (a writable cgroup with the memory, pids and cpu controllers; a kernel with Landlock)"
            + (
                ", or accept the weaker level explicitly: accept_weaker = ["
                + ", ".join(f'"{part}"' for part in acceptable)
                + "] in [tool.autograder]"
                if acceptable
                else ""
            )
        )
