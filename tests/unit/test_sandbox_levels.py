"""autograder.sandbox.levels: the isolation a run records, and refusing a run whose limits vanished."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.errors import InfrastructureError
from autograder.result import Isolation
from autograder.sandbox import Limits, cgroups, launch, levels


class FakeCgroup:
    """A cgroup that set only what it was told (as on a machine where a controller is missing)."""

    def __init__(self, memory: str | None, pids: str | None, cpu: str | None = "") -> None:
        self.memory_level, self.pids_level = memory, pids
        self.cpu_level = pids if cpu == "" else cpu  # by default: as the processes' limit
        self.applied: list[str] = []
        self.dirs: list[Path] = []
        self.problems = ["the memory controller is not delegated (fake)"]
        self.removed = False

    def remove(self) -> None:
        self.removed = True


def test_the_record_says_what_was_set_not_what_was_asked():
    both = levels.enforced(FakeCgroup("cgroup-v2", "cgroup-v2"), namespaces=True, uid=60003)
    assert both == Isolation("bwrap", "none", 60003, "cgroup-v2", "cgroup-v2", "cgroup-v2")
    none = levels.enforced(FakeCgroup(None, None), namespaces=False, uid=None)
    assert (none.namespaces, none.network, none.memory) == ("none", "host", "rlimit")
    assert levels.enforced(FakeCgroup(None, None), namespaces=True, uid=60003, memory_guard=True).memory == "guard"
    assert levels.enforced(FakeCgroup(None, None), namespaces=True, uid=60003).pids == "rlimit"


@pytest.mark.parametrize(
    "memory, pids, accepted, missing",
    [
        (None, "cgroup-v2", frozenset(), ["memory"]),
        ("cgroup-v1", None, frozenset(), ["pids"]),
        (None, None, frozenset({"memory"}), ["pids"]),
        (None, None, frozenset(), ["memory", "pids"]),
    ],
)
def test_a_limit_that_cannot_be_set_is_an_infrastructure_error(memory, pids, accepted, missing):
    isolation = levels.enforced(FakeCgroup(memory, pids), namespaces=True, uid=60001)
    with pytest.raises(InfrastructureError) as info:
        levels.require(isolation, cgroups=True, accept_weaker=accepted)
    for part in missing:
        assert f"{part}:" in str(info.value) and f'"{part}"' in str(info.value)  # and how to accept it


def test_a_sandbox_without_a_cpu_share_of_its_own_is_refused_unless_accepted():
    """Without it, a neighbour's processes take this notebook's CPU and its wall-clock limits blame
    it for the wait: as weak as a missing memory limit, and refused the same way."""
    isolation = levels.enforced(FakeCgroup("cgroup-v1", "cgroup-v1", cpu=None), namespaces=True, uid=60001)
    assert isolation.cpu == "none" and any("CPU share" in s for s in isolation.shortfalls())
    with pytest.raises(InfrastructureError, match='cpu: none.*accept_weaker = \\["cpu"\\]'):
        levels.require(isolation, cgroups=True, accept_weaker=frozenset())
    levels.require(isolation, cgroups=True, accept_weaker=frozenset({"cpu"}))
    levels.require(isolation, cgroups=False, accept_weaker=frozenset())  # no cgroups asked for: the wall clock


def test_accept_weaker_lets_the_run_go_and_the_record_still_says_so(monkeypatch):
    monkeypatch.setattr(levels, "enclosing_memory_limit", lambda: None)
    isolation = levels.enforced(FakeCgroup(None, None, cpu=None), namespaces=True, uid=60001, memory_guard=True)
    levels.require(isolation, cgroups=True, accept_weaker=frozenset({"memory", "pids", "cpu"}))
    assert len(isolation.shortfalls()) == 3


@pytest.mark.parametrize(
    "isolation, missing",
    [
        (
            Isolation("none", "host", 60001, "rlimit", "rlimit"),
            "memory: rlimit (needs cgroup-v1 or cgroup-v2 or guard)",
        ),
        (Isolation("none", "host", None, "guard", "none"), "pids: none (needs cgroup-v1 or cgroup-v2 or rlimit)"),
        (Isolation("none", "host", None, "none", "none"), "memory: none"),
    ],
)
def test_accepting_a_weaker_limit_still_requires_the_guard_and_rlimit_nproc(isolation, missing):
    """What a container gives (the memory guard, RLIMIT_NPROC of the sandbox's uid), never less."""
    with pytest.raises(InfrastructureError, match="cannot enforce") as info:
        levels.require(isolation, cgroups=True, accept_weaker=frozenset({"memory", "pids", "cpu", "landlock"}))
    assert missing in str(info.value) and "accept_weaker = [" not in str(info.value)


def test_the_record_names_the_container_memory_limit_where_no_cgroup_of_its_own_was_made(monkeypatch):
    monkeypatch.setattr(levels, "enclosing_memory_limit", lambda: 3 * 1024**3)
    weak = levels.enforced(FakeCgroup(None, None), namespaces=False, uid=60001, memory_guard=True)
    assert weak.container_memory_mb == 3072
    assert any("container's own memory limit (3072 MB)" in m for m in weak.shortfalls())
    full = levels.enforced(FakeCgroup("cgroup-v1", "cgroup-v1"), namespaces=True, uid=60001)
    assert full.container_memory_mb is None  # a cgroup of the sandbox's own: that is its limit


@pytest.mark.parametrize("v1", [True, False])
def test_the_enclosing_memory_limit_is_read_up_to_the_mount_root(tmp_path, v1):
    """Docker on cgroup v1: /proc/self/cgroup names the host's path (/docker/ID), which does not
    exist in the container's mount; its root holds the container's limit."""
    self_cgroup = tmp_path / "self"
    root = tmp_path / "cg"
    base = root / "memory" if v1 else root
    base.mkdir(parents=True)
    name = "memory.limit_in_bytes" if v1 else "memory.max"
    self_cgroup.write_text("4:memory:/docker/abc\n" if v1 else "0::/docker/abc\n")
    assert cgroups.enclosing_memory_limit(root, self_cgroup) is None
    (base / name).write_text("9223372036854771712\n" if v1 else "max\n")
    assert cgroups.enclosing_memory_limit(root, self_cgroup) is None  # no limit
    (base / name).write_text(f"{3 * 1024**3}\n")
    assert cgroups.enclosing_memory_limit(root, self_cgroup) == 3 * 1024**3
    (base / "docker" / "abc").mkdir(parents=True)
    (base / "docker" / "abc" / name).write_text(f"{1024**3}\n")
    assert cgroups.enclosing_memory_limit(root, self_cgroup) == 1024**3  # the tightest on the way up


def test_the_launcher_refuses_before_starting_anything(monkeypatch, tmp_path):
    """No process is started (Popen would fail the test) and the half-made cgroup is removed."""
    made: list[FakeCgroup] = []

    def fake(*_args, **_kwargs):
        made.append(FakeCgroup(None, "cgroup-v1"))
        return made[-1]

    def no_popen(*_a, **_k):
        raise AssertionError("started a process")

    monkeypatch.setattr(launch, "Cgroup", fake)
    monkeypatch.setattr(launch.subprocess, "Popen", no_popen)
    with pytest.raises(InfrastructureError, match="memory: guard.*not delegated"):
        launch.run(
            ["true"], mounts=[], env={}, cwd=str(tmp_path), limits=Limits(), log_file=tmp_path / "log", sandbox=False
        )
    assert made and made[0].removed


@pytest.mark.parametrize(
    "abi, network, refused",
    [(0, "host", True), (4, "no-tcp", True), (5, "no-tcp", True), (6, "no-tcp", False), (7, "no-tcp", False)],
)
def test_the_no_namespace_level_needs_landlock_abi_6(abi, network, refused):
    """Files (ABI 1), TCP (4), abstract sockets and signals (6): below 6 the level is refused
    unless "landlock" is accepted; the record says which ABI ran and what network that left."""
    cgroup = FakeCgroup("cgroup-v1", "cgroup-v1")
    isolation = levels.enforced(cgroup, namespaces=False, uid=60001, landlock=abi)
    assert (isolation.landlock, isolation.network) == (abi, network)
    if refused:
        with pytest.raises(InfrastructureError, match=rf'landlock: ABI {abi}.*"landlock"'):
            levels.require(isolation, cgroups=True, accept_weaker=frozenset())
    else:
        levels.require(isolation, cgroups=True, accept_weaker=frozenset())
    levels.require(isolation, cgroups=True, accept_weaker=frozenset({"landlock"}))
    assert levels.enforced(cgroup, namespaces=True, uid=60001, landlock=abi).landlock == 0  # bubblewrap's mounts
