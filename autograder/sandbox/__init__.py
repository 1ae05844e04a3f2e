"""The only place that starts student code.

A submission runs under bubblewrap (its own mount, pid, network, ipc and uts namespaces; only
`/usr`, the Python installation, the job's input folder (read-only) and its output and scratch
folders (writable) are visible), with rlimits (data segment, file size, core dumps, processes)
and a cgroup (memory and pids; v1 and v2). The sandbox's first process is the job's supervisor,
root of the sandbox with only the capabilities to change uid; it starts the student's code as a
uid/gid of its own (`uids.py`: one per running sandbox) through `as_user` (`setpriv`, every
capability dropped, no new privileges), so the student's code can neither signal nor trace it.
The supervisor's standard input is a socket to this process: the only channel the grader reads
events from (which item runs, whether the run finished). A watchdog in this process enforces a
wall-clock limit for the whole run and for each item reported as started (a cell, a probe call),
and kills every process of the sandbox.

Why this shape (measured, see shared notes): `RLIMIT_AS` breaks TensorFlow's import, so memory is
bounded by `RLIMIT_DATA` plus the cgroup; `RLIMIT_NPROC` does not bind root, so the uid is dropped
inside the namespaces; a cell that swallows interrupts can only be ended from outside.

Where bubblewrap cannot make namespaces (Docker's default seccomp, Gradescope), the no-namespace
level (`nonamespace`) gives the same view with Landlock rules instead of mounts, applied by the
supervisor to itself before it starts student code, and file modes beneath them.

One module per job: `bwrap` (the command line: what a sandbox sees), `cgroups` (the kernel's
memory and process accounting), `watchdog` (events, limits, killing), `launch` (one run put
together from those).
"""

from __future__ import annotations

from .bwrap import Mount, _ancestors, as_user, bubblewrap_available, bwrap_argv, can_drop_uid, python_mounts
from .launch import Limits, RunOutcome, run
from .watchdog import MAX_DISK_ENTRIES, EventReader, disk_usage

__all__ = [
    "MAX_DISK_ENTRIES",
    "EventReader",
    "Limits",
    "Mount",
    "RunOutcome",
    "_ancestors",
    "as_user",
    "bubblewrap_available",
    "bwrap_argv",
    "can_drop_uid",
    "disk_usage",
    "python_mounts",
    "run",
]
