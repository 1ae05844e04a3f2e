"""Run a notebook's cells and the probe in the sandbox; turn what happened into a record.

A cell that kills the interpreter (`os._exit`, an OOM kill, a hang the watchdog ends) would also
take the functions defined by every other cell with it. So a run that ends before the probe
finished is repeated, with the item that was running at the end skipped, at most `max_passes`
times: one bad cell costs that cell, not the whole notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import collect, data, sandbox, uids
from .collect import CallOutput
from .course import installed_courses, is_course
from .notebook import CodeCell
from .result import Isolation
from .sandbox import nonamespace

RUNTIME_DIR = Path(__file__).parent / "runtime"
# What the sandbox runs, copied flat into in/runtime/: the runtime, the wire it shares with the grader,
# and the call handlers kept beside the question module that needs them (questions/*_calls.py).
RUNTIME_FILES = (*(RUNTIME_DIR / name for name in ("supervisor.py", "runner.py", "probe.py", "safe.py", "handlers.py",
                                                   "npz.py")),
                 Path(__file__).parent / "wire.py", *sorted((Path(__file__).parent / "questions").glob("*_calls.py")))
EVENTS_FILE = "events.json"  # written beside kept outputs
DATA_MODULE = Path(__file__).parent / "data.py"
JOB = "/job"


@dataclass(frozen=True)
class CellError:
    cell: int
    status: str  # error | timeout | killed
    ename: str
    evalue: str


@dataclass(frozen=True)
class ExecutionRecord:
    seconds: float
    timed_out: bool
    killed: bool
    memory_exceeded: bool
    sandboxed: bool
    passes: int
    skipped: tuple[str, ...]
    cell_errors: tuple[CellError, ...]
    tracebacks: tuple[str, ...] = ()
    isolation: Isolation | None = None  # the first pass's (every pass is set up alike)


@dataclass(frozen=True)
class Job:
    """Everything one run needs, prepared on the host."""

    cells: list[CodeCell]
    calls: list[dict[str, Any]]
    inputs: dict[str, np.ndarray]
    submission: Path
    data_dir: Path | None


def _env(job_root: str, data: bool, tf_threads: int) -> dict[str, str]:
    env = {
        "HOME": f"{job_root}/work",
        "PYTHONPATH": f"{job_root}/lib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{job_root}/work/.matplotlib",
        "IPYTHONDIR": f"{job_root}/work/.ipython",
        "KERAS_HOME": f"{job_root}/work/.keras",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TMPDIR": f"{job_root}/work",  # without namespaces /tmp is the host's, shared with later notebooks
        "PATH": "/usr/bin:/bin",
    }
    if tf_threads > 0:
        env |= {"TF_NUM_INTRAOP_THREADS": str(tf_threads), "TF_NUM_INTEROP_THREADS": str(tf_threads),
                "OMP_NUM_THREADS": str(tf_threads)}
    if data:
        env["FASHION_MNIST_DIR"] = f"{job_root}/data"
    return env


def _layout(root: Path, job: Job, uid: int | None) -> None:
    (root / "in" / "runtime").mkdir(parents=True)
    for path in RUNTIME_FILES:
        shutil.copy(path, root / "in" / "runtime" / path.name)
    (root / "lib" / "autograder").mkdir(parents=True)
    (root / "lib" / "autograder" / "__init__.py").write_text('"""Only the data loader is visible in the sandbox."""\n')
    shutil.copy(DATA_MODULE, root / "lib" / "autograder" / "data.py")
    (root / "in" / "calls.json").write_text(json.dumps(job.calls))
    np.savez(root / "in" / "inputs.npz", **job.inputs)
    for name in ("out", "work"):
        (root / name).mkdir()
    shutil.copy(job.submission, root / "work" / "submission.ipynb")
    if uid is not None and os.geteuid() == 0:  # the sandbox's own uid (uids.py) may write only these
        for name in ("out", "work"):
            for path in [root / name, *(root / name).rglob("*")]:
                os.chown(path, uid, uid)


def _mounts(root: Path, data_dir: Path | None) -> list[sandbox.Mount]:
    mounts = sandbox.python_mounts()
    mounts += [sandbox.Mount(root / "in", f"{JOB}/in"), sandbox.Mount(root / "lib", f"{JOB}/lib"),
               sandbox.Mount(root / "out", f"{JOB}/out", writable=True),
               sandbox.Mount(root / "work", f"{JOB}/work", writable=True)]
    if data_dir is not None:
        mounts.append(sandbox.Mount(data_dir, f"{JOB}/data"))
    return mounts


def _secrets() -> list[Path]:
    """What the notebook must never read and that may lie where it could: the grader's package and
    every place the real Fashion-MNIST may live (the installed course: `_masked`, `_without_namespaces`)."""
    found = [Path(__file__).resolve().parent]
    for _, folder in data.candidate_dirs():
        try:
            found.append(folder.resolve())
        except OSError:
            continue
    return found


def _masked() -> list[Path]:
    """Host folders that a mount would otherwise show to the submission, hidden by an empty tmpfs.

    - the grader's own package and the course a wheel installs beside it (`<prefix>/share/dnn-grader`,
      with solutions/), if inside a mounted prefix;
    - every place the real Fashion-MNIST may live (Debian's package under /usr/share/datasets,
      `$FASHION_MNIST_DIR`, keras' cache) when it lies inside something mounted: /usr is mounted
      whole, and the real test split must never be readable in the sandbox (only the stand-in
      under /job/data is);
    - the base interpreter's own site-packages when the grader runs from a virtual environment:
      the base installation is mounted for its standard library, and a package installed there by
      hand must not be importable by a submission (it sees the venv's packages only).
    """
    visible = [Path("/usr")] + [m.source for m in sandbox.python_mounts()]
    candidates = [*_secrets(), *(c.resolve() for c in installed_courses() if is_course(c))]
    if sys.prefix != sys.base_prefix:
        base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
        candidates += [Path(base[key]).resolve() for key in ("purelib", "platlib")]
    hidden = []
    for path in candidates:
        if path.is_dir() and any(path == v or v in path.parents for v in visible) and path not in hidden:
            hidden.append(path)
    return hidden


def run(job: Job, limits: sandbox.Limits, *, use_sandbox: bool, max_passes: int, tf_threads: int,
        scratch: Path | None = None, keep_outputs: Path | None = None) -> tuple[ExecutionRecord, dict[str, CallOutput]]:
    """Execute the job; always returns a record and one output per call, whatever the notebook does."""
    skip: list[str] = []
    stuck: list[str] = []
    total = 0.0
    timed_out = killed = memory = False
    cells: dict[int, collect.CellEvent] = {}
    tracebacks: list[str] = []
    call_ids = [c["id"] for c in job.calls]
    outputs = collect.no_outputs(call_ids)
    known_items = {f"cell:{c.index}" for c in job.cells} | {f"probe:{cid}" for cid in call_ids}
    passes = 0
    isolation: Isolation | None = None
    # One uid for every pass of this job, held until its folders are gone: no other sandbox on the
    # machine runs as it meanwhile, so none shares its process budget (RLIMIT_NPROC is per uid).
    with contextlib.ExitStack() as stack:
        uid = stack.enter_context(uids.lease()) if use_sandbox else None
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dnn-grader-job-", dir=scratch))
        namespaces = use_sandbox and limits.namespaces  # else, sandboxed: the no-namespace level
        if use_sandbox and not namespaces:
            assert uid is not None
            _without_namespaces(Path(tmp), uid, limits)
        for passes in range(1, max_passes + 1):
            root = Path(tmp) / f"pass{passes}"
            root.mkdir()
            _layout(root, job, uid)
            if job.data_dir is not None and not namespaces:
                nonamespace.share_data(job.data_dir, root / "data")  # the cache holding it is closed to the uid
            spec = {"cells": [{"index": c.index, "source": c.source} for c in job.cells], "skip": skip,
                    "stuck": stuck, "cell_seconds": limits.cell_seconds, "call_seconds": limits.call_seconds,
                    "sandboxed": use_sandbox}
            (root / "in" / "cells.json").write_text(json.dumps(spec))
            job_root = JOB if namespaces else str(root)
            python = [sys.executable, "-s"]
            runner = sandbox.as_user([*python, f"{job_root}/in/runtime/runner.py", job_root, "{events_fd}"],
                                     sandbox=use_sandbox, uid=uid)
            argv = [*python, f"{job_root}/in/runtime/supervisor.py", job_root, "--", *runner]
            outcome = sandbox.run(argv, mounts=_mounts(root, job.data_dir), env=_env(job_root, job.data_dir is not None, tf_threads),
                                  cwd=f"{job_root}/work", limits=limits, log_file=Path(tmp) / f"log{passes}.txt",
                                  sandbox=namespaces, masked=_masked() if namespaces else (),
                                  item_seconds=lambda item: _item_seconds(item, limits), uid=uid)
            total += outcome.seconds
            isolation = isolation or outcome.isolation
            timed_out |= outcome.timed_out
            killed |= outcome.killed
            memory |= outcome.memory_exceeded
            # Events come from the supervisor's socket only (a file the notebook can write is never
            # read); only items of this job count.
            events = [e for e in outcome.events if e.get("item") in known_items or e.get("item") == "supervisor"]
            for index, event in collect.cell_events(events).items():
                if event.status != "skipped" or index not in cells:
                    cells[index] = event
            # Outputs count only from a run the supervisor saw finish: a cell that writes forged
            # outputs and exits leaves the protocol unfinished (red-team finding 1).
            finished = any(e.get("item") == "supervisor" and e.get("event") == "done" for e in events)
            if finished:
                outputs = collect.read_outputs(root / "out", call_ids, {c["id"]: c["type"] for c in job.calls})
                if keep_outputs is not None:
                    keep_outputs.mkdir(parents=True, exist_ok=True)
                    for name in ("probe.json", "arrays.npz"):
                        data = collect.read_untrusted(root / "out" / name, collect.MAX_NPZ_BYTES)
                        (keep_outputs / name).write_bytes(data or b"")
                    # the supervisor's events, for the reference's times (limits.py)
                    (keep_outputs / EVENTS_FILE).write_text(json.dumps(events))
                break
            # The last item that started is to blame, even if it claimed its own end before the run died.
            culprit = next((c for c in (outcome.stuck_item, outcome.last_item, outcome.last_started)
                            if c in known_items and c not in skip), None)
            if culprit is None:
                tracebacks.append(_tail(Path(tmp) / f"log{passes}.txt"))
                break  # died before running any cell: nothing to skip, a rerun would do the same
            skip.append(culprit)
            stuck.append(culprit)
            if culprit.startswith("probe:"):
                # A function that hung once (ignoring its alarm) would hang on its other cases too, one
                # rerun each: skip them all, so that it costs its own question and not every later one.
                question = culprit[len("probe:"):].split("/", 1)[0]
                skip += [f"probe:{cid}" for cid in call_ids
                         if cid.split("/", 1)[0] == question and f"probe:{cid}" not in skip]
            if culprit.startswith("cell:"):
                index = int(culprit[5:])
                old = cells.get(index)
                status = ("killed" if outcome.disk_exceeded else
                          "timeout" if outcome.stuck_item or outcome.timed_out else "killed")
                ename, evalue = (old.ename, old.evalue) if old else ("", "")
                if outcome.memory_exceeded and outcome.killed and not ename:  # the memory guard's kill
                    ename, evalue = "MemoryExceeded", (f"the notebook's processes held more than "
                                                       f"{limits.memory_bytes // 1024**2} MB")
                if outcome.disk_exceeded:
                    ename, evalue = "DiskQuotaExceeded", (f"the notebook wrote more than "
                                                          f"{limits.disk_quota // 1024**2} MB to disk")
                cells[index] = collect.CellEvent(index, status, ename, evalue)
    errors = tuple(CellError(e.index, e.status, e.ename, e.evalue) for e in sorted(cells.values(), key=lambda e: e.index)
                   if e.status in ("error", "timeout", "killed"))
    tracebacks += [e.traceback for e in sorted(cells.values(), key=lambda e: e.index) if e.traceback]
    record = ExecutionRecord(seconds=round(total, 3), timed_out=timed_out, killed=killed, memory_exceeded=memory or any(
        e.ename == "MemoryError" for e in errors), sandboxed=use_sandbox, passes=passes, skipped=tuple(skip),
        cell_errors=errors, tracebacks=tuple(tracebacks), isolation=isolation)
    return record, outputs


def _without_namespaces(tmp: Path, uid: int, limits: sandbox.Limits) -> None:
    """The no-namespace level's file system (sandbox/nonamespace.py): the job folder the uid's alone,
    every secret closed to it, the interpreter open to it."""
    nonamespace.own_job_folder(tmp, uid)
    # the installed course's solutions only: its folder may hold the virtual environment the notebook runs in
    courses = [c.resolve() / "solutions" for c in installed_courses() if is_course(c)]
    nonamespace.protect([*_secrets(), *courses, *limits.secrets])
    nonamespace.require_reachable([Path(sys.executable), *(m.source for m in sandbox.python_mounts())])


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
