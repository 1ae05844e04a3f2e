"""A memory limit without cgroups: the watchdog sums the memory of the sandbox's processes.

Used where no memory controller is available (cgroups turned off in the config, a container
that delegates none, cgroup v2 without `+memory`): `RLIMIT_DATA` bounds one process, but a
notebook that forks four children of 700 MB each stays under it per process and still takes
2.8 GB of the host. The guard reads /proc, so it needs nothing but the pid of the run's first
process and the sandbox's uid: the run's processes are that process's descendants (the
supervisor and anything started by it) and every process of the sandbox's uid (one of the pool,
`uids.py`, no other sandbox's: a child that escaped the tree by double-forking is still counted).

What it cannot do (README): it polls (every `watchdog.GUARD_SECONDS`), so a fast allocation overshoots
for up to that long; it counts proportional set size (`Pss` from `smaps_rollup`, shared pages
split between the processes sharing them, so a forked copy-on-write child is not counted twice),
resident size where that file is missing (kernels before 4.14). Memory the uid holds outside
any process (files on /dev/shm, SysV segments) is added (`shared.py`), and so are the files with
no name the run's processes hold in RAM (memfds: `held.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from . import held, shared

_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemoryGuard:
    """`over()` is True once the run's processes together hold more than `limit_bytes`."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        root_pid: int,
        uid: int | None,
        proc: Path = held.PROC,
        unnamed: Callable[[set[int]], held.Unnamed] = lambda pids: held.Unnamed(),
    ) -> None:
        self.limit_bytes = limit_bytes
        self.root_pid = root_pid
        self.uid = uid
        self.proc = proc
        self.unnamed = unnamed  # files with no name these processes hold (held.UnnamedFiles.now)
        self.peak = 0  # the most the run held at one poll, bytes

    def processes(self) -> set[int]:
        """The run's processes (`held.processes`)."""
        return held.processes(self.root_pid, self.uid, self.proc)

    def held(self) -> int:
        """Bytes the run's processes hold now."""
        total = 0
        pids = self.processes()
        for pid in pids:
            total += _pss(self.proc / str(pid))
        if self.uid is not None:  # tmpfs files and SysV segments: RAM no process holds (shared.py)
            total += shared.held_bytes(self.uid)
        files = self.unnamed(pids)  # memfds and unlinked tmpfs files: in no folder and in no Pss
        total += files.memory if files.complete else self.limit_bytes + 1
        self.peak = max(self.peak, total)
        return total

    def over(self) -> bool:
        return self.held() > self.limit_bytes


def _pss(folder: Path) -> int:
    try:
        with open(folder / "smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(folder / "statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0
