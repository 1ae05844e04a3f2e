"""What a sandbox's uid holds outside its processes and its job folder, without a mount namespace.

Under bubblewrap /tmp, /dev/shm and the SysV IPC namespace are the sandbox's own and vanish with
it. At the no-namespace level (and with bubblewrap's IPC namespace gone) they are the host's:

- a file on /dev/shm (tmpfs) is RAM that no process maps, so neither `Pss` (the memory guard)
  nor the process list sees it, and it outlives every process of the run;
- a SysV shared memory segment, touched and detached, is the same, and survives without any file;
- a file in /tmp or /var/tmp is disk outside the job's quota, left for later notebooks;
- a SysV semaphore set or message queue made with rights for others is a drop box that every
  later notebook of any uid can read (a set left mode 0666 is found by the next batch's notebook).

Measured: a notebook can hold 1.2 GB on /dev/shm and a 1 GB segment under a 1024 MB guard, and
1.2 GB in /tmp past a 1 GB disk quota, all still there after grading, unless the guard
counts the memory (`held_bytes`), the disk quota the files (`written_bytes`), and the end of the
run removes them (`remove`). A uid owning nothing on the host can create entries only in
world-writable folders (and in what it made there), so only those are walked.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

# The world-writable places of a Debian/Ubuntu system (and of the usual containers).
PLACES = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock"), Path("/dev/mqueue"))
RAM = (Path("/dev/shm"),)  # of those, the ones that are memory (tmpfs), for the guard
SYSV_SHM = Path("/proc/sysvipc/shm")
SYSV_SEM = Path("/proc/sysvipc/sem")  # its creator's uid (`cuid`) is field 6
SYSV_MSG = Path("/proc/sysvipc/msg")  # field 9, as for segments
MAX_ENTRIES = 100_000  # a bigger tree counts as over any limit: walking it would stall the watchdog
IPC_RMID = 0


def owned(uid: int, roots: Iterable[Path]) -> Iterator[tuple[str, os.stat_result]]:
    """Top-level entries of `uid` in the world-writable folders under `roots` (symlinks not followed)."""
    stack = [str(r) for r in roots]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == uid:
                yield entry.path, info
            elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
                stack.append(entry.path)


def _tree_bytes(path: str, info: os.stat_result, budget: list[int]) -> int:
    total = info.st_blocks * 512
    if stat.S_ISDIR(info.st_mode):
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                budget[0] -= 1
                if budget[0] < 0:
                    return 2**62
                try:
                    total += os.lstat(os.path.join(top, name)).st_blocks * 512
                except OSError:
                    continue
    return total


def _created_by(uid: int, table: Path, cuid_field: int) -> list[list[str]]:
    """The rows of the SysV table `table` (/proc/sysvipc/shm, sem or msg) that `uid` created, split
    into fields (`cuid`: the owner field can be given away with IPC_SET, the creator cannot)."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        try:
            if int(fields[cuid_field]) == uid:
                found.append(fields)
        except (IndexError, ValueError):
            continue
    return found


def sysv_segments(uid: int, table: Path = SYSV_SHM) -> list[tuple[int, int]]:
    """(shmid, resident bytes) of the SysV segments `uid` created."""
    found = []
    for fields in _created_by(uid, table, 9):
        try:
            found.append((int(fields[1]), int(fields[14])))
        except (IndexError, ValueError):
            continue
    return found


def sysv_ids(uid: int, table: Path, cuid_field: int) -> list[int]:
    """Ids (field 1) of the SysV objects in `table` (/proc/sysvipc/sem or msg) that `uid` created."""
    found = []
    for fields in _created_by(uid, table, cuid_field):
        try:
            found.append(int(fields[1]))
        except ValueError:
            continue
    return found


def owned_bytes(uid: int, roots: Iterable[Path]) -> int:
    """Bytes allocated to what `uid` made in the world-writable folders under `roots`."""
    budget, total = [MAX_ENTRIES], 0
    for path, info in owned(uid, roots):
        budget[0] -= 1  # files made straight in /tmp count too: 10^6 of them would stall every poll
        if budget[0] < 0:
            return 2**62
        total += _tree_bytes(path, info, budget)
    return total


def held_bytes(uid: int, ram: Iterable[Path] = RAM, table: Path = SYSV_SHM) -> int:
    """Memory `uid` holds in files on tmpfs and in SysV segments (none of it in any process's Pss
    once unmapped; while mapped it is counted twice, which errs towards the limit)."""
    return owned_bytes(uid, ram) + sum(rss for _, rss in sysv_segments(uid, table))


def written_bytes(uid: int) -> int:
    """Disk `uid` took outside its job folder (/tmp, /var/tmp, ...), for the job's disk quota."""
    return owned_bytes(uid, [p for p in PLACES if p not in RAM])


def remove(
    uid: int,
    places: Iterable[Path] = PLACES,
    table: Path = SYSV_SHM,
    semaphores: Path = SYSV_SEM,
    queues: Path = SYSV_MSG,
) -> None:
    """Delete what `uid` left in the world-writable folders and the SysV objects it created
    (segments, semaphore sets, message queues). Called after every process of the uid is dead
    (`nonamespace.kill_uid`), so nothing races the removal."""
    for path, info in list(owned(uid, places)):
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path, ignore_errors=True)  # fd-based: never follows a planted symlink
            else:
                os.unlink(path)
        except OSError:
            continue
    if sysv_segments(uid, table):
        libc = ctypes.CDLL(None, use_errno=True)
        for shmid, _ in sysv_segments(uid, table):
            libc.shmctl(shmid, IPC_RMID, None)
    sets, queued = sysv_ids(uid, semaphores, 6), sysv_ids(uid, queues, 9)
    if sets or queued:
        libc = ctypes.CDLL(None, use_errno=True)
        for semid in sets:
            libc.semctl(semid, 0, IPC_RMID)
        for msqid in queued:
            libc.msgctl(msqid, IPC_RMID, None)
