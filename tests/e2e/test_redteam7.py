"""Red team 7: space a sandbox holds through descriptors alone, which the polled limits do not see.

Each test grades one hostile notebook of tests/submissions/hostile.py and first checks the premise
(the cell really held the space: the host's free disk or memory dropped by about that much, with
pytest.fail if not), then asserts what the threat table promises (the run is stopped at its quota
or memory limit). The promise does not hold: strict xfails, raises=AssertionError only.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import make_variant
from tests.e2e.test_hostile import grade_within, limits_for, lost, report
from tests.e2e.test_isolation_levels import no_namespaces  # noqa: F401 - fixture
from tests.submissions import hostile
from autograder.sandbox import bubblewrap_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]


def _held(result, key: str, at_least_mb: int) -> dict:
    """The hostile cell's report (cell 2); pytest.fail (not an AssertionError) if the space was not held."""
    try:
        found = report(result, cell=2)
    except AssertionError as exc:
        pytest.fail(f"no report: {exc}; errors {result.execution.cell_errors}")
    if found.get(key, 0) < at_least_mb:
        pytest.fail(f"the premise: {key} {found} under {at_least_mb} MB")
    if lost(result):
        pytest.fail(f"questions lost: {lost(result)}")
    return found


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="the disk quota walks names: 480 MB in files with no name (O_TMPFILE, or unlinked) held open is "
    "not counted; with file_size_mb=512 and 20000 descriptors a notebook can fill the host's disk for "
    "as long as it runs, under every neighbour's out/ and the grader's results",
)
def test_unnamed_files_count_against_the_disk_quota(config, tmp_path):
    limits = dataclasses.replace(limits_for(config, hostile.HOLDS_UNNAMED_FILES), file_size_mb=64)  # quota 128 MB
    result = grade_within(make_variant(hostile.HOLDS_UNNAMED_FILES, tmp_path), limits)
    assert result.isolation is not None and result.isolation.namespaces == "bwrap"
    found = _held(result, "disk_drop_mb", 400)
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert 1 in errors and errors[1].ename == "DiskQuotaExceeded", (found, errors)


def _guard_test(config, tmp_path, variant, **level):
    # the memory guard at 1024 MB; 20 s a cell: 2.4 GB takes seconds on a loaded machine
    limits = dataclasses.replace(limits_for(config, variant), cgroups=False, cell_seconds=20, **level)
    result = grade_within(make_variant(variant, tmp_path), limits)
    assert result.isolation is not None and result.isolation.memory == "guard"
    found = _held(result, "memory_drop_mb", 2000)
    assert result.execution.memory_exceeded, (found, result.execution.cell_errors)


GUARD_REASON = (
    "the memory guard counts processes' Pss and the uid's files on the host's /dev/shm: {what} "
    "(2.4 GB under a 1024 MB guard) is RAM taken from the host and from every neighbour for as long as the run lasts"
)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=GUARD_REASON.format(what="memfds never mapped"))
def test_memfds_count_against_the_memory_guard(config, tmp_path):
    _guard_test(config, tmp_path, hostile.HOLDS_MEMFDS)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=GUARD_REASON.format(what="memfds, at the no-namespace level without a memory cgroup (Gradescope)"),
)
def test_memfds_count_against_the_memory_guard_without_namespaces(no_namespaces, tmp_path):  # noqa: F811
    variant = hostile.HOLDS_MEMFDS
    limits = dataclasses.replace(limits_for(no_namespaces, variant), cgroups=False, cell_seconds=20)
    result = grade_within(make_variant(variant, tmp_path), limits)
    assert result.isolation is not None and (result.isolation.namespaces, result.isolation.memory) == ("none", "guard")
    found = _held(result, "memory_drop_mb", 2000)
    assert result.execution.memory_exceeded, (found, result.execution.cell_errors)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="known-limit class (observations are the notebook's word), by a route the docs say is closed: "
    "a thread left running after the probe rewrites probe.json in the memfd the runner hands to the writer "
    "(writable and in /proc/self/fd until the writer stops the runner), and momentum_step's in-place update "
    "is no longer seen",
)
def test_a_thread_cannot_rewrite_what_the_writer_is_handed(config, tmp_path):
    variant = hostile.REWRITES_THE_WRITERS_MEMFD
    result = grade_within(make_variant(variant, tmp_path), limits_for(config, hostile.REWRITES_THE_WRITERS_MEMFD))
    if result.error is not None or not result.sandboxed:
        pytest.fail(f"not graded: {result.error}")
    assert lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:1]) for q in result.questions]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="the same files with no name at the no-namespace level (Landlock grants work/ for writing, "
    "O_TMPFILE included): the quota's walks (job folder, /tmp) find nothing",
)
def test_unnamed_files_count_against_the_disk_quota_without_namespaces(no_namespaces, tmp_path):  # noqa: F811
    limits = dataclasses.replace(limits_for(no_namespaces, hostile.HOLDS_UNNAMED_FILES), file_size_mb=64)
    result = grade_within(make_variant(hostile.HOLDS_UNNAMED_FILES, tmp_path), limits)
    assert result.isolation is not None and result.isolation.namespaces == "none" and result.isolation.landlock >= 6
    found = _held(result, "disk_drop_mb", 400)
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert 1 in errors and errors[1].ename == "DiskQuotaExceeded", (found, errors)
