"""Untrusted names through the real CLI, in a 2-worker batch: every honest student is graded and
every file lands inside `--out`.

A roster's first name of `../../../../escaped` once made the grader write a result outside
`--out`; a 300-byte roster name and a 283-byte zip entry ended the whole batch with
`File name too long` (no gradebook, no reports). Names that differ only in case or Unicode
normalisation must stay apart on every file system.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest

from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
CORRECT = REPO / "examples" / "class" / "alice_1001_50001_04_optimizers.ipynb"
CJK = "김" * 100  # 300 bytes of UTF-8


def grade(tmp_path: Path, inputs: list[Path], *extra: str, cache: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "a" / "b" / "c" / "out"  # a `../../../../` from results/ stays under tmp_path: seen
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", *map(str, inputs), "--out", str(out), "--workers", "2"]
        + ["--seed", "3", *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        check=False,
        timeout=1800,
    )
    return done, out


def everything_inside(tmp_path: Path, out: Path, inputs: list[Path]) -> None:
    allowed = {out, *inputs}
    strays = [p for p in tmp_path.rglob("*") if p.is_file() and not any(a == p or a in p.parents for a in allowed)]
    assert strays == []
    for path in out.rglob("*"):
        assert out in path.resolve().parents and len(path.name.encode()) <= 255


def scores(out: Path) -> dict[str, float]:
    docs = (json.loads(p.read_text(encoding="utf-8")) for p in (out / "results").rglob("*.json"))
    return {d["student"]: d["score"] for d in docs}


def test_hostile_roster_names_stay_inside_out(tmp_path, cli_cache_home):
    upload = tmp_path / "in" / "moodle.zip"
    upload.parent.mkdir()
    with zipfile.ZipFile(upload, "w") as zf:
        for local in ("evil", "cjk", "honest"):
            zf.write(CORRECT, f"{local}@uni.example/04_optimizers.ipynb")
    roster = tmp_path / "in" / "participants.csv"
    roster.write_text(
        "First name,Last name,ID number,Email address\n"
        "../../../../escaped,Smith,1,evil@uni.example\n"
        f"{CJK},Kim,2,cjk@uni.example\n"
        "Honest,Student,3,honest@uni.example\n",
        encoding="utf-8",
    )
    done, out = grade(tmp_path, [upload], "--roster", str(roster), cache=cli_cache_home)
    assert done.returncode == 0, done.stderr[-3000:]
    graded = scores(out)
    assert len(graded) == 3 and set(graded.values()) == {10}, graded
    assert (out / "gradebook_moodle.csv").is_file() and (out / "summary.html").is_file()
    everything_inside(tmp_path, out, [upload.parent])


def test_long_entries_and_names_differing_in_case_or_normalisation(tmp_path, cli_cache_home):
    upload = tmp_path / "in" / "class.zip"
    upload.parent.mkdir()
    long_entry = "smith_1_100_" + "x" * 251 + "_04_optimizers.ipynb"
    assert len(long_entry.encode()) == 283
    folders = ["Ann", "ann", unicodedata.normalize("NFD", "Zoë"), unicodedata.normalize("NFC", "Jürgen"), CJK]
    with zipfile.ZipFile(upload, "w") as zf:
        zf.write(CORRECT, long_entry)
        for folder in folders:
            zf.write(CORRECT, f"{folder}/04_optimizers.ipynb")
    done, out = grade(tmp_path, [upload], cache=cli_cache_home)
    assert done.returncode == 0, done.stderr[-3000:]
    graded = scores(out)
    assert len(graded) == 6 and set(graded.values()) == {10}, graded
    result_folders = [p.name for p in (out / "results").iterdir()]
    assert len({f.casefold() for f in result_folders}) == 6  # apart even where case is ignored
    feedback = list((out / "feedback").glob("*.html"))
    assert len({p.name.casefold() for p in feedback}) == 6
    everything_inside(tmp_path, out, [upload.parent])
