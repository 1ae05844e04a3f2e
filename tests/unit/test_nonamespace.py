"""autograder.sandbox.nonamespace: what file modes must do where there are no namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from autograder.errors import InfrastructureError
from autograder.sandbox import nonamespace, uids


@pytest.fixture
def tree():
    """A folder every user can reach (pytest's tmp_path lies under a 0700 folder), removed after."""
    top = Path(tempfile.mkdtemp(prefix="dnn-grader-test-"))
    (top / "course" / "solutions").mkdir(parents=True)
    (top / "course" / "solutions" / "01.ipynb").write_text("{}")
    for path in (top, top / "course", top / "course" / "solutions"):
        os.chmod(path, 0o755)
    yield top
    shutil.rmtree(top)


def test_blocking_names_the_first_closed_folder(tree):
    secret = tree / "course" / "solutions" / "01.ipynb"
    assert nonamespace.blocking(secret) is None
    os.chmod(tree / "course", 0o750)
    assert nonamespace.blocking(secret) == tree / "course"
    assert nonamespace.blocking(tree / "nothing") == tree / "nothing"


def test_protect_closes_the_secret_itself_and_not_its_parents(tree):
    solutions = tree / "course" / "solutions"
    assert nonamespace.protect([solutions, tree / "missing"]) == [solutions]
    assert solutions.stat().st_mode & 0o007 == 0 and (tree / "course").stat().st_mode & 0o005 == 0o005
    assert nonamespace.blocking(solutions / "01.ipynb") == solutions
    assert nonamespace.protect([solutions]) == []  # already closed: nothing changes


def test_an_unreachable_interpreter_is_refused_with_the_folder_to_open(tree):
    os.chmod(tree / "course", 0o700)
    with pytest.raises(InfrastructureError, match=f"{tree / 'course'} is closed"):
        nonamespace.require_reachable([tree / "course" / "solutions"])
    nonamespace.require_reachable([tree])


@pytest.mark.skipif(os.geteuid() != 0, reason="chown and setpriv need root")
def test_the_job_folder_is_the_sandboxs_alone(tree):
    job = tree / "job"
    (job / "work").mkdir(parents=True)
    with uids.lease() as uid, uids.lease() as other:
        nonamespace.own_job_folder(job, uid)

        def can_list(who: int) -> bool:
            return (
                subprocess.run(
                    ["setpriv", f"--reuid={who}", f"--regid={who}", "--clear-groups", "ls", str(job)],
                    capture_output=True,
                ).returncode
                == 0
            )

        assert can_list(uid) and not can_list(other)


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv needs root")
def test_every_process_of_the_uid_is_killed():
    with uids.lease() as uid:
        stray = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "60"])
        time.sleep(0.2)
        nonamespace.kill_uid(uid)
        assert stray.wait(timeout=5) == -9


def test_the_data_set_is_shared_into_the_job_not_the_cache(tmp_path):
    source = tmp_path / "cache" / "fashion-mnist-sandbox"
    source.mkdir(parents=True)
    (source / "train-images-idx3-ubyte.gz").write_bytes(b"x" * 10)
    nonamespace.share_data(source, tmp_path / "job-data")
    copy = tmp_path / "job-data" / "train-images-idx3-ubyte.gz"
    assert copy.read_bytes() == b"x" * 10 and copy.stat().st_mode & 0o777 == 0o644


def test_landlock_rules_grant_around_what_is_hidden(tmp_path):
    """Landlock only allows: a granted folder that holds a hidden one is granted entry by entry,
    down to the hidden path, which gets no rule, nor does a link into it."""
    venv = tmp_path / "venv"
    (venv / "lib" / "site-packages" / "numpy").mkdir(parents=True)
    (venv / "lib" / "site-packages" / "autograder").mkdir()
    (venv / "share" / "dnn-grader" / "examples" / "class").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib64").symlink_to("lib")
    job = tmp_path / "job"
    (job / "work").mkdir(parents=True)
    hidden = [venv / "lib" / "site-packages" / "autograder", venv / "share" / "dnn-grader", tmp_path / "absent"]
    rules = nonamespace.landlock_rules([venv], [job / "work"], hidden)
    granted = {Path(p) for p, kind in rules if kind == "read"}
    assert {venv / "pyvenv.cfg", venv / "lib" / "site-packages" / "numpy"} <= granted
    assert not any(h == p or h in p.parents or p in h.parents for h in hidden for p in granted), granted
    assert venv / "lib64" not in granted and venv not in granted
    listed = {Path(p) for p, kind in rules if kind == "list"}
    assert listed == {venv, venv / "lib", venv / "lib" / "site-packages", venv / "share"}
    assert (str(job / "work"), "write") in rules and ("/usr", "read") in rules and ("/dev/null", "device") in rules


def test_landlock_rules_keep_an_interpreter_inside_a_hidden_course(tmp_path):
    """A checkout course is hidden whole, and its .venv, asked for, is still granted."""
    course = tmp_path / "course"
    (course / ".venv" / "bin").mkdir(parents=True)
    (course / "solutions").mkdir()
    rules = nonamespace.landlock_rules([course / ".venv"], [], [course])
    assert (str(course / ".venv"), "read") in rules
    assert not any(p in (str(course), str(course / "solutions")) for p, _ in rules)
