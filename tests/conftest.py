"""Shared fixtures: the repository's config with a private cache, and notebook variants."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat
import pytest

from autograder import batch
from autograder.course.config import Config, load_config
from autograder.grading.grade import grade_notebook
from autograder.grading.notebook import TAG_TRAIN, tags
from autograder.questions import ASSIGNMENTS
from autograder.result import Result

REPO = Path(__file__).resolve().parent.parent
# Notebooks of functions only (no model is trained): fast enough to run in-process or in full.
FUNCTION_ONLY = [a.id for a in ASSIGNMENTS.values() if all(q.judged_by != "threshold" for q in a.questions)]
# `autograder` commands that start sandboxes (in the child process, out of the guard's sight)
SANDBOXING_COMMANDS = {"grade", "check", "verify", "build"}


def _what_it_starts(args: object) -> str | None:
    """What a command line starts that the fast tier must not: a sandbox, a Jupyter kernel, a
    grading command, a container or a VM; None for anything else (git, a shell, python -c)."""
    words = [os.fsdecode(a) for a in args] if isinstance(args, (list, tuple)) else [os.fsdecode(args)]  # type: ignore[arg-type]
    names = [os.path.basename(w) for w in words]
    if "sandbox-launcher" in words:
        return "a sandbox"
    if any("ipykernel" in w or w == "nbconvert" for w in words):
        return "a Jupyter kernel"
    if names and (names[0] in ("docker", "podman") or names[0].startswith("qemu-system")):
        return f"{names[0]} (a container or a VM)"
    for k, name in enumerate(names):
        is_cli = name == "autograder" or (name == "-m" and k + 1 < len(names) and names[k + 1] == "autograder")
        rest = names[k + (2 if name == "-m" else 1) :]
        if is_cli and rest and rest[0] in SANDBOXING_COMMANDS:
            return f"`autograder {rest[0]}`"
    return None


# The modules that take longest, first: `scripts/test` runs the suite on 2 processes
# (pytest-xdist, `--dist loadfile`: a module's tests and its module fixtures stay on one process),
# which take modules in this order; a long module handed out last would leave one process alone
# at the end. Measured with `--durations`; only the order depends on it, never a result.
LONGEST_FIRST = (
    "tests/e2e/test_hostile.py",
    "tests/e2e/test_grading.py",
    "tests/e2e/test_hostile_batch.py",
    "tests/e2e/test_isolation_levels.py",
    "tests/unit/test_selfcheck.py",
    "tests/e2e/test_cgroup_v2_vm.py",
    "tests/e2e/test_report_render.py",
    "tests/e2e/test_gradescope_container.py",
    "tests/e2e/test_batch.py",
    "tests/e2e/test_selfcheck_venv.py",
    "tests/e2e/test_install.py",
    "tests/e2e/test_fair_neighbours.py",
    "tests/e2e/test_gradescope_setup.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: k for k, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: else as found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A test not marked `slow` (the fast tier, `scripts/test --fast`) fails if it, or a fixture it
    sets up, starts a sandbox, a kernel, a grading command, a container or a VM: each costs seconds,
    and unmarked they made the tier slow one test at a time."""
    if item.get_closest_marker("slow") is not None:
        yield
        return
    original = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):  # noqa: ANN001 - Popen's own signature
        started = _what_it_starts(args)
        if started is not None:
            raise AssertionError(f"{item.nodeid} starts {started}: mark it @pytest.mark.slow")
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The repo's settings, with a cache of the run's own so tests never reuse a stale reference.
    One cache for the whole run, shared by pytest-xdist's processes (the cache is safe for several
    graders at once, `grading/cache.py`): a reference is computed once, not once per process."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return load_config(REPO, cache_dir=tmp_path_factory.mktemp("cache"))
    shared = tmp_path_factory.getbasetemp().parent / "cache"  # the run's folder, above each process's own
    shared.mkdir(exist_ok=True)
    return load_config(REPO, cache_dir=shared)


@pytest.fixture(scope="session")
def cli_cache_home(config: Config) -> Path:
    """XDG_CACHE_HOME for `autograder` run as a command: one for the whole session, so that the
    commands of several tests compute a reference (a sandboxed run of the solution) once, not
    once each; still private to the session."""
    return config.cache_dir.parent / "cli-cache"


@pytest.fixture(scope="session")
def graded_solution(config: Config) -> Callable[[str], Result]:
    """The grade of `solutions/<assignment>.ipynb` with seed 7 under the session's config, graded
    once for the whole session: several modules ask for the same grade (full marks, its limits)."""
    cache: dict[str, Result] = {}

    def get(assignment: str) -> Result:
        if assignment not in cache:
            cache[assignment] = grade_notebook(REPO / "solutions" / f"{assignment}.ipynb", config, seed=7)
        return cache[assignment]

    return get


def make_variant(variant, out_dir: Path) -> Path:
    """Write the notebook a variant describes (see tests/submissions/variants.py)."""
    nb = nbformat.read(REPO / "solutions" / f"{variant.assignment}.ipynb", as_version=4)
    student = copy.deepcopy(nb)
    cells = []
    first_code = True
    for cell in student.cells:
        if cell.cell_type == "code" and first_code:
            first_code = False
            cells += [nbformat.v4.new_code_cell(src) for src in variant.insert_first]
        if variant.drop_train and TAG_TRAIN in tags(cell):
            continue
        if cell.cell_type == "code":
            for name, source in variant.replace.items():
                if re.search(rf"^def {re.escape(name)}\(", cell.source, re.M):
                    cell.source = source
        cells.append(cell)
    cells += [nbformat.v4.new_code_cell(src) for src in variant.append]
    student.cells = cells
    path = out_dir / f"{variant.name}_{variant.assignment}.ipynb"
    nbformat.write(student, path)
    return path


def grade_class(
    variants: Sequence,
    folder: Path,
    seed: int,
    config_of: Callable[[object], Config],
    grade: Callable[..., Result] | None = None,
    workers: int = 2,
) -> list[Result | str]:
    """Grade these variants as an instructor grades a class: one `batch.run_batch` on `workers`
    threads, each notebook under `config_of(variant)`, `grade(path, config, assignment_id=...,
    student=...)` (default: `grade_notebook` with `seed`). Per variant, in order: its result, or
    the batch's message when grading it failed.

    Why a class and not one notebook at a time: on 2 cores two sandboxes at once take about half
    the time, and every notebook then runs beside another, so whatever one could do to its
    neighbour (processes, memory, files, the end of its run) shows in the neighbour's grade."""
    grade_one = grade or (lambda path, config, **kwargs: grade_notebook(path, config, seed=seed, **kwargs))
    subs = []
    for k, variant in enumerate(variants):
        student = f"s{k:03d}"  # also the upload's name: the batch names a failure by it
        (folder / student).mkdir(parents=True)
        subs.append(
            batch.Submission(make_variant(variant, folder / student), student, variant.assignment, name=student)
        )

    def one(sub: batch.Submission, _seed: int) -> Result:
        variant = variants[int(sub.student[1:])]
        return grade_one(sub.path, config_of(variant), assignment_id=sub.assignment, student=sub.student)

    results, failures = batch.run_batch(subs, folder / "out", seed, batch.Threads(one, workers))
    found: dict[str, Result | str] = {r.student: r for r in results}
    found.update(failures)
    return [found[f"s{k:03d}"] for k in range(len(variants))]
