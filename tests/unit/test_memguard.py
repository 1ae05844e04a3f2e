"""autograder.sandbox.memguard: the memory limit that needs no cgroup (real processes, no sandbox)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from autograder.sandbox import uids
from autograder.sandbox.memguard import MemoryGuard


@pytest.fixture
def tree():
    """A shell (the run's first process) with two children of its own."""
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
    deadline = time.monotonic() + 5
    guard = MemoryGuard(2**40, root_pid=proc.pid, uid=None)
    while len(guard.processes()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield proc, guard
    for pid in guard.processes() - {proc.pid}:  # the shell's own children, by pid
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


def test_the_run_is_its_first_process_and_every_descendant(tree):
    proc, guard = tree
    found = guard.processes()
    assert proc.pid in found and len(found) == 3 and os.getpid() not in found


def test_over_the_limit_and_under_it(tree):
    proc, guard = tree
    held = guard.held()
    assert 0 < held < 200 * 2**20 and guard.peak == held  # three small processes, counted once each
    assert not guard.over()
    assert MemoryGuard(held // 2, root_pid=proc.pid, uid=None).over()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to run as a pool uid")
def test_a_process_of_the_sandboxs_uid_outside_the_tree_still_counts():
    """A child that double-forked away from the tree is still the sandbox's uid (one of its own)."""
    with uids.lease() as uid:
        stray = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "30"])
        try:
            deadline = time.monotonic() + 5
            guard = MemoryGuard(2**40, root_pid=2**22 + 1, uid=uid)  # a first process that is gone
            while stray.pid not in guard.processes() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert guard.processes() == {stray.pid}
            assert MemoryGuard(2**40, root_pid=2**22 + 1, uid=None).processes() == set()
        finally:
            stray.kill()
            stray.wait()
