"""The command line's handling of optional parts and of where the course is (no grading here)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from autograder import batch, cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_sandbox_needed(monkeypatch):
    monkeypatch.setattr(cli, "bubblewrap_available", lambda: True)


def test_dask_without_the_extra_is_a_usage_error(tmp_path, monkeypatch, capsys, no_sandbox_needed):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = cli.main(["--course", str(REPO), "grade", str(REPO / "examples" / "class"), "--out", str(tmp_path),
                     "--dask-scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == cli.ExitCode.USAGE
    assert "pip install 'dnn-grader[dask]'" in err and "Traceback" not in err


def test_unreachable_scheduler_is_one_line_and_exit_4(tmp_path, capsys, no_sandbox_needed):
    pytest.importorskip("distributed")
    code = cli.main(["--course", str(REPO), "grade", str(REPO / "examples" / "class"), "--out", str(tmp_path),
                     "--dask-scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.ExitCode.INFRASTRUCTURE
    assert len(err) == 1 and "tcp://127.0.0.1:9" in err[0] and f"waited {batch.DASK_CONNECT_SECONDS:.0f} s" in err[0]


def test_a_folder_that_is_not_a_course(tmp_path, capsys):
    code = cli.main(["--course", str(tmp_path), "verify"])
    assert code == cli.ExitCode.USAGE and "not a course" in capsys.readouterr().err


def test_export_from_a_course_without_the_package_source(tmp_path, capsys):
    """A wheel's course folder has no autograder/ beside it: export takes the running package."""
    course = tmp_path / "course"
    shutil.copytree(REPO / "solutions", course / "solutions")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, course / name)
    code = cli.main(["--course", str(course), "export", "gradescope", "--assignment", "04_optimizers",
                     "--out", str(tmp_path / "autograder.zip")])
    assert code == cli.ExitCode.OK, capsys.readouterr().err
    import zipfile

    names = zipfile.ZipFile(tmp_path / "autograder.zip").namelist()
    assert "autograder/__init__.py" in names and "solutions/04_optimizers.ipynb" in names
