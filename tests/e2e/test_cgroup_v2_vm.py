"""The sandbox on a real cgroup v2 kernel: Debian's kernel booted under qemu with cgroup2 alone on
/sys/fs/cgroup (this machine mounts v1, and `test_cgroups_v2.py` only meets a fake tree).

One boot grades three notebooks of 04_optimizers (numpy only) with `autograder grade`, as root,
as an instructor on a cgroup v2 machine would: the solution, a memory bomb (forked children, each
under RLIMIT_DATA, together over `memory.max`) and a fork bomb. The guest (`platforms/init.sh`,
`platforms/guest_grade.py`) prints a `RESULT {json}` line per case; these tests read them.
The kernel, the Debian tree and the venv are cached (`platforms/vm.py`); a warm run boots in
about a minute and grades in a few more under software emulation.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, make_variant
from tests.platforms import vm
from tests.submissions import hostile
from tests.submissions.variants import A04, Variant

pytestmark = pytest.mark.slow

PLATFORMS = Path(__file__).resolve().parent.parent / "platforms"
# What grading 04 imports (the package's numpy, scipy, nbformat, IPython; the notebook's matplotlib),
# not TensorFlow: the grader imports it only for the assignments that use it.
LEAN = ("numpy", "scipy", "nbformat", "ipython", "matplotlib")
MEMORY_MB = 1024  # the course's memory_mb in the guest (the VM has 3 GB)
# Forks sleeping children until the kernel refuses, then ends them: each child touches little
# memory, so the 256 processes stay well under memory.max and pids.max is what stops it (the
# suite's endless fork bomb also meets memory.max here, each forked interpreter copying ~24 MB,
# and under emulation runs until the cell's limit).
FORK_BOMB = Variant(
    "fork_bomb",
    A04,
    insert_first=(
        """import os, time
children = []
try:
    while len(children) < 100000:
        pid = os.fork()
        if pid == 0:
            time.sleep(3600)
            os._exit(0)
        children.append(pid)
except BlockingIOError:
    pass
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print("forked", len(children))""",
    ),
)
MEMORY_BOMB = dataclasses.replace(hostile.touches_2_4_gb_in_children(hold_seconds=3), assignment=A04)
CASES = {"solution": Variant("solution", A04), "memory_bomb": MEMORY_BOMB, "fork_bomb": FORK_BOMB}


def _layer(root: Path) -> None:
    """The run's own part of the initramfs: /init, the guest's script, the course with the package
    (a checkout, as `autograder` run from one), the notebooks to grade."""
    (root / "opt").mkdir(parents=True)
    shutil.copy(PLATFORMS / "init.sh", root / "init")
    shutil.copy(PLATFORMS / "guest_grade.py", root / "opt" / "guest_grade.py")
    course = root / "opt" / "dnn-grader"
    course.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("autograder", "solutions", "assignments"):
        shutil.copytree(REPO / name, course / name, ignore=ignore)
    shutil.copy(REPO / "README.md", course / "README.md")
    pyproject = (REPO / "pyproject.toml").read_text()
    (course / "pyproject.toml").write_text(re.sub(r"(?m)^memory_mb = \d+$", f"memory_mb = {MEMORY_MB}", pyproject))
    cases = root / "opt" / "cases"
    cases.mkdir()
    for name, variant in CASES.items():
        made = make_variant(dataclasses.replace(variant, name=name), cases)
        made.rename(cases / f"{name}.ipynb")
    vm.compile_tree(root / "opt", "/opt")


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    why = vm.missing()
    if why:
        pytest.skip("cannot boot a VM here: " + "; ".join(why))
    work = tmp_path_factory.mktemp("vm")
    vmlinuz = vm.kernel()
    base = vm.base_initramfs(vm.requirements(LEAN))
    _layer(work / "layer")
    vm.pack(work / "layer", work / "layer.cpio.gz")
    booted = vm.boot(vmlinuz, [base, work / "layer.cpio.gz"], work, memory_mb=3072, timeout=1500)
    print(f"vm: booted and graded in {booted.seconds:.0f} s (console: {work / 'console.log'})")
    found = {r["case"]: r for r in booted.results()}
    tail = booted.console[-4000:]
    assert not booted.timed_out, f"the guest did not power off in time:\n{tail}"
    assert "done" in found, f"the guest stopped before the end:\n{tail}"
    for result in found.values():
        print("vm:", {k: v for k, v in result.items() if k != "stderr"})
    return found


def test_the_guest_mounts_cgroup_v2_alone(guest):
    kernel = guest["kernel"]
    assert [m[2] for m in kernel["cgroup_mounts"]] == ["cgroup2"], kernel["cgroup_mounts"]
    assert {"memory", "pids"} <= set(kernel["controllers"])
    assert kernel["bwrap"].startswith("bubblewrap")


def _ran(result: dict) -> dict:
    assert "crash" not in result and result.get("exit") == 0 and result.get("error") is None, result
    assert result["isolation"] | {"uid": None} == {
        "namespaces": "bwrap",
        "network": "none",
        "uid": None,
        "memory": "cgroup-v2",
        "pids": "cgroup-v2",
    }, result
    assert result["left_cgroups"] == [], result  # every sandbox's cgroup removed
    return result


def test_the_solution_scores_full_marks_under_cgroup_v2(guest):
    result = _ran(guest["solution"])
    assert result["score"] == result["max_score"] > 0 and result["lost"] == []
    assert not result["memory_exceeded"] and result["events"].get("memory.oom_kill", 0) == 0


def test_a_memory_bomb_is_killed_by_memory_max(guest):
    result = _ran(guest["memory_bomb"])
    assert result["events"].get("memory.oom_kill", 0) > 0, result  # the kernel killed, in the sandbox's cgroup
    assert result["memory_exceeded"], result  # and the result says so
    assert result["lost"] == [], result  # only the cell is lost


def test_a_fork_bomb_is_stopped_by_pids_max(guest):
    result = _ran(guest["fork_bomb"])
    assert result["events"].get("pids.max", 0) > 0, result  # forks refused by the sandbox's pids.max
    assert result["lost"] == [], result
