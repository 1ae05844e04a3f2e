"""Run a notebook's cells and the probe in the sandbox; turn what happened into a record.

A cell that kills the interpreter (`os._exit`, an OOM kill, a hang the watchdog ends) would also
take the functions defined by every other cell with it. So a run that ends before the probe
finished is repeated, with the item that was running at the end skipped, at most `max_passes`
times: one bad cell costs that cell, not the whole notebook.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import collect, sandbox
from .collect import CallOutput
from .notebook import CodeCell

RUNTIME_DIR = Path(__file__).parent / "runtime"
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
        "PATH": "/usr/bin:/bin",
    }
    if tf_threads > 0:
        env |= {"TF_NUM_INTRAOP_THREADS": str(tf_threads), "TF_NUM_INTEROP_THREADS": str(tf_threads),
                "OMP_NUM_THREADS": str(tf_threads)}
    if data:
        env["FASHION_MNIST_DIR"] = f"{job_root}/data"
    return env


def _layout(root: Path, job: Job) -> None:
    (root / "in" / "runtime").mkdir(parents=True)
    for name in ("runner.py", "probe.py"):
        shutil.copy(RUNTIME_DIR / name, root / "in" / "runtime" / name)
    (root / "lib" / "autograder").mkdir(parents=True)
    (root / "lib" / "autograder" / "__init__.py").write_text('"""Only the data loader is visible in the sandbox."""\n')
    shutil.copy(DATA_MODULE, root / "lib" / "autograder" / "data.py")
    (root / "in" / "calls.json").write_text(json.dumps(job.calls))
    np.savez(root / "in" / "inputs.npz", **job.inputs)
    for name in ("out", "work"):
        (root / name).mkdir()
    shutil.copy(job.submission, root / "work" / "submission.ipynb")
    if os.geteuid() == 0:
        for name in ("out", "work"):
            for path in [root / name, *(root / name).rglob("*")]:
                os.chown(path, sandbox.NOBODY, sandbox.NOBODY)


def _mounts(root: Path, data_dir: Path | None) -> list[sandbox.Mount]:
    mounts = sandbox.python_mounts()
    mounts += [sandbox.Mount(root / "in", f"{JOB}/in"), sandbox.Mount(root / "lib", f"{JOB}/lib"),
               sandbox.Mount(root / "out", f"{JOB}/out", writable=True),
               sandbox.Mount(root / "work", f"{JOB}/work", writable=True)]
    if data_dir is not None:
        mounts.append(sandbox.Mount(data_dir, f"{JOB}/data"))
    return mounts


def _masked() -> list[Path]:
    """The grader's own package, if installed inside a mounted prefix, is hidden from the sandbox."""
    package = Path(__file__).resolve().parent
    prefixes = [m.source for m in sandbox.python_mounts()]
    return [package] if any(p in package.parents for p in prefixes) else []


def run(job: Job, limits: sandbox.Limits, *, use_sandbox: bool, max_passes: int, tf_threads: int,
        scratch: Path | None = None, keep_outputs: Path | None = None) -> tuple[ExecutionRecord, dict[str, CallOutput]]:
    """Execute the job; always returns a record and one output per call, whatever the notebook does."""
    skip: list[str] = []
    total = 0.0
    timed_out = killed = memory = False
    cells: dict[int, collect.CellEvent] = {}
    tracebacks: list[str] = []
    outputs: dict[str, CallOutput] = {}
    call_ids = [c["id"] for c in job.calls]
    passes = 0
    with tempfile.TemporaryDirectory(prefix="dnn-grader-job-", dir=scratch) as tmp:
        for passes in range(1, max_passes + 1):
            root = Path(tmp) / f"pass{passes}"
            root.mkdir()
            _layout(root, job)
            spec = {"cells": [{"index": c.index, "source": c.source} for c in job.cells], "skip": skip,
                    "cell_seconds": limits.cell_seconds, "call_seconds": limits.call_seconds}
            (root / "in" / "cells.json").write_text(json.dumps(spec))
            job_root = JOB if use_sandbox else str(root)
            argv = [sys.executable, "-s", f"{job_root}/in/runtime/runner.py", job_root]
            outcome = sandbox.run(argv, mounts=_mounts(root, job.data_dir), env=_env(job_root, job.data_dir is not None, tf_threads),
                                  cwd=f"{job_root}/work", limits=limits, progress_file=root / "out" / "progress.jsonl",
                                  log_file=Path(tmp) / f"log{passes}.txt", sandbox=use_sandbox,
                                  masked=_masked() if use_sandbox else ())
            total += outcome.seconds
            timed_out |= outcome.timed_out
            killed |= outcome.killed
            memory |= outcome.memory_exceeded
            events = collect.read_progress(root / "out" / "progress.jsonl")
            for index, event in collect.cell_events(events).items():
                if event.status != "skipped" or index not in cells:
                    cells[index] = event
            outputs = collect.read_outputs(root / "out", call_ids)
            finished = any(e.get("item") == "runner" and e.get("event") == "done" for e in events)
            if finished:
                if keep_outputs is not None:
                    keep_outputs.mkdir(parents=True, exist_ok=True)
                    for name in ("probe.json", "arrays.npz"):
                        data = collect.read_untrusted(root / "out" / name, collect.MAX_NPZ_BYTES)
                        (keep_outputs / name).write_bytes(data or b"")
                break
            culprit = outcome.stuck_item or collect.last_unfinished(events)
            if culprit is None:
                tracebacks.append(_tail(Path(tmp) / f"log{passes}.txt"))
                break  # died before running any cell: nothing to skip, a rerun would do the same
            skip.append(culprit)
            if culprit.startswith("cell:"):
                index = int(culprit[5:])
                old = cells.get(index)
                status = "timeout" if outcome.stuck_item or outcome.timed_out else "killed"
                cells[index] = collect.CellEvent(index, status, old.ename if old else "", old.evalue if old else "")
    errors = tuple(CellError(e.index, e.status, e.ename, e.evalue) for e in sorted(cells.values(), key=lambda e: e.index)
                   if e.status in ("error", "timeout", "killed"))
    tracebacks += [e.traceback for e in sorted(cells.values(), key=lambda e: e.index) if e.traceback]
    record = ExecutionRecord(seconds=round(total, 3), timed_out=timed_out, killed=killed, memory_exceeded=memory or any(
        e.ename == "MemoryError" for e in errors), sandboxed=use_sandbox, passes=passes, skipped=tuple(skip),
        cell_errors=errors, tracebacks=tuple(tracebacks))
    return record, outputs


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
