"""The Gradescope image as its own setup.sh builds it, then run_autograder in it (slow: minutes).

Unlike test_gradescope.py, nothing of this checkout's environment is used: setup.sh makes the
virtual environment from the system's Python and pip-installs the zip's package into it, computes
the reference for the zip's seed, and run_autograder grades with only that on PATH. Only apt-get
is a stand-in (it logs and succeeds): the packages setup.sh asks for are this machine's already,
and a shared machine's packages are not reinstalled by a test. The root is a folder every user
can pass, as /autograder is, so that the no-namespace level runs as it would on Gradescope.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from autograder.gradescope.export import build_autograder_zip
from autograder.sandbox import bubblewrap_available, can_drop_uid
from tests.conftest import REPO
from tests.e2e.test_isolation_levels import FAILING_BWRAP, host_modes

SYSTEM_PYTHON = Path("/usr/bin/python3")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (bubblewrap_available() and can_drop_uid()), reason="needs bwrap and root"),
    pytest.mark.skipif(
        subprocess.run(
            [str(SYSTEM_PYTHON), "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"]
        ).returncode
        != 0,
        reason="no system Python >= 3.11 with venv",
    ),
]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    root = Path(tempfile.mkdtemp(prefix="dnn-grader-gs-"))
    os.chmod(root, 0o755)
    tools = tmp_path_factory.mktemp("tools")
    (tools / "apt-get").write_text('#!/bin/sh\necho "apt-get (stand-in): $*" >&2\n')
    (tools / "apt-get").chmod(0o755)
    with zipfile.ZipFile(build_autograder_zip(tools / "autograder.zip", REPO, assignment="04_optimizers")) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "home").mkdir(mode=0o700)
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "GRADESCOPE_ROOT": str(root),
        "LANG": "C.UTF-8",
    }
    with host_modes():  # the image graded where bwrap fails (below) closes what the no-namespace level protects
        try:
            setup = subprocess.run(
                ["bash", str(root / "source" / "setup.sh")],
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
                timeout=2400,
            )
            assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
            yield root, env, tools, setup.stdout
        finally:
            shutil.rmtree(root, ignore_errors=True)


def grade_in(image, path: str) -> tuple[dict, str]:
    root, env, _, _ = image
    for old in (root / "submission").iterdir():
        old.unlink()
    shutil.copy(REPO / "solutions" / "04_optimizers.ipynb", root / "submission" / "sub.ipynb")
    cache = sorted(p.relative_to(root / "home") for p in (root / "home").rglob("*"))
    run = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env={**env, "PATH": path},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert sorted(p.relative_to(root / "home") for p in (root / "home").rglob("*")) == cache, (
        "the submission recomputed the reference that setup.sh cached"
    )
    return json.loads((root / "results" / "results.json").read_text()), run.stdout + run.stderr


def test_setup_builds_the_image_says_what_to_pick_and_caches_the_reference(image):
    root, _, _, log = image
    assert "setup: isolation level: bubblewrap" in log
    assert "reference of 04_optimizers for seed" in log
    assert "setup: Gradescope settings: Autograder timeout: at least 10 minutes" in log
    assert "Container memory: at least 3072 MB" in log
    assert (root / "venv" / "bin" / "autograder").exists() and (root / "source").stat().st_mode & 0o077 == 0


def test_a_submission_in_the_image_gets_full_marks(image):
    _, env, _, _ = image
    doc, log = grade_in(image, env["PATH"])
    assert doc["score"] == 10.0, (doc["output"], log[-3000:])


def test_where_bwrap_cannot_make_namespaces_the_image_grades_at_the_no_namespace_level(image, tmp_path):
    _, env, _, _ = image
    (tmp_path / "bwrap").write_text(FAILING_BWRAP)
    (tmp_path / "bwrap").chmod(0o755)
    doc, log = grade_in(image, f"{tmp_path}:{env['PATH']}")
    assert "grading at the no-namespace level" in log, log[-3000:]
    assert doc["score"] == 10.0, (doc["output"], log[-3000:])
    hidden = "".join(t["output"] for t in doc["tests"] if t["visibility"] == "hidden")
    assert "no network" in hidden and "no network" not in doc["output"]  # Landlock or not, the instructor's note
