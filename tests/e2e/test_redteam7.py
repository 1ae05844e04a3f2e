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
