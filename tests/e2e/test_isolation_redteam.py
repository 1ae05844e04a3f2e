"""Red team of the no-namespace level and the memory guard (issue 11's levels), as a student would
attack them beside honest neighbours. Each attack is a notebook cell (a `Variant`); every test here
failed before its defence (see the commit that added it)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder import batch
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO, make_variant
from tests.e2e.test_hostile import lost
from tests.e2e.test_isolation_levels import failing_bwrap_and_open_interpreter
from tests.submissions.variants import A05, Variant

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]


def copies_a_neighbour(klass: str) -> Variant:
    """A wrong `l1_penalty`, then a cell that finds another student's notebook in the class folder
    (its path is visible: the host's file system is, without a mount namespace) and runs its code."""
    steal = f'''import glob, json, os
for path in glob.glob({klass!r} + "/*.ipynb"):
    if "copies" in path:
        continue
    try:
        cells = json.load(open(path))["cells"]
    except OSError:
        continue
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "def l1_penalty" in source:
            exec(source, globals())'''
    return Variant("copies_a_neighbour", A05, replace={"l1_penalty": "def l1_penalty(theta):\n    return 0.0"},
                   append=(steal,), lost=frozenset({"l1_penalty"}))


def grade_beside(config, variant: Variant, out: Path) -> dict:
    """`variant` and an honest notebook in one world-readable class folder (as an instructor's
    folder is, umask 022), graded in a 2-worker batch at the no-namespace level."""
    klass = Path(tempfile.mkdtemp(prefix="redteam-class-"))
    try:
        os.chmod(klass, 0o755)
        name = variant.name.replace("_", "-")
        shutil.move(make_variant(variant, out), klass / f"{name}_{variant.assignment}.ipynb")
        shutil.copy(REPO / "solutions" / f"{variant.assignment}.ipynb", klass / f"honest_{variant.assignment}.ipynb")
        for path in klass.iterdir():
            os.chmod(path, 0o644)
        options = batch.ClassOptions(workers=2, seed=5)
        done = batch.grade_class([klass], out / "grades", config, options)
        assert done.failures == []
        return {r.student: r for r in done.results}
    finally:
        shutil.rmtree(klass)


@pytest.fixture(scope="module")
def no_namespaces(config, tmp_path_factory):
    with failing_bwrap_and_open_interpreter(tmp_path_factory.mktemp("stand-in-bwrap")):
        yield dataclasses.replace(config, namespaces=False, memory_mb=1024, cell_seconds=30, call_seconds=10,
                                  notebook_seconds=120)


def test_a_neighbours_notebook_cannot_be_copied_without_namespaces(no_namespaces, tmp_path):
    klass = str(Path(tempfile.gettempdir()) / "redteam-class-*")
    results = grade_beside(no_namespaces, copies_a_neighbour(klass), tmp_path)
    assert results["honest"].score == results["honest"].max_score
    assert lost(results["copies-a-neighbour"]) == {"l1_penalty"}  # it did not gain the neighbour's answer
