"""What a sandbox's uid leaves outside its job (sandbox/shared.py): found, counted and removed by
owner, only in world-writable folders, never following a planted symlink."""

from __future__ import annotations

import os

import pytest

from autograder.sandbox import shared
from tests.unit.as_uid import python_as

UID, OTHER = 60063, 60062
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")

TABLE = """       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
         0          7   600             1073741824   100   100      0     0     0 60063 60063          0          0          0            1073741824                    0
         0          8   600                   4096   101   101      0 60063 60063 60062 60062          0          0          0                  4096                    0
"""


@pytest.fixture
def place(tmp_path):
    """A world-writable folder (as /tmp is) with the uid's file and folder, a neighbour's file, and
    a world-writable subfolder holding another of the uid's files."""
    top = tmp_path / "tmp"
    top.mkdir()
    os.chmod(top, 0o1777)
    (top / "mine").write_bytes(b"x" * 8192)
    (top / "mine-dir" / "deeper").mkdir(parents=True)
    (top / "mine-dir" / "deeper" / "big").write_bytes(b"y" * 65536)
    (top / "theirs").write_bytes(b"z" * 8192)
    (top / "shared-dir").mkdir()
    os.chmod(top / "shared-dir", 0o1777)
    (top / "shared-dir" / "mine-too").write_bytes(b"w" * 4096)
    outside = tmp_path / "secret"
    outside.write_text("the grader's")
    (top / "link").symlink_to(outside)
    for path in (
        top / "mine",
        top / "mine-dir",
        top / "mine-dir" / "deeper",
        top / "mine-dir" / "deeper" / "big",
        top / "shared-dir" / "mine-too",
        top / "link",
    ):
        os.lchown(path, UID, UID)
    os.chown(top / "theirs", OTHER, OTHER)
    return top


def test_owned_finds_the_uids_entries_only(place):
    found = {os.path.relpath(p, place) for p, _ in shared.owned(UID, [place])}
    assert found == {"mine", "mine-dir", "shared-dir/mine-too", "link"}
    assert shared.owned_bytes(UID, [place]) >= 8192 + 65536 + 4096
    assert shared.owned_bytes(OTHER, [place]) < 65536


def test_remove_deletes_the_uids_entries_and_nothing_else(place, tmp_path):
    table = tmp_path / "shm"
    table.write_text("key shmid\n")  # no segment: nothing to remove there
    shared.remove(UID, [place], table)
    assert sorted(p.name for p in place.rglob("*")) == ["shared-dir", "theirs"]
    assert (tmp_path / "secret").read_text() == "the grader's"  # the link went, not what it pointed to


def test_segments_are_the_creators(tmp_path):
    """`cuid`, not `uid`: the owner can give a segment away (IPC_SET), its creator stays."""
    table = tmp_path / "shm"
    table.write_text(TABLE)
    assert shared.sysv_segments(UID, table) == [(7, 1073741824)]
    assert shared.held_bytes(UID, [], table) == 1073741824
    assert shared.sysv_segments(12345, table) == []


def test_too_many_entries_count_as_over_any_limit(place, monkeypatch):
    monkeypatch.setattr(shared, "MAX_ENTRIES", 2)
    assert shared.owned_bytes(UID, [place]) >= 2**62


def test_remove_deletes_the_semaphore_sets_and_queues_the_uid_made(tmp_path):
    """A SysV semaphore set or message queue made with rights for others outlived the run, a drop
    box for every later notebook (red team round 6); removed with the rest, a neighbour's kept."""
    make = (
        "import ctypes\nlibc = ctypes.CDLL(None)\n"
        "print(libc.semget(0, 1, 0o1666), libc.msgget(0, 0o1666))"  # IPC_PRIVATE, IPC_CREAT | 0666
    )

    def made_as(uid: int) -> tuple[int, int]:
        out = python_as(uid, make).split()
        return int(out[0]), int(out[1])

    mine, theirs = made_as(UID), made_as(OTHER)
    try:
        assert mine[0] in shared.sysv_ids(UID, shared.SYSV_SEM, 6)
        assert mine[1] in shared.sysv_ids(UID, shared.SYSV_MSG, 9)
        shared.remove(UID, [tmp_path])
        assert shared.sysv_ids(UID, shared.SYSV_SEM, 6) == [] and shared.sysv_ids(UID, shared.SYSV_MSG, 9) == []
        assert theirs[0] in shared.sysv_ids(OTHER, shared.SYSV_SEM, 6)
        assert theirs[1] in shared.sysv_ids(OTHER, shared.SYSV_MSG, 9)
    finally:
        shared.remove(OTHER, [tmp_path])
        shared.remove(UID, [tmp_path])
