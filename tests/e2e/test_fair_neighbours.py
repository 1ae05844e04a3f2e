"""Fair neighbours: a notebook's processes take its own CPU share, never its neighbour's time.

A correct notebook whose first cells start 200 busy processes (each in a session of its own,
orphaned by a double fork) and sleep, graded in a 2-worker batch beside an honest correct 01
notebook, on a machine already busy (a burner on every core, outside any sandbox). Without a CPU
share per sandbox the honest notebook got 1% of a core; with wall-clock limits it was blamed for
the time it waited (its TensorFlow import cut, every later cell a `NameError`: 1.04/21). Here it
keeps full marks; the busy orphans stay in their sandbox's cgroup and do not outlive it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from pathlib import Path

import pytest

from autograder import batch
from autograder.grading.grade import grade_notebook
from autograder.grading.reference import reference_timing
from autograder.questions import get_assignment
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO, make_variant
from tests.e2e.load import cpu_burner
from tests.submissions import hostile

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
SEED = 7
CPU_HIERARCHIES = ("cpu", "cpu,cpuacct", "")  # v1 (alone or co-mounted), v2
PF_EXITING = 0x4  # /proc/<pid>/stat flags: the process is exiting (and has left its cgroups)
STARVING_CELLS = 2  # 2 x 20 s of 200 busy processes: the honest notebook's TensorFlow import and more


def _burners(*, zombies: bool) -> dict[int, str]:
    """pid -> cpu cgroup of every process named as the hostile notebook names its busy orphans. A
    process that is exiting or a zombie (killed, not yet reaped) shows the root cgroup whatever it
    ran in: left out unless asked."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if Path(f"/proc/{name}/comm").read_text().strip() != hostile.STARVE_NAME:
                continue
            lines = Path(f"/proc/{name}/cgroup").read_text().splitlines()
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()  # alive after reading it?
            state, flags = fields[0], int(fields[6])
        except (OSError, IndexError, ValueError):
            continue
        if (state in ("Z", "X") or flags & PF_EXITING) and not zombies:
            continue
        found[int(name)] = next((line.split(":", 2)[2] for line in lines if line.split(":")[1] in CPU_HIERARCHIES), "")
    return found


@pytest.fixture(scope="module")
def graded(config, tmp_path_factory):
    klass = tmp_path_factory.mktemp("class")
    variant = hostile.starves_neighbours(STARVING_CELLS)
    shutil.copy(
        make_variant(variant, tmp_path_factory.mktemp("hostile")), klass / f"starves_{variant.assignment}.ipynb"
    )
    shutil.copy(REPO / "solutions" / f"{variant.assignment}.ipynb", klass / f"honest_{variant.assignment}.ipynb")
    limits = dataclasses.replace(config, memory_mb=1536)
    # The reference's times first, on the machine as it is (the instructor's setup): the limits
    # are 01's own (30 s a cell, 60 s a run), not ones stretched by the load of the test
    reference_timing(get_assignment(variant.assignment), limits, use_sandbox=True)
    found = batch.discover([klass], tmp_path_factory.mktemp("work"))
    assert not found.unplaced and len(found.submissions) == 2
    seen: dict[int, str] = {}
    done = threading.Event()

    def watch() -> None:  # where the busy orphans live while they burn
        while not done.wait(0.5):
            seen.update(_burners(zombies=False))

    watcher = threading.Thread(target=watch)
    with cpu_burner():
        watcher.start()
        try:
            results, failures = batch.run_batch(
                found.submissions,
                tmp_path_factory.mktemp("out"),
                SEED,
                batch.Threads(
                    lambda sub, seed: grade_notebook(
                        sub.path, limits, assignment_id=sub.assignment, seed=seed, student=sub.student
                    ),
                    workers=2,
                ),
            )
        finally:
            done.set()
            watcher.join()
    assert failures == []
    return {r.student: r for r in results}, seen


def test_the_honest_neighbour_keeps_full_marks_on_a_loaded_machine(graded):
    results, _ = graded
    honest = results["honest"]
    assert honest.score == honest.max_score, [(q.id, q.feedback[:1]) for q in honest.questions if q.score < q.max_score]
    assert honest.isolation is not None and honest.isolation.cpu in ("cgroup-v1", "cgroup-v2")


def test_busy_orphans_stay_in_their_sandbox_and_end_with_it(graded):
    _, seen = graded
    assert len(seen) >= 100, "the hostile notebook's busy processes were never seen"
    assert all("/dnn-grader-" in cgroup for cgroup in seen.values()), set(seen.values())
    assert _burners(zombies=True) == {}
