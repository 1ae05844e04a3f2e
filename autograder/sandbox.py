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
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cgroups import Cgroup
from .errors import InfrastructureError


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    memory_bytes: int = 3 * 1024**3
    pids: int = 256
    file_size_bytes: int = 512 * 1024**2
    notebook_seconds: float = 600.0
    cell_seconds: float = 300.0
    call_seconds: float = 30.0
    disk_bytes: int | None = None  # all writable folders together; None: twice file_size_bytes

    @property
    def disk_quota(self) -> int:
        return self.disk_bytes if self.disk_bytes is not None else 2 * self.file_size_bytes


@dataclass(frozen=True)
class Mount:
    """A host path made visible at `target` inside the sandbox."""

    source: Path
    target: str
    writable: bool = False


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
    last_item: str | None = None     # what was running when the run ended, if anything
    last_started: str | None = None  # the last item that started (ended or not)
    events: tuple[dict, ...] = ()    # the supervisor's events, in order (bounded)


def bubblewrap_available() -> bool:
    """bwrap needs to exist and to be allowed to make namespaces (root, or unprivileged userns)."""
    bwrap = shutil.which("bwrap")
    if not bwrap or not shutil.which("setpriv"):
        return False
    try:
        probe = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def python_mounts() -> list[Mount]:
    """The interpreter, its standard library and site-packages, read-only at the same paths.

    Both the venv (`sys.prefix`) and the base installation are needed: a venv's interpreter is
    a symlink into the base one.
    """
    paths: set[Path] = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(Path(value).resolve())
    paths.add(Path(sys.executable).resolve().parent)
    # Keep only the outermost paths; /usr is mounted anyway.
    keep = sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))
    return [Mount(p, str(p)) for p in keep if not (p == Path("/usr") or Path("/usr") in p.parents)]


def _ancestors(target: str) -> list[str]:
    parts = Path(target).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def as_user(argv: Sequence[str], *, sandbox: bool, uid: int | None) -> list[str]:
    """`argv` run as the unprivileged `uid`: what a supervisor in the sandbox starts student code
    with. Every capability is dropped (also from the bounding and inheritable sets) and no
    privilege can be regained (bwrap sets no_new_privs). Without a sandbox, `argv` as it is.

    The uid is one leased for this sandbox alone (`uids.lease`), never a default: sandboxes that
    share a uid share its process budget (RLIMIT_NPROC counts per uid, machine-wide)."""
    if not sandbox:
        return list(argv)
    if uid is None:
        raise ValueError("a sandboxed run needs a uid of its own (uids.lease)")
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--", *argv]


def bwrap_argv(mounts: Sequence[Mount], masked: Iterable[Path], cwd: str, env: dict[str, str]) -> list[str]:
    """The bubblewrap command line (without the program to run).

    Parent folders of every mount are created with mode 0755 first: bwrap would make them 0700,
    and the unprivileged uid would then silently fail to reach the interpreter.
    """
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv",
            # the supervisor keeps exactly what it needs to start student code as another uid
            "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}"):
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    argv += ["--perms", "0755", "--dir", "/etc"]  # else bwrap makes it 0700 and the sandbox's uid reads nothing there
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/usr", "/tmp", "/proc", "/dev", "/etc"}
    for mount in mounts:
        for parent in _ancestors(mount.target):
            if parent not in made:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
        made.add(mount.target)
    for path in masked:
        argv += ["--tmpfs", str(path)]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", cwd]
    return argv


class _EventReader:
    """Follows the supervisor's events on the socket that is its standard input.

    Only the supervisor holds the other end (student code runs under another uid and cannot reach
    it), so these events are the run's own; their contents still came from a notebook's
    interpreter, so lines are size-capped and garbage is ignored, and the limits applied come from
    this side. Reading never blocks: a silent or flooding sandbox cannot stall the watchdog.
    """

    MAX_EVENTS = 100_000
    MAX_LINE = 256 * 1024

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.events: list[dict] = []
        self.current: str | None = None
        self.last_started: str | None = None
        self.since = time.monotonic()  # when the current item started, or the last event came
        self.closed = False

    def poll(self) -> None:
        for _ in range(64):
            try:
                chunk = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            if len(self.buffer) > self.MAX_LINE:
                self.buffer = b""
            for line in lines:
                self._take(line)

    def _take(self, line: bytes) -> None:
        if len(line) > self.MAX_LINE or len(self.events) >= self.MAX_EVENTS:
            return
        try:
            event = json.loads(line)
            item, kind = str(event["item"])[:200], str(event["event"])
        except (ValueError, KeyError, TypeError, RecursionError):
            return
        self.events.append(event)
        self.since = time.monotonic()
        if kind == "start":
            self.current = self.last_started = item
        elif kind in ("end", "skipped") and item == self.current:
            self.current = None


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
) -> RunOutcome:
    """Run the supervisor `argv` confined, under the watchdog, and report what happened.

    The program's stdin is the event socket (see `_EventReader`); it must start student code
    through `as_user`. With `sandbox=False` (asked for explicitly by the user) the program runs
    directly, still with rlimits, cgroup and watchdog, and paths are the host paths: mounts are
    ignored.
    """
    cgroup = Cgroup(limits.memory_bytes, limits.pids)
    applied = list(cgroup.applied)
    if sandbox:
        if not shutil.which("bwrap"):
            raise InfrastructureError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap, "
                                      "or pass --no-sandbox to run submissions unconfined")
        full = bwrap_argv(mounts, masked, cwd, env) + list(argv)
        child_env = {"PATH": "/usr/bin:/bin"}
    else:
        full, child_env = list(argv), {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}

    # No preexec_fn (unsafe once batch workers run in threads): a tiny shell joins the cgroup,
    # then prlimit sets the rlimits and execs the program.
    join = "; ".join(f'echo $$ > "{d}/cgroup.procs"' for d in cgroup.dirs)
    launcher = ["/bin/sh", "-c", (join + "; " if join else "") + 'exec "$@"', "sandbox-launcher",
                "prlimit", f"--data={limits.memory_bytes}", f"--fsize={limits.file_size_bytes}", "--core=0",
                f"--nproc={limits.pids}", "--", *full]
    applied += ["rlimit:data", "rlimit:fsize", "rlimit:core", "rlimit:nproc"]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    reader = _EventReader(ours)
    writable = [m.source for m in mounts if m.writable]
    start = time.monotonic()
    next_disk_check = start + _DISK_CHECK_SECONDS
    timed_out = killed = disk_exceeded = False
    stuck: str | None = None
    with open(log_file, "wb") as log:
        try:
            proc = subprocess.Popen(launcher, stdin=theirs.fileno(), stdout=log, stderr=subprocess.STDOUT,
                                    env=child_env, cwd=None if sandbox else cwd, start_new_session=True)
        except OSError as exc:
            cgroup.remove()
            ours.close()
            raise InfrastructureError(f"cannot start the sandbox: {exc}") from exc
        finally:
            theirs.close()
        try:
            while proc.poll() is None:
                time.sleep(0.1)
                reader.poll()
                now = time.monotonic()
                item_limit = limits.call_seconds if (reader.current or "").startswith("probe:") else limits.cell_seconds
                if now - start > limits.notebook_seconds:
                    timed_out = True
                elif now - reader.since > item_limit + 5.0:
                    # the runner's own alarm did not end the item; with nothing running, the time
                    # between items is bounded as a cell is (a cell that claims its own end, then hangs)
                    stuck = reader.current or reader.last_started or "runner"
                elif now >= next_disk_check and _written(log, writable, limits.disk_quota) > limits.disk_quota:
                    disk_exceeded, stuck = True, reader.current
                else:
                    if now >= next_disk_check:
                        next_disk_check = now + _DISK_CHECK_SECONDS
                    continue
                killed = True
                _kill(proc, cgroup, sandbox)
                break
            proc.wait()
        finally:
            _kill(proc, cgroup, sandbox)  # threads or children that outlive the runner
            memory_exceeded = cgroup.oom_killed()
            cgroup.remove()
            reader.poll()
            ours.close()
    return RunOutcome(
        returncode=proc.returncode,
        seconds=time.monotonic() - start,
        timed_out=timed_out,
        killed=killed,
        memory_exceeded=memory_exceeded,
        stuck_item=stuck,
        sandboxed=sandbox,
        limits_applied=tuple(applied + ["watchdog:disk"]),
        disk_exceeded=disk_exceeded,
        last_item=reader.current,
        last_started=reader.last_started,
        events=tuple(reader.events),
    )


_DISK_CHECK_SECONDS = 0.5
_MAX_ENTRIES = 100_000


def _written(log, folders: Iterable[Path], stop_above: int) -> int:
    """What the run has put on disk: its writable folders and its stdout/stderr log.

    The log is the grader's file, but the notebook fills it (every print), up to `RLIMIT_FSIZE` a
    pass: left out, a printing loop would write that much past the quota.
    """
    try:
        logged = os.fstat(log.fileno()).st_blocks * 512
    except OSError:
        logged = 0
    return logged + disk_usage(folders, max(0, stop_above - logged))


def disk_usage(folders: Iterable[Path], stop_above: int) -> int:
    """Bytes allocated under `folders` (symlinks not followed), counting up to just past `stop_above`.

    RLIMIT_FSIZE bounds one file; this bounds them all (a loop writing 500 MB files would fill the
    grader's disk). A tree of more than 100,000 entries counts as over any quota: walking it would
    take the watchdog too long, and no notebook needs it.
    """
    total, entries = 0, 0
    stack = [Path(f) for f in folders]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > _MAX_ENTRIES:
                        return stop_above + 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512
                    if total > stop_above:
                        return total
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(Path(entry.path))
        except OSError:
            continue
    return total


def _children(pid: int) -> set[int]:
    """Pids whose parent is `pid` (from /proc: works without a cgroup too)."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        found.add(int(name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _kill(proc: subprocess.Popen, cgroup: Cgroup, sandboxed: bool) -> None:
    """End every process of the run, and reap the launcher.

    Sandboxed, from the inside out: `proc` is bubblewrap's outer process, the parent of the
    sandbox's init (bubblewrap again, pid 1 of the pid namespace, whose death ends every process in
    it). Killed first, the outer one would orphan that init, and its zombie would go to the
    machine's pid 1: every killed run left a `[bwrap] <defunct>` there (this machine's pid 1 reaped
    it seconds later; a container whose pid 1 is a shell or `sleep` never does). Killed last, it
    reaps its child itself and exits, and we reap it. Sandboxed, the process group is only
    signalled while `proc` is unreaped: after that its number can belong to another sandbox's
    launcher (pid_max can be as low as 32768). Unsandboxed there is no pid namespace: the
    notebook's children are in `proc`'s group (and cgroup) and are killed with it, as before.
    """
    if sandboxed and proc.returncode is None:
        deadline = time.monotonic() + 5.0
        while proc.poll() is None and time.monotonic() < deadline:
            for pid in (_children(proc.pid) | cgroup.pids()) - {proc.pid}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
    if proc.returncode is None or not sandboxed:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
    cgroup.kill_all()
