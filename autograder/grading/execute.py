"""Run a notebook's cells and the probe in the sandbox; what happened is the result's `Execution`.

A cell that kills the interpreter (`os._exit`, an OOM kill, a hang the watchdog ends) would also
take the functions defined by every other cell with it. So a run that ends before the probe
finished is repeated, with the item that was running at the end skipped, at most `max_passes`
times: one bad cell costs that cell, not the whole notebook. What to blame and skip is decided in
`rerun.py`; this module lays out each pass, runs it and keeps the books.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import sandbox
from ..course.locate import installed_courses, is_course
from ..result import CellError, Execution, TimeLimits
from ..sandbox import levels, nonamespace, uids
from ..sandbox.isolation import Isolation
from . import collect, rerun
from .jobfolder import (
    EVENTS_FILE,
    JOB,
    Job,
    hidden_paths,
    job_env,
    job_mounts,
    layout,
    masked_paths,
    secret_paths,
)


def run(
    job: Job,
    limits: sandbox.Limits,
    *,
    use_sandbox: bool,
    max_passes: int,
    tf_threads: int,
    out: Path,
    scratch: Path | None = None,
    time_limits: TimeLimits | None = None,
) -> Execution:
    """Execute the job; always returns what happened, whatever the notebook does. A pass that ends
    before the probe finished is run again without the item to blame, at most `max_passes` passes
    (the policy: `rerun`). Only a pass the supervisor saw finish leaves anything in `out`: its raw
    outputs, size-capped, and its events (read by `collect`, and kept as the reference's cache by
    `reference.py`); after any other, `out` stays empty. `time_limits` is where `limits`'
    wall-clock values came from, recorded on the returned `Execution`."""
    call_ids = [c["id"] for c in job.calls]
    books = _Books()
    # One uid for every pass of this job, held until its folders are gone: no other sandbox on the
    # machine runs as it meanwhile, so none shares its process budget (RLIMIT_NPROC is per uid).
    with contextlib.ExitStack() as stack:
        uid = stack.enter_context(uids.lease()) if use_sandbox else None
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dnn-grader-job-", dir=scratch)))
        namespaces = use_sandbox and limits.namespaces  # else, sandboxed: the no-namespace level
        landlock = 0
        if use_sandbox and not namespaces:
            assert uid is not None
            _without_namespaces(tmp, uid, limits)
            landlock = levels.landlock_abi()
        while books.passes < max_passes:
            root, log = tmp / f"pass{books.passes + 1}", tmp / f"log{books.passes + 1}.txt"
            outcome, events = _one_pass(
                job,
                root,
                log,
                books,
                limits,
                uid,
                use_sandbox=use_sandbox,
                namespaces=namespaces,
                tf_threads=tf_threads,
                landlock=landlock,
            )
            books.count(outcome, events)
            # Outputs count only from a run the supervisor saw finish: a cell that writes forged
            # outputs and exits leaves the protocol unfinished.
            if any(e.get("item") == "supervisor" and e.get("event") == "done" for e in events):
                _keep(root / "out", out, events)
                break
            item = rerun.culprit(outcome, job.items, books.skip)
            if item is None:
                books.log_tail = _tail(log)
                break
            books.blame(item, outcome, limits, call_ids)
    return books.execution(time_limits)


@dataclass
class _Books:
    """What the passes of one run add up to: bookkeeping only, every decision is `rerun`'s."""

    seconds: float = 0.0
    timed_out: bool = False
    killed: bool = False
    memory_exceeded: bool = False
    passes: int = 0
    skip: list[str] = field(default_factory=list)  # items the next pass does not run
    stuck: list[str] = field(default_factory=list)  # those of them that ended a pass (the probe says so)
    cells: dict[int, CellError] = field(default_factory=dict)
    isolation: Isolation | None = None  # the first pass's (every pass is set up alike)
    log_tail: str = ""

    def count(self, outcome: sandbox.RunOutcome, events: list[dict[str, Any]]) -> None:
        """Add one pass: its time, what the watchdog did, the last word on each cell."""
        self.passes += 1
        self.seconds += outcome.seconds
        self.isolation = self.isolation or outcome.isolation
        self.timed_out |= outcome.timed_out
        self.killed |= outcome.killed
        self.memory_exceeded |= outcome.memory_exceeded
        self.cells = rerun.merge_cells(self.cells, collect.cell_events(events))

    def blame(self, item: str, outcome: sandbox.RunOutcome, limits: sandbox.Limits, call_ids: list[str]) -> None:
        """Record that `item` ended the pass: skipped from now on, and if a cell, why it ended."""
        self.skip += rerun.skips_after(item, call_ids, self.skip)
        self.stuck.append(item)
        if item.startswith("cell:"):
            index = int(item[len("cell:") :])
            self.cells[index] = rerun.blamed_cell(index, outcome, self.cells.get(index), limits)

    def execution(self, time_limits: TimeLimits | None) -> Execution:
        errors = tuple(cell for _, cell in sorted(self.cells.items()) if cell.status.failed)
        return Execution(
            seconds=round(self.seconds, 3),
            timed_out=self.timed_out,
            killed=self.killed,
            memory_exceeded=self.memory_exceeded or any(e.ename == "MemoryError" for e in errors),
            passes=self.passes,
            skipped=tuple(self.skip),
            cell_errors=errors,
            limits=time_limits,
            isolation=self.isolation,
            log_tail=self.log_tail,
        )


def _one_pass(
    job: Job,
    root: Path,
    log: Path,
    books: _Books,
    limits: sandbox.Limits,
    uid: int | None,
    *,
    use_sandbox: bool,
    namespaces: bool,
    tf_threads: int,
    landlock: int = 0,
) -> tuple[sandbox.RunOutcome, list[dict[str, Any]]]:
    """Lay out a fresh job folder, run the notebook once without the items `books` skips, and
    return what the sandbox saw with the events of this job's own items. `landlock`: the ABI the
    no-namespace level's supervisor confines the run with (0: none)."""
    root.mkdir()
    layout(root, job, uid)
    if job.data_dir is not None and not namespaces:
        nonamespace.share_data(job.data_dir, root / "data")  # the cache holding it is closed to the uid
    spec: dict[str, Any] = {
        "cells": [{"index": c.index, "source": c.source} for c in job.cells],
        "skip": books.skip,
        "stuck": books.stuck,
        "cell_seconds": limits.cell_seconds,
        "call_seconds": limits.call_seconds,
        "wall_stretch": limits.wall_stretch,
        "sandboxed": use_sandbox,
    }
    if landlock:
        spec["landlock"] = {"abi": landlock, "rules": _landlock_rules(root, job, limits)}
    (root / "in" / "cells.json").write_text(json.dumps(spec))
    job_root = JOB if namespaces else str(root)
    python = [sys.executable, "-s"]
    runner = sandbox.as_user(
        [*python, f"{job_root}/in/runtime/runner.py", job_root, "{events_fd}", "{inputs_fd}"],
        sandbox=use_sandbox,
        uid=uid,
    )
    argv = [*python, f"{job_root}/in/runtime/supervisor.py", job_root, "--", *runner]
    outcome = sandbox.run(
        argv,
        mounts=job_mounts(root, job.data_dir),
        env=job_env(job_root, job.data_dir is not None, tf_threads),
        cwd=f"{job_root}/work",
        limits=limits,
        log_file=log,
        sandbox=namespaces,
        masked=masked_paths() if namespaces else (),
        item_seconds=lambda item: _item_seconds(item, limits),
        uid=uid,
        landlock=landlock,
    )
    # Events come from the supervisor's socket only (a file the notebook can write is never read);
    # only items of this job count.
    known = job.items | {"supervisor"}
    return outcome, [e for e in outcome.events if e.get("item") in known]


def _keep(out: Path, keep: Path, events: list[dict[str, Any]]) -> None:
    """Copy a finished pass's raw outputs (size-capped) and its events (the reference's times,
    `limits.py`) out of the job folder, which goes with the sandbox's uid lease."""
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("probe.json", "arrays.npz"):
        data = collect.read_untrusted(out / name, collect.MAX_NPZ_BYTES)
        if data is not None:  # else collect finds no output, as in the job folder
            (keep / name).write_bytes(data)
    (keep / EVENTS_FILE).write_text(json.dumps(events))


def _without_namespaces(tmp: Path, uid: int, limits: sandbox.Limits) -> None:
    """The no-namespace level's file system (sandbox/nonamespace.py): the job folder the uid's alone,
    every secret closed to it, the interpreter open to it."""
    nonamespace.own_job_folder(tmp, uid)
    # the installed course's solutions only: its folder may hold the virtual environment the notebook runs in
    courses = [c.resolve() / "solutions" for c in installed_courses() if is_course(c)]
    nonamespace.protect([*secret_paths(), *courses, *limits.secrets])
    nonamespace.require_reachable([Path(sys.executable), *(m.source for m in sandbox.python_mounts())])


def _landlock_rules(root: Path, job: Job, limits: sandbox.Limits) -> list[tuple[str, str]]:
    """What one pass may touch at the no-namespace level: bubblewrap's mounts as Landlock rules
    (`nonamespace.landlock_rules`), with bubblewrap's masks and the run's secrets as holes."""
    mounts = job_mounts(root, None)
    readable = [m.source for m in mounts if not m.writable]
    if job.data_dir is not None:
        readable.append(root / "data")  # the stand-in split, linked into the job (share_data)
    return nonamespace.landlock_rules(
        readable, [m.source for m in mounts if m.writable], [*hidden_paths(), *limits.secrets]
    )


def _item_seconds(item: str | None, limits: sandbox.Limits) -> float:
    """How long the watchdog lets an item run: a probe call has the call limit, a cell (and the
    time between items) the cell limit. The item names are the runner's (`runtime/runner.py`)."""
    return limits.call_seconds if (item or "").startswith("probe:") else limits.cell_seconds


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
