"""runtime/runner.py as a process, started the way execute.py starts it (`python -s runner.py JOB FD`),
without a sandbox: what a notebook's cell can import of the runtime.

The probe's modules are private (`_load_private`): no notebook may import a module of the runtime
by name, not even a copy. Python puts a script's folder first on `sys.path`, so the runner must
take its own folder off again; before it did, `import wire` and `import safe` in a cell worked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.grading.jobfolder import RUNTIME_FILES

# A cell that tries every module of the runtime by its file name and says which it got.
CELL = """import importlib
found = []
for name in NAMES:
    try:
        importlib.import_module(name)
        found.append(name)
    except ImportError:
        pass
raise RuntimeError("IMPORTED " + ",".join(found))"""


def run_runner(job: Path, cells: list[str], timeout: float = 120) -> list[dict]:
    """The runner's events for these cells (no calls), read from the pipe it is given."""
    runtime = job / "in" / "runtime"
    runtime.mkdir(parents=True)
    (job / "out").mkdir()
    (job / "work").mkdir()
    for path in RUNTIME_FILES:
        shutil.copy(path, runtime / path.name)
    spec = {
        "cells": [{"index": i, "source": s} for i, s in enumerate(cells)],
        "cell_seconds": 60,
        "call_seconds": 5,
        "sandboxed": False,
    }
    (job / "in" / "cells.json").write_text(json.dumps(spec))
    (job / "in" / "calls.json").write_text("[]")
    read, write = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-s", str(runtime / "runner.py"), str(job), str(write)],
            pass_fds=(write,),
            cwd=job / "work",
            stdout=subprocess.DEVNULL,
            env={**os.environ, "IPYTHONDIR": str(job / "work" / ".ipython")},
        )
        os.close(write)
        write = -1
        with os.fdopen(read, "rb") as events:
            read = -1
            lines = events.read().splitlines()
        process.wait(timeout)
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)
    return [json.loads(line) for line in lines]


def test_no_module_of_the_runtime_is_importable_from_a_cell(tmp_path):
    names = sorted(path.stem for path in RUNTIME_FILES)
    events = run_runner(tmp_path, [f"NAMES = {names!r}\n" + CELL])
    end = next(e for e in events if e["item"] == "cell:0" and e["event"] == "end")
    assert end["status"] == "error" and end["evalue"].startswith("IMPORTED "), end
    assert end["evalue"] == "IMPORTED ", f"a notebook could import {end['evalue'][len('IMPORTED ') :]}"
    assert events[-1] == {**events[-1], "item": "runner", "event": "outputs"}  # the run went on to its end
