"""autograder.sandbox.cgroups on cgroup v2: against a fake cgroup2 tree laid out and behaving as the
kernel's (`fake_cgroup2.py`), including what goes wrong on real machines (a controller not
delegated, a write refused, processes left in the grader's cgroup); then the one real cgroup2
tree this machine has (hybrid mode: /sys/fs/cgroup/unified, no memory or pids controller)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.errors import InfrastructureError
from autograder.sandbox import levels
from autograder.sandbox.cgroups import LEAF, Cgroup
from tests.unit.fake_cgroup2 import FakeCgroup2

GB = 2**30
OTHER = 4242  # another process of the grader's cgroup (the shell that started it, say)


@pytest.fixture
def tree(tmp_path):
    fake = FakeCgroup2(tmp_path / "cgroup")
    fake.group("system.slice/grader.service", procs=[os.getpid(), OTHER], enable=["cpu", "memory", "pids"])
    return fake


def make(fake: FakeCgroup2, memory: int = GB, pids: int = 64) -> Cgroup:
    return Cgroup(memory, pids, root=fake.root, self_cgroup=fake.self_cgroup, kernel=fake)


def test_a_leaf_per_sandbox_under_the_graders_own_cgroup(tree):
    base = tree.root / "system.slice/grader.service"
    cgroup = make(tree, memory=GB, pids=64)
    assert cgroup.problems == [] and cgroup.version == "cgroup-v2"
    assert (cgroup.memory_level, cgroup.pids_level) == ("cgroup-v2", "cgroup-v2")
    [sandbox] = cgroup.dirs
    assert sandbox.parent == base and sandbox.name.startswith("dnn-grader-")
    assert (sandbox / "memory.max").read_text() == str(GB)
    assert (sandbox / "memory.swap.max").read_text() == "0"
    assert (sandbox / "pids.max").read_text() == "64"
    # the grader's processes (all of them: no internal processes) moved to a leaf, before enabling
    assert sorted(tree.procs(base / LEAF)) == sorted([str(os.getpid()), str(OTHER)]) and tree.procs(base) == []
    order = [path for path, _ in tree.writes]
    assert order.index(f"system.slice/grader.service/{LEAF}/cgroup.procs") < order.index(
        "system.slice/grader.service/cgroup.subtree_control"
    )
    assert (base / "cgroup.subtree_control").read_text().split() == ["cpu", "memory", "pids"]
    assert tree.self_cgroup.read_text() == f"0::/system.slice/grader.service/{LEAF}\n"


def test_a_grader_in_the_root_cgroup_enables_controllers_there_and_moves_nothing(tmp_path):
    """As booted by an init without systemd (the VM of test_cgroup_v2_vm.py): the grader is in the
    hierarchy's root, beside kernel threads that cannot move (EINVAL). The root is exempt from "no
    internal processes": the controllers are enabled in place and the sandbox is the root's child."""
    fake = FakeCgroup2(tmp_path / "cgroup")
    cgroup = make(fake)
    levels = (cgroup.memory_level, cgroup.pids_level, cgroup.cpu_level)
    assert cgroup.problems == [] and levels == ("cgroup-v2", "cgroup-v2", "cgroup-v2")
    [sandbox] = cgroup.dirs
    assert sandbox.parent == fake.root and not (fake.root / LEAF).exists()
    assert (fake.root / "cgroup.subtree_control").read_text().split() == ["cpu", "memory", "pids"]
    assert str(os.getpid()) in fake.procs(fake.root) and fake.self_cgroup.read_text() == "0::/\n"


def test_a_second_sandbox_is_a_sibling_not_a_child_of_the_graders_leaf(tree):
    first, second = make(tree), make(tree)
    assert first.dirs[0].parent == second.dirs[0].parent == tree.root / "system.slice/grader.service"
    assert second.problems == [] and second.memory_level == "cgroup-v2"


def test_each_sandbox_has_a_cpu_share_of_its_own_and_its_cpu_time_is_read(tree):
    """One weight per sandbox, whatever the number of its processes; its CPU time from `cpu.stat`."""
    cgroup = make(tree)
    [sandbox] = cgroup.dirs
    assert (sandbox / "cpu.weight").read_text() == "100" and cgroup.cpu_level == "cgroup-v2"
    (sandbox / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    assert cgroup.cpu_seconds() == 2.5
    assert levels.enforced(cgroup, namespaces=True, uid=60001).cpu == "cgroup-v2"


def test_a_cpu_controller_not_delegated_leaves_the_wall_clock_and_says_why(tmp_path):
    fake = FakeCgroup2(tmp_path / "cgroup", controllers=("memory", "pids"))
    fake.group("user.slice/grader", procs=[os.getpid()], enable=["memory", "pids"])
    cgroup = make(fake)
    assert (cgroup.memory_level, cgroup.pids_level, cgroup.cpu_level) == ("cgroup-v2", "cgroup-v2", None)
    assert any("cpu controller is not delegated" in p for p in cgroup.problems)
    with pytest.raises(InfrastructureError, match="cpu: none"):
        levels.require(levels.enforced(cgroup, namespaces=True, uid=60001), cgroups=True, accept_weaker=frozenset())


def test_processes_join_the_sandbox_and_a_kill_cleans_up(tree):
    cgroup = make(tree)
    [sandbox] = cgroup.dirs
    tree.write(sandbox / "cgroup.procs", "999999")  # as the launcher's `echo $$ > cgroup.procs`
    assert cgroup.pids() == {999999}
    cgroup.kill_all()  # cgroup.kill: every process at once
    assert (
        cgroup.pids() == set() and ("system.slice/grader.service/" + sandbox.name + "/cgroup.kill", "1") in tree.writes
    )
    cgroup.remove()
    assert not sandbox.exists()


def test_out_of_memory_is_read_from_memory_events(tree):
    cgroup = make(tree)
    assert not cgroup.oom_killed()
    (cgroup.dirs[0] / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert cgroup.oom_killed()


def test_a_controller_not_delegated_is_reported_and_refused(tmp_path):
    fake = FakeCgroup2(tmp_path / "cgroup", controllers=("cpu", "pids"))
    fake.group("user.slice/grader", procs=[os.getpid()], enable=["cpu", "pids"])
    cgroup = make(fake)
    assert cgroup.memory_level is None and cgroup.pids_level == "cgroup-v2"
    assert any("memory controller is not delegated" in p for p in cgroup.problems)
    isolation = levels.enforced(cgroup, namespaces=True, uid=60001, memory_guard=True)  # as the launcher does
    with pytest.raises(InfrastructureError, match="memory controller is not delegated"):
        levels.require(isolation, cgroups=True, accept_weaker=frozenset(), problems=cgroup.problems)
    levels.require(isolation, cgroups=True, accept_weaker=frozenset({"memory"}), problems=cgroup.problems)


@pytest.mark.parametrize(
    "refused, problem",
    [
        ("memory.max", "cannot set memory.max"),
        ("pids.max", "cannot set pids.max"),
        ("cgroup.subtree_control", "cannot enable memory pids"),
    ],
)
def test_a_write_refused_is_reported_never_skipped(tree, refused, problem):
    tree.refuse.add(refused)
    cgroup = make(tree)
    assert any(problem in p and "Permission denied" in p for p in cgroup.problems), cgroup.problems
    part = "pids" if refused == "pids.max" else "memory"
    assert getattr(cgroup, f"{part}_level") is None


def test_processes_the_grader_cannot_move_leave_the_controllers_off_and_say_why(tree):
    tree.refuse.add("cgroup.procs")
    cgroup = make(tree)
    assert cgroup.memory_level is None and cgroup.pids_level is None
    assert any("cannot move the grader's processes" in p for p in cgroup.problems)


def test_a_missing_self_cgroup_is_reported(tmp_path):
    cgroup = Cgroup(GB, 64, root=tmp_path, self_cgroup=tmp_path / "nothing")
    assert cgroup.dirs == [] and any("no cgroup found" in p for p in cgroup.problems)


def test_the_real_cgroup2_tree_of_this_machine_reports_what_it_lacks(tmp_path):
    """Real kernel files: in hybrid mode the unified tree has no memory or pids controller; the
    grader says so (and creates nothing there) instead of making a cgroup without limits."""
    unified = Path("/sys/fs/cgroup/unified")
    if not (unified / "cgroup.controllers").is_file():
        pytest.skip("no separate cgroup2 tree here")
    available = (unified / "cgroup.controllers").read_text().split()
    if "memory" in available and "pids" in available:
        pytest.skip("this cgroup2 tree has the controllers; the fake tree covers the rest")
    (tmp_path / "self").write_text("0::/\n")
    cgroup = Cgroup(GB, 64, root=unified, self_cgroup=tmp_path / "self")
    assert cgroup.dirs == [] and not list(unified.glob("dnn-grader*"))
    assert any("not delegated" in p for p in cgroup.problems)
