"""An instructor's term through the real CLI and sandbox, on the course's own notebooks: a Canvas
download of 04 with two late students (one with an extension and a submission time), an override,
a renamed account accepted by a roster match; the batch resumed (the override kept); a settings
change (a question's points) regraded and diffed."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
EXAMPLES = REPO / "examples" / "class"
ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section\n"
    "Alice,1001,,alice,A\nBob,1002,,bob,A\nCarol,1003,,carol,A\nDave,1004,,dave,A\nErin,1005,,erin,A\n"
)


def course(root: Path) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(
        "[tool.autograder]\n"
        f'solutions_dir = "{REPO / "solutions"}"\nassignments_dir = "{REPO / "assignments"}"\nseed = 2026\n'
        'late_policy = "per_day"\nlate_fraction = 0.1\nlate_cap = 0.5\n'
        'submission_times = "times.csv"\noverrides = "overrides.csv"\nroster_matches = "matches.csv"\n'
        "[tool.autograder.due]\n04_optimizers = 2026-11-20T23:59:00+01:00\n"
        '[tool.autograder.extensions]\n"dave_1004.04_optimizers" = 2026-11-22T23:59:00+01:00\n'
    )
    (root / "times.csv").write_text("student,assignment,submitted\ndave_1004,04_optimizers,2026-11-23T08:30:00+01:00\n")
    (root / "overrides.csv").write_text(
        "student,assignment,question,points,reason\nbob_1002,04_optimizers,total,+1,regrade request\n"
    )
    (root / "matches.csv").write_text("upload,student\ncarolyn_1003,1003\n")
    return root


def download(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(EXAMPLES / "alice_1001_50001_04_optimizers.ipynb", "alice_1001_50001_04_optimizers.ipynb")
        zf.write(EXAMPLES / "bob_1002_50003_04_optimizers.ipynb", "bob_1002_50003_04_optimizers.ipynb")
        zf.write(EXAMPLES / "carol_1003_50005_04_optimizers.ipynb", "carolyn_1003_50005_04_optimizers.ipynb")
        zf.write(REPO / "solutions" / "04_optimizers.ipynb", "dave_LATE_1004_50007_04_optimizers.ipynb")
        zf.write(EXAMPLES / "erin_LATE_1005_50009_04_optimizers.ipynb", "erin_LATE_1005_50009_04_optimizers.ipynb")
        # a late 01 notebook handed in to 04's slot: reported, never graded as 01
        zf.write(REPO / "solutions" / "01_activations_and_initialisation.ipynb", "bob_1002_50011_01_activations.ipynb")
    return path


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, env=env)


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))}


def test_a_term_late_override_resume_roster_match_and_diff(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    klass, zipped, roster = (
        course(tmp_path / "course"),
        download(tmp_path / "dl-ws26-04-optimizers_submissions.zip"),
        tmp_path / "roster.csv",
    )
    roster.write_text(ROSTER)
    grade = ["--course", str(klass), "grade", str(zipped), "--roster", str(roster), "--workers", "2"]
    first = cli(*grade, "--out", str(tmp_path / "out1"), env=env)
    assert first.returncode == 3, first.stderr  # the 01 upload in 04's download is listed
    assert "named for 01_activations_and_initialisation but uploaded to the download of 04_optimizers" in first.stdout
    book = gradebook(tmp_path / "out1")
    assert {
        s: (r["04_optimizers"], r["04_optimizers raw"], r["04_optimizers late"], r["04_optimizers penalty"])
        for s, r in book.items()
    } == {
        "alice_1001": ("10", "10", "", ""),
        "bob_1002": ("9", "8", "", ""),
        "carol_1003": ("0", "0", "", ""),
        "dave_1004": ("9", "10", "8.5 h late (extension)", "1"),  # 1 day begun after his extension: 10%
        "erin_1005": ("9", "10", "late (LATE marker)", "1"),  # the marker only: one day, the least it can be
    }
    assert book["bob_1002"]["04_optimizers overrides"] == "total 8->9 (regrade request)"
    assert book["carol_1003"]["note"] == "upload carolyn_1003 accepted as Carol (roster matches)"
    feedback = (tmp_path / "out1" / "feedback" / "dave_1004.md").read_text()
    assert "8.5 h late (due 2026-11-22T23:59:00+01:00 (your extension)" in feedback and "penalty 1" in feedback

    resumed = cli(*grade, "--out", str(tmp_path / "out1"), env=env)
    assert "nothing to grade (5 already done)" in resumed.stderr
    assert gradebook(tmp_path / "out1") == book  # the override (and the penalties) kept, not applied twice
    doc = json.loads((tmp_path / "out1" / "results" / "bob_1002" / "04_optimizers.json").read_text())
    assert doc["score"] == 9 and doc["term"]["raw_score"] == 8 and doc["schema_version"] == 4

    shutil.copytree(tmp_path / "out1", tmp_path / "out2")
    with open(klass / "pyproject.toml", "a") as f:
        f.write('[tool.autograder.points]\n"04_optimizers.momentum_step" = 3\n')
    regraded = cli(*grade, "--out", str(tmp_path / "out2"), env=env)
    assert regraded.returncode == 3, regraded.stderr
    diff = cli("diff", str(tmp_path / "out1"), str(tmp_path / "out2"), "--csv", str(tmp_path / "diff.csv"), env=env)
    assert diff.returncode == 6, diff.stderr
    assert (
        "alice_1001  04_optimizers  total 10/10 -> 11/11\n  momentum_step  2/2 -> 3/3\n  why: settings" in diff.stdout
    )
    assert "erin_1005  04_optimizers  total 9/10 -> 9.9/11" in diff.stdout and "late penalty 1 -> 1.1" in diff.stdout
    assert "overrides now" not in diff.stdout  # bob's override is the same line
    assert "5 of 5 graded submissions changed" in diff.stdout
    same = cli("diff", str(tmp_path / "out2"), str(tmp_path / "out2"), env=env)
    assert same.returncode == 0 and "0 of 5" in same.stdout
