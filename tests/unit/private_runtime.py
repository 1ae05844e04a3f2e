"""The sandbox's runtime as the runner loads it, for unit tests of the untrusted side.

`runtime()` copies the files the sandbox gets (`jobfolder.RUNTIME_FILES`, flat, as `jobfolder._layout`
does) into a folder and loads them with the runner's own `_load_private`: private modules with
their own builtins, the wire's classes included. A trusted-side `wire` object must cross as JSON
(`handle()` does that), as it does through calls.json.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from autograder.grading.jobfolder import RUNTIME_FILES


@cache
def runtime() -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="private-runtime-"))
    for path in RUNTIME_FILES:
        shutil.copy(path, folder / path.name)
    spec = importlib.util.spec_from_file_location("sandbox_runner", folder / "runner.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner._load_private(str(folder))


def handle(env: dict[str, Any], call: dict[str, Any], inputs: dict[str, Any], arrays: Any) -> dict[str, Any]:
    """One call (its calls.json entry) made by the probe's handler for its kind."""
    rt = runtime()
    return rt["handlers"].HANDLERS[call["type"]](env, rt["wire"].from_json(call), inputs, arrays)


def arrays() -> Any:
    return runtime()["safe"].Arrays()
