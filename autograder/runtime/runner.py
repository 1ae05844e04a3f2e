"""Runs a submission's code cells inside the sandbox, then the probe. UNTRUSTED SIDE.

This file is copied into the sandbox and run there by a fresh interpreter; it imports nothing
from the grader (the grader's package is not even visible there). It trusts nothing it finds
after the first cell ran: whatever it writes is re-validated by the grader, and scores come only
from comparing plain data with reference values that never enter the sandbox.

Cells run in an in-process IPython shell (magics and `!` lines work like in a kernel, without a
kernel's sockets, which cannot be reached across a network namespace, and ~0.7 s cheaper).

Protocol (paths under the job folder given as argv[1]):
  in/cells.json      {"cells": [{"index", "source"}], "skip": [item, ...], "cell_seconds", "call_seconds"}
  in/calls.json      the probe's calls (see probe.py); in/inputs.npz their array arguments
  out/progress.jsonl one JSON line per event: {"item": "cell:3"|"probe:<id>", "event": "start"|"end", ...}
  out/probe.json, out/arrays.npz  written by the probe when it finishes
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

JOB = sys.argv[1] if len(sys.argv) > 1 else "/job"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import probe  # noqa: E402  (imported before any student code runs)


class CellTimeout(BaseException):
    """Raised by the alarm; a BaseException so that `except Exception` in a cell does not eat it."""


def _alarm(signum, frame):  # noqa: ARG001
    raise CellTimeout("the cell ran longer than its time limit")


class Progress:
    """Appends events to out/progress.jsonl; opened once, before student code can interfere."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", buffering=1, encoding="utf-8")

    def event(self, item: str, event: str, **extra) -> None:
        try:
            self.fh.write(json.dumps({"item": item, "event": event, "t": time.time(), **extra}) + "\n")
            self.fh.flush()
        except Exception:  # a student may close our file; the watchdog still sees the process
            pass


def _short_traceback(exc: BaseException, limit: int = 4000) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-limit:]


def run_cells(shell, cells, skip, progress: Progress, cell_seconds: float) -> None:
    for cell in cells:
        item = f"cell:{cell['index']}"
        if item in skip:
            progress.event(item, "skipped")
            continue
        progress.event(item, "start")
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, cell_seconds)
        error = None
        try:
            result = shell.run_cell(cell["source"], store_history=True)
            error = result.error_before_exec or result.error_in_exec
        except CellTimeout as exc:
            error = exc
        except BaseException as exc:  # noqa: BLE001 - a cell may raise anything, even SystemExit
            error = exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if error is None:
            progress.event(item, "end", status="ok")
        else:
            status = "timeout" if isinstance(error, CellTimeout) else "error"
            progress.event(item, "end", status=status, ename=type(error).__name__,
                           evalue=str(error)[:2000], traceback=_short_traceback(error))


def main() -> None:
    out = os.path.join(JOB, "out")
    with open(os.path.join(JOB, "in", "cells.json"), encoding="utf-8") as fh:
        spec = json.load(fh)
    with open(os.path.join(JOB, "in", "calls.json"), encoding="utf-8") as fh:
        calls = json.load(fh)
    progress = Progress(os.path.join(out, "progress.jsonl"))
    skip = set(spec.get("skip", []))
    inputs = probe.load_inputs(os.path.join(JOB, "in", "inputs.npz"))

    os.environ.setdefault("MPLBACKEND", "Agg")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    progress.event("runner", "ready")
    run_cells(shell, spec["cells"], skip, progress, float(spec.get("cell_seconds", 300)))
    probe.run(shell.user_ns, calls, inputs, skip, progress, out, float(spec.get("call_seconds", 30)))
    progress.event("runner", "done")
    sys.stdout.flush()
    os._exit(0)  # do not wait for threads a cell may have left running


if __name__ == "__main__":
    main()
