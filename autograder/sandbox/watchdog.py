"""The watchdog: follows a run's events and ends it when a limit is crossed, from outside the sandbox.

Apart from the launcher because it is the policy (which limit, when to kill, how to kill every
process), while the launcher only assembles the process. It knows nothing of the runner's item
names: the caller says how long an item may run (`item_seconds`), so a new kind of item changes
the caller, not this module.

Time is the sandbox's own (docs/limits.md): where its cgroup's CPU time can be read, an item or
the run is over its limit when both its wall time and its CPU time are, or when its wall time
less the time it was starved (its tasks runnable but not running: their run delay) is, or when
its wall time alone is over `wall_stretch` times the limit. A neighbour's or the machine's load
slows the wall clock of an honest cell by time it waits for a CPU, never its CPU time, so it is
not blamed for time others took; a busy loop spends CPU time, and a sleeping hang waits for no
CPU, so it ends at its plain wall-clock limit. Without a readable CPU time the limits are the
wall clock's, as asked; without a readable run delay, the wall clock is stretched to
`wall_stretch` whether the sandbox was starved or not.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice as _islice
from pathlib import Path
from typing import IO

from .cgroups import Cgroup

DISK_CHECK_SECONDS = 0.5
# The disk walks run in the grader's process, outside the sandbox's CPU share and time: spaced so
# that they take at most this share of the wall clock, whatever tree the notebook leaves to walk.
DISK_WALK_SHARE = 0.1
GUARD_SECONDS = 0.2  # the memory guard's poll (memguard.py)
MAX_DISK_ENTRIES = 10_000  # no exercise writes this many files; a walk of them takes ~30 ms
_GRACE_SECONDS = 5.0  # past an item's limit: the runner's own alarm should have ended it by then


WAIT_CHECK_SECONDS = 0.5  # the run delay is a walk over the sandbox's threads: not every poll
MAX_TASKS = 4096  # threads read per walk; a sandbox's pids limit keeps it below this


def over(wall: float, cpu: float | None, limit: float, wall_limit: float, waited: float | None = None) -> bool:
    """Whether a span is past `limit`: its wall time and its own CPU time both past it (or its
    wall time alone, when no CPU time is known); its wall time less `waited`, the time its tasks
    were starved, past it (when known: a span that did not wait for a CPU meets the plain wall
    clock); or its wall time past `wall_limit`, the ceiling whatever it waited.

    `waited` is `WaitClock`'s credit: the tasks' summed run delay, but at most `TAKING_TURNS`
    times what the longest-waiting one waited, so tasks that make each other wait (a storm of
    children woken together) do not stretch a hang's wall clock."""
    if wall > limit and (cpu is None or cpu > limit):
        return True
    if waited is not None and wall - waited > limit:
        return True
    return wall > max(limit, wall_limit)


def run_delay(tid: int) -> float | None:
    """Seconds task `tid` has spent runnable but not running (`/proc/<tid>/schedstat`, its second
    field, in ns), or None (the task ended, or the kernel keeps no scheduler statistics)."""
    try:
        with open(f"/proc/{tid}/schedstat", "rb") as fh:
            return int(fh.read(200).split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


_AFTER_OTHERS = (os.SCHED_IDLE, os.SCHED_BATCH)


def deprioritised(tid: int, nice: int) -> bool:
    """Whether task `tid` asked to run after others: the idle or batch policy (neither preempts a
    running task on waking), or a nice value above `nice` (the grader's own, which its sandboxes
    inherit). No honest cell does; a notebook's waiters that do queue behind its own burner for as
    long as it runs, at no CPU cost, and would be credited as starved."""
    try:
        return os.sched_getscheduler(tid) in _AFTER_OTHERS or os.getpriority(os.PRIO_PROCESS, tid) > nice
    except OSError:
        return False


# How many of a span's tasks may take turns at its work: the credit for a span's wait is at most
# this many times what its single longest-waiting task waited (below).
TAKING_TURNS = 2


@dataclass
class _Span:
    summed: float  # the summed delay when the span began
    base: dict[int, float] = field(default_factory=dict)  # each task's run delay when the span began
    pending: bool = False  # `base` still to be taken, at the next walk
    longest: float = 0.0  # the most that one task waited during the span, as last read


class WaitClock:
    """The sandbox's starved seconds per span (the run, the current item), as last read.

    A span's credit is its tasks' summed run delay, but at most `TAKING_TURNS` times the delay
    its longest-waiting task gained. Why not the sum alone: tasks that wake together queue behind
    one another, so 120 children of the notebook's own waking every 20 ms summed several times the
    wall clock while each waited a few ms, and a hang using ~15 % of a core got the whole 4x
    stretch (a wait storm). A starved honest cell's work waits in the one or
    two threads that take turns at it (the interpreter, TensorFlow's pool thread): each waits
    about as long as the cell was starved. A task can wait long only while other tasks run, and
    the sandbox's own are counted in its CPU time: credit past what neighbours took needs CPU time
    the first rule of `over` counts. A task that asked to run after others (`deprioritised`: the
    idle or batch policy, a higher nice value) earns no credit from the walk it is first seen so
    on, for as long as it lives: its waits are for the notebook's own tasks (a burner a third of
    the time and three idle-policy waiters took a hang to 2.7x its limit).

    A task's delay is kept as last read when it ends (the kernel forgets it with the task), so a
    short-lived task is counted up to the last walk before it ended. None until a walk read a
    delay, or when the kernel keeps none (no `schedstat`): then the stretch applies."""

    def __init__(
        self,
        tasks: Callable[[], Iterable[int]] | None,
        read: Callable[[int], float | None] | None = None,
        demoted: Callable[[int], bool] | None = None,
    ) -> None:
        self.tasks, self.read = tasks, read or run_delay
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        self.demoted = demoted or (lambda tid: deprioritised(tid, nice))
        self.frozen: set[int] = set()  # tasks seen deprioritised: their delay stays as last read before
        self.alive: dict[int, float] = {}
        self.ended = 0.0
        self.last: float | None = None
        self.spans: dict[str, _Span] = {"run": _Span(0.0)}  # the run: every delay in its new cgroup
        self.tick()

    def begin(self, span: str) -> None:
        """A new span named `span` from now: its tasks' delays are taken at the next walk (a
        forged event per ms must not cost a copy of 4,096 tasks each)."""
        self.spans[span] = _Span(self.last or 0.0, pending=True)

    def tick(self) -> float | None:
        if self.tasks is None:
            return None
        try:
            now = set(_islice(self.tasks(), MAX_TASKS))
        except OSError:
            return self.last
        for span in self.spans.values():
            if span.pending:  # as of the last walk, before this span began: it may only spare
                span.base, span.pending = dict(self.alive), False
        for tid in now:
            if tid in self.frozen or self.demoted(tid):
                self.frozen.add(tid)
                continue
            delay = self.read(tid)
            if delay is None:
                continue
            before = self.alive.get(tid)
            if before is not None and delay < before:  # the number was reused by a new task
                self.ended += before
                for span in self.spans.values():
                    span.base.pop(tid, None)
            self.alive[tid] = delay
            for span in self.spans.values():
                span.longest = max(span.longest, delay - span.base.get(tid, 0.0))
        for tid in [t for t in self.alive if t not in now]:
            self.ended += self.alive.pop(tid)
            for span in self.spans.values():
                span.base.pop(tid, None)
        self.frozen &= now
        if self.alive or self.ended or self.last is not None:
            self.last = self.ended + sum(self.alive.values())
        return self.last

    def waited(self, span: str) -> float | None:
        """The starved seconds of `span` as last read (the rule above), None when unknown."""
        if self.last is None or span not in self.spans:
            return None
        s = self.spans[span]
        return min(self.last - s.summed, TAKING_TURNS * s.longest)


class CpuClock:
    """The sandbox's CPU seconds as last read (a failed read keeps the last value: a hiccup must
    neither blame nor spare a cell), None when it never could be read."""

    def __init__(self, read: Callable[[], float | None] | None) -> None:
        self.read = read
        self.last: float | None = None
        self.tick()

    def tick(self) -> float | None:
        value = self.read() if self.read is not None else None
        if value is not None:
            self.last = value
        return self.last

    @staticmethod
    def since(now: float | None, then: float | None) -> float | None:
        return None if now is None or then is None else now - then


class EventReader:
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


@dataclass
class Verdict:
    """Why the watchdog ended a run (all false: the run ended on its own)."""

    timed_out: bool = False
    killed: bool = False
    disk_exceeded: bool = False
    memory_exceeded: bool = False  # the memory guard's (a cgroup's OOM kill is read from the cgroup)
    stuck: str | None = None


def watch(
    proc: subprocess.Popen,
    reader: EventReader,
    *,
    start: float,
    notebook_seconds: float,
    item_seconds: Callable[[str | None], float],
    log: IO[bytes],
    writable: Iterable[Path],
    disk_quota: int,
    kill: Callable[[], None],
    memory_over: Callable[[], bool] | None = None,
    elsewhere: Callable[[], int] = lambda: 0,
    cpu_seconds: Callable[[], float | None] | None = None,
    wall_stretch: float = 1.0,
    notebook_wall_seconds: float | None = None,
    tasks: Callable[[], Iterable[int]] | None = None,
) -> Verdict:
    """Poll until `proc` ends or a limit is crossed; then `kill()` the run once.

    `item_seconds(item)` is the limit of the item that runs (None: nothing runs, the time between
    items, bounded so that a cell cannot claim its own end and then hang). `memory_over()`, if
    given (the memory guard, where no cgroup limits memory), is polled every `GUARD_SECONDS`.
    `elsewhere()`: bytes the run holds outside `writable` that count against its disk quota too
    (files with no name its processes hold open, `held.py`; without a mount namespace, the host's
    /tmp, `shared.written_bytes`). `cpu_seconds()`: the
    sandbox's CPU time (its cgroup's), counted against the limits with the wall clock, which
    alone may run to `wall_stretch` times a limit (module docstring), the run's to
    `notebook_wall_seconds` if given (a ceiling the stretch must not pass); None: wall clock only.
    `tasks()`: the sandbox's threads, whose run delay (`WaitClock`) is the only wall time the
    stretch grants (with `cpu_seconds`); None: the stretch is granted whole.
    """
    verdict = Verdict()
    writable = list(writable)
    disk = DiskCheck(lambda: _written(log, writable, disk_quota) + elsewhere(), disk_quota, start)
    next_guard = start
    clock = CpuClock(cpu_seconds)
    cpu_start = clock.last
    # the sandbox's cgroup is its own and new: every delay in it was waited during this run
    waits = WaitClock(tasks if cpu_seconds is not None else None)
    waits_read = time.monotonic()
    next_wait_check = start + WAIT_CHECK_SECONDS
    item_since, item_cpu = reader.since, cpu_start
    waits.begin("item")
    stretch = wall_stretch if cpu_seconds is not None else 1.0
    notebook_wall = stretch * notebook_seconds
    if notebook_wall_seconds is not None:
        notebook_wall = min(notebook_wall, notebook_wall_seconds)
    while proc.poll() is None:
        time.sleep(0.1)
        reader.poll()
        now, cpu = time.monotonic(), clock.tick()
        if now >= next_wait_check:
            next_wait_check = now + WAIT_CHECK_SECONDS
            waits.tick()
            waits_read = now
        if reader.since != item_since:  # an event: a new span for the item (or between items)
            item_since, item_cpu = reader.since, cpu
            waits.begin("item")
        item_limit = item_seconds(reader.current) + _GRACE_SECONDS
        # the time since the last walk counts as starved until a walk says otherwise: a span is
        # judged on what was read, never blamed for the interval not yet read
        unread = now - waits_read
        run_waited, span_waited = waits.waited("run"), waits.waited("item")
        if run_waited is not None and span_waited is not None:
            run_waited, span_waited = run_waited + unread, span_waited + min(unread, now - item_since)
        if over(now - start, clock.since(cpu, cpu_start), notebook_seconds, notebook_wall, run_waited):
            verdict.timed_out = True
        elif over(now - item_since, clock.since(cpu, item_cpu), item_limit, stretch * item_limit, span_waited):
            verdict.stuck = reader.current or reader.last_started or "runner"
        elif disk.over(now):
            verdict.disk_exceeded, verdict.stuck = True, reader.current
        elif memory_over is not None and now >= next_guard and memory_over():
            verdict.memory_exceeded = True  # not `stuck`: the item is blamed as killed, as an OOM kill is
        else:
            if now >= next_guard:
                next_guard = now + GUARD_SECONDS
            continue
        verdict.killed = True
        kill()
        break
    return verdict


class DiskCheck:
    """The disk quota, checked every `DISK_CHECK_SECONDS`, or less often when a walk takes long:
    the next check comes after the last walk's time divided by `DISK_WALK_SHARE`. A tree of empty
    files costs the notebook no blocks and once its CPU time, but every walk the grader's."""

    def __init__(self, used: Callable[[], int], quota: int, start: float) -> None:
        self.used, self.quota = used, quota
        self.next = start + DISK_CHECK_SECONDS

    def over(self, now: float) -> bool:
        if now < self.next:
            return False
        began = time.monotonic()
        used = self.used()
        self.next = now + max(DISK_CHECK_SECONDS, (time.monotonic() - began) / DISK_WALK_SHARE)
        return used > self.quota


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
    grader's disk). A tree of more than `MAX_DISK_ENTRIES` entries counts as over any quota: walking it
    costs the grader, and no notebook needs it.
    """
    total, entries = 0, 0
    stack = [Path(f) for f in folders]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > MAX_DISK_ENTRIES:
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


def children(pid: int) -> set[int]:
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


def kill(proc: subprocess.Popen, cgroup: Cgroup, sandboxed: bool) -> None:
    """End every process of the run, and reap the launcher.

    Sandboxed, `proc` is the reaper (reaper.py), the parent of bubblewrap's outer process, itself
    the parent of the sandbox's init (bubblewrap again, pid 1 of the pid namespace, whose death
    ends every process in it). Everything below `proc` is killed, until `proc` exits: it exits
    only once it has reaped all of them, including the init that bubblewrap's outer process may
    leave orphaned (it exits as soon as the init reports the command's status, without waiting
    for the init itself); without the reaper that orphan went to the machine's pid 1 as a
    `[bwrap] <defunct>`, which a container's pid 1 (a shell, `sleep`) never reaps. Sandboxed, the
    process group is only signalled while `proc` is unreaped: after that its number can belong
    to another sandbox's launcher (pid_max can be as low as 32768). Unsandboxed there is no pid
    namespace: the notebook's children are in `proc`'s group (and cgroup) and are killed with it.
    """
    if sandboxed and proc.returncode is None:
        deadline = time.monotonic() + 5.0
        while proc.poll() is None and time.monotonic() < deadline:
            for pid in (children(proc.pid) | cgroup.pids()) - {proc.pid}:
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
