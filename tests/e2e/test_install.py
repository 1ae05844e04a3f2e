"""A fresh install, as an instructor makes one: a wheel in a new virtual environment, used from a
folder outside any checkout; and the sandbox sees that environment's packages only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from autograder.grading.grade import grade_notebook
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO, make_variant
from tests.submissions.variants import Variant

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1200, **kwargs)
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-3000:])
    return done


def test_a_wheel_grades_from_any_folder(tmp_path):
    """pip install of a wheel built from the repository (not editable), then `autograder grade` of
    a solution notebook from a folder with no course in it or above it: full marks, sandboxed."""
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)])
    wheel = next((tmp_path / "dist").glob("dnn_grader-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)])
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    submission = elsewhere / "alice_04_optimizers.ipynb"
    submission.write_bytes((REPO / "solutions" / "04_optimizers.ipynb").read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOGRADER_COURSE", "PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the reference is computed from the installed course
    done = _run(
        [str(env_dir / "bin" / "autograder"), "grade", submission.name, "--out", "OUT", "--seed", "3"],
        cwd=elsewhere,
        env=env,
    )
    result = json.loads((elsewhere / "OUT" / "alice_04_optimizers.json").read_text())
    assert result["sandboxed"] is True and result["score"] == result["max_score"] > 0, done.stdout
    installed = Path(
        _run(
            [str(python), "-c", "import autograder; print(autograder.__file__)"], cwd=elsewhere, env=env
        ).stdout.strip()
    )
    assert env_dir in installed.parents  # the wheel's package, not this checkout


def test_the_sandbox_sees_the_environments_packages_only(config, tmp_path):
    """The base interpreter is mounted (its standard library), but its site-packages is not
    importable: a package installed there by hand cannot make a submission work here and fail on
    a fresh machine, nor give a submission what the environment does not declare."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run from a virtual environment")
    base = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})["purelib"])
    ours = {p.name for p in Path(sysconfig.get_paths()["purelib"]).iterdir()}
    only_base = (
        sorted(
            p.stem
            for p in base.iterdir()
            if p.suffix in ("", ".py") and p.name not in ours and p.name.isidentifier() and not p.name.startswith("_")
        )
        if base.is_dir()
        else []
    )
    probe = only_base[0] if only_base else "pip"
    cell = (
        f"import os, sys, importlib.util\nbase = {str(base)!r}\n"
        f"seen = sorted(os.listdir(base)) if os.path.isdir(base) else []\n"
        f"found = importlib.util.find_spec({probe!r}) is not None and {bool(only_base)!r}\n"
        f"raise RuntimeError('REPORT ' + repr((seen, found, [p for p in sys.path if p.startswith(base)])))"
    )
    variant = Variant("reports_base_site_packages", "05_regularisation", insert_first=(cell,))
    result = grade_notebook(make_variant(variant, tmp_path), config, seed=1)
    report = next(e.evalue for e in result.execution.cell_errors if "REPORT" in e.evalue)
    assert report == "REPORT ([], False, [])", report
    assert result.score == result.max_score  # the notebook itself runs with the environment's packages
