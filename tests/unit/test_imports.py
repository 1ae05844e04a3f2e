"""Every module of the package imports on its own, in a fresh interpreter.

An import cycle hides as long as some module happens to be imported first (the package's
`__init__` used to import `build`, which imported the questions before the checks); a module
imported alone, first thing in a new interpreter, meets the cycle and fails. `__main__` runs the CLI when
imported and the runtime files run inside the sandbox as scripts: both are left out.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import autograder

ROOT = Path(autograder.__file__).parent


def modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages([str(ROOT)], "autograder.")]
    return sorted(n for n in names if not n.startswith("autograder.runtime.") and n != "autograder.__main__")


def test_the_package_has_the_modules_this_test_expects():
    found = modules()
    assert {"autograder.judging.checks", "autograder.questions.base", "autograder.grading.grade"} <= set(found)
    assert len(found) > 30


def test_every_module_imports_alone_in_a_fresh_interpreter():
    script = (
        "import importlib, sys, traceback\n"
        "name = sys.argv[1]\n"
        "try:\n    importlib.import_module(name)\n"
        "except Exception:\n    traceback.print_exc(limit=-3); sys.exit(1)\n"
    )
    failures = {}
    for name in modules():
        run = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, timeout=120)
        if run.returncode:
            failures[name] = run.stderr.strip().splitlines()[-1]
    assert not failures, failures


def test_the_judging_layer_never_imports_the_questions():
    """`questions/` is built on `judging/`; the reverse would be the cycle again."""
    for path in (ROOT / "judging").glob("*.py"):
        text = path.read_text()
        assert "questions" not in "".join(
            line for line in text.splitlines(True) if line.lstrip().startswith(("from ", "import "))
        ), path.name
