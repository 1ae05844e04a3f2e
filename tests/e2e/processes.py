"""What a test started, found below its own process, not machine-wide.

Why below: `scripts/test` runs the suite on 2 processes, so the machine also holds the other
process's sandboxes (and an instructor's machine, other graders' ones). A test that counts "runners
alive now" or "memory in use" counts what it started, as `ps` below one grader would.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Runner:
    pid: int
    uid: int
    threads: int


def _parents() -> dict[int, int]:
    found = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            found[int(name)] = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return found


def below(roots: Iterable[int] = (), parents: dict[int, int] | None = None) -> set[int]:
    """Every process below `roots` (default: this process), not the roots themselves."""
    parents = _parents() if parents is None else parents
    seen: set[int] = set()
    frontier = set(roots) or {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - seen
        seen |= frontier
    return seen


def runners(roots: Iterable[int] = ()) -> list[Runner]:
    """One entry per sandbox: every `runner.py` process below `roots` (default: this process) with
    an unprivileged uid, except a runner whose parent is a runner of the same uid (the runtime
    forks a writer for its last outputs: the same sandbox)."""
    parents = _parents()
    found: dict[int, tuple[int, int]] = {}  # pid -> uid, threads
    for pid in below(roots, parents):
        try:
            if b"runner.py" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            threads = int(Path(f"/proc/{pid}/status").read_text().split("\nThreads:")[1].split()[0])
            found[pid] = (os.stat(f"/proc/{pid}").st_uid, threads)
        except (OSError, ValueError, IndexError):
            continue
    return [
        Runner(pid, uid, threads)
        for pid, (uid, threads) in found.items()
        if uid != 0 and found.get(parents[pid], (None,))[0] != uid
    ]


def memory_below(roots: Iterable[int] = ()) -> int:
    """Bytes of memory the processes below `roots` hold now, each page shared between them counted
    once (the sum of their proportional set sizes: a forked child shares its parent's pages)."""
    total = 0
    for pid in below(roots):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


@contextmanager
def sampled(sample: Callable[[], T], every: float) -> Iterator[list[T]]:
    """`sample()` every `every` s, in a thread, while the block runs: what runs beside what (the
    sandboxes of a batch at once, the memory they hold) is only seen while it runs. Yields the
    list the samples are appended to."""
    samples: list[T] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            samples.append(sample())
            stop.wait(every)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
