"""The sandbox uid pool's first uid: 60000, or a range of a container's own (DNN_GRADER_UID_BASE)."""

from __future__ import annotations

import pytest

from autograder.errors import InfrastructureError
from autograder.sandbox import uids


def test_the_pool_starts_at_60000_unless_told(monkeypatch):
    monkeypatch.delenv(uids.ENV_BASE, raising=False)
    assert uids.pool() == range(60000, 60064)
    monkeypatch.setenv(uids.ENV_BASE, str(2**24 + 12345))
    assert uids.pool() == range(2**24 + 12345, 2**24 + 12345 + uids.COUNT)


@pytest.mark.parametrize("value", ["", "abc", "-5", "999", str(2**31), "60000 "])
def test_a_bad_base_is_refused(monkeypatch, value):
    monkeypatch.setenv(uids.ENV_BASE, value)
    with pytest.raises(InfrastructureError, match="DNN_GRADER_UID_BASE"):
        uids.pool()


def test_run_autograder_gives_each_container_a_random_range():
    """Containers without user namespaces share the host's uids (and RLIMIT_NPROC counts host-wide)."""
    from autograder.gradescope.package import template

    script = template("run_autograder")
    assert 'DNN_GRADER_UID_BASE="$(( (1 << 24) + ((RANDOM << 15) | RANDOM) ))"' in script
    assert script.index("export DNN_GRADER_UID_BASE") < script.index('"${AUTOGRADER[@]}" grade')
    assert (1 << 24) + (1 << 30) - 1 <= uids.TOP - uids.COUNT
