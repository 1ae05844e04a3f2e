"""autograder.sandbox.held: files with no name a run's processes hold open, found through their
descriptor tables (a real process, no sandbox)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.sandbox import held

MB = 2**20

# Holds: 8 MB with O_TMPFILE and 4 MB unlinked (disk; the unlinked one twice, counted once), a
# memfd of 2 MB (RAM), a named file of 1 MB and a pipe (neither counted); says "ready", then waits.
HOLDER = """import os, sys
folder = sys.argv[1]
fd = os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, bytes(8 * 2**20))
path = os.path.join(folder, "gone")
with open(path, "wb") as fh:
    fh.write(bytes(4 * 2**20))
again = [os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)]
os.unlink(path)
memory = os.memfd_create("held")
os.write(memory, bytes(2 * 2**20))
named = open(os.path.join(folder, "named"), "wb")
named.write(bytes(2**20))
named.flush()
pipe = os.pipe()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.stdin.close()
    proc.wait()


def test_files_with_no_name_are_counted_once_as_disk_or_memory(holder):
    found = held.unnamed([holder.pid])
    assert found.complete
    assert 12 * MB <= found.disk < 13 * MB  # the named file is the disk walk's, not this
    assert 2 * MB <= found.memory < 3 * MB


def test_more_descriptors_than_the_bound_leave_the_walk_incomplete(holder):
    assert not held.unnamed([holder.pid], limit=3).complete


def test_the_run_is_the_tree_below_its_first_process(holder):
    assert holder.pid in held.processes(os.getpid(), None)
    assert holder.pid not in held.processes(holder.pid + 10**6, None)


def test_walks_are_spaced_by_what_they_cost():
    """Walks no closer than `WALK_SECONDS`, or ten times the last walk's length if longer."""
    walks: list[float] = []
    now = [100.0]

    def pids():
        walks.append(now[0])
        now[0] += 0.2  # a walk that takes 0.2 s: the next one 2 s later
        return []

    files = held.UnnamedFiles(pids, clock=lambda: now[0])
    for _ in range(50):
        files.now()
        now[0] += 0.1
    assert len(walks) == 3 and walks[1] - walks[0] >= 2.0
