"""Shared fixtures: the repository's config with a private cache, and notebook variants."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder.course.config import Config, load_config
from autograder.grading.notebook import TAG_TRAIN, tags

REPO = Path(__file__).resolve().parent.parent
# `autograder` commands that start sandboxes (in the child process, out of the guard's sight)
SANDBOXING_COMMANDS = {"grade", "check", "verify", "build"}


def _what_it_starts(args: object) -> str | None:
    """What a command line starts that the fast tier must not: a sandbox, a Jupyter kernel, a
    grading command, a container or a VM; None for anything else (git, a shell, python -c)."""
    words = [os.fsdecode(a) for a in args] if isinstance(args, (list, tuple)) else [os.fsdecode(args)]  # type: ignore[arg-type]
    names = [os.path.basename(w) for w in words]
    if "sandbox-launcher" in words:
        return "a sandbox"
    if any("ipykernel" in w or w == "nbconvert" for w in words):
        return "a Jupyter kernel"
    if names and (names[0] in ("docker", "podman") or names[0].startswith("qemu-system")):
        return f"{names[0]} (a container or a VM)"
    for k, name in enumerate(names):
        is_cli = name == "autograder" or (name == "-m" and k + 1 < len(names) and names[k + 1] == "autograder")
        rest = names[k + (2 if name == "-m" else 1) :]
        if is_cli and rest and rest[0] in SANDBOXING_COMMANDS:
            return f"`autograder {rest[0]}`"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A test not marked `slow` (the fast tier, `scripts/test --fast`) fails if it, or a fixture it
    sets up, starts a sandbox, a kernel, a grading command, a container or a VM: each costs seconds,
    and unmarked they made the tier slow one test at a time."""
    if item.get_closest_marker("slow") is not None:
        yield
        return
    original = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):  # noqa: ANN001 - Popen's own signature
        started = _what_it_starts(args)
        if started is not None:
            raise AssertionError(f"{item.nodeid} starts {started}: mark it @pytest.mark.slow")
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The repo's settings, with a cache of its own so tests never reuse a stale reference."""
    return load_config(REPO, cache_dir=tmp_path_factory.mktemp("cache"))


def make_variant(variant, out_dir: Path) -> Path:
    """Write the notebook a variant describes (see tests/submissions/variants.py)."""
    nb = nbformat.read(REPO / "solutions" / f"{variant.assignment}.ipynb", as_version=4)
    student = copy.deepcopy(nb)
    cells = []
    first_code = True
    for cell in student.cells:
        if cell.cell_type == "code" and first_code:
            first_code = False
            cells += [nbformat.v4.new_code_cell(src) for src in variant.insert_first]
        if variant.drop_train and TAG_TRAIN in tags(cell):
            continue
        if cell.cell_type == "code":
            for name, source in variant.replace.items():
                if re.search(rf"^def {re.escape(name)}\(", cell.source, re.M):
                    cell.source = source
        cells.append(cell)
    cells += [nbformat.v4.new_code_cell(src) for src in variant.append]
    student.cells = cells
    path = out_dir / f"{variant.name}_{variant.assignment}.ipynb"
    nbformat.write(student, path)
    return path
