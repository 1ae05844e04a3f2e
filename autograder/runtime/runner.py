"""Runs a submission's code cells inside the sandbox, then the probe. UNTRUSTED SIDE.

This file is copied into the sandbox and run there by a fresh interpreter; it imports nothing
from the grader (the grader's package is not even visible there). It trusts nothing it finds
after the first cell ran: whatever it writes is re-validated by the grader, and scores come only
from comparing plain data with reference values that never enter the sandbox.

Cells run in an in-process IPython shell (magics and `!` lines work like in a kernel, without a
kernel's sockets, which cannot be reached across a network namespace, and ~0.7 s cheaper).

Inside the sandbox (`"sandboxed": true` in cells.json; never without one, where other processes
of the same user are not the notebook's):
- processes a cell started do not outlive it (a fork bomb, a background writer): every process
  of the sandbox but this one is killed after each cell;
- the results are written by a fresh interpreter (the writer), which has none of the notebook's
  threads, objects or hooks: it stops this process, kills every other one, empties out/ and
  writes probe.json and arrays.npz from memory handed to it, then ends the sandbox (both in
  processes.py). Nothing a notebook left behind (a thread, a child process, a planted symlink or
  a forged file) can change what the grader reads.

It is started by supervisor.py (another uid, see there), which relays its events to the grader
and alone decides whether the run finished: nothing this process holds is trusted for that.

The probe's input arrays (the hidden cases' among them) are not in any file this process can read:
the supervisor hands them over on a pipe once the last cell has ended, so no cell can read them
and show them in its own output or error, which the feedback shows beside the grade.

Protocol (paths under the job folder given as argv[1]; argv[2] is the events pipe's descriptor,
argv[3] the inputs pipe's):
  in/cells.json      {"cells": [{"index", "source"}], "skip": [item, ...], "stuck": [item, ...],
                      "cell_seconds", "call_seconds", "wall_stretch", "sandboxed"}
  in/calls.json      the probe's calls (see probe.py, wire.py)
  inputs pipe        their array arguments, an npz file's bytes, written after the last cell's end
  events pipe        one JSON line per event: {"item": "cell:3"|"probe:<id>", "event": "start"|"end", ...},
                     {"item": "runner", "event": "ready"} first, {"item": "runner", "event": "outputs"} last
  out/probe.json, out/arrays.npz  written when the probe finishes
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import sys
import time
import traceback
import types

# Functions defined below look builtins up in this private copy: a notebook that patches
# `builtins` does not change what the runner does or writes.
__builtins__ = dict(vars(builtins))

HERE = os.path.dirname(os.path.abspath(__file__))
# Python put this script's folder first on sys.path: a notebook could `import wire` or `import safe`
# (copies, which patch nothing of the private modules, but a name it imports must not resolve to
# the runtime's files at all). Taken off before any cell runs; `_load_private` reads by path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
# The private modules, in the order they are loaded: each may import those before it. Between
# handlers and probe come the call handlers kept beside a question module (`*_calls.py`).
PRIVATE_MODULES = ("processes", "wire", "safe", "handlers", "npz")


def _load_private(folder: str) -> dict:
    """The probe's modules as private modules: not in `sys.modules` (a notebook cannot import or
    patch them; the folder is not on `sys.path` either), each with its own copy of the builtins,
    whose `__import__` resolves the modules' relative imports (`from .safe import text`) to each
    other and nothing else."""
    real_import = builtins.__import__
    modules: dict = {}

    def private_import(name, globals=None, locals=None, fromlist=(), level=0):
        if not level:
            return real_import(name, globals, locals, fromlist, level)
        module = modules.get(name.rsplit(".", 1)[-1])
        if module is None:
            raise ImportError(f"{name} is not a module of the sandbox's runtime")
        return module

    extensions = sorted(f[:-3] for f in os.listdir(folder) if f.endswith("_calls.py"))
    for name in (*PRIVATE_MODULES, *extensions, "probe"):
        path = os.path.join(folder, name + ".py")
        module = types.ModuleType("_grader_" + name)
        module.__dict__.update(__file__=path, __builtins__={**vars(builtins), "__import__": private_import})
        with open(path, encoding="utf-8") as fh:
            # dont_inherit: this file's `from __future__ import annotations` must not apply to them (wire.py)
            exec(compile(fh.read(), path, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - our own files
        modules[name] = module
    return modules


# Set by main() from the private modules, first thing: nothing else runs before them.
_runtime: dict = {}
_text = _name = _dumps = None
_getpid, _exit, _write = os.getpid, os._exit, os.write
_SIGALRM, _ITIMER_REAL = signal.SIGALRM, signal.ITIMER_REAL
_signal, _setitimer, _now = signal.signal, signal.setitimer, time.time
_RUNNER_PID = os.getpid()


def _only_the_runner() -> None:
    """A process a cell forked returns from that cell into this loop: it must not go on as a second
    runner (running the rest of the notebook, killing the real one); it ends here."""
    if _getpid() != _RUNNER_PID:
        _exit(0)


class CellTimeout(BaseException):
    """Raised by the alarm; a BaseException so that `except Exception` in a cell does not eat it."""


def _alarm(signum, frame):  # noqa: ARG001
    raise CellTimeout("the cell ran longer than its time limit")


class Progress:
    """Sends events to the supervisor (which relays them to the watchdog) on the events pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def event(self, item: str, event: str, **extra) -> None:
        _only_the_runner()
        try:
            _send(self.fd, item, event, **extra)
        except BaseException:  # noqa: BLE001 - a student may close our pipe: the run then never finishes
            pass


def _send(fd: int, item: str, event: str, **extra) -> None:
    """One event line on the pipe, written whole (a pipe write may be partial)."""
    data = (_dumps({"item": item, "event": event, "t": _now(), **extra}) + "\n").encode("ascii")
    while data:
        data = data[_write(fd, data) :]


def _short_traceback(exc: BaseException, limit: int = 4000) -> str:
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - a hostile exception
        text = "<the traceback could not be formatted>"
    return _text(text, 10**6)[-limit:]


def _describe(error: BaseException, seconds: float) -> tuple[str, str]:
    """The error's text and traceback, under an alarm: its __str__ is the notebook's code."""
    _signal(_SIGALRM, _alarm)
    _setitimer(_ITIMER_REAL, seconds)
    try:
        try:
            return _text(error, 2000), _short_traceback(error)
        finally:
            _setitimer(_ITIMER_REAL, 0)
    except BaseException:  # noqa: BLE001 - the alarm went off in the finally clause
        return "<unprintable>", ""


def run_cells(shell, cells, skip, progress: Progress, cell_seconds: float, sandboxed: bool) -> None:
    for cell in cells:
        item = f"cell:{cell['index']}"
        if item in skip:
            progress.event(item, "skipped")
            continue
        progress.event(item, "start")
        _runtime["safe"].start_alarm(cell_seconds, CellTimeout, "the cell ran longer than its time limit")
        error = None
        try:
            result = shell.run_cell(cell["source"], store_history=True)
            error = result.error_before_exec or result.error_in_exec
        except CellTimeout as exc:
            error = exc
        except BaseException as exc:  # noqa: BLE001 - a cell may raise anything, even SystemExit
            error = exc
        finally:
            _runtime["safe"].stop_alarm()
        _only_the_runner()
        if sandboxed:
            _runtime["processes"].kill_others()
        if error is None:
            progress.event(item, "end", status="ok")
        else:
            status = "timeout" if isinstance(error, CellTimeout) else "error"
            evalue, trace = _describe(error, min(5.0, cell_seconds))
            progress.event(item, "end", status=status, ename=_name(type(error)), evalue=evalue, traceback=trace)


def main() -> None:
    global _runtime, _text, _name, _dumps
    _runtime = _load_private(HERE)
    _text, _name, _dumps = _runtime["safe"].text, _runtime["safe"].name, _runtime["safe"].dumps
    job = sys.argv[1] if len(sys.argv) > 1 else "/job"
    events_fd = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    inputs_fd = int(sys.argv[3]) if len(sys.argv) > 3 else None
    out = os.path.join(job, "out")
    with open(os.path.join(job, "in", "cells.json"), encoding="utf-8") as fh:
        spec = json.load(fh)
    with open(os.path.join(job, "in", "calls.json"), encoding="utf-8") as fh:
        calls = json.load(fh)
    progress = Progress(events_fd)
    skip = set(spec.get("skip", []))
    stuck = set(spec.get("stuck", []))
    sandboxed = spec.get("sandboxed") is True
    _runtime["safe"].WALL_STRETCH = float(spec.get("wall_stretch", 1.0))
    probe_run, output_files, write_outputs = (
        _runtime["probe"].run,
        _runtime["npz"].output_files,
        _runtime["npz"].write_outputs,
    )

    os.environ.setdefault("MPLBACKEND", "Agg")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    settings = Config()
    settings.HistoryManager.enabled = False  # no history thread (nor its at-fork hook) beside the notebook
    shell = InteractiveShell.instance(colors="NoColor", config=settings)
    progress.event("runner", "ready")
    run_cells(shell, spec["cells"], skip, progress, float(spec.get("cell_seconds", 300)), sandboxed)
    inputs = {} if inputs_fd is None else _runtime["safe"].read_inputs(inputs_fd)
    doc, arrays = probe_run(shell.user_ns, calls, inputs, skip, progress, float(spec.get("call_seconds", 30)), stuck)
    # No stdout.flush() here: a thread the notebook left running may hold the stream's lock for
    # ever (seen with patched builtins), and the end of the run must not wait on notebook code.
    if sandboxed:  # a fresh process writes them, sends "outputs" and ends the sandbox
        _runtime["processes"].finish_alone(out, output_files(doc, arrays), progress.fd)
    write_outputs(out, doc, arrays)
    _send(progress.fd, "runner", "outputs")  # the last event
    _exit(0)  # do not wait for threads a cell may have left running


if __name__ == "__main__":
    main()
