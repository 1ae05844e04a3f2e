"""Hostile submissions through the whole sandboxed pipeline: nothing gets through.

Every case in tests/submissions/hostile.py is held to one rule: it gains nothing. Its per-question
scores equal those of its twin (the same notebook without the hostile cells, or the honest
function named in TWINS), and `lost` names exactly the questions below full marks. The tests after
the parametrized one check what each case is about (what a cell could read, where the grader's
feedback comes from, what is left on the host).

Limits are small so that each case is quick (a hang costs its limit + the watchdog's 5 s grace).
Every grade runs under a deadline: a defence that fails by hanging the grader fails the test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import nbformat
import numpy as np
import pytest

from autograder import batch
from autograder.grading import collect
from autograder.grading.grade import grade_notebook, prepare_assignment
from autograder.judging import models
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO, grade_class, make_variant
from tests.e2e import processes
from tests.submissions import hostile
from tests.submissions.variants import A03, A04, A05, Variant

T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
SEED = 7
GENERIC = hostile.HOSTILE_CASES + [hostile.DISK, hostile.HOLDS_UNNAMED_FILES] + hostile.MODELS


def limits_for(config, variant: Variant):
    small = dataclasses.replace(config, cell_seconds=5, call_seconds=5, notebook_seconds=60, memory_mb=1024)
    if variant.assignment == A03:  # importing TensorFlow alone takes seconds
        return dataclasses.replace(small, cell_seconds=60, call_seconds=30, notebook_seconds=300)
    if variant.name in ("swallows_interrupts", "blocks_the_watchdog"):
        return dataclasses.replace(small, cell_seconds=1, call_seconds=1)
    if variant.name in ("fills_the_disk", "holds_unnamed_files"):
        return dataclasses.replace(small, file_size_mb=64)  # disk quota: twice that
    if variant.name == "rewrites_results_after_the_probe":
        # its two pollers' CPU time counts in every call's span (the sandbox's own tasks): on a
        # loaded machine a starved call of 5 s met that limit, a cost the test is not about
        return dataclasses.replace(small, call_seconds=30, notebook_seconds=300)
    return small


def grade_within(path: Path, config, deadline: float = 240.0, **kwargs):
    """grade_notebook(), or a failed test if it does not return in time (a hung watchdog, a blocked read)."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = grade_notebook(path, config, seed=SEED, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    assert not thread.is_alive(), f"grading {path.name} did not finish within {deadline:.0f} s"
    if "error" in box:
        raise box["error"]
    return box["result"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


# The corpus known in advance: graded together at the first `graded()` call (below).
BATCHED = (
    GENERIC
    + hostile.LIMITS
    + hostile.HUGE_OUTPUTS
    + [hostile.REWRITES_THE_WRITERS_MEMFD, Variant("warm_the_cache", A05)]
)
# Graded alone, not in the class: its background process polls without end and spends its own
# sandbox's CPU time while one of its calls waits for a core, so beside a neighbour, on a loaded
# machine, it can lose more than it attacks with (its own doing: test_hostile_batch.py holds it to
# "at least"); alone it is held to exactly what it attacks with.
ALONE = {"rewrites_results_after_the_probe"}


def _key(config, variant: Variant) -> tuple:
    """What decides a grade: the notebook's content and its limits (not the variant's name, so a
    twin shared by many cases, the plain 05 solution mostly, is graded once)."""
    small = limits_for(config, variant)
    return (
        variant.assignment,
        tuple(sorted(variant.replace.items())),
        variant.insert_first,
        variant.append,
        variant.drop_train,
        (small.cell_seconds, small.call_seconds, small.notebook_seconds, small.memory_mb, small.file_size_mb),
    )


@pytest.fixture(scope="module")
def graded(config, workdir):
    """Grade a variant once per module (several tests look at the same result).

    The first call grades the whole known corpus (`BATCHED` and every twin) as an instructor grades
    a class: `batch.run_batch` on 2 threads, so two hostile notebooks always run at once, each under
    its own limits and deadline. That also tests isolation between students: a case that reached
    its neighbour (its processes, memory, disk, result files) changes the neighbour's grade, and the
    exact-score rule of every case catches it. Variants a test builds at run time (its own paths,
    ports) and those in `ALONE` are graded alone, when asked for."""
    cache: dict = {}
    failed: dict = {}

    def grade_alone(variant: Variant):
        folder = workdir / f"alone{len(cache)}"
        folder.mkdir()
        return grade_within(make_variant(variant, folder), limits_for(config, variant))

    def grade_corpus() -> None:
        wanted: dict = {}
        for variant in BATCHED + [t for v in BATCHED if (t := twin_of(v)) is not None]:
            if variant.name not in ALONE:
                wanted.setdefault(_key(config, variant), variant)
        # 03's (TensorFlow, training) first: the long ones start early, the short ones fill in
        variants = sorted(wanted.values(), key=lambda v: v.assignment != A03)
        # the references under the course's own limits first, as a batch prepares them: the limits
        # below are the hostile notebooks', and 03's solution needs more than 1 GB to train
        for assignment in sorted({v.assignment for v in variants}):
            prepare_assignment(assignment, config, seed=SEED, use_sandbox=True)
        outcomes = grade_class(variants, workdir / "class", SEED, lambda v: limits_for(config, v), grade=grade_within)
        for variant, outcome in zip(variants, outcomes, strict=True):
            (failed if isinstance(outcome, str) else cache)[_key(config, variant)] = outcome

    def get(variant: Variant):
        if not cache and not failed:
            grade_corpus()
        key = _key(config, variant)
        if key in failed:
            pytest.fail(f"grading {variant.name} in the batch failed: {failed[key]}")
        if key not in cache:
            cache[key] = grade_alone(variant)
        return cache[key]

    return get


def twin_of(variant: Variant) -> Variant | None:
    """The honest notebook beneath; None when the variant has no hostile cells (it is its own twin)
    or none is meaningful (TWINS says None)."""
    if variant.name in hostile.TWINS:
        return hostile.TWINS[variant.name]
    if not variant.insert_first and not variant.append:
        return None
    return dataclasses.replace(variant, name=f"{variant.name}_twin", insert_first=(), append=(), lost=frozenset())


def scores(result) -> dict[str, float]:
    return {q.id: q.score for q in result.questions}


def lost(result) -> set[str]:
    return {q.id for q in result.questions if q.score < q.max_score}


def report(result, cell: int | None = None) -> dict:
    """What a cell found out, sent back as its error value (see hostile.REPORT)."""
    for error in result.execution.cell_errors:
        if error.evalue.startswith("REPORT ") and (cell is None or error.cell == cell):
            return json.loads(error.evalue[len("REPORT ") :])
    raise AssertionError(f"no report among {result.execution.cell_errors}")


# --- the rule --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", GENERIC, ids=lambda v: v.name)
def test_hostile_gains_nothing(variant, graded):
    result = graded(variant)
    assert result.sandboxed and result.error is None
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]
    twin = twin_of(variant)
    if twin is not None:
        assert scores(result) == scores(graded(twin)), "the hostile cells changed the grade"


@pytest.mark.parametrize("variant", hostile.LIMITS, ids=lambda v: v.name)
@pytest.mark.xfail(
    strict=True,
    reason="known limit (README, security): code running in the probe's interpreter "
    "can reach its frames or objects and forge what it observes (here: unmodified inputs)",
)
def test_known_limit_in_process_tampering(variant, graded):
    result = graded(variant)
    assert scores(result) == scores(graded(twin_of(variant)))


# --- what the cases are about ----------------------------------------------------------------------


def by_id(result, qid):
    return next(q for q in result.questions if q.id == qid)


def test_patched_numpy_is_not_the_probes_numpy(graded):
    """The Claim would be 3.5 (the public answer) to the notebook's np.asarray; the probe converts it
    with its own, finds an object, and says so."""
    result = graded(next(v for v in hostile.PATCHES if v.name == "patches_numpy_testing_and_asarray"))
    assert "dtype object" in by_id(result, "l1_penalty").feedback[0]


def test_lying_objects_are_graded_on_what_numpy_makes_of_them(graded):
    result = graded(next(v for v in hostile.LIES if v.name == "returns_lying_objects"))
    assert by_id(result, "l2_penalty").status == "passed"  # __array__ told the truth
    assert "dtype object" in by_id(result, "dropout_test_weights").feedback[0]
    assert "more than 20000000" in by_id(result, "inverted_dropout").feedback[0]
    assert "wrong shape" in by_id(result, "elastic_net_penalty").feedback[0]
    assert result.execution.passes == 1 and not result.execution.killed


def test_huge_and_unprintable_answers_cost_only_their_question(graded):
    huge = graded(next(v for v in hostile.LIES if v.name == "returns_huge_arrays"))
    assert "MB of arrays for this question" in by_id(huge, "l1_penalty").feedback[0]
    text = graded(next(v for v in hostile.LIES if v.name == "raises_and_returns_hostile_text"))
    # every case raised it: one line for the cause, with the public case's own words
    assert "public case (a small vector): raised Unprintable" in by_id(text, "l1_penalty").feedback[0]
    assert "raised Nameless" in by_id(text, "elastic_net_penalty").feedback[0]  # the real class name
    assert by_id(text, "dropout_test_weights").cases_passed == 2  # only the public case hung in __str__
    for result in (huge, text):
        assert result.execution.passes == 1


def test_functions_that_detect_grading_are_graded_on_what_they_return(graded):
    result = graded(hostile.DETECTS[0])
    assert by_id(result, "l2_penalty").status == "passed"  # right only when graded: right is what counts
    assert "got:      0." in by_id(result, "l1_penalty").feedback[0]


def test_reading_outside_the_submission_finds_nothing(config, graded, tmp_path):
    results = tmp_path / "grades" / "results" / "alice" / "05_regularisation.json"
    results.parent.mkdir(parents=True)
    results.write_text('{"score": 12}')
    other = tmp_path / "submissions" / "bob_05_regularisation.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    graded(Variant("warm_the_cache", A05))  # the reference cache exists while the case runs
    result = graded(hostile.reads_outside(str(REPO), str(config.cache_dir), str(results), str(other)))
    found = report(result)
    for what in (
        "solutions",
        "grader source",
        "reference cache",
        "results folder",
        "other student",
        "etc shadow",
        "etc passwd",
        "root ssh",
        "pid 1 environment",
    ):
        assert found[what] in ("FileNotFoundError", "PermissionError"), (what, found[what])
    assert found["other jobs"] == []
    assert found["default cache"] == "FileNotFoundError"
    assert found["root"] == [".pyenv"] and found["root pyenv"] == ["versions"]  # only the interpreter
    assert found["real test split (Debian)"] == []  # masked: only the stand-in under /job/data
    assert found["grader package"] == "ModuleNotFoundError"
    assert found["sandbox package"] == ["__init__.py", "data.py"]
    assert len(found["processes"]) <= 3  # bwrap's init, the runner, and nothing of the host
    assert lost(result) == set()


def test_writing_outside_the_sandbox_fails(graded):
    result = graded(next(v for v in hostile.WRITES if v.name == "writes_outside"))
    found = report(result)
    assert set(found.values()) <= {"PermissionError", "OSError", "FileNotFoundError"}, found  # EROFS is an OSError
    assert not Path("/usr/lib/dnn-grader-was-here").exists() and not Path("/etc/dnn-grader-was-here").exists()
    assert lost(result) == set()


def test_forged_results_and_progress_do_not_count(graded):
    forged = graded(next(v for v in hostile.WRITES if v.name == "forges_results_then_exits"))
    assert forged.execution.passes == 2 and forged.execution.skipped[0].startswith("cell:")
    progress = graded(next(v for v in hostile.WRITES if v.name == "forges_progress_then_exits"))
    assert progress.execution.passes == 2 and progress.execution.skipped == ("cell:1",)
    assert lost(progress) == set()


@pytest.mark.parametrize("name", ["forges_the_run_from_the_runners_memory", "forges_the_runs_end_on_the_events_pipe"])
def test_a_forged_end_of_the_run_costs_the_forging_cell(graded, name):
    """Outputs count only from a run the supervisor saw finish; the cell that
    claimed its own end and exited is blamed and skipped, and the honest code beneath is graded."""
    result = graded(next(v for v in hostile.WRITES if v.name == name))
    forger = max(e.cell for e in result.execution.cell_errors)
    assert result.execution.passes == 2 and result.execution.skipped == (f"cell:{forger}",)
    assert {e.cell: e.status for e in result.execution.cell_errors}[forger] == "killed"


def test_no_cell_can_read_the_probes_inputs(graded):
    """The inputs file is the grader's (mode 0600, the supervisor hands it over after the last
    cell): a cell that opens it gets PermissionError, and the notebook is graded as usual."""
    result = graded(hostile.READS_THE_INPUTS)
    assert report(result) == {"/job/in/inputs.npz": "PermissionError", "../in/inputs.npz": "PermissionError"}
    assert lost(result) == set()


def test_the_end_of_the_run_waits_on_no_notebook_code(graded):
    result = graded(next(v for v in hostile.WRITES if v.name == "blocks_the_final_fork"))
    assert result.execution.passes == 1 and not result.execution.killed


def test_the_supervisor_keeps_its_secrets(graded):
    """No key in the notebook's interpreter; the supervisor runs as another
    uid, so it can be neither stopped, traced nor read."""
    found = report(graded(next(v for v in hostile.WRITES if v.name == "looks_for_the_supervisors_secrets")))
    assert found["key in memory"] == []
    assert found["stop"] == found["socket"] == found["memory"] == found["environ"] == "PermissionError", found
    assert found["ptrace"] != 0 and found["uid"][0] != found["uid"][1] == 0, found
    assert set(found["caps"]) == {"0000000000000000"} and found["no_new_privs"] == ["1"], found  # Eff, Bnd, ...


def test_planted_symlinks_are_not_followed(config, graded, tmp_path):
    """The symlinks point at the grader's own reference outputs for this assignment: following
    them would give a wrong l1_penalty full marks."""
    graded(Variant("warm_the_cache", A05))
    reference = next(p for p in (config.cache_dir / "reference").glob("05_regularisation-*") if p.is_dir())
    copy = tmp_path / "reference-outputs"
    shutil.copytree(reference, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    result = graded(hostile.plants_symlinks(str(copy)))
    assert lost(result) == {"l1_penalty"}
    assert by_id(result, "l1_penalty").cases_passed == 1  # the "all zeros" case: 0.0 is right there
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_the_watchdog_survives_a_fifo_in_place_of_the_progress_file(graded):
    result = graded(next(v for v in hostile.WRITES if v.name == "blocks_the_watchdog"))
    assert result.execution.killed and result.execution.skipped == ("cell:1",)
    assert result.execution.cell_errors[0].status == "timeout"


def test_filling_the_disk_costs_the_cell(graded):
    result = graded(hostile.DISK)
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert errors[1].evalue == "[Errno 27] File too large"  # RLIMIT_FSIZE (Python ignores SIGXFSZ)
    assert errors[2].status == "killed" and errors[2].ename == "DiskQuotaExceeded"
    assert result.execution.skipped == ("cell:2",)


def test_files_with_no_name_count_against_the_disk_quota(graded):
    """480 MB in files with no name (O_TMPFILE), held open: found through the descriptors (held.py)."""
    result = graded(hostile.HOLDS_UNNAMED_FILES)
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert errors[1].status == "killed" and errors[1].ename == "DiskQuotaExceeded", errors
    assert result.execution.skipped == ("cell:1",)


def test_outputs_rewritten_in_the_writers_memory_are_refused(graded):
    """A thread rewrites probe.json in the memfd handed to the writer, before the runner is
    stopped: the writer's digest check refuses it, so the attack costs at least what its honest
    twin loses (the pass ends without outputs, as if the notebook had ended itself)."""
    variant = hostile.REWRITES_THE_WRITERS_MEMFD
    result, twin = graded(variant), graded(twin_of(variant))
    assert lost(result) >= set(variant.lost) == lost(twin)
    assert all(score <= scores(twin)[q] for q, score in scores(result).items())


def test_exits_and_kills_cost_their_cells(graded):
    result = graded(next(v for v in hostile.ESCAPES if v.name == "exits_and_kills"))
    names = {e.cell: e.ename for e in result.execution.cell_errors}
    assert [names[c] for c in (1, 2, 3, 5)] == ["SystemExit", "SystemExit", "PermissionError", "PermissionError"]
    # kill(-1) reaches no process that matters: the supervisor and the sandbox's init are other uids
    assert names.get(4) in (None, "PermissionError", "ProcessLookupError")
    assert result.execution.passes == 1  # nothing could kill the runner, the supervisor or the sandbox's init
    assert "raised SystemExit" in by_id(result, "l2_penalty").feedback[0]


def test_hangs_that_swallow_every_interrupt_cost_their_cell_or_question(graded):
    result = graded(next(v for v in hostile.ESCAPES if v.name == "swallows_interrupts"))
    assert result.execution.killed and result.execution.passes == 3
    assert result.execution.skipped[0] == "cell:1"
    l1 = by_id(result, "l1_penalty")
    assert l1.status == "timeout" and "stopped from outside" in l1.feedback[0]
    assert "another case of this function hung" in l1.feedback[1]  # its other cases were not retried


def test_memory_limits(graded):
    result = graded(next(v for v in hostile.ESCAPES if v.name == "allocates_30_gb"))
    assert result.execution.memory_exceeded
    assert [e.ename for e in result.execution.cell_errors][:2] == ["MemoryError", "MemoryError"]


def submissions(tmp_path: Path, variants: list[Variant], assignment: str) -> list[batch.Submission]:
    """A class of these notebooks, `student0`, `student1`, ... in that order, each in a folder of its own."""
    subs = []
    for k, variant in enumerate(variants):
        folder = tmp_path / f"s{k}"
        folder.mkdir()
        subs.append(batch.Submission(make_variant(variant, folder), f"student{k}", assignment))
    return subs


def run_batch_sampled(
    subs: list[batch.Submission], out: Path, config, workers: int, sample: Callable[[], T], every: float
) -> tuple[list, list, list[T]]:
    """`batch.run_batch` on `workers` threads, each submission graded under `config`, with `sample()`
    taken every `every` s while it runs: the results, the failures and the samples."""
    with processes.sampled(sample, every) as samples:
        results, failures = batch.run_batch(
            subs,
            out,
            SEED,
            batch.Threads(
                lambda sub, seed: grade_notebook(
                    sub.path, config, assignment_id=sub.assignment, seed=seed, student=sub.student
                ),
                workers,
            ),
        )
    return results, failures, samples


def test_memory_limits_hold_for_every_worker_at_once(config, tmp_path):
    """Two workers, each grading a notebook whose forked children really touch 4 x 600 MB (each
    child under RLIMIT_DATA, together over the cgroup's limit). Sampled while they run: both
    sandboxes alive at once, and what runs below the grader never holds more memory than the two
    limits together (+ 256 MB for the launchers outside the sandboxes' cgroups). Without the cgroup
    it would be ~4.8 GB. Counted below this process, not from the host's free memory: the machine
    also holds the other test process's sandboxes."""
    memory_mb, workers = 768, 2
    small = dataclasses.replace(config, memory_mb=memory_mb, cell_seconds=20, call_seconds=5, notebook_seconds=60)
    subs = submissions(tmp_path, [hostile.touches_2_4_gb_in_children(hold_seconds=2)] * 4, A05)
    prepare_assignment(A05, small, seed=SEED)  # the reference is computed before sampling starts
    results, failures, samples = run_batch_sampled(
        subs,
        tmp_path / "out",
        small,
        workers,
        lambda: (processes.memory_below(), len(processes.runners())),
        every=0.05,
    )
    assert failures == [] and len(results) == 4
    assert max(running for _, running in samples) >= workers
    peak = max(held for held, _ in samples)
    assert peak > memory_mb * 2**20, f"the children never touched their memory: {peak / 2**20:.0f} MB at most"
    assert peak < (workers * memory_mb + 256) * 2**20, f"the sandboxes held {peak / 2**20:.0f} MB"
    for result in results:
        assert result.execution.memory_exceeded and result.score == result.max_score  # only the cell is lost


def test_network_is_unreachable(graded):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    abstract = f"dnn-grader-test-{uuid.uuid4().hex[:8]}"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + abstract)
    unix.listen()
    try:
        result = graded(hostile.network(server.getsockname()[1], abstract))
    finally:
        server.close()
        unix.close()
    found = report(result)
    assert found["host loopback"] == "ConnectionRefusedError"  # its own loopback, not the host's
    assert found["host abstract socket"] == "ConnectionRefusedError"  # abstract sockets are per network namespace
    assert found["dns"] == "gaierror" and found["internet"] == "URLError"
    assert found["interfaces"] == ["lo"]
    assert lost(result) == set()


def test_model_code_never_runs_on_the_grader(graded):
    result = graded(next(v for v in hostile.MODELS if v.name == "model_carries_code"))
    assert "'Lambda' is not supported" in by_id(result, "model_A").feedback[0]
    assert "test accuracy 0.5000" in by_id(result, "model_B").feedback[0]  # its zero weights, not its call()
    assert "statistics do not fit its input" in by_id(result, "model_B_on_A").feedback[0]
    assert not (Path(tempfile.gettempdir()) / hostile.MARKER_NAME).exists()
    assert not (Path.cwd() / hostile.MARKER_NAME).exists()


def test_training_on_the_test_split_in_the_sandbox_does_not_reach_the_real_one(config, graded):
    result = graded(next(v for v in hostile.MODELS if v.name == "trained_on_the_test_split"))
    assert report(result)["sandbox_test_accuracy"] == 1.0  # it remembers the sandbox's test images...
    model_a = by_id(result, "model_A").cases[0]
    accuracy = float(model_a.message.split("test accuracy ")[1].split()[0])
    assert accuracy < 0.95, model_a.message  # ...which are not the real test images
    # the stand-in the sandbox saw is not the real test split (those files never enter the sandbox)
    from autograder import data

    stand_in = config.cache_dir / "fashion-mnist-sandbox"
    for name in (data.FILES["x_test"], data.FILES["y_test"]):
        real = next(d for _, d in data.candidate_dirs() if (d / name).is_file()) / name
        assert hashlib.sha256((stand_in / name).read_bytes()).digest() != hashlib.sha256(real.read_bytes()).digest()


def test_metadata_claiming_another_assignment_or_student(config, tmp_path):
    from autograder.batch import discover

    nb = nbformat.read(REPO / "solutions" / f"{A04}.ipynb", as_version=4)
    nb.metadata["autograder"] = {"assignment": A05, "student": "alice"}
    folder = tmp_path / "class"
    folder.mkdir()
    nbformat.write(nb, folder / f"bob_{A04}.ipynb")
    found = discover([folder], tmp_path / "work")
    (sub,) = found.submissions
    assert (sub.student, sub.assignment) == ("bob", A04)  # a class is placed by file name, never by metadata
    small = limits_for(config, Variant("x", A04))
    result = grade_within(sub.path, small, assignment_id=sub.assignment, student=sub.student)
    assert (result.assignment, result.student, result.score) == (A04, "bob", result.max_score)
    # a single notebook without --assignment: the stamped id is used (README), visibly, and gains nothing
    single = grade_within(folder / f"bob_{A04}.ipynb", small)
    assert (single.assignment, single.student, single.score) == (A05, f"bob_{A04}", 0.0)


# --- grader side: outputs forged by code inside the probe's interpreter ------------------------------
# The sandboxed runner no longer lets a file forgery through (tests above), but code running in the
# probe's interpreter can still write anything (see the xfail above): the trusted side must take it.


def _folder(tmp_path: Path, results: dict, arrays: dict[str, np.ndarray]) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "probe.json").write_text(json.dumps({"complete": True, "results": results}))
    np.savez(folder / "arrays.npz", **arrays)
    return folder


def test_forged_outputs_cannot_crash_the_compare_step(config, tmp_path):
    from autograder.grading.compare import compare
    from autograder.grading.prepare import make_plan
    from autograder.grading.reference import reference_outputs
    from autograder.questions import get_assignment

    for aid in (A04, A05):
        plan = make_plan(get_assignment(aid), SEED)
        calls = plan.calls()
        forged = {
            c["id"]: {
                "ok": True,
                "value": {"theta": {"$array": "z"}, "m": {"$array": "z"}, "s": {"$array": "z"}}
                if c["type"] == "trajectory"
                else {"$tuple": 5},
            }
            for c in calls
        }
        (tmp_path / aid).mkdir()
        folder = _folder(tmp_path / aid, forged, {"z": np.array(1.0)})
        outputs = collect.read_outputs(folder, [c["id"] for c in calls], {c["id"]: c["type"] for c in calls})
        assert all(o.value.type == "BadOutput" for o in outputs.values())
        questions = compare(
            plan, outputs, reference_outputs(plan, limits_for(config, Variant("x", aid)), use_sandbox=True)
        )
        assert sum(q.score for q in questions) == 0


def test_forged_archives_cannot_make_the_grader_allocate(tmp_path):
    import zipfile

    bomb, header = tmp_path / "bomb.npz", tmp_path / "header.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # 1 GB of zeros in ~1 MB
        with zf.open("z.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (2**27,)})
            for _ in range(64):
                fh.write(bytes(2**24))
    with zipfile.ZipFile(header, "w") as zf:  # a header that claims 64 GB
        with zf.open("z.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (2**33,)})
    for path in (bomb, header):
        assert collect._load_npz(path) is None


def test_forged_models_cannot_make_the_grader_allocate():
    x = np.zeros((50, 28, 28))
    flatten = {"class": "Flatten", "config": {}, "weights": []}
    broadcast = {"class": "BatchNormalization", "config": {}, "weights": [np.ones((500, 1, 784))] * 4}
    with pytest.raises(models.UnsupportedModel, match="statistics do not fit"):
        models.forward({"layers": [flatten, broadcast]}, x)
    huge = {
        "class": "Dense",
        "config": {"activation": "linear"},
        "weights": [np.zeros((784, 30_000), np.float32), np.zeros(30_000, np.float32)],
    }
    with pytest.raises(models.UnsupportedModel, match="weights"):
        models.forward({"layers": [flatten, huge]}, x)


# --- hostile text and hostile sizes ---------------------------------------------------------------
# The corpus cases (hostile.HUGE_OUTPUTS) under the same rule as the others, then what each is
# about: where the bound's message reaches the student, and that `autograder grade` of one notebook
# and of a two-worker batch finish their reports whatever text a notebook raises.


@pytest.mark.parametrize("variant", hostile.HUGE_OUTPUTS, ids=lambda v: v.name)
def test_hostile_text_and_sizes_gain_nothing(variant, graded):
    result = graded(variant)
    assert result.sandboxed and result.error is None
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]
    assert scores(result) == scores(graded(twin_of(variant))), "the hostile cells changed the grade"


def test_huge_lists_cost_their_question_with_the_bounds_message(graded):
    result = graded(next(v for v in hostile.HUGE_OUTPUTS if v.name == "returns_20_million_zeros"))
    as_data, as_json = by_id(result, "l1_penalty"), by_id(result, "l2_penalty")
    assert as_data.score == 0 and "MB of arrays for this question" in as_data.feedback[0]  # the probe's bound
    assert as_json.score == 0 and "the answer is too large for the grader" in as_json.feedback[0]  # collect's
    assert "up to 20,000,00" in as_json.feedback[0] and result.execution.passes == 1  # counted, not parsed


def test_a_model_of_thousands_of_layers_is_refused_by_its_bound(graded):
    result = graded(next(v for v in hostile.HUGE_OUTPUTS if v.name == "trains_a_model_of_3000_layers"))
    model_a = by_id(result, "model_A")
    assert model_a.score == 0
    assert "the model has 3,002 layers; the grader evaluates models of at most 64 layers" in model_a.feedback[0]


def _cli(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    """`autograder grade` as an instructor runs it: its own process, stdout a pipe (UTF-8, strict)."""

    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "autograder", "grade", *args, "--seed", str(SEED)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="strict",
        timeout=600,
    )


def test_lone_surrogates_cost_nothing_on_the_command_line(tmp_path, cli_cache_home):
    notebook = make_variant(hostile.SURROGATES, tmp_path)
    run = _cli([str(notebook), "--out", str(tmp_path / "out")], cli_cache_home)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert run.stdout.startswith(f"{notebook.name}: 11 / 12")  # the summary, to its last line:
    assert run.stdout.endswith(
        "failed to run: the cell that starts `print(l1_penalty([3.0, -4.0]), l2_penalty([3.0, -4.0]), ela…`: "
        "ValueError: \ufffd cleared your screen\n"
    )
    # a cell is named by its first line, cleaned like any student text
    assert 'failed to run: the cell that starts `raise ValueError("\\ud800")`: ValueError: \ufffd' in run.stdout
    saved = json.loads((tmp_path / "out" / f"{notebook.stem}.json").read_text(encoding="utf-8"))
    assert "\ufffd cleared your screen" in by_id_dict(saved, "l1_penalty")["feedback"][0]  # escapes dropped


def by_id_dict(saved: dict, qid: str) -> dict:
    return next(q for q in saved["questions"] if q["id"] == qid)


def test_lone_surrogates_in_a_two_worker_batch_cost_nothing(tmp_path, cli_cache_home):
    """Before: the first student's feedback raised UnicodeEncodeError, left a .md.tmp, and no later
    feedback and no summary was written."""
    folder = tmp_path / "class"
    folder.mkdir()
    for student, variant in (
        ("aaron", hostile.SURROGATES),
        ("bea", Variant("honest", A05)),
        ("carl", Variant("honest", A05)),
    ):
        make_variant(variant, tmp_path).rename(folder / f"{student}_{A05}.ipynb")
    out = tmp_path / "grades"
    run = _cli([str(folder), "--out", str(out), "--workers", "2"], cli_cache_home)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    for student in ("aaron", "bea", "carl"):
        for suffix in (".md", ".html"):
            assert (out / "feedback" / f"{student}{suffix}").is_file(), (student, suffix)
    assert (out / "summary.html").is_file() and (out / "gradebook.csv").is_file()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    assert "\ufffd" in (out / "feedback" / "aaron.md").read_text(encoding="utf-8")


# --- shared budgets: one notebook must not starve the ones graded beside it -----------------------


def test_printing_without_end_is_stopped_by_the_disk_quota(config, tmp_path):
    """What a cell prints lands in the grader's log file: it counts in the disk quota (16 MB here),
    so the cell is killed as DiskQuotaExceeded long before the 64 MB file-size limit stops it."""
    small = dataclasses.replace(limits_for(config, hostile.PRINTS_WITHOUT_END), file_size_mb=64, disk_mb=16)
    result = grade_within(make_variant(hostile.PRINTS_WITHOUT_END, tmp_path), small)
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert errors[1].status == "killed" and errors[1].ename == "DiskQuotaExceeded", errors
    assert result.execution.skipped == ("cell:1",) and lost(result) == set()
