"""Red team of the no-namespace level and the memory guard, as a student would attack them beside
honest neighbours. Each attack is a notebook cell (a `Variant`); every test here failed before its
defence (see the commit that added it)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder import batch
from autograder.sandbox import bubblewrap_available, levels
from tests.conftest import REPO, make_variant
from tests.e2e.test_hostile import lost
from tests.e2e.test_isolation_levels import failing_bwrap_and_open_interpreter
from tests.submissions.variants import A05, Variant

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]


def copies_a_neighbour(klass: str) -> Variant:
    """A wrong `l1_penalty`, then a cell that finds another student's notebook in the class folder
    (its path is visible: the host's file system is, without a mount namespace) and runs its code."""
    steal = f"""import glob, json, os
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
            exec(source, globals())"""
    return Variant(
        "copies_a_neighbour",
        A05,
        replace={"l1_penalty": "def l1_penalty(theta):\n    return 0.0"},
        append=(steal,),
        lost=frozenset({"l1_penalty"}),
    )


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
        yield dataclasses.replace(
            config, namespaces=False, memory_mb=1024, cell_seconds=30, call_seconds=10, notebook_seconds=120
        )


def test_a_neighbours_notebook_cannot_be_copied_without_namespaces(no_namespaces, tmp_path):
    klass = str(Path(tempfile.gettempdir()) / "redteam-class-*")
    results = grade_beside(no_namespaces, copies_a_neighbour(klass), tmp_path)
    assert results["honest"].score == results["honest"].max_score
    assert lost(results["copies-a-neighbour"]) == {"l1_penalty"}  # it did not gain the neighbour's answer


# Memory no process holds: 3 x 200 MB on /dev/shm and a 600 MB SysV segment, touched, detached,
# never removed. No process ever holds 1024 MB (the guard's limit), together they do; unremoved,
# RAM lost by every later notebook on the machine.
HOLDS_SHARED_MEMORY = Variant(
    "holds_shared_memory",
    A05,
    insert_first=(
        """import ctypes, os, time
for k in range(3):
    with open(f"/dev/shm/held-{k}", "wb") as f:
        for _ in range(2):
            f.write(b"\\x01" * (100 * 2**20))
libc = ctypes.CDLL(None)
libc.shmget.restype, libc.shmat.restype = ctypes.c_int, ctypes.c_void_p
segment = libc.shmget(0, ctypes.c_size_t(600 * 2**20), 0o1000 | 0o600)
address = libc.shmat(segment, None, 0)
ctypes.memset(address, 1, 600 * 2**20)
libc.shmdt(ctypes.c_void_p(address))
time.sleep(2)""",
    ),
)

# Disk outside the job: 3 x 60 MB in /tmp (each under a 64 MB RLIMIT_FSIZE, together over the
# 128 MB quota), and a folder of its own there, left for later notebooks. It then waits: the quota
# is polled (watchdog.DISK_CHECK_SECONDS), and a run that ends first is not blamed (files removed).
FILLS_TMP = Variant(
    "fills_tmp",
    A05,
    insert_first=(
        """import os, time
os.makedirs("/tmp/left-behind/deeper", exist_ok=True)
for k in range(3):
    with open(f"/tmp/left-behind/deeper/fill-{k}", "wb") as f:
        for _ in range(6):
            f.write(b"\\x02" * (10 * 2**20))
time.sleep(2)""",
    ),
)


def left_behind(uid: int) -> list:
    from autograder.sandbox import shared

    return [path for path, _ in shared.owned(uid, shared.PLACES)] + shared.sysv_segments(uid)


@pytest.fixture
def without_landlock(no_namespaces, monkeypatch):
    """The level on a kernel without Landlock, accepted: where /tmp and /dev/shm are the host's
    and writable, what the second layer (quota, guard, removal) must still hold. With Landlock the
    writes are refused outright (test_landlock.py)."""
    monkeypatch.setattr(levels, "landlock_abi", lambda: 0)
    return dataclasses.replace(no_namespaces, accept_weaker=("landlock",))


def test_memory_held_outside_processes_is_guarded_and_freed(without_landlock, tmp_path):
    """cgroups off at the no-namespace level: the guard counts tmpfs files and SysV segments, and
    nothing of them is left after the run (the batch's honest neighbour keeps full marks)."""
    config = dataclasses.replace(without_landlock, cgroups=False)
    results = grade_beside(config, HOLDS_SHARED_MEMORY, tmp_path)
    hostile = results["holds-shared-memory"]
    assert hostile.isolation.memory == "guard" and hostile.execution.memory_exceeded
    assert left_behind(hostile.isolation.uid) == []
    assert results["honest"].score == results["honest"].max_score


def test_files_left_in_tmp_count_against_the_quota_and_are_removed(without_landlock, tmp_path):
    config = dataclasses.replace(without_landlock, file_size_mb=64)
    results = grade_beside(config, FILLS_TMP, tmp_path)
    hostile = results["fills-tmp"]
    assert any(e.ename == "DiskQuotaExceeded" for e in hostile.execution.cell_errors), hostile.execution
    assert left_behind(hostile.isolation.uid) == []
    assert results["honest"].score == results["honest"].max_score


# Processes that leave the tree: a double fork into a session of its own, made non-dumpable (on
# some kernels /proc/<pid> then shows root as owner), and a chain that takes a new pid all the time.
LEAVES_THE_TREE = Variant(
    "leaves_the_tree",
    A05,
    insert_first=(
        """import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
        for fd in range(3, 1024):
            try:
                os.close(fd)
            except OSError:
                pass
        time.sleep(600)
    os._exit(0)
if os.fork() == 0:
    os.setsid()
    for fd in range(3, 1024):
        try:
            os.close(fd)
        except OSError:
            pass
    end = time.time() + 600
    while time.time() < end:
        if os.fork() != 0:
            os._exit(0)
    os._exit(0)
time.sleep(0.5)""",
    ),
)


def test_no_process_outlives_the_run_without_namespaces_or_cgroups(no_namespaces, tmp_path):
    """No pid namespace and no cgroup to kill them: the runner's sweep after each cell (every other
    process of the uid) ends them, `nonamespace.kill_uid` after the run would (this test still
    passes without kill_uid: the sweep alone is load-bearing here)."""
    from autograder.sandbox import uids

    results = grade_beside(dataclasses.replace(no_namespaces, cgroups=False), LEAVES_THE_TREE, tmp_path)
    hostile = results["leaves-the-tree"]
    assert hostile.isolation.memory == "guard" and uids.processes_of(hostile.isolation.uid) == []
    assert lost(hostile) == set() and results["honest"].score == results["honest"].max_score
