"""End to end: real notebooks through the whole sandboxed pipeline.

Uses the library API (`grade`) for most cases and the CLI where the user-facing behaviour (exit
codes, files, printed summary) is what is being tested.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.grade import grade_notebook
from autograder.result import SCHEMA_VERSION
from autograder.sandbox import bubblewrap_available, uids
from tests.conftest import FUNCTION_ONLY, REPO, grade_class, make_variant
from tests.submissions.variants import ALTERNATIVES, BUGGY, HOSTILE

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
SEED = 7


def _lost(result) -> set[str]:
    return {q.id for q in result.questions if q.score < q.max_score}


@pytest.fixture(scope="module")
def graded(config, tmp_path_factory):
    """A variant's grade, graded once for the module: the tests that look at the same notebook for
    different things (its lost questions, its cell errors) share one sandboxed run. The
    first call grades every variant of the module as one 2-worker class (`grade_class`)."""
    cache: dict = {}

    def get(variant):
        if not cache:
            # 03's (training) first: the long ones start early, the short ones fill in
            variants = sorted(ALTERNATIVES + BUGGY + HOSTILE, key=lambda v: v.assignment != "03_transfer_learning")
            outcomes = grade_class(variants, tmp_path_factory.mktemp("class"), SEED, lambda _: config)
            cache.update(((v.name, v.assignment), outcome) for v, outcome in zip(variants, outcomes, strict=True))
        outcome = cache[(variant.name, variant.assignment)]
        if isinstance(outcome, str):
            pytest.fail(f"grading {variant.name} in the batch failed: {outcome}")
        return outcome

    return get


@pytest.mark.parametrize("assignment", FUNCTION_ONLY)
def test_solution_full_marks_and_stub_zero(assignment, config, graded_solution):
    solution = graded_solution(assignment)
    assert solution.sandboxed is True
    assert solution.score == solution.max_score, [(q.id, q.feedback) for q in solution.questions if q.feedback]
    stub = grade_notebook(REPO / "assignments" / f"{assignment}.ipynb", config, seed=SEED)
    assert stub.score == 0.0
    assert stub.execution is not None
    assert {e.ename for e in stub.execution.cell_errors} <= {"NotImplementedError"}


@pytest.mark.parametrize("variant", ALTERNATIVES, ids=lambda v: v.name)
def test_alternative_correct_answers_pass(variant, graded):
    result = graded(variant)
    assert _lost(result) == set(), [(q.id, q.feedback) for q in result.questions if q.feedback]


@pytest.mark.parametrize("variant", BUGGY + HOSTILE, ids=lambda v: v.name)
def test_buggy_and_hostile_lose_exactly_what_they_should(variant, graded):
    result = graded(variant)
    assert _lost(result) == set(variant.lost), [(q.id, q.status, q.feedback[:2]) for q in result.questions]


def test_hostile_cells_are_contained(graded):
    result = graded(next(v for v in HOSTILE if v.name == "network_and_secrets"))
    errors = {e.cell: e for e in result.execution.cell_errors}
    assert len(errors) == 3
    names = sorted(e.ename for e in errors.values())
    assert names == ["FileNotFoundError", "FileNotFoundError", "OSError"], errors  # no net, no /etc/shadow, no repo


def test_exit_in_a_cell_costs_only_that_cell(graded):
    result = graded(next(v for v in HOSTILE if v.name == "exit_in_a_cell"))
    assert result.execution.passes == 2
    assert len(result.execution.skipped) == 1 and result.execution.skipped[0].startswith("cell:")
    assert result.score == result.max_score


def test_regrade_is_identical_except_timings(config, tmp_path):
    """Graded twice, alone, from the same file (not taken from the module's class: a batch names
    the submission by its place in the class). Which free uid of the pool a sandbox gets depends
    on what else runs on the machine, as its timing does: both are left out."""
    variant = BUGGY[0]
    path = make_variant(variant, tmp_path)
    first, second = (grade_notebook(path, config, seed=SEED).to_dict() for _ in range(2))
    for doc in (first, second):
        doc["execution"]["seconds"] = None
        assert doc["isolation"]["uid"] in uids.pool()
        doc["isolation"]["uid"] = None
    assert first == second


def test_seed_changes_hidden_cases_not_public_ones(config):
    from autograder.grading.prepare import make_plan
    from autograder.questions import get_assignment

    a = get_assignment("05_regularisation")
    p1, p2 = make_plan(a, 1), make_plan(a, 2)
    assert p1.fingerprint() != p2.fingerprint()
    public = lambda p: [c for cases in p.cases.values() for c in cases if c.public]  # noqa: E731
    assert public(p1) == public(p2)


def test_sandbox_runs_the_same_interpreter_unprivileged(config, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os, sys, json\n"
            "def l1_penalty(theta):\n"
            f"    assert sys.version == {sys.version!r}, sys.version\n"
            f"    assert sys.executable == {sys.executable!r}, sys.executable\n"
            f"    assert os.getuid() == os.getgid() and os.getuid() in {uids.pool()!r}\n"  # a sandbox uid of its own
            "    return float(np.abs(np.asarray(theta, float)).sum())\n"
            "import numpy as np"
        )
    ]
    path = tmp_path / "identity_05_regularisation.ipynb"
    nbformat.write(nb, path)
    result = grade_notebook(path, config, seed=SEED)
    l1 = next(q for q in result.questions if q.id == "l1_penalty")
    assert l1.status == "passed", l1.feedback


def test_cli_grade_writes_json_and_exit_codes(cli_cache_home, tmp_path):
    env_cache = {"XDG_CACHE_HOME": str(cli_cache_home)}
    import os

    env = {**os.environ, **env_cache}
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(REPO / "solutions" / "04_optimizers.ipynb"),
            "--out",
            str(tmp_path),
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    doc = json.loads((tmp_path / "04_optimizers.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["score"] == doc["max_score"] and doc["seed"] == 3
    # what confined the run, as enforced on this machine (cgroup v1 or v2, bubblewrap, a uid of the pool)
    assert doc["isolation"]["namespaces"] == "bwrap" and doc["isolation"]["network"] == "none"
    assert doc["isolation"]["memory"] in ("cgroup-v1", "cgroup-v2") and doc["isolation"]["uid"] >= 60000
    assert "10 / 10" in ok.stdout
    empty = tmp_path / "empty_04_optimizers.ipynb"
    empty.write_text("")
    bad = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(empty), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert bad.returncode == 3
    assert json.loads((tmp_path / "empty_04_optimizers.json").read_text())["error"].endswith("the file is empty")
    unknown = tmp_path / "mystery.ipynb"
    unknown.write_text("{}")
    usage = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(unknown), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert usage.returncode == 2 and "--assignment" in usage.stderr


def test_repository_assignments_are_in_sync(config):
    """The drift test: `build` reproduces assignments/ (notebooks and self-check files) byte for byte."""
    from autograder.grading.reference import reference_outputs
    from autograder.handout.build import build

    drift = build(
        REPO / "solutions",
        REPO / "assignments",
        lambda plan: reference_outputs(plan, config, use_sandbox=True),
        check_only=True,
    )
    assert drift == []


def _moved(value, rng, ulps: int = 0, by: float = 0.0):
    """`value` (a reference output) with every float moved a few ulps either way, or by `by`."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        out = value.copy()
        flat = out.reshape(-1)
        for i in range(flat.size):
            toward = np.inf if rng.random() < 0.5 else -np.inf
            for _ in range(ulps):
                flat[i] = np.nextafter(flat[i], toward)
        out += by  # in place: a 0-d array stays an array
        return out
    if isinstance(value, tuple):
        return tuple(_moved(v, rng, ulps, by) for v in value)
    if isinstance(value, list):
        return [_moved(v, rng, ulps, by) for v in value]
    if isinstance(value, dict):
        return {k: _moved(v, rng, ulps, by) for k, v in value.items()}
    return value


def test_repository_assignments_stay_in_sync_on_another_cpu(config):
    """Another CPU: the real reference with every float 1 to 4 ulps off, either way, wherever its
    check has a tolerance (an exact check's values, split_dataset's selections, involve no
    arithmetic to differ in). `build --check` stays in sync (values are written to their check's
    tolerance and compared within it); one value moved by more than its tolerance
    (gradient_ratio_log10's atol is 1.0) is still reported."""
    import dataclasses

    import numpy as np

    from autograder.grading.reference import reference_outputs
    from autograder.handout.build import build
    from autograder.handout.selfcheck import check_spec

    rng = np.random.default_rng(0)

    def another_cpu(plan):
        outputs = reference_outputs(plan, config, use_sandbox=True)
        specs = {q.id: check_spec(q) for q in plan.assignment.questions}
        moved = 0
        for key, output in outputs.items():
            spec = specs[key.split("/")[0]]
            if spec["kind"] == "allclose" and spec["rtol"] + spec["atol"] > 0:
                outputs[key] = dataclasses.replace(output, value=_moved(output.value, rng, int(rng.integers(1, 5))))
                moved += 1
        assert moved or plan.assignment.id == "03_transfer_learning", plan.assignment.id
        return outputs

    assert build(REPO / "solutions", REPO / "assignments", another_cpu, check_only=True) == []

    def changed(plan):
        outputs = reference_outputs(plan, config, use_sandbox=True)
        key = next((k for k in sorted(outputs) if k.startswith("gradient_ratio_log10/")), None)
        if key is not None:
            outputs[key] = dataclasses.replace(outputs[key], value=_moved(outputs[key].value, rng, by=1.5))
        return outputs

    drift = build(REPO / "solutions", REPO / "assignments", changed, check_only=True)
    assert drift == [str(REPO / "assignments" / "01_activations_and_initialisation.ipynb")]


@pytest.mark.parametrize("assignment", ["04_optimizers", "05_regularisation"])
def test_self_check_in_a_real_kernel_passes_the_solution_and_names_the_bug(assignment, tmp_path):
    """The student workflow: the generated notebook alone (its checks are in its metadata) with the
    solution's code filled in, run by Jupyter; every grader.check passes. Then one function broken:
    its check fails with the public case's message, the others still pass."""
    import nbformat

    solution = {c.id: c for c in nbformat.read(REPO / "solutions" / f"{assignment}.ipynb", 4).cells}
    student = nbformat.read(REPO / "assignments" / f"{assignment}.ipynb", 4)
    for cell in student.cells:
        if cell.cell_type == "code" and cell.id in solution:
            cell.source = solution[cell.id].source
    broken = "adam_step" if assignment == "04_optimizers" else "l2_penalty"
    for cell in student.cells:
        if cell.source.startswith(f"def {broken}("):
            cell.source += f"\n\n_{broken} = {broken}\ndef {broken}(*args, **kwargs):\n    return 0.0\n"
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(student, path)
    jupyter = str(Path(sys.executable).parent / "jupyter")  # this environment's, not one on PATH
    done = subprocess.run(
        [
            jupyter,
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--allow-errors",
            str(path),
            "--output",
            "executed.ipynb",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(tmp_path / "executed.ipynb", 4)
    reports = {
        c.source: "".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")) for o in c.outputs)
        for c in executed.cells
        if c.source.startswith("grader.check(")
    }
    assert reports, "no self-check cells"
    for source, text in reports.items():
        if broken in source:
            assert "public case" in text and "expected" in text and "got" in text or "wrong values" in text, text
        else:
            assert "All test cases passed" in text, (source, text)
