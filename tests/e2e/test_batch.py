"""Batch grading of a class through the CLI: placement, parallel workers, outputs, kill and resume,
a Dask cluster of separate worker processes giving the same gradebook, and two graders at once
on one machine (their sandboxes never share a uid)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import bubblewrap_available, uids
from tests.conftest import REPO
from tests.e2e import processes

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
EXAMPLES = REPO / "examples" / "class"


def make_class(root: Path, copies: int) -> Path:
    """`copies` x the example class, each copy with its own students (Canvas names kept)."""
    root.mkdir(parents=True)
    for k in range(copies):
        for path in EXAMPLES.iterdir():
            name = re.sub(r"^([a-z]+)(_LATE)?_(\d+)_", lambda m, k=k: f"{m[1]}{k}{m[2] or ''}_{m[3]}{k}_", path.name)
            shutil.copy(path, root / name)
    return root


def cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=REPO, env=env, **kwargs
    )


def results(out: Path) -> dict[str, dict]:
    docs = {}
    for path in sorted((out / "results").rglob("*.json")):
        doc = json.loads(path.read_text())
        if doc["execution"]:
            doc["execution"]["seconds"] = None
        if doc["isolation"]:  # which free uid of the pool a sandbox got depends on its neighbours, as timing does
            assert doc["isolation"]["uid"] in uids.pool()
            doc["isolation"]["uid"] = None
        docs[str(path.relative_to(out))] = doc
    return docs


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path_factory.mktemp("xdg"))}


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory, env) -> tuple[Path, Path, subprocess.CompletedProcess]:
    klass = make_class(tmp_path_factory.mktemp("c") / "class", 5)
    out = tmp_path_factory.mktemp("undisturbed")
    done = cli("grade", str(klass), "--out", str(out), "--workers", "2", "--seed", "11", env=env)
    return klass, out, done


@pytest.fixture(scope="module")
def part_of_the_class(tmp_path_factory) -> Path:
    """The first 3 copies of the undisturbed class (30 uploads, the same names and files): what the
    kill-and-resume tests grade, each result compared with the undisturbed run's for that student.
    Enough to be killed in the middle; not the whole class again, twice."""
    return make_class(tmp_path_factory.mktemp("c") / "class", 3)


def same_as_undisturbed(out: Path, reference_out: Path) -> None:
    """Every result of `out` equals the undisturbed run's for that student, none missing, and the
    gradebook's rows are the undisturbed gradebook's for these students."""
    mine, reference = results(out), results(reference_out)
    assert len(mine) == 30 and mine == {key: reference[key] for key in mine}
    rows = (out / "gradebook.csv").read_text().splitlines()
    reference_rows = (reference_out / "gradebook.csv").read_text().splitlines()
    assert rows[0] == reference_rows[0] and len(rows) == 1 + 15  # a row per student of the 3 copies
    assert set(rows) <= set(reference_rows), set(rows) - set(reference_rows)


def test_class_of_50_in_one_command(undisturbed):
    klass, out, done = undisturbed
    assert done.returncode == 3, done.stderr  # graded, but unplaced/unreadable files exist: said loudly
    docs = results(out)
    assert len(docs) == 50
    # frank uploaded no notebook: never graded, and named on stdout only as a file not graded (exit 3)
    frank = [line for line in done.stdout.splitlines() if "frank0_1006" in line]
    assert frank == ["not graded: frank0_10060_50011_notes.txt: not a notebook (.ipynb)"], done.stdout
    assert "notes.txt: not a notebook" in done.stderr
    by_student = {}
    for doc in docs.values():
        by_student.setdefault(doc["student"], {})[doc["assignment"]] = doc
    assert by_student["alice0_10010"]["04_optimizers"]["score"] == 10
    assert by_student["carol1_10031"]["04_optimizers"]["score"] == 0
    assert by_student["dave2_10042"]["04_optimizers"]["error"]  # the broken upload
    assert by_student["bob0_10020"]["04_optimizers"]["score"] == 8  # Adam loses its 2 points
    for name in ("gradebook.csv", "gradebook_canvas.csv", "summary.html"):
        assert (out / name).is_file(), name
    assert len(list((out / "feedback").glob("*.html"))) == 25


def test_a_batch_keeps_the_code_and_reports_similar_code(undisturbed, env):
    """Each result has its code copy (the class came as files that outlive nothing but the batch);
    the summary has the similarity section; `autograder similarity` ranks first the pairs of the
    five copies of each example student (the same notebook under five names)."""
    klass, out, _ = undisturbed
    assert sorted(p.relative_to(out / "code") for p in (out / "code").rglob("*.json")) == sorted(
        p.relative_to(out / "results") for p in (out / "results").rglob("*.json")
    )
    assert "Similar code" in (out / "summary.html").read_text() and (out / "similarity.html").is_file()
    done = cli("similarity", str(out), "--assignment", "04_optimizers", "--top", "60", env=env)
    assert done.returncode == 0, done.stderr
    ranked = [line.split() for line in done.stdout.splitlines() if line.startswith("  #")]
    origin = {"1.00": set()}
    for _, score, left, right, *_ in ranked:

        def example(name: str) -> str:
            return re.sub(r"\d", "", name.split("_")[0])

        origin.setdefault(score, set()).add(example(left) == example(right))
    # alice (correct), bob (Adam buggy), erin (lists): 3 x C(5, 2) identical pairs, all at 1.00 and
    # ranked first; carol's stub and dave's broken upload have no code of their own. (The three are
    # made from one reference solution: with similarity as containment, some of their cross pairs
    # reach 1.00 too, which is what copying looks like.)
    same = [r for r in ranked if example(r[2]) == example(r[3])]
    assert len(same) == 30 and {r[1] for r in same} == {"1.00"}, ranked
    assert {example(r[2]) for r in same} == {"alice", "bob", "erin"}
    assert True in origin["1.00"]
    assert ranked[0][-1] == "flagged"


def test_killed_batch_resumes_to_the_same_results(undisturbed, part_of_the_class, tmp_path, env):
    klass, reference_out = part_of_the_class, undisturbed[1]
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(klass), "--out", str(out), "--workers", "2", "--seed", "11"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((out / "results").rglob("*.json"))) < 8:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(list((out / "results").rglob("*.json")))
    assert 8 <= before < 30
    done = cli("grade", str(klass), "--out", str(out), "--workers", "2", env=env)  # same seed from batch.json
    assert done.returncode == 3, done.stderr
    assert f"(+{before} done before)" in done.stderr
    same_as_undisturbed(out, reference_out)
    again = cli("grade", str(klass), "--out", str(out), env=env)
    assert "nothing to grade (30 already done)" in again.stderr


def test_dask_cluster_with_a_killed_worker_and_a_killed_grader_gives_the_same_gradebook(
    undisturbed, part_of_the_class, tmp_path, env
):
    """Fault injection: 2 Dask worker processes; one is killed with SIGKILL mid-batch (Dask's nanny
    restarts it and its task is rescheduled), then the grader itself is killed; rerunning the same
    command finishes the batch, and every result equals the undisturbed local run."""
    from distributed import Client, LocalCluster
    from distributed.security import Security

    klass, reference_out = part_of_the_class, undisturbed[1]
    out = tmp_path / "dask-out"
    # An authenticated cluster (a tcp:// scheduler is refused): the grader gets the client's
    # credentials through Dask's configuration, as an instructor's would.
    security = Security.temporary()
    credentials = tmp_path / "tls"
    credentials.mkdir(mode=0o700)
    env = dict(env, DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION="True")
    for key, value in (
        ("CA_FILE", security.tls_ca_file),
        ("CLIENT__CERT", security.tls_client_cert),
        ("CLIENT__KEY", security.tls_client_key),
    ):
        (credentials / key.lower()).write_text(value)
        env[f"DASK_DISTRIBUTED__COMM__TLS__{key}"] = str(credentials / key.lower())
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, security=security
        ) as cluster,
        Client(cluster, security=security) as client,
    ):
        command = [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(klass),
            "--out",
            str(out),
            "--seed",
            "11",
            "--dask-scheduler",
            cluster.scheduler_address,
        ]
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        count = lambda: len(list((out / "results").rglob("*.json")))  # noqa: E731
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and count() < 5:
            time.sleep(0.2)
        worker_pid = next(iter(client.run(os.getpid).values()))
        os.kill(worker_pid, signal.SIGKILL)
        while time.monotonic() < deadline and count() < 15:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 15 <= count() < 30
        done = cli(*command[3:], env=env)
    assert done.returncode == 3, done.stderr[-3000:]
    same_as_undisturbed(out, reference_out)


def test_two_graders_on_one_machine_never_share_a_sandbox_uid(tmp_path, env):
    """Two `autograder grade` processes, 2 workers each, at once: every sandbox running at the same
    time has a uid of its own (RLIMIT_NPROC is per uid: a shared one is a shared budget)."""

    klass = make_class(tmp_path / "class", 2)
    for path in klass.iterdir():
        if not path.name.endswith("_04_optimizers.ipynb") or path.name.startswith(("dave", "erin")):
            path.unlink()  # 6 quick, readable notebooks: 3 per grader
    names = sorted(p.name for p in klass.iterdir())
    halves = [tmp_path / "a", tmp_path / "b"]
    for k, half in enumerate(halves):
        half.mkdir()
        for name in names[k::2]:
            shutil.move(klass / name, half / name)
    warm = cli("grade", str(halves[0] / names[0]), "--out", str(tmp_path / "warm"), "--seed", "5", env=env)
    assert warm.returncode == 0, warm.stderr  # the reference is computed before both start
    graders = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                str(half),
                "--out",
                str(tmp_path / f"out-{k}"),
                "--workers",
                "2",
                "--seed",
                "5",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, half in enumerate(halves)
    ]
    samples = []
    while any(g.poll() is None for g in graders):
        samples.append([r.uid for r in processes.runners(g.pid for g in graders)])
        time.sleep(0.05)
    for grader in graders:
        assert grader.returncode == 0, grader.stderr.read()
    assert max(len(s) for s in samples) >= 3, "the graders never ran sandboxes side by side"
    assert all(len(set(s)) == len(s) and set(s) <= set(uids.pool()) for s in samples), [
        s for s in samples if len(set(s)) != len(s)
    ][:3]
    for k in range(2):
        for doc in results(tmp_path / f"out-{k}").values():
            assert doc["score"] == doc["max_score"] or doc["student"].startswith(("bob", "carol")), doc["student"]
