"""The hostile corpus at the weaker isolation levels: what still holds without cgroups, and (below)
without namespaces. Each test also checks the result's `isolation` record says which level ran."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder import data
from autograder.grading import jobfolder
from autograder.sandbox import bubblewrap_available, nonamespace, uids
from tests.conftest import REPO, make_variant
from tests.e2e.test_hostile import grade_within, limits_for, lost, report, scores, twin_of
from tests.submissions import hostile
from tests.submissions.variants import Variant

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]

TOUCHES_2_4_GB = hostile.touches_2_4_gb_in_children(hold_seconds=3)
ALLOCATES_30_GB = next(v for v in hostile.ESCAPES if v.name == "allocates_30_gb")
BOMBS = [ALLOCATES_30_GB, TOUCHES_2_4_GB, hostile.HOLDS_MEMFDS]


@pytest.mark.parametrize("variant", BOMBS, ids=lambda v: v.name)
def test_memory_bombs_are_stopped_without_cgroups(config, tmp_path, variant):
    """`cgroups = false` in the config: no cgroup is made; the watchdog's memory guard (summed
    memory of the sandbox's processes) stops what RLIMIT_DATA per process lets through."""
    # limits_for's 1024 MB: each child stays under RLIMIT_DATA, all four together are over; at 768 MB
    # the 700 MB that allocates_30_gb's second cell keeps alive sat at the limit, and passes varied
    no_cgroups = dataclasses.replace(limits_for(config, variant), cgroups=False)
    result = grade_within(make_variant(variant, tmp_path), no_cgroups)
    assert result.isolation is not None and (result.isolation.memory, result.isolation.pids) == ("guard", "rlimit")
    assert result.execution.memory_exceeded
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]
    if variant is not ALLOCATES_30_GB:  # its MemoryErrors are its own; the others are killed by the guard
        [error] = [e for e in result.execution.cell_errors if e.status == "killed"]
        assert error.ename == "MemoryExceeded", error  # the guard's kill, named in the feedback


# --- the no-namespace level (Gradescope, Docker's default seccomp) ---------------------------------

FAILING_BWRAP = """#!/bin/sh
# A stand-in for bubblewrap under Docker's default seccomp profile (and Gradescope's containers).
echo "bwrap: Creating new namespace failed: Operation not permitted" >&2
exit 1
"""


def at_host_paths(variant: Variant) -> Variant:
    """The same attack where the job is not at /job: its folder is found from $HOME (<job>/work),
    as a notebook at the no-namespace level would find it."""

    def moved(cell: str) -> str:
        return "import os\n" + cell.replace('"/job/', 'os.environ["HOME"][:-5] + "/').replace(
            '"/job"', 'os.environ["HOME"][:-5]'
        )

    return dataclasses.replace(
        variant, insert_first=tuple(map(moved, variant.insert_first)), append=tuple(map(moved, variant.append))
    )


@contextlib.contextmanager
def host_modes() -> Iterator[None]:
    """The modes of this machine the no-namespace level changes, restored after: what it closes
    (`nonamespace.protect`: the solutions, the grader's package, the real test split) and /root,
    which the tests open for traversal. One test process at a time, machine-wide (the suite runs
    on 2 processes, other checkouts share the machine): else one's restore would reopen what
    another's run has just closed, and its snapshot could keep closed for good what the other
    closed."""
    with open(Path(tempfile.gettempdir()) / "dnn-grader-tests-host-modes.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        touched = [Path("/root"), REPO / "solutions", *jobfolder.secret_paths(), *(d for _, d in data.candidate_dirs())]
        modes = {p: p.stat().st_mode for p in touched if p.exists()}
        try:
            yield
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)


@contextlib.contextmanager
def failing_bwrap_and_open_interpreter(folder: Path) -> Iterator[Path]:
    """Bubblewrap failing as in Docker first on PATH (yields the folder holding the stand-in),
    within `host_modes()`: the interpreter lives under /root (0700), which an unprivileged uid
    cannot pass without namespaces, so /root gets o+x (traverse only; the level refuses to run
    otherwise, `require_reachable`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bwrap").write_text(FAILING_BWRAP)
    (folder / "bwrap").chmod(0o755)
    with host_modes():
        path = os.environ["PATH"]
        os.environ["PATH"] = f"{folder}:{path}"
        if Path(sys.executable).is_relative_to("/root") or Path(sys.base_prefix).is_relative_to("/root"):
            os.chmod("/root", os.stat("/root").st_mode | 0o001)
        try:
            assert not bubblewrap_available()  # the stand-in fails as bubblewrap does there
            yield folder
        finally:
            os.environ["PATH"] = path


@pytest.fixture(scope="module")
def no_namespaces(config, tmp_path_factory):
    """The config at the no-namespace level, bubblewrap failing as in Docker."""
    with failing_bwrap_and_open_interpreter(tmp_path_factory.mktemp("stand-in-bwrap")):
        yield dataclasses.replace(config, namespaces=False)


def test_the_solution_gets_full_marks_without_namespaces(no_namespaces, tmp_path):
    result = grade_within(REPO / "solutions" / "04_optimizers.ipynb", no_namespaces)
    assert result.score == result.max_score and result.sandboxed, [(q.id, q.feedback[:1]) for q in result.questions]
    iso = result.isolation
    assert (iso.namespaces, iso.network) == ("none", "no-tcp") and iso.uid in uids.pool() and iso.landlock >= 6
    assert iso.memory in ("cgroup-v1", "cgroup-v2") and any("network" in m for m in iso.shortfalls())


def test_reading_the_solutions_and_the_cache_finds_nothing_without_namespaces(no_namespaces, tmp_path):
    results = tmp_path / "grades" / "alice" / "05_regularisation.json"
    results.parent.mkdir(parents=True)
    results.write_text('{"score": 12}')
    other = tmp_path / "submissions" / "bob_05_regularisation.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    variant = at_host_paths(hostile.reads_outside(str(REPO), str(no_namespaces.cache_dir), str(results), str(other)))
    # without a pid namespace the host's process list is visible (README): too long for the report;
    # every job folder's name is visible in /tmp, so look into them instead: none but its own opens
    others = (
        'attempt("other jobs", lambda: [p for p in glob.glob("/tmp/dnn-grader-job-*/*/work/*") '
        'if not p.startswith(os.path.dirname(os.environ["HOME"]))])'
    )
    variant = dataclasses.replace(
        variant,
        insert_first=tuple(
            "\n".join(
                others if 'attempt("other jobs"' in line else line
                for line in cell.splitlines()
                if 'attempt("processes"' not in line
            )
            for cell in variant.insert_first
        ),
    )
    # a neighbour's job folder, as the no-namespace level lays it out for another sandbox's uid
    neighbour = Path(tempfile.mkdtemp(prefix="dnn-grader-job-"))
    try:
        (neighbour / "pass1" / "work").mkdir(parents=True)
        (neighbour / "pass1" / "work" / "submission.ipynb").write_text("{}")
        with uids.lease() as other:
            nonamespace.own_job_folder(neighbour, other)
            result = grade_within(make_variant(variant, tmp_path), limits_for(no_namespaces, variant))
    finally:
        shutil.rmtree(neighbour)
    found = report(result)
    for what in (
        "solutions",
        "grader source",
        "reference cache",
        "results folder",
        "other student",
        "etc shadow",
        "root ssh",
    ):
        assert found[what] in ("FileNotFoundError", "PermissionError"), (what, found[what])
    assert found["other jobs"] == []
    assert found["real test split (Debian)"] in ("PermissionError", "FileNotFoundError")
    assert found["grader package"] in ("ModuleNotFoundError", "PermissionError")
    assert lost(result) == set()


FORGERS = [
    "forges_results_then_exits",
    "rewrites_results_after_the_probe",
    "forges_progress_then_exits",
    "forges_the_run_from_the_runners_memory",
    "forges_the_runs_end_on_the_events_pipe",
    "looks_for_the_supervisors_secrets",
]


@pytest.mark.parametrize("name", FORGERS)
def test_forging_results_gains_nothing_without_namespaces(no_namespaces, tmp_path, name):
    """The corpus's cases that forge outputs, progress or the run's end, at their job's real path:
    the same per-question scores as the honest notebook beneath (`twin_of`)."""
    variant = at_host_paths(next(v for v in hostile.WRITES if v.name == name))
    limits = limits_for(no_namespaces, variant)
    for folder in ("hostile", "twin"):
        (tmp_path / folder).mkdir()
    result = grade_within(make_variant(variant, tmp_path / "hostile"), limits)
    assert result.isolation.namespaces == "none"
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]
    twin = twin_of(variant)
    if twin is not None:
        assert scores(result) == scores(grade_within(make_variant(twin, tmp_path / "twin"), limits))


ESCAPES = [
    v for v in hostile.ESCAPES if v.name in ("exits_and_kills", "fork_bomb", "swallows_interrupts", "allocates_30_gb")
]


@pytest.mark.parametrize("variant", ESCAPES, ids=lambda v: v.name)
def test_escapes_gain_nothing_without_cgroups(config, tmp_path, variant):
    """No cgroup at all: processes bounded by RLIMIT_NPROC of the sandbox's own uid, memory by the
    guard, hangs by the watchdog; each case loses only what it loses in the full sandbox."""
    result = grade_within(
        make_variant(variant, tmp_path), dataclasses.replace(limits_for(config, variant), cgroups=False)
    )
    assert result.isolation.pids == "rlimit" and result.isolation.memory == "guard"
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]


def test_files_with_no_name_count_against_the_disk_quota_without_namespaces(no_namespaces, tmp_path):
    """Landlock lets the notebook write its work folder, O_TMPFILE included: the files with no name
    are found through the descriptors as in bubblewrap (held.py)."""
    variant = hostile.HOLDS_UNNAMED_FILES
    result = grade_within(make_variant(variant, tmp_path), limits_for(no_namespaces, variant))
    assert result.isolation.namespaces == "none"
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert errors[1].status == "killed" and errors[1].ename == "DiskQuotaExceeded", errors
    assert lost(result) == set()


def test_no_cell_can_read_the_probes_inputs_without_namespaces(no_namespaces, tmp_path):
    variant = hostile.READS_THE_INPUTS
    result = grade_within(make_variant(variant, tmp_path), limits_for(no_namespaces, variant))
    assert result.isolation.namespaces == "none"
    assert report(result) == {"../in/inputs.npz": "PermissionError"}
    assert lost(result) == set()


@pytest.mark.parametrize("variant", ESCAPES, ids=lambda v: v.name)
def test_escapes_gain_nothing_without_namespaces(no_namespaces, tmp_path, variant):
    """No pid namespace: killing, fork bombs, hangs and memory at the no-namespace level."""
    result = grade_within(make_variant(variant, tmp_path), limits_for(no_namespaces, variant))
    assert result.isolation.namespaces == "none"
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]
