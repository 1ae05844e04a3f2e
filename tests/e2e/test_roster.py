"""`autograder grade ... --roster`: a Moodle zip with Unicode names through the real CLI and sandbox.

Names follow moodle's mod/assign/locallib.php (download_submissions): `<full name>_<participant
id>_assignsubmission_file_/<file>` as folders, `..._file_<file>` flat; the participant id changes
per assignment, so the roster's full name is what joins a student's 04 and 05.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile

import pytest

from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
EXAMPLES = REPO / "examples" / "class"
PARTICIPANTS = (
    "First name,Last name,ID number,Email address,Roles\n"
    "Zoë,Ångström,1004,zoe@uni.example,Student\n"
    "Anna,Schmidt,1002,anna.s@uni.example,Student\n"
    "Anna,Schmidt,1003,anna.schmidt@uni.example,Student\n"
    "Nadia,Nothing,1005,nadia@uni.example,Student\n"
)


def test_moodle_zip_with_a_roster(tmp_path):
    download = tmp_path / "moodle.zip"
    with zipfile.ZipFile(download, "w") as zf:
        zf.write(
            EXAMPLES / "alice_1001_50001_04_optimizers.ipynb",
            "Zoë Ångström_113_assignsubmission_file_/04_optimizers.ipynb",
        )
        zf.write(
            EXAMPLES / "bob_1002_50003_04_optimizers.ipynb",  # two Anna Schmidts on the roster
            "Anna Schmidt_114_assignsubmission_file_04_optimizers.ipynb",
        )
    roster = tmp_path / "participants.csv"
    roster.write_text(PARTICIPANTS, encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(download),
            "--out",
            str(out),
            "--workers",
            "1",
            "--seed",
            "3",
            "--roster",
            str(roster),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 3, done.stderr  # an upload matched two students: listed, not guessed
    assert "matches 2 students on the roster" in done.stderr
    assert "nothing graded for Nadia Nothing <nadia@uni.example>" in done.stderr
    moodle = list(csv.reader(io.StringIO((out / "gradebook_moodle.csv").read_text(encoding="utf-8"))))
    assert moodle[0] == ["First name", "Last name", "ID number", "Email address", "04_optimizers"]
    assert sorted(moodle[1:]) == [
        ["Anna", "Schmidt", "1002", "anna.s@uni.example", ""],
        ["Anna", "Schmidt", "1003", "anna.schmidt@uni.example", ""],
        ["Nadia", "Nothing", "1005", "nadia@uni.example", ""],
        ["Zoë", "Ångström", "1004", "zoe@uni.example", "10"],
    ]
    assert (out / "results" / "Zoë Ångström" / "04_optimizers.json").is_file()
    assert "Anna Schmidt_114_assignsubmission_file_04_optimizers.ipynb" in (out / "summary.html").read_text()
