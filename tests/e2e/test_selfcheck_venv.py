"""A student's self-check with exactly what the notebook's first cell names, and nothing else.

A fresh virtual environment gets `pip install otter-grader numpy` (the cell's words; pip's cache
makes it quick after the first time), never this package. In it, the generated
`assignments/04_optimizers.ipynb` is copied alone into an empty folder, its self-check cell and
the cell defining `adam_step` are executed (the stub as generated, then the reference solution's
code), and `grader.check("adam_step")` is called through otter's own API: it must fail on the
stub with the public case's message and pass on the solution. The same for 05's `augment`, a
random function: its randomness case (several calls, exact binomial bands) runs with numpy alone,
and a version that cycles through the transforms fails it with the grader's message. Both read
the checker shared by the notebook's tests from the notebook file, as otter compiled them.
"""

from __future__ import annotations

import json
import re
import subprocess
import venv
from pathlib import Path

import pytest

from autograder.handout.selfcheck import REQUIREMENT
from tests.conftest import REPO

pytestmark = pytest.mark.slow

RUN = r"""
import json, sys
import nbformat
notebook, function = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 2 else ("04_optimizers.ipynb", "adam_step")
nb = nbformat.read(notebook, 4)
setup = next(c.source for c in nb.cells if c.cell_type == "code" and "otter.Notebook(" in c.source)
stub = next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"def {function}("))
report = {}
for label, source in (("stub", stub), ("solution", open(sys.argv[1]).read())):
    env = {"__name__": "__main__"}
    exec("import numpy as np", env)
    exec(setup, env)
    exec(source, env)
    exec(f'result = grader.check("{function}")', env)   # a cell: otter reads the caller's globals
    report[label] = {"passed": bool(env["result"].passed_all), "text": repr(env["result"])}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def student_python(tmp_path_factory) -> Path:
    """A venv with only the cell's requirement; skipped only if pip can reach no index at all."""
    root = tmp_path_factory.mktemp("student-venv")
    venv.create(root, with_pip=True, clear=True)
    python = root / "bin" / "python"
    packages = REQUIREMENT.removeprefix("pip install ").split()
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", *packages],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        unreachable = re.search(
            r"(Could not find a version|No matching distribution|Failed to establish|"
            r"Network is unreachable|Temporary failure in name resolution)",
            done.stdout + done.stderr,
        )
        if unreachable and "Successfully installed" not in done.stdout:
            pytest.skip(f"pip cannot reach a package index: {unreachable.group(0)}")
        pytest.fail(f"pip install {' '.join(packages)} failed:\n{done.stderr[-3000:]}")
    # really nothing but the requirement: this package is not importable there
    probe = subprocess.run(
        [str(python), "-c", "import autograder"],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
    )
    assert probe.returncode != 0 and "No module named 'autograder'" in probe.stderr
    return python


def test_adam_step_self_check_with_only_otter_and_numpy(student_python, tmp_path):
    import nbformat

    (tmp_path / "04_optimizers.ipynb").write_bytes((REPO / "assignments" / "04_optimizers.ipynb").read_bytes())
    solution = next(
        c.source
        for c in nbformat.read(REPO / "solutions" / "04_optimizers.ipynb", 4).cells
        if c.cell_type == "code" and c.source.startswith("def adam_step(")
    )
    (tmp_path / "solution.py").write_text(solution)
    (tmp_path / "run.py").write_text(RUN)
    done = subprocess.run(
        [str(student_python), "run.py", "solution.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["solution"]["passed"] is True, report["solution"]["text"]
    assert "All test cases passed" in report["solution"]["text"]
    stub = report["stub"]
    assert stub["passed"] is False
    assert "public case (10 steps on an elongated bowl, 3 parameters, starting at [1, -2, 0.5])" in stub["text"]
    assert "raised NotImplementedError: adam_step" in stub["text"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".ipynb") == ["04_optimizers.ipynb"]
    assert not (tmp_path / "tests").exists()  # the checks came from the notebook's metadata


def test_adam_step_self_check_shows_the_first_wrong_step(student_python, tmp_path):
    """A buggy adam (no bias correction): the failure names the step and shows expected and got."""
    from tests.submissions.variants import BUGGY

    buggy = next(v for v in BUGGY if v.name == "adam_without_bias_correction").replace["adam_step"]
    (tmp_path / "04_optimizers.ipynb").write_bytes((REPO / "assignments" / "04_optimizers.ipynb").read_bytes())
    (tmp_path / "solution.py").write_text(buggy)
    (tmp_path / "run.py").write_text(RUN)
    done = subprocess.run(
        [str(student_python), "run.py", "solution.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = json.loads(done.stdout.strip().splitlines()[-1])["solution"]["text"]
    assert "theta from step 1: wrong values" in text, text
    assert "step 1:" in text and "theta: expected" in text and ", got" in text, text


def _augment(student_python, tmp_path, source: str) -> dict:
    (tmp_path / "05_regularisation.ipynb").write_bytes((REPO / "assignments" / "05_regularisation.ipynb").read_bytes())
    (tmp_path / "solution.py").write_text(source)
    (tmp_path / "run.py").write_text(RUN)
    done = subprocess.run(
        [str(student_python), "run.py", "solution.py", "05_regularisation.ipynb", "augment"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_augment_randomness_self_check_with_only_otter_and_numpy(student_python, tmp_path):
    import nbformat

    solution = next(
        c.source
        for c in nbformat.read(REPO / "solutions" / "05_regularisation.ipynb", 4).cells
        if c.cell_type == "code" and c.source.startswith("def augment(")
    )
    report = _augment(student_python, tmp_path, solution)
    assert report["solution"]["passed"] is True, report["solution"]["text"]
    assert report["stub"]["passed"] is False and "raised NotImplementedError: augment" in report["stub"]["text"]


def test_augment_that_cycles_fails_its_randomness_case(student_python, tmp_path):
    from tests.submissions.variants import BUGGY

    cycles = next(v for v in BUGGY if v.name == "augment_cycles_through_the_transforms").replace["augment"]
    text = _augment(student_python, tmp_path, cycles)["solution"]["text"]
    assert "public case (randomness: 300 images" in text, text
    assert "the same flips and shifts for every seed" in text, text
