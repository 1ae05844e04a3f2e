"""End to end: the Gradescope autograder zip, unpacked into a fake /autograder and run as Gradescope does.

setup.sh is not run (it apt-gets and pip-installs; the package is installed here already):
run_autograder finds the installed `autograder` command, or runs `python3 -m autograder` from the
unpacked source when there is none. `$GRADESCOPE_ROOT` stands in for /autograder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.gradescope.export import ENVIRONMENT_TEST, build_autograder_zip
from autograder.sandbox import bubblewrap_available, can_drop_uid
from tests.conftest import REPO
from tests.e2e.test_isolation_levels import failing_bwrap_and_open_interpreter

pytestmark = pytest.mark.slow
QUESTIONS = ("momentum_step", "nesterov_step", "adagrad_step", "rmsprop_step", "adam_step")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private grader cache (XDG_CACHE_HOME) shared by this module's runs."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Path]:
    out = tmp_path_factory.mktemp("zips")
    a04 = build_autograder_zip(out / "autograder_04.zip", REPO, assignment="04_optimizers")
    return {
        None: a04,
        "04_optimizers": a04,
        "unsandboxed": build_autograder_zip(
            out / "autograder_u.zip", REPO, assignment="04_optimizers", allow_unsandboxed=True
        ),
    }


def run_autograder(
    tmp_path: Path, zip_path: Path, cache: Path, submission: dict[str, bytes], path: str | None = None
) -> tuple[dict, subprocess.CompletedProcess]:
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir(parents=True)
    for name, data in submission.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "XDG_CACHE_HOME": str(cache)}
    # setup.sh would have installed the package: this environment's `autograder` stands in for it
    env["PATH"] = path if path is not None else os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    proc = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    results = root / "results" / "results.json"
    assert results.is_file(), proc.stdout + proc.stderr
    return json.loads(results.read_text()), proc


def solution() -> dict[str, bytes]:
    return {"sub.ipynb": (REPO / "solutions" / "04_optimizers.ipynb").read_bytes()}


def source_only_path(tmp_path: Path) -> str:
    """A PATH with python3 (this interpreter) and the system tools, but no `autograder` command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # a wrapper, not a symlink: the sandbox runs sys.executable, which must be a mounted path
    # not resolved: a venv's bin/python is what makes it that venv (resolved: the base interpreter)
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    path = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    assert shutil.which("autograder", path=path) is None
    return path


def instructor(doc: dict) -> str:
    """What results.json says to the instructor only: the hidden test on the grading environment."""
    return "".join(t["output"] for t in doc["tests"] if t["name"] == ENVIRONMENT_TEST and t["visibility"] == "hidden")


def assert_format(doc: dict) -> None:
    assert {"score", "output", "tests", "visibility", "stdout_visibility"} <= set(doc)
    for test in doc["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)


@pytest.mark.parametrize("how", ["installed command", "python3 -m autograder from the source"])
def test_solution_gets_full_marks_with_hidden_tests_after_published(how, tmp_path, zips, cache):
    path = source_only_path(tmp_path) if how.startswith("python3") else None
    doc, proc = run_autograder(tmp_path, zips[None], cache, solution(), path=path)
    assert_format(doc)
    assert doc["score"] == 10.0, (doc["output"], proc.stdout, proc.stderr)
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(10.0)
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(10.0)
    assert all(t["status"] == "passed" for t in doc["tests"])
    names = [t["name"] for t in doc["tests"] if t["name"] != ENVIRONMENT_TEST]
    assert names == [f"{q} ({kind} cases)" for q in QUESTIONS for kind in ("public", "hidden")]
    for test in doc["tests"]:
        if test["name"] != ENVIRONMENT_TEST:
            assert test["visibility"] == ("after_published" if test["name"].endswith("(hidden cases)") else "visible")
    assert ("WITHOUT the bubblewrap sandbox" in instructor(doc)) == (not bubblewrap_available())
    assert "WITHOUT the bubblewrap sandbox" not in doc["output"]
    assert "Problems while running" not in doc["output"]


def test_another_assignments_notebook_scores_zero_saying_so(tmp_path, zips, cache):
    """A full-marks 01 notebook (21 points) renamed into the 04 slot: 0 of 04's 10, and why."""
    other = {"my_04_optimizers.ipynb": (REPO / "solutions" / "01_activations_and_initialisation.ipynb").read_bytes()}
    doc, proc = run_autograder(tmp_path, zips["04_optimizers"], cache, other)
    assert_format(doc)
    assert doc["score"] == 0.0, (doc["output"], proc.stdout, proc.stderr)
    assert "this notebook is assignment 01_activations_and_initialisation" in doc["output"]
    assert "upload your 04_optimizers notebook" in doc["output"]


def test_stub_gets_zero_and_says_why(tmp_path, zips, cache):
    stub = {"sub.ipynb": (REPO / "assignments" / "04_optimizers.ipynb").read_bytes()}
    doc, proc = run_autograder(tmp_path, zips[None], cache, stub)
    assert_format(doc)
    assert doc["score"] == 0.0, proc.stdout + proc.stderr
    assert all(t["score"] == 0.0 and t["status"] == "failed" for t in doc["tests"])
    assert re.search(r"failed to run: the [^\n]*cell[^\n]*: NotImplementedError: momentum_step", doc["output"]), doc[
        "output"
    ]
    public = next(t for t in doc["tests"] if t["name"] == "momentum_step (public cases)")
    assert "public case (" in public["output"] and "hidden case (" not in public["output"]


def test_empty_submission_scores_zero_with_the_reason(tmp_path, zips, cache):
    doc, proc = run_autograder(tmp_path, zips["04_optimizers"], cache, {"sub.ipynb": b""})
    assert_format(doc)
    assert doc["score"] == 0.0
    # the zip knows the assignment (it always does): the notebook itself is the problem
    assert "empty" in doc["output"], doc["output"]
    assert [t["score"] for t in doc["tests"]] == [0.0] * 5


@pytest.mark.parametrize("files", [{}, {"a.ipynb": b"{}", "b/c.ipynb": b"{}"}], ids=["none", "two"])
def test_not_exactly_one_notebook_scores_zero(files, tmp_path, zips, cache):
    doc, _ = run_autograder(tmp_path, zips[None], cache, {"notes.txt": b"hi", **files})
    assert doc["score"] == 0.0
    assert f"exactly one .ipynb notebook in the submission, found {len(files)}" in doc["output"]


def test_where_bwrap_cannot_make_namespaces_it_grades_as_an_unprivileged_uid(tmp_path, zips, cache):
    """Gradescope's containers (Docker's default seccomp) refuse bubblewrap's namespaces: the zip
    falls back to the no-namespace level, never to root, and the solution keeps full marks."""
    if not can_drop_uid():
        pytest.skip("needs root and setpriv")
    with failing_bwrap_and_open_interpreter(tmp_path / "fakebin") as fake:
        path = os.pathsep.join([str(fake), str(Path(sys.executable).parent), os.environ["PATH"]])
        doc, proc = run_autograder(tmp_path / "gs", zips[None], cache, solution(), path=path)
        source = tmp_path / "gs" / "autograder" / "source"
        assert source.stat().st_mode & 0o077 == 0 and (source.parent / "results").stat().st_mode & 0o077 == 0
    assert "grading at the no-namespace level" in proc.stdout, proc.stdout + proc.stderr
    assert doc["score"] == 10.0, doc["output"]
    note = "no network namespace: TCP was denied (Landlock)"  # the no-namespace level on this kernel
    assert note in instructor(doc) and "WITHOUT the bubblewrap sandbox" not in instructor(doc)
    assert "no network" not in doc["output"]  # the instructor's note, not the student's


def test_without_an_unprivileged_uid_it_fails_closed_unless_allowed(tmp_path, zips, cache):
    """Neither namespaces nor another uid (not root): 0 with the reason, or --no-sandbox if the
    zip was exported with --allow-unsandboxed."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for tool in ("bwrap", "setpriv"):
        (fake / tool).write_text("#!/bin/sh\nexit 1\n")
        (fake / tool).chmod(0o755)
    path = os.pathsep.join([str(fake), str(Path(sys.executable).parent), os.environ["PATH"]])
    closed, _ = run_autograder(tmp_path / "closed", zips[None], cache, solution(), path=path)
    assert closed["score"] == 0.0 and "cannot create its sandbox" in closed["output"]
    doc, proc = run_autograder(tmp_path / "open", zips["unsandboxed"], cache, solution(), path=path)
    assert "grading with --no-sandbox" in proc.stdout
    assert "WITHOUT the bubblewrap sandbox" in instructor(doc) and "WITHOUT" not in doc["output"]
    assert doc["score"] == 10.0, doc["output"]


def test_a_broken_python_still_leaves_a_valid_results_json(tmp_path, zips, cache):
    """No grader can start: the fixed last-resort results.json replaces whatever was there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "python3").chmod(0o755)
    results = tmp_path / "autograder" / "results" / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text('{"score": 100}')  # e.g. written by an unsandboxed notebook
    doc, _ = run_autograder(
        tmp_path, zips[None], cache, solution(), path=os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    )
    assert doc["score"] == 0.0 and "the autograder failed" in doc["output"]


def test_setup_computes_the_reference_once_and_submissions_reuse_it(tmp_path, zips):
    """setup.sh's `prepare` caches the reference for the zip's fixed seed; run_autograder then grades
    the submission alone: nothing new in the cache, and the result has that seed."""
    cache = tmp_path / "xdg-cache"
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zips["04_optimizers"]) as zf:
        zf.extractall(root / "source")
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "XDG_CACHE_HOME": str(cache)}
    prepared = subprocess.run(
        [sys.executable, "-m", "autograder", "export", "gradescope-prepare"],
        cwd=root / "source",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert prepared.returncode == 0 and "reference of 04_optimizers for seed" in prepared.stdout, prepared.stderr
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    assert any(p.parts[1] == "reference" for p in before if len(p.parts) > 1)
    doc, proc = run_autograder(tmp_path, zips["04_optimizers"], cache, solution())
    assert doc["score"] == 10.0, doc["output"]
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before, "a submission recomputed the reference"
