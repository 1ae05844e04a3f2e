"""Start one confined run: rlimits, the cgroup, bubblewrap (or not), the event socket, the watchdog.

The only place that starts student code (through the supervisor it launches). See the package's
docstring for the shape of a sandbox and why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InfrastructureError
from . import held, levels, nonamespace, shared, uids, watchdog
from .bwrap import Mount, bwrap_argv
from .cgroups import Cgroup
from .isolation import Isolation
from .memguard import MemoryGuard

JOIN_FAILED = 125  # the launcher's exit status when it cannot join the cgroup
REAPER = Path(__file__).resolve().parent / "reaper.py"
CONFINE_FAILED = 122  # the supervisor's when it cannot apply Landlock (runtime/supervisor.py)
# Descriptors per process (RLIMIT_NOFILE): Linux's usual default, plenty for TensorFlow; it bounds
# the files with no name one process can hold and what the grader reads of them (held.py).
MAX_OPEN_FILES = 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    memory_bytes: int = 3 * 1024**3
    pids: int = 256
    file_size_bytes: int = 512 * 1024**2
    notebook_seconds: float = 600.0
    cell_seconds: float = 300.0
    call_seconds: float = 30.0
    wall_stretch: float = 4.0  # with a CPU share: the wall clock alone may run to this times a limit (docs/limits.md)
    notebook_wall_seconds: float | None = None  # the run's wall clock never past this (the ceiling), stretched or not
    disk_bytes: int | None = None  # all writable folders together; None: twice file_size_bytes
    accept_weaker: frozenset[str] = frozenset()  # parts (levels.PARTS) that may run below the level asked for
    cgroups: bool = True  # False: no cgroup at all; memory by the memory guard, processes by RLIMIT_NPROC
    namespaces: bool = True  # False: the no-namespace level (nonamespace.py), for containers that refuse them
    secrets: tuple[Path, ...] = ()  # closed to the sandbox's uid at the no-namespace level (solutions, cache, results)

    @property
    def disk_quota(self) -> int:
        return self.disk_bytes if self.disk_bytes is not None else 2 * self.file_size_bytes


@dataclass(frozen=True)
class RunOutcome:
    """What the watchdog saw; plain facts, no interpretation of the notebook's results."""

    returncode: int | None
    seconds: float
    timed_out: bool
    killed: bool
    memory_exceeded: bool
    stuck_item: str | None
    sandboxed: bool
    limits_applied: tuple[str, ...] = field(default_factory=tuple)
    disk_exceeded: bool = False
    last_item: str | None = None  # what was running when the run ended, if anything
    last_started: str | None = None  # the last item that started (ended or not)
    events: tuple[dict, ...] = ()  # the supervisor's events, in order (bounded)
    isolation: Isolation | None = None  # what confined the run, as enforced (levels.enforced)


def run(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    env: dict[str, str],
    cwd: str,
    limits: Limits,
    log_file: Path,
    sandbox: bool = True,
    masked: Iterable[Path] = (),
    item_seconds: Callable[[str | None], float] | None = None,
    uid: int | None = None,
    landlock: int = 0,
) -> RunOutcome:
    """Run the supervisor `argv` confined, under the watchdog, and report what happened.

    The program's stdin is the event socket (see `watchdog.EventReader`); it must start student code
    through `as_user`. With `sandbox=False` (asked for explicitly by the user) the program runs
    directly, still with rlimits, cgroup and watchdog, and paths are the host paths: mounts are
    ignored. `item_seconds(item)` is how long the item the runner reports as running may take
    (default: `limits.cell_seconds` for every item, and between items). `uid` is the one `argv`
    drops student code to (`as_user`), recorded in the outcome's isolation, and `landlock` the
    Landlock ABI the supervisor confines itself with before it starts student code (the
    no-namespace level: `nonamespace.landlock_rules`; 0: none).

    Raises `InfrastructureError` before starting anything if a limit cannot be enforced at the
    level the config asks for (`levels.require`).
    """
    cgroup = Cgroup(limits.memory_bytes, limits.pids, enabled=limits.cgroups)
    guarded = cgroup.memory_level is None  # no memory controller: the watchdog's memory guard instead
    isolation = levels.enforced(cgroup, namespaces=sandbox, uid=uid, memory_guard=guarded, landlock=landlock)
    try:
        levels.require(isolation, cgroups=limits.cgroups, accept_weaker=limits.accept_weaker, problems=cgroup.problems)
    except InfrastructureError:
        cgroup.remove()
        raise
    applied = list(cgroup.applied)
    if sandbox:
        if not shutil.which("bwrap"):
            raise InfrastructureError(
                "bubblewrap (bwrap) is not installed: apt-get install bubblewrap, "
                "or pass --no-sandbox to run submissions unconfined"
            )
        full = bwrap_argv(mounts, masked, cwd, env) + list(argv)
        child_env = {"PATH": "/usr/bin:/bin"}
    else:
        full, child_env = list(argv), {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}

    # No preexec_fn (unsafe once batch workers run in threads): a tiny shell joins the cgroup,
    # then prlimit sets the rlimits and execs the program.
    # A failed join ends the launcher before anything runs (exit JOIN_FAILED, no events), rather than
    # running the notebook outside its cgroup.
    # Sandboxed, bubblewrap runs below the reaper (reaper.py): it inherits and reaps bubblewrap's
    # init when bubblewrap exits before it.
    join = "".join(f'echo $$ > "{d}/cgroup.procs" || exit {JOIN_FAILED}; ' for d in cgroup.dirs)
    # The kernel's OOM killer takes the sandbox's processes before any other (the grader, a
    # neighbour's grader): where no memory cgroup of its own holds a run, RAM the run holds outside
    # its resident size (memfds the grader cannot see, in a container without CAP_SYS_PTRACE) could
    # else make it kill the biggest process, which is not the run's.
    join += "echo 1000 > /proc/self/oom_score_adj 2>/dev/null; "
    reaper = [sys.executable, "-I", "-S", str(REAPER)] if sandbox else []
    launcher = [
        "/bin/sh",
        "-c",
        join + 'exec "$@"',
        "sandbox-launcher",
        *reaper,
        "prlimit",
        f"--data={limits.memory_bytes}",
        f"--fsize={limits.file_size_bytes}",
        "--core=0",
        f"--nproc={limits.pids}",
        f"--nofile={MAX_OPEN_FILES}",
        "--",
        *full,
    ]
    applied += ["rlimit:data", "rlimit:fsize", "rlimit:core", "rlimit:nproc", "rlimit:nofile"]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    reader = watchdog.EventReader(ours)
    writable = [m.source for m in mounts if m.writable]
    per_item = item_seconds or (lambda _item: limits.cell_seconds)
    start = time.monotonic()
    with open(log_file, "wb") as log:
        try:
            proc = subprocess.Popen(
                launcher,
                stdin=theirs.fileno(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=None if sandbox else cwd,
                start_new_session=True,
            )
        except OSError as exc:
            cgroup.remove()
            ours.close()
            raise InfrastructureError(f"cannot start the sandbox: {exc}") from exc
        finally:
            theirs.close()
        # files with no name the run's processes hold open: disk for the quota, RAM for the guard
        unnamed = held.UnnamedFiles(lambda: held.processes(proc.pid, uid))
        try:
            verdict = watchdog.watch(
                proc,
                reader,
                start=start,
                notebook_seconds=limits.notebook_seconds,
                item_seconds=per_item,
                log=log,
                writable=writable,
                disk_quota=limits.disk_quota,
                kill=lambda: watchdog.kill(proc, cgroup, sandbox),
                memory_over=MemoryGuard(limits.memory_bytes, root_pid=proc.pid, uid=uid, unnamed=unnamed.now).over
                if guarded
                else None,
                elsewhere=lambda: _written_elsewhere(uid, sandbox, unnamed.now(), limits.disk_quota),
                cpu_seconds=cgroup.cpu_seconds if isolation.cpu != "none" else None,
                wall_stretch=limits.wall_stretch,
                notebook_wall_seconds=limits.notebook_wall_seconds,
                tasks=cgroup.tasks,
            )
            proc.wait()
        finally:
            watchdog.kill(proc, cgroup, sandbox)  # threads or children that outlive the runner
            if not sandbox and uid is not None:
                nonamespace.kill_uid(uid)  # no pid namespace: a double-forked child outlives the group
                shared.remove(uid)  # no mount or IPC namespace: /tmp, /dev/shm, SysV segments outlive it
            if uid is not None:  # the uid's keyrings outlive its processes, into the job's next pass
                uids.forget_keys(uid)
            memory_exceeded = cgroup.oom_killed() or verdict.memory_exceeded
            cgroup.remove()
            reader.poll()
            ours.close()
    if proc.returncode == JOIN_FAILED and not reader.events:
        raise InfrastructureError(
            f"the sandbox could not join its cgroup ({', '.join(map(str, cgroup.dirs))}): "
            f"{log_file.read_text(errors='replace')[-500:].strip()}"
        )
    if proc.returncode == CONFINE_FAILED and not reader.events and landlock:
        raise InfrastructureError(
            f"the sandbox could not confine itself with Landlock: {log_file.read_text(errors='replace')[-500:].strip()}"
        )
    return RunOutcome(
        returncode=proc.returncode,
        seconds=time.monotonic() - start,
        timed_out=verdict.timed_out,
        killed=verdict.killed,
        memory_exceeded=memory_exceeded,
        stuck_item=verdict.stuck,
        sandboxed=sandbox,
        limits_applied=tuple(applied + ["watchdog:disk"]),
        disk_exceeded=verdict.disk_exceeded,
        last_item=reader.current,
        last_started=reader.last_started,
        events=tuple(reader.events),
        isolation=isolation,
    )


def _written_elsewhere(uid: int | None, namespaces: bool, unnamed: held.Unnamed, quota: int) -> int:
    """Disk the run holds outside its writable folders, for its quota: files with no name its
    processes hold open (`held.py`; more descriptors than it reads count as over the quota) and,
    without a mount namespace, what its uid wrote in the host's /tmp and the like (`shared.py`)."""
    if not unnamed.complete:
        return quota + 1
    outside = shared.written_bytes(uid) if not namespaces and uid is not None else 0
    return unnamed.disk + outside
