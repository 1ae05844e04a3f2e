"""The hostile corpus graded in a 2-worker batch beside honest submissions.

One submission at a time, a hostile notebook only has itself to harm. In a batch it runs beside
others, in threads of one grader process, at the same moment: processes, threads, memory, disk,
hangs or forged outputs of one must not change another's grade (one attack was seen only
this way). Each hostile submission must still gain nothing (the same rule as test_hostile.py), and
every honest submission must keep full marks, on a machine that is busy besides (a CPU burner on
every core, outside any sandbox: time limits count each sandbox's own time, docs/limits.md).
Among them a notebook that holds as many threads as its limits allow while the others run
(RLIMIT_NPROC counts per uid: had they shared one, its threads would have left them none).
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from autograder import batch
from autograder.grading.grade import grade_notebook
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO, make_variant
from tests.e2e import processes
from tests.e2e.load import cpu_burner
from tests.e2e.test_hostile import report
from tests.submissions import hostile

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
SEED = 5
# What can reach a neighbour: processes and threads, memory, disk, hangs, the end of the run.
HOSTILE = [
    "fork_bomb",
    "allocates_30_gb",
    "swallows_interrupts",
    "exits_and_kills",
    "forges_the_runs_end_on_the_events_pipe",
    "blocks_the_final_fork",
    "rewrites_results_after_the_probe",
]
HONEST = ["01_activations_and_initialisation", "04_optimizers", "05_regularisation"]


@pytest.fixture(scope="module")
def graded_batch(config, tmp_path_factory):
    klass = tmp_path_factory.mktemp("class")
    variants = {v.name: v for v in hostile.HOSTILE_CASES}
    chosen = [variants[name] for name in HOSTILE] + [hostile.HOLDS_THREADS]
    for variant in chosen:
        path = make_variant(variant, tmp_path_factory.mktemp(variant.name))
        shutil.copy(path, klass / f"{variant.name.replace('_', '-')}_{variant.assignment}.ipynb")
    for k, assignment in enumerate(HONEST * 2):  # honest notebooks before, between and after
        shutil.copy(REPO / "solutions" / f"{assignment}.ipynb", klass / f"honest{k}_{assignment}.ipynb")
    limits = dataclasses.replace(config, memory_mb=1536)  # time limits: derived from each reference run
    found = batch.discover([klass], tmp_path_factory.mktemp("work"))
    assert not found.unplaced and len(found.submissions) == len(chosen) + 2 * len(HONEST)
    out = tmp_path_factory.mktemp("out")
    threads_of_each_sandbox = processes.sampled(lambda: [r.threads for r in processes.runners()], every=0.2)
    with threads_of_each_sandbox as samples, cpu_burner():
        results, failures = batch.run_batch(
            found.submissions,
            out,
            SEED,
            batch.Threads(
                lambda sub, seed: grade_notebook(
                    sub.path, limits, assignment_id=sub.assignment, seed=seed, student=sub.student
                ),
                workers=2,
            ),
        )
    assert failures == []
    return {r.student: r for r in results}, {v.name.replace("_", "-"): v for v in chosen}, samples


def test_honest_neighbours_keep_full_marks(graded_batch):
    results, _, _ = graded_batch
    honest = {s: r for s, r in results.items() if s.startswith("honest")}
    assert len(honest) == 2 * len(HONEST)
    assert {s: r.score for s, r in honest.items()} == {s: r.max_score for s, r in honest.items()}, {
        s: [(q.id, q.feedback[:1]) for q in r.questions if q.score < q.max_score] for s, r in honest.items()
    }


def test_hostile_submissions_gain_nothing_in_a_batch(graded_batch):
    results, variants, _ = graded_batch
    for student, variant in variants.items():
        lost = {q.id for q in results[student].questions if q.score < q.max_score}
        # At least what it attacks with; more is its own doing, not a gain: a background process of
        # its own that polls without end spends the sandbox's CPU time while one of its calls waits
        # (docs/limits.md), which on a machine this loaded can cost it that call too.
        assert lost >= set(variant.lost), (student, [(q.id, q.feedback[:1]) for q in results[student].questions])


def test_a_notebook_holding_its_threads_ran_beside_the_others(graded_batch):
    """The thread holder held over 200 threads while another sandbox ran (sampled), and everyone
    kept full marks (the tests above): its threads counted against its own uid only."""
    results, _, samples = graded_batch
    held = report(results[hostile.HOLDS_THREADS.name.replace("_", "-")])["threads"]
    assert held > 200, held
    assert any(len(s) >= 2 and max(s) > 200 for s in samples), "the batch never ran beside the held threads"
