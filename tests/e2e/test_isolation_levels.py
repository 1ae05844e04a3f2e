"""The hostile corpus at the weaker isolation levels: what still holds without cgroups, and (below)
without namespaces. Each test also checks the result's `isolation` record says which level ran."""

from __future__ import annotations

import dataclasses

import pytest

from autograder.sandbox import bubblewrap_available
from tests.conftest import make_variant
from tests.e2e.test_hostile import grade_within, limits_for, lost
from tests.submissions import hostile
from tests.submissions.variants import A05, Variant

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]

# Four children touching 600 MB each: every one under RLIMIT_DATA (768 MB), together 2.4 GB.
# Only a limit over the whole sandbox stops it: the cgroup, or without one the memory guard.
TOUCHES_2_4_GB = Variant("touches_2_4_gb_in_children", A05, insert_first=('''import os, time
pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = b"\\x01" * (600 * 2**20)
        time.sleep(3)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)''',))
BOMBS = [next(v for v in hostile.ESCAPES if v.name == "allocates_30_gb"), TOUCHES_2_4_GB]


@pytest.mark.parametrize("variant", BOMBS, ids=lambda v: v.name)
def test_memory_bombs_are_stopped_without_cgroups(config, tmp_path, variant):
    """`cgroups = false` in the config: no cgroup is made; the watchdog's memory guard (summed
    memory of the sandbox's processes) stops what RLIMIT_DATA per process lets through."""
    no_cgroups = dataclasses.replace(limits_for(config, variant), memory_mb=768, cgroups=False)
    result = grade_within(make_variant(variant, tmp_path), no_cgroups)
    assert result.isolation is not None and (result.isolation.memory, result.isolation.pids) == ("guard", "rlimit")
    assert result.execution.memory_exceeded
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]
    if variant is TOUCHES_2_4_GB:
        [error] = [e for e in result.execution.cell_errors if e["status"] == "killed"]
        assert error["ename"] == "MemoryExceeded", error  # the guard's kill, named in the feedback
