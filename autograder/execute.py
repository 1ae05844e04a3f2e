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
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import collect, data, rerun, sandbox, uids
from .collect import CallOutput
from .course import installed_courses, is_course
from .notebook import CodeCell
from .result import CellError, Execution, Isolation, TimeLimits
from .sandbox import nonamespace

RUNTIME_DIR = Path(__file__).parent / "runtime"
# What the sandbox runs, copied flat into in/runtime/: the runtime, the wire it shares with the grader,
# and the call handlers kept beside the question module that needs them (questions/*_calls.py).
RUNTIME_FILES = (
    *(
        RUNTIME_DIR / name
        for name in ("supervisor.py", "runner.py", "processes.py", "probe.py", "safe.py", "handlers.py", "npz.py")
    ),
    Path(__file__).parent / "wire.py",
    *sorted((Path(__file__).parent / "questions").glob("*_calls.py")),
)
EVENTS_FILE = "events.json"  # written beside kept outputs
DATA_MODULE = Path(__file__).parent / "data.py"
JOB = "/job"


@dataclass(frozen=True)
class Job:
    """Everything one run needs, prepared on the host."""

    cells: list[CodeCell]
    calls: list[dict[str, Any]]
    inputs: dict[str, np.ndarray]
    submission: Path
    data_dir: Path | None

    @property
    def items(self) -> frozenset[str]:
        """Every item of this job as the runner names it (`runtime/runner.py`): only these count in
        the events, since the notebook can print any name."""
        return frozenset({f"cell:{c.index}" for c in self.cells} | {f"probe:{c['id']}" for c in self.calls})


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
        env |= {
            "TF_NUM_INTRAOP_THREADS": str(tf_threads),
            "TF_NUM_INTEROP_THREADS": str(tf_threads),
            "OMP_NUM_THREADS": str(tf_threads),
        }
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
    mounts += [
        sandbox.Mount(root / "in", f"{JOB}/in"),
        sandbox.Mount(root / "lib", f"{JOB}/lib"),
        sandbox.Mount(root / "out", f"{JOB}/out", writable=True),
        sandbox.Mount(root / "work", f"{JOB}/work", writable=True),
    ]
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


def run(
    job: Job,
    limits: sandbox.Limits,
    *,
    use_sandbox: bool,
    max_passes: int,
    tf_threads: int,
    scratch: Path | None = None,
    keep_outputs: Path | None = None,
    time_limits: TimeLimits | None = None,
) -> tuple[Execution, dict[str, CallOutput]]:
    """Execute the job; always returns what happened and one output per call, whatever the notebook
    does. A pass that ends before the probe finished is run again without the item to blame, at most
    `max_passes` passes (the policy: `rerun`). `time_limits` is where `limits`' wall-clock values
    came from, recorded on the returned `Execution`; `keep_outputs` receives the finished pass's
    raw outputs and events (the reference's cache, `reference.py`)."""
    call_ids = [c["id"] for c in job.calls]
    books = _Books()
    outputs = collect.no_outputs(call_ids)
    # One uid for every pass of this job, held until its folders are gone: no other sandbox on the
    # machine runs as it meanwhile, so none shares its process budget (RLIMIT_NPROC is per uid).
    with contextlib.ExitStack() as stack:
        uid = stack.enter_context(uids.lease()) if use_sandbox else None
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dnn-grader-job-", dir=scratch)))
        namespaces = use_sandbox and limits.namespaces  # else, sandboxed: the no-namespace level
        if use_sandbox and not namespaces:
            assert uid is not None
            _without_namespaces(tmp, uid, limits)
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
            )
            books.count(outcome, events)
            # Outputs count only from a run the supervisor saw finish: a cell that writes forged
            # outputs and exits leaves the protocol unfinished (red-team finding 1).
            if any(e.get("item") == "supervisor" and e.get("event") == "done" for e in events):
                outputs = collect.read_outputs(root / "out", call_ids, {c["id"]: c["type"] for c in job.calls})
                if keep_outputs is not None:
                    _keep(root / "out", keep_outputs, events)
                break
            item = rerun.culprit(outcome, job.items, books.skip)
            if item is None:
                books.log_tail = _tail(log)
                break
            books.blame(item, outcome, limits, call_ids)
    return books.execution(time_limits), outputs


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
) -> tuple[sandbox.RunOutcome, list[dict[str, Any]]]:
    """Lay out a fresh job folder, run the notebook once without the items `books` skips, and
    return what the sandbox saw with the events of this job's own items."""
    root.mkdir()
    _layout(root, job, uid)
    if job.data_dir is not None and not namespaces:
        nonamespace.share_data(job.data_dir, root / "data")  # the cache holding it is closed to the uid
    spec = {
        "cells": [{"index": c.index, "source": c.source} for c in job.cells],
        "skip": books.skip,
        "stuck": books.stuck,
        "cell_seconds": limits.cell_seconds,
        "call_seconds": limits.call_seconds,
        "sandboxed": use_sandbox,
    }
    (root / "in" / "cells.json").write_text(json.dumps(spec))
    job_root = JOB if namespaces else str(root)
    python = [sys.executable, "-s"]
    runner = sandbox.as_user(
        [*python, f"{job_root}/in/runtime/runner.py", job_root, "{events_fd}"], sandbox=use_sandbox, uid=uid
    )
    argv = [*python, f"{job_root}/in/runtime/supervisor.py", job_root, "--", *runner]
    outcome = sandbox.run(
        argv,
        mounts=_mounts(root, job.data_dir),
        env=_env(job_root, job.data_dir is not None, tf_threads),
        cwd=f"{job_root}/work",
        limits=limits,
        log_file=log,
        sandbox=namespaces,
        masked=_masked() if namespaces else (),
        item_seconds=lambda item: _item_seconds(item, limits),
        uid=uid,
    )
    # Events come from the supervisor's socket only (a file the notebook can write is never read);
    # only items of this job count.
    known = job.items | {"supervisor"}
    return outcome, [e for e in outcome.events if e.get("item") in known]


def _keep(out: Path, keep: Path, events: list[dict[str, Any]]) -> None:
    """Copy a finished pass's raw outputs (size-capped, as collect reads them) and its events (the
    reference's times, `limits.py`) to `keep`."""
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("probe.json", "arrays.npz"):
        data = collect.read_untrusted(out / name, collect.MAX_NPZ_BYTES)
        (keep / name).write_bytes(data or b"")
    (keep / EVENTS_FILE).write_text(json.dumps(events))


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
