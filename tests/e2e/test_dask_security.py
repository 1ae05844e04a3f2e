"""A notebook graded on the batch's own Dask cluster tries to run code in its workers (which run as
root): it finds every listening TCP port of the machine, connects, and submits a function that
reads the solutions through `distributed.Client`. At the no-namespace level with Landlock every
connect is refused; the cluster also wants TLS credentials the notebook does not have."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from autograder import batch
from autograder.errors import InfrastructureError
from autograder.sandbox import bubblewrap_available, levels
from tests.conftest import REPO, make_variant
from tests.e2e.test_hostile import lost, report
from tests.e2e.test_isolation_levels import failing_bwrap_and_open_interpreter
from tests.submissions import hostile
from tests.submissions.variants import A05, Variant

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]

SUBMITS_TO_THE_CLUSTER = """import os, socket
{attempt}
def listening():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)
ports = listening()
report["ports"] = len(ports)
from concurrent.futures import ThreadPoolExecutor
def probe(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
with ThreadPoolExecutor(64) as pool:
    outcomes = dict(zip(ports, pool.map(probe, ports)))
attempt("connect", lambda: sorted(set(outcomes.values())))
attempt("scheduler listed", lambda: {scheduler} in ports)
def steal():
    return (os.getuid(), open({solution!r}, "rb").read(40).hex())
def submit_to(address):
    from distributed import Client
    try:
        with Client(address, timeout=3) as client:
            return client.submit(steal, pure=False).result(timeout=5)
    except Exception as exc:
        return type(exc).__name__
def submit():
    return [submit_to(f"{{scheme}}://127.0.0.1:{scheduler}") for scheme in ("tcp", "tls")]
attempt("submit", submit)
"""


def submits_to_the_cluster(scheduler: int) -> Variant:
    """Knows the scheduler's port (the red team read it from a command line; `local` puts it on
    none, so the test tells it), and tries every listening port as well."""
    cell = SUBMITS_TO_THE_CLUSTER.format(
        attempt=hostile.ATTEMPT, solution=str(REPO / "solutions" / "05_regularisation.ipynb"), scheduler=scheduler
    )
    return Variant(
        "submits_to_the_cluster",
        A05,
        replace={"l1_penalty": "def l1_penalty(theta):\n    return 0.0"},
        append=(cell + hostile.REPORT,),
        lost=frozenset({"l1_penalty"}),
    )


@pytest.fixture(scope="module")
def no_namespaces(config, tmp_path_factory):
    with failing_bwrap_and_open_interpreter(tmp_path_factory.mktemp("stand-in-bwrap")):
        yield dataclasses.replace(config, namespaces=False)


def test_a_notebook_cannot_submit_to_the_batchs_own_cluster(no_namespaces, tmp_path, monkeypatch):
    """`--dask-scheduler local`, 2 workers, the no-namespace level: the stub reaches no port and
    runs nothing in a worker; it and its honest neighbour get what they earned."""
    import distributed

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(distributed, "LocalCluster", functools.partial(distributed.LocalCluster, scheduler_port=port))
    klass = Path(tempfile.mkdtemp(prefix="dask-class-"))
    try:
        os.chmod(klass, 0o755)
        variant = submits_to_the_cluster(port)
        shutil.move(make_variant(variant, tmp_path), klass / f"mallory_{A05}.ipynb")
        shutil.copy(REPO / "solutions" / f"{A05}.ipynb", klass / f"honest_{A05}.ipynb")
        options = batch.ClassOptions(workers=2, seed=5, dask_scheduler="local")
        done = batch.grade_class([klass], tmp_path / "grades", no_namespaces, options)
    finally:
        shutil.rmtree(klass)
    assert done.failures == [], done.failures
    results = {r.student: r for r in done.results}
    found = report(results["mallory"])
    assert found["scheduler listed"] is True and found["connect"] == ["PermissionError"], found
    assert len(found["submit"]) == 2 and not any(isinstance(g, list) for g in found["submit"]), found
    assert results["mallory"].isolation.network == "no-tcp"
    assert lost(results["mallory"]) == {"l1_penalty"}
    assert results["honest"].score == results["honest"].max_score


def test_dask_at_the_no_namespace_level_needs_network_isolation(no_namespaces, monkeypatch):
    """No Landlock TCP rules: refused before a cluster starts, even with "landlock" accepted."""
    monkeypatch.setattr(levels, "landlock_abi", lambda: 3)
    accepted = dataclasses.replace(no_namespaces, accept_weaker=("landlock",))
    with pytest.raises(InfrastructureError, match="needs network isolation"):
        batch.Dask.connect("local", accepted, True, workers=1)
