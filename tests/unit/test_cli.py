"""The command line: optional parts, where the course is, and its exit codes (no notebook is run here)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import batch
from autograder.cli import main as cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_sandbox_needed(monkeypatch):
    monkeypatch.setattr(cli, "bubblewrap_available", lambda: True)


def test_dask_without_the_extra_is_a_usage_error(tmp_path, monkeypatch, capsys, no_sandbox_needed):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = cli.main(
        [
            "--course",
            str(REPO),
            "grade",
            str(REPO / "examples" / "class"),
            "--out",
            str(tmp_path),
            "--dask-scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == cli.ExitCode.USAGE
    assert "pip install 'dnn-grader[dask]'" in err and "Traceback" not in err


def test_unreachable_scheduler_is_one_line_and_exit_4(tmp_path, capsys, no_sandbox_needed):
    pytest.importorskip("distributed")
    code = cli.main(
        [
            "--course",
            str(REPO),
            "grade",
            str(REPO / "examples" / "class"),
            "--out",
            str(tmp_path),
            "--dask-scheduler",
            "tls://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.ExitCode.INFRASTRUCTURE
    assert len(err) == 1 and "tls://127.0.0.1:9" in err[0] and "waited" in err[0]


def test_a_scheduler_without_authentication_is_refused(tmp_path, capsys, no_sandbox_needed):
    """A Dask worker runs any client's function as root: a tcp:// scheduler (no TLS) is refused
    before anything connects."""
    pytest.importorskip("distributed")
    args = ["--course", str(REPO), "grade", str(REPO / "examples" / "class"), "--out", str(tmp_path)]
    code = cli.main([*args, "--dask-scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == cli.ExitCode.USAGE and "without authentication" in err and "Traceback" not in err


def test_a_folder_that_is_not_a_course(tmp_path, capsys):
    code = cli.main(["--course", str(tmp_path), "verify"])
    assert code == cli.ExitCode.USAGE and "not a course" in capsys.readouterr().err


def test_export_from_a_course_without_the_package_source(tmp_path, capsys):
    """A wheel's course folder has no autograder/ beside it: export takes the running package."""
    course = tmp_path / "course"
    shutil.copytree(REPO / "solutions", course / "solutions")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, course / name)
    code = cli.main(
        [
            "--course",
            str(course),
            "export",
            "gradescope",
            "--assignment",
            "04_optimizers",
            "--out",
            str(tmp_path / "autograder.zip"),
        ]
    )
    assert code == cli.ExitCode.OK, capsys.readouterr().err
    import zipfile

    names = zipfile.ZipFile(tmp_path / "autograder.zip").namelist()
    assert "autograder/__init__.py" in names and "solutions/04_optimizers.ipynb" in names


# ---- the exit-code table: each documented code from a real invocation -------------------------


def documented_exit_codes() -> dict[int, str]:
    """README's table under "### Exit codes": code -> meaning."""
    section = (REPO / "README.md").read_text().split("### Exit codes", 1)[1].split("\n#", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_the_documented_exit_codes_are_the_clis():
    assert set(documented_exit_codes()) == {int(code) for code in cli.ExitCode}


def exit_ok(tmp_path, capsys, monkeypatch):
    code = cli.main(
        ["--course", str(REPO), "export", "gradescope", "--assignment", "04_optimizers"]
        + ["--out", str(tmp_path / "autograder.zip")]
    )
    assert (tmp_path / "autograder.zip").is_file()
    return code


def exit_usage(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as bad_option:  # argparse's own usage errors exit 2 as well
        cli.main(["grade", "x.ipynb", "--out", str(tmp_path), "--assignment", "99_nope"])
    assert bad_option.value.code == cli.ExitCode.USAGE
    notebook = tmp_path / "homework.ipynb"  # no metadata, no id in the name
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    code = cli.main(["--course", str(REPO), "grade", str(notebook), "--out", str(tmp_path / "out")])
    assert "cannot tell which assignment" in capsys.readouterr().err
    return code


def exit_unreadable(tmp_path, capsys, monkeypatch):
    notebook = tmp_path / "04_optimizers.ipynb"
    notebook.write_text("")
    code = cli.main(["--course", str(REPO), "grade", str(notebook), "--out", str(tmp_path / "out")])
    written = json.loads((tmp_path / "out" / "04_optimizers.json").read_text())
    assert written["score"] == 0 and "empty" in written["error"]  # its result is written all the same
    return code


def exit_infrastructure(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "bubblewrap_available", lambda: False)
    notebook = tmp_path / "04_optimizers.ipynb"
    shutil.copy(REPO / "assignments" / "04_optimizers.ipynb", notebook)
    code = cli.main(["--course", str(REPO), "grade", str(notebook), "--out", str(tmp_path / "out")])
    assert "bubblewrap cannot create a sandbox here" in capsys.readouterr().err
    assert not (tmp_path / "out" / "04_optimizers.json").exists()  # never graded unconfined unasked
    return code


def exit_verify_failed(tmp_path, capsys, monkeypatch):
    # the reference (the slow part: running the solutions) without its values: what build would
    # write then differs from every committed assignment
    monkeypatch.setattr(cli, "reference_outputs", lambda plan, config, use_sandbox: {})
    before = {p.name: p.read_bytes() for p in (REPO / "assignments").glob("*.ipynb")}
    code = cli.main(["--course", str(REPO), "build", "--check"])
    assert "out of date (run `autograder build`)" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (REPO / "assignments").glob("*.ipynb")} == before  # --check writes nothing
    return code


def exit_changed(tmp_path, capsys, monkeypatch):
    from tests.unit.test_term import keep, result

    old = keep(tmp_path / "old", result("alice_1001"))
    new = keep(tmp_path / "new", result("alice_1001", (2.0, 0.0)))
    code = cli.main(["diff", str(old), str(new)])
    assert "momentum_step  1/2 -> 0/2" in capsys.readouterr().out
    return code


INVOCATIONS = {
    cli.ExitCode.OK: exit_ok,
    cli.ExitCode.USAGE: exit_usage,
    cli.ExitCode.UNREADABLE: exit_unreadable,
    cli.ExitCode.INFRASTRUCTURE: exit_infrastructure,
    cli.ExitCode.VERIFY_FAILED: exit_verify_failed,
    cli.ExitCode.CHANGED: exit_changed,
}


@pytest.mark.parametrize("code", sorted(documented_exit_codes()))
def test_each_documented_exit_code_comes_from_a_real_invocation(code, tmp_path, capsys, monkeypatch, no_sandbox_needed):
    assert INVOCATIONS[cli.ExitCode(code)](tmp_path, capsys, monkeypatch) == code


# ---- exit 3 names its files -----------------------------------------------------------------


def test_exit_3_names_each_unreadable_or_unplaced_file_capped(tmp_path, capsys, monkeypatch):
    """A batch with unreadable notebooks and unplaceable files exits 3 and names them on stdout,
    one line each, at most SHOWN_UNREADABLE and a count of the rest; names from uploads are
    cleaned (a terminal escape in a file name does not reach the terminal)."""

    def unreadable_only(aid, config, *, seed, use_sandbox):  # every notebook here is unreadable: no reference
        return SimpleNamespace(assignment=config.assignment(aid), seed=seed, use_sandbox=use_sandbox, settings_hash="")

    monkeypatch.setattr(batch, "prepare_assignment", unreadable_only)
    upload = tmp_path / "upload"
    upload.mkdir()
    for i in range(22):
        (upload / f"student{i:02d}_04_optimizers.ipynb").write_text("")  # empty: unreadable, graded 0
    (upload / "notes.txt").write_text("not a notebook")
    (upload / "homework.ipynb").write_text("{}")  # no assignment in its name or metadata
    (upload / "\x1b[2Jwiped_04.txt").write_text("")
    code = cli.main(
        ["--course", str(REPO), "grade", str(upload), "--out", str(tmp_path / "out"), "--workers", "1", "--no-sandbox"]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == cli.ExitCode.UNREADABLE
    assert out[0].startswith("graded 22 submissions")
    named = out[1:]
    assert len(named) == cli.SHOWN_UNREADABLE + 1, named
    assert all(line.startswith(("unreadable: ", "not graded: ")) for line in named[:-1])
    assert named[-1] == f"... and 5 more (all in {tmp_path / 'out' / 'summary.html'})"
    assert named[0] == "unreadable: student00_04_optimizers.ipynb: the file is empty"
    listed = cli.unreadable_lines(batch.ClassGrading([], [], [batch.Unplaced("\x1b[2Jwiped_04.txt", "x\ny")]))
    assert listed == ["not graded: wiped_04.txt: x y"]


def test_a_clean_batch_prints_no_unreadable_lines():
    assert cli.unreadable_lines(batch.ClassGrading([], [], [])) == []
