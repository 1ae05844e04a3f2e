"""The Gradescope zip in a real Docker container, as Gradescope runs it (slow: minutes).

The image: a Debian bookworm base made with debootstrap (`tests/platforms/`), the zip unzipped
into /autograder/source, `setup.sh` run as root with the network on (`--network host`, the
machine's pip configuration mounted read-only so that pip installs as it does here), the
container committed as the image; cached by a tag of the zip's and the base's content, so a
second run skips what did not change. Each case: a container of that image with the network off
and Gradescope's memory (`--network none --memory 3g`), the submission copied into
/autograder/submission, `/autograder/run_autograder`, and /autograder/results/results.json
copied out. Nothing of this checkout's environment is inside: what Gradescope would run is what
runs. Timings are printed (`pytest -s`, or the log of `.ci/run`).

Docker's default seccomp refuses bubblewrap's namespaces and /sys/fs/cgroup is read-only in the
container: the zip grades at the no-namespace level with the memory guard and RLIMIT_NPROC
(docs/gradescope.md), which every result records for the instructor and never shows the student.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from autograder.course.config import load_config
from autograder.gradescope.export import ENVIRONMENT_TEST, build_autograder_zip
from autograder.gradescope.settings import sized
from tests.conftest import REPO
from tests.platforms import debian, docker

ASSIGNMENT = "04_optimizers"
SEED = 2026
pytestmark = pytest.mark.slow
# Notes on the grader's container: the instructor's, never in what the student sees.
INSTRUCTOR_ONLY = ("no namespaces", "no network", "memory guard", "RLIMIT_NPROC", "container's own")


def _skip(reason: str) -> None:
    print(f"\nSKIPPED (no real container here): {reason}", flush=True)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The tag of the Gradescope image built from the zip, and setup.sh's log."""
    reason = docker.ensure_daemon() or (
        None if docker.has_image(f"dnn-grader-base:{debian.BOOKWORM.key}") else debian.why_not()
    )
    if reason:
        _skip(reason)
    start = time.monotonic()
    base = docker.base_image()
    print(f"\n[gradescope-container] base image {base}: {time.monotonic() - start:.1f} s", flush=True)
    folder = tmp_path_factory.mktemp("zip")
    settings = sized(load_config(REPO), timeout_minutes=10, container_mb=3072, seed=SEED)
    zipped = build_autograder_zip(folder / "autograder.zip", REPO, assignment=ASSIGNMENT, settings=settings)
    key = hashlib.sha256(zipped.read_bytes() + base.encode()).hexdigest()[:12]
    tag = f"dnn-grader-gradescope:{key}"
    log = docker.CACHE / f"gradescope-{key}.setup.log"
    if docker.has_image(tag) and log.is_file():
        print(f"[gradescope-container] image {tag} cached (setup.sh not rerun)", flush=True)
        return tag, log.read_text(errors="replace")
    name = f"dnn-grader-setup-{uuid.uuid4().hex[:8]}"
    pip_env = " ".join(f"{k}={v}" for k, v in sorted(docker.pip_environment().items()))
    script = (
        "set -e; mkdir -p /autograder/source; "
        "python3 -m zipfile -e /zip/autograder.zip /autograder/source; "
        "cp /autograder/source/run_autograder /autograder/run_autograder; chmod 0755 /autograder/run_autograder; "
        f"cd /autograder && env {pip_env} bash /autograder/source/setup.sh"
    )
    start = time.monotonic()
    setup = docker.docker(
        "run", "--name", name, "--network", "host", *docker.pip_mounts(), "-v", f"{folder}:/zip:ro",
        base, "bash", "-c", script,
        timeout=2400, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    text = setup.stdout + setup.stderr
    try:
        assert setup.returncode == 0, f"setup.sh failed ({setup.returncode}):\n{text[-4000:]}"
        docker.docker("commit", name, tag, timeout=900)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    finally:
        docker.remove(name)
    stale = docker.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "dnn-grader-gradescope").stdout.split()
    for old in [t for t in stale if t != tag]:  # 2.7 GB each: keep only the image of this zip
        docker.docker("rmi", old, timeout=900, check=False)
    print(f"[gradescope-container] setup.sh in the container: {seconds:.0f} s", flush=True)
    return tag, text


def grade(image: tuple[str, str], notebook: Path, label: str, work: Path) -> tuple[dict, str, list[str]]:
    """run_autograder in a fresh container of the image, as Gradescope runs one submission
    (`work`: a folder of the test's own for the submission and the results.json copied out).
    Returns results.json, run_autograder's output, and what the run changed in the container's
    files (`docker diff`: "A /path" added, "C /path" changed)."""
    tag, _ = image
    name = f"dnn-grader-run-{uuid.uuid4().hex[:8]}"
    submission = work / f"submission-{label}"
    submission.mkdir()
    (submission / "submission.ipynb").write_bytes(notebook.read_bytes())
    docker.docker(
        "create", "--name", name, "--network", "none", "--memory", "3g", "-w", "/autograder",
        tag, "/autograder/run_autograder",
    )  # fmt: skip
    try:
        docker.docker("cp", f"{submission}/.", f"{name}:/autograder/submission")
        start = time.monotonic()
        run = docker.docker("start", "-a", name, timeout=1200, check=False)
        seconds = time.monotonic() - start
        out = submission / "results.json"
        docker.docker("cp", f"{name}:/autograder/results/results.json", str(out))
        doc = json.loads(out.read_text())
        changed = docker.docker("diff", name).stdout.splitlines()
    finally:
        docker.remove(name)
    print(f"[gradescope-container] {label}: score {doc['score']} in {seconds:.1f} s (run_autograder)", flush=True)
    return doc, run.stdout + run.stderr, changed


def valid(doc: dict) -> None:
    """Gradescope's results.json format, and a graded result (not a failure of the grader)."""
    assert isinstance(doc["score"], float) and isinstance(doc["output"], str) and isinstance(doc["tests"], list)
    assert doc["stdout_visibility"] == "hidden"
    for test in doc["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
    assert "This submission was not graded" not in doc["output"], doc["output"]
    seen = doc["output"] + "".join(t["output"] for t in doc["tests"] if t["visibility"] != "hidden")
    for note in INSTRUCTOR_ONLY:
        assert note not in seen, seen


def stub_with(tmp_path: Path, name: str, source: str) -> Path:
    """The student's notebook (every function a stub) with a hostile cell at the end."""
    nb = nbformat.read(REPO / "assignments" / f"{ASSIGNMENT}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(source))
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_setup_caches_the_reference_at_the_no_namespace_level(image):
    _, log = image
    assert "setup: isolation level: no-namespace" in log, log[-3000:]
    assert f"reference of {ASSIGNMENT} for seed {SEED} cached" in log, log[-3000:]
    assert "could not be computed" not in log


def test_the_solution_gets_full_marks_and_the_isolation_notes_go_to_the_instructor(image, tmp_path):
    doc, log, changed = grade(image, REPO / "solutions" / f"{ASSIGNMENT}.ipynb", "solution", tmp_path)
    excerpt = {**doc, "tests": [doc["tests"][0], "...", *[t for t in doc["tests"] if t["visibility"] == "hidden"]]}
    print("[gradescope-container] results.json (solution, excerpt):\n" + json.dumps(excerpt, indent=1), flush=True)
    valid(doc)
    assert doc["score"] == 10.0, (doc["output"], log[-3000:])
    (env,) = [t for t in doc["tests"] if t["name"] == ENVIRONMENT_TEST]
    assert env["visibility"] == "hidden" and (env["score"], env["max_score"]) == (0.0, 0.0)
    for note in ("no namespaces", "memory guard", "RLIMIT_NPROC", "container's own memory limit (3072 MB)"):
        assert note in env["output"], env["output"]
    assert '"memory": "guard"' in log and '"pids": "rlimit"' in log and '"container_memory_mb": 3072' in log
    assert "grading at the no-namespace level" in log
    # the reference setup.sh cached is reused: the run adds nothing to the grader's cache (or anywhere
    # but the submission and the results)
    # (and the lock of the sandbox uid it drew: a random range per container, in /run)
    ours = ("A /autograder/submission", "A /autograder/results", "A /run/dnn-grader-uids-0/")
    expected = {"C /autograder", "C /run", "C /run/dnn-grader-uids-0"}
    assert [c for c in changed if c not in expected and not c.startswith(ours)] == [], changed


def test_the_stub_gets_zero(image, tmp_path):
    doc, log, _ = grade(image, REPO / "assignments" / f"{ASSIGNMENT}.ipynb", "stub", tmp_path)
    valid(doc)
    assert doc["score"] == 0.0, log[-3000:]


def test_another_assignments_notebook_scores_zero_saying_so(image, tmp_path):
    """A full-marks 01 notebook (21 points) uploaded to this 04 assignment: 0 of 10, and why."""
    doc, log, _ = grade(image, REPO / "solutions" / "01_activations_and_initialisation.ipynb", "other", tmp_path)
    assert doc["score"] == 0.0, log[-3000:]
    assert "this notebook is assignment 01_activations_and_initialisation" in doc["output"], doc["output"]
    assert f"upload your {ASSIGNMENT} notebook" in doc["output"]


HOSTILE = {
    "reads-solutions": (
        "import json, pathlib\n"
        f"nb = json.loads(pathlib.Path('/autograder/source/solutions/{ASSIGNMENT}.ipynb').read_text())\n"
        "for cell in nb['cells']:\n"
        "    if cell['cell_type'] == 'code' and 'def ' in ''.join(cell['source']):\n"
        "        exec(''.join(cell['source']), globals())",
        "PermissionError",
    ),
    "writes-results": (
        "open('/autograder/results/results.json', 'w').write("
        '\'{"score": 100.0, "output": "FORGED", "tests": []}\')',
        "PermissionError",
    ),
    "forks": (  # small children (a forked copy of the kernel is stopped by the memory guard first)
        "import subprocess\n"
        "children = []\n"
        "try:\n"
        "    for _ in range(100000):\n"
        "        children.append(subprocess.Popen(['/bin/sleep', '3600']))\n"
        "except OSError as exc:\n"
        "    raise RuntimeError(f'stopped after {len(children)} processes: {exc}')",
        "stopped after",
    ),
    "allocates": (
        "import os, time\n"
        "import numpy as np\n"
        "for _ in range(6):  # 6 x 700 MB: each under RLIMIT_DATA, together past the container's 3 GB\n"
        "    if os.fork() == 0:\n"
        "        block = np.ones(700 * 1024**2 // 8)\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "time.sleep(600)",
        "memory",
    ),
    "hangs": ("while True:\n    pass", "time"),
    # RAM in no process's Pss: the guard cannot read the descriptors of another uid here (no
    # CAP_SYS_PTRACE in the container, held.py), so the container's own limit ends it, and the OOM
    # killer takes the sandbox's processes first (oom_score_adj 1000), never the grader
    "holds-memfds": (
        "import os, time\n"
        "held = []\n"
        "for i in range(10):  # 10 x 400 MB, each under RLIMIT_FSIZE, never mapped\n"
        "    fd = os.memfd_create(f'held{i}')\n"
        "    os.posix_fallocate(fd, 0, 400 * 1024**2)\n"
        "    held.append(fd)\n"
        "time.sleep(600)",
        "killed",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_notebook_gains_nothing_and_leaves_a_valid_results_json(image, tmp_path, case):
    source, said = HOSTILE[case]
    doc, log, _ = grade(image, stub_with(tmp_path, case, source), case, tmp_path)
    problems = [line for line in doc["output"].splitlines() if line.startswith("- ") and "NotImplemented" not in line]
    print(f"[gradescope-container] {case}: {' '.join(problems)[:400]}", flush=True)
    valid(doc)
    assert doc["score"] == 0.0, (doc["output"], log[-3000:])
    assert "FORGED" not in json.dumps(doc)
    assert said in doc["output"], (doc["output"], log[-3000:])
