"""autograder.sandbox.levels: the isolation a run records, and refusing a run whose limits vanished."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.errors import InfrastructureError
from autograder.result import Isolation
from autograder.sandbox import Limits, launch, levels


class FakeCgroup:
    """A cgroup that set only what it was told (as on a machine where a controller is missing)."""

    def __init__(self, memory: str | None, pids: str | None) -> None:
        self.memory_level, self.pids_level = memory, pids
        self.applied: list[str] = []
        self.dirs: list[Path] = []
        self.problems = ["the memory controller is not delegated (fake)"]
        self.removed = False

    def remove(self) -> None:
        self.removed = True


def test_the_record_says_what_was_set_not_what_was_asked():
    both = levels.enforced(FakeCgroup("cgroup-v2", "cgroup-v2"), namespaces=True, uid=60003)
    assert both == Isolation("bwrap", "none", 60003, "cgroup-v2", "cgroup-v2")
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


def test_accept_weaker_lets_the_run_go_and_the_record_still_says_so():
    isolation = levels.enforced(FakeCgroup(None, None), namespaces=True, uid=60001)
    levels.require(isolation, cgroups=True, accept_weaker=frozenset({"memory", "pids"}))
    assert len(isolation.shortfalls()) == 2


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
