"""What a run holds that no folder walk finds: its processes, and the files they hold with no name.

A file unlinked while open, one made with `O_TMPFILE`, or a memfd has no name in any folder, so
the disk quota's walk of the writable folders (`watchdog.disk_usage`) and the walks of the host's
/tmp and /dev/shm (`shared.py`) never meet it, and its pages are in no process's Pss unless it is
mapped. Yet it holds disk or RAM for as long as a descriptor of it stays open: up to
`RLIMIT_FSIZE` each, `RLIMIT_NOFILE` of them per process (eight such files of 60 MB took 480 MB of
the host's disk under a 128 MB quota; six memfds took 2.4 GB of RAM under a 1 GB memory guard).

The run's processes' descriptor tables (/proc/<pid>/fd) are where they can be found: each file
with no link left is counted once (by device and inode), as memory where it lives in RAM (a
memfd, a file of /dev/shm), else as disk. A run holding more descriptors than `MAX_DESCRIPTORS`
counts as over every limit: no notebook needs that many, and reading them all costs the grader.

The grader reads these tables from outside, so the walks are spaced (`UnnamedFiles`): never more
than `WALK_SHARE` of the wall clock, however many descriptors the notebook opens.

Reading another uid's descriptor table needs `CAP_SYS_PTRACE`: a grader in a Docker container
(Gradescope) has none, and finds nothing there (security.md says what bounds a run then). Not seen
either: a thread made by a raw `clone` with a descriptor table of its own; Python offers no way to
make one.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .shared import RAM

PROC = Path("/proc")
MAX_DESCRIPTORS = 65_536  # 64 processes at 1024 each; an honest run holds a few hundred
WALK_SECONDS = 0.2  # the least time between two walks: the memory guard's poll (watchdog.GUARD_SECONDS)
WALK_SHARE = 0.1  # the most of the wall clock the walks may take


def processes(root_pid: int, uid: int | None, proc: Path = PROC) -> set[int]:
    """The run's processes: descendants of `root_pid` (itself included) and every process of `uid`
    (one of the pool, `uids.py`, no other sandbox's: a child that escaped the tree by
    double-forking is still the run's)."""
    parents: dict[int, int] = {}
    mine: set[int] = set()
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"{entry.path}/stat", "rb") as fh:
                parents[pid] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            if uid is not None and entry.stat().st_uid == uid:
                mine.add(pid)
        except (OSError, ValueError, IndexError):
            continue
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    tree: set[int] = set()
    stack = [root_pid] if root_pid in parents else []
    while stack:
        pid = stack.pop()
        if pid not in tree:
            tree.add(pid)
            stack += children.get(pid, [])
    return mine | tree


@dataclass(frozen=True)
class Unnamed:
    """Bytes held in files with no name: on disk, in RAM; `complete` False when the walk stopped at
    `MAX_DESCRIPTORS` (then the run counts as over every limit)."""

    disk: int = 0
    memory: int = 0
    complete: bool = True


def _in_ram(link: str) -> bool:
    return link.startswith("/memfd:") or any(link.startswith(f"{place}/") for place in RAM)


def unnamed(pids: Iterable[int], proc: Path = PROC, limit: int = MAX_DESCRIPTORS) -> Unnamed:
    """The files with no name that `pids` hold open, each counted once (`Unnamed`)."""
    seen: set[tuple[int, int]] = set()
    disk = memory = count = 0
    for pid in pids:
        folder = f"{proc}/{pid}/fd"
        try:
            names = os.listdir(folder)
        except OSError:
            continue  # ended, or never the grader's to read
        for name in names:
            count += 1
            if count > limit:
                return Unnamed(disk, memory, complete=False)
            path = f"{folder}/{name}"
            try:
                info = os.stat(path)  # the open file itself, named or not
                if not stat.S_ISREG(info.st_mode) or info.st_nlink or (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
                if _in_ram(os.readlink(path)):
                    memory += info.st_blocks * 512
                else:
                    disk += info.st_blocks * 512
            except OSError:
                continue
    return Unnamed(disk, memory)


class UnnamedFiles:
    """`unnamed()` of the run's processes as last walked, walked again when asked after
    `WALK_SECONDS`, or after ten times as long as the last walk took (`WALK_SHARE`): the disk
    check and the memory guard share one walk."""

    def __init__(self, pids: Callable[[], Iterable[int]], clock: Callable[[], float] = time.monotonic) -> None:
        self.pids, self.clock = pids, clock
        self.last = Unnamed()
        self.next = 0.0

    def now(self, pids: Iterable[int] | None = None) -> Unnamed:
        """The last walk's count, or a new walk's if one is due: of `pids` when the caller has just
        listed the run's processes (the memory guard), else of `self.pids()`."""
        began = self.clock()
        if began >= self.next:
            self.last = unnamed(self.pids() if pids is None else pids)
            self.next = began + max(WALK_SECONDS, (self.clock() - began) / WALK_SHARE)
        return self.last
