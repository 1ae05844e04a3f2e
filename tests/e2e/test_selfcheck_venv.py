"""A student's notebook, run with exactly what its first cell says to install, and nothing else.

For each generated notebook in assignments/: a virtual environment gets the words of the
notebook's own install line (read from the notebook, as a student copies it) plus `ipykernel`,
the means to run it; never this package. In it, a real Jupyter kernel (nbclient) runs the
notebook unmodified but for the solution's code in its exercise cells: its own import cell does
every import (nothing is imported for it), keras reads Fashion-MNIST from where its own download
would have put it (`~/.keras/datasets`, a link to the Debian package's files: this machine has
no internet), and every `grader.check` and `grader.check_all()` passes. One function is first
run as the stub: its check, run then, fails with its first public case's message.

The environments are cached by the hash of their words (and the Python version) under
~/.cache/dnn-grader/student-venvs (or /var/cache/dnn-grader): TensorFlow takes minutes to
install, reruns take none, and notebooks with the same line share one.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

from autograder.handout.build import strip_solutions
from autograder.handout.precision import CASES_PREFIX
from tests.conftest import REPO

pytestmark = pytest.mark.slow

LINE = re.compile(r"^#\s+(pip install .+)$", re.M)
DATA = Path("/usr/share/datasets/fashion-mnist")  # scripts/setup installs it (dataset-fashion-mnist)
KERAS_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
NOTEBOOKS = sorted(p.stem for p in (REPO / "assignments").glob("*.ipynb"))


def install_words(notebook: nbformat.NotebookNode) -> list[str]:
    """The requirements of the notebook's install line, as a shell would split them."""
    first = next(c for c in notebook.cells if c.cell_type == "code")
    found = LINE.search(first.source)
    assert found, f"no install line in the first code cell:\n{first.source}"
    words = shlex.split(found.group(1))
    assert words[:2] == ["pip", "install"] and len(words) > 2, words
    return words[2:]


def cache_root() -> Path:
    for root in (Path.home() / ".cache" / "dnn-grader", Path("/var/cache/dnn-grader")):
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root, os.W_OK):
            return root / "student-venvs"
    pytest.fail("neither ~/.cache/dnn-grader nor /var/cache/dnn-grader is writable")


def student_python(words: list[str]) -> Path:
    """A venv with exactly `words` and ipykernel, made once per distinct line (locked, so parallel
    test processes build it once) and reused while its marker file says it is complete."""
    key = hashlib.sha256(json.dumps([sys.version, *words]).encode()).hexdigest()[:16]
    root = cache_root() / key
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "complete.json").is_file():
            shutil.rmtree(root, ignore_errors=True)
            venv.create(root, with_pip=True, clear=True)
            done = subprocess.run(
                [
                    str(root / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    *words,
                    "ipykernel",
                ],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if done.returncode != 0:
                pytest.fail(f"pip install {' '.join(words)} ipykernel failed:\n{done.stderr[-3000:]}")
            (root / "complete.json").write_text(json.dumps({"words": words, "python": sys.version}))
    python = root / "bin" / "python"
    probe = subprocess.run(  # really nothing but the line: this package is not importable there
        [str(python), "-c", "import autograder"],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode != 0 and "No module named 'autograder'" in probe.stderr
    return python


def with_solutions(student: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> tuple[list, str]:
    """The student notebook's cells with each exercise cell's solution code put back (a cell whose
    solution, stripped as the build strips it, is exactly the student's cell), and the first
    exercise's function name. Nothing else changes."""
    by_id = {c.id: c for c in solution.cells if c.cell_type == "code"}
    checked = set(student.metadata["otter"]["tests"])
    cells, first = [], None
    for cell in student.cells:
        original = by_id.get(cell.get("id"))
        if cell.cell_type == "code" and original is not None and original.source != cell.source:
            stripped, removed = strip_solutions(original.source, cell.id)
            assert removed and stripped == cell.source, f"cell {cell.id} differs beyond its solution blocks"
            defined = [name for name in re.findall(r"^def (\w+)\(", original.source, re.M) if name in checked]
            first = first or (defined[0] if defined else None)
            cells.append((cell, original.source))
        else:
            cells.append((cell, None))
    assert first, "no exercise cell found"
    return cells, first


def first_public_case(notebook: nbformat.NotebookNode, question: str) -> str:
    test = notebook.metadata["otter"]["tests"][question]
    line = next(line for line in test.split("\n") if line.startswith(CASES_PREFIX))
    return json.loads(ast.literal_eval(line[len(CASES_PREFIX) : -1]))[0]["description"]


def kernel_home(tmp_path: Path) -> Path:
    """HOME for the kernel: keras' download cache holds the data (a link per file), as after a
    student's first `load_data()` at home."""
    home = tmp_path / "home"
    data = home / ".keras" / "datasets" / "fashion-mnist"
    data.mkdir(parents=True)
    for name in KERAS_FILES:
        if not (DATA / name).is_file():
            pytest.fail(f"{DATA / name} is missing: scripts/setup installs dataset-fashion-mnist")
        (data / name).symlink_to(DATA / name)
    return home


def output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        for key in ("text/plain", "text/html"):
            if key in out.get("data", {}):
                parts.append(out["data"][key])
        if out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


def execute(run: nbformat.NotebookNode, python: Path, assignment: str, tmp_path: Path) -> None:
    """Run the notebook in a real Jupyter kernel of the student venv, in a folder holding only the
    generated notebook (otter reads the checks from it), with a bare environment."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    workdir = tmp_path / "student"
    workdir.mkdir()
    shutil.copy(REPO / "assignments" / f"{assignment}.ipynb", workdir)  # otter reads the checks from it
    specs = tmp_path / "kernels" / "student"
    specs.mkdir(parents=True)
    (specs / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "student venv",
                "language": "python",
            }
        )
    )
    manager = KernelManager(
        kernel_name="student", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs.parent)])
    )
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(kernel_home(tmp_path)), "LANG": "C.UTF-8"}
    client = NotebookClient(
        run,
        km=manager,
        timeout=1200,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute(env=env, cwd=str(workdir))
    finally:  # nbclient shuts down only a kernel manager it made itself: this one stayed up, TensorFlow loaded
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("assignment", NOTEBOOKS)
def test_notebook_runs_and_self_checks_with_only_its_install_line(assignment, tmp_path):
    student = nbformat.read(REPO / "assignments" / f"{assignment}.ipynb", as_version=4)
    solution = nbformat.read(REPO / "solutions" / f"{assignment}.ipynb", as_version=4)
    python = student_python(install_words(student))
    cells, stubbed = with_solutions(student, solution)

    # The notebook as run: its own cells in order, each exercise with the solution's code; before
    # the first exercise's solution, its stub as generated and that function's check cell.
    check_source = f'grader.check("{stubbed}")'
    check_cell = next(c for c in student.cells if c.cell_type == "code" and c.source == check_source)
    run = nbformat.v4.new_notebook(metadata=student.metadata)
    stub_check = None
    for cell, solution_source in cells:
        if solution_source is not None and stub_check is None:
            run.cells += [nbformat.v4.new_code_cell(cell.source), nbformat.v4.new_code_cell(check_source)]
            stub_check = run.cells[-1]
        copied = nbformat.from_dict(json.loads(json.dumps(cell)))
        if solution_source is not None:
            copied.source = solution_source
        run.cells.append(copied)
    assert check_cell is not None and stub_check is not None

    execute(run, python, assignment, tmp_path)

    stub_text = output_text(stub_check)
    description = first_public_case(student, stubbed)
    assert f"{stubbed}: public case 1 ({description})" in stub_text, stub_text
    assert f"raised NotImplementedError: {stubbed}" in stub_text, stub_text
    assert "All test cases passed" not in stub_text
    checks = [c for c in run.cells if c.source.startswith("grader.check(") and c is not stub_check]
    assert {c.source for c in checks} == {f'grader.check("{q}")' for q in student.metadata["otter"]["tests"]}
    for cell in checks:
        assert "All test cases passed" in output_text(cell), f"{cell.source}:\n{output_text(cell)}"
    everything = output_text(run.cells[-1])
    assert run.cells[-1].source == "grader.check_all()"
    for question in student.metadata["otter"]["tests"]:
        assert re.search(rf"{re.escape(question)} results: All test cases passed", everything), everything


BUGS = [
    (
        "04_optimizers",
        "adam_without_bias_correction",
        "adam_step",
        ["theta from step 1: wrong values", "theta: expected"],
    ),
    (
        "05_regularisation",
        "augment_cycles_through_the_transforms",
        "augment",
        ["public case (randomness: 300 images", "the same flips and shifts for every seed"],
    ),
]


@pytest.mark.parametrize(("assignment", "variant", "function", "messages"), BUGS, ids=[b[1] for b in BUGS])
def test_a_buggy_function_fails_its_check_with_the_graders_message(assignment, variant, function, messages, tmp_path):
    """The checker's messages in the student's kernel: a buggy version in the exercise cell (the
    other exercises solved) fails its check naming what is wrong."""
    from tests.submissions.variants import BUGGY

    buggy = next(v for v in BUGGY if v.name == variant).replace[function]
    student = nbformat.read(REPO / "assignments" / f"{assignment}.ipynb", as_version=4)
    solution = nbformat.read(REPO / "solutions" / f"{assignment}.ipynb", as_version=4)
    python = student_python(install_words(student))
    cells, _ = with_solutions(student, solution)
    run = nbformat.v4.new_notebook(metadata=student.metadata)
    for cell, solution_source in cells:
        copied = nbformat.from_dict(json.loads(json.dumps(cell)))
        if solution_source is not None:
            copied.source = solution_source
            if re.search(rf"^def {function}\(", solution_source, re.M):  # the bug redefines it, as a student edits
                copied.source += "\n\n\n" + buggy
        run.cells.append(copied)
    assert any(c.source.endswith(buggy) for c in run.cells)
    execute(run, python, assignment, tmp_path)
    text = output_text(next(c for c in run.cells if c.source == f'grader.check("{function}")'))
    assert "All test cases passed" not in text
    for message in messages:
        assert message in text, text
