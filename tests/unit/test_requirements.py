"""The install line of each student notebook names everything the notebook imports.

Checked two ways: the derivation itself on small sources (optional imports, magics, unknown
modules), and every committed notebook in assignments/ against this environment's own map of
modules to distributions (`importlib.metadata.packages_distributions`), which knows nothing of
`requirements.PACKAGES`: a notebook that imports a module its line does not name fails here.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

from autograder.errors import BuildError
from autograder.handout.requirements import (
    declared_versions,
    imported_modules,
    install_line,
    norm,
    python_source,
)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "assignments").glob("*.ipynb"))
LINE = re.compile(r"^#\s+(pip install .+)$", re.M)


def named(notebook: nbformat.NotebookNode) -> set[str]:
    """The distributions the notebook's first code cell tells the student to install."""
    first = next(c for c in notebook.cells if c.cell_type == "code")
    found = LINE.search(first.source)
    assert found, f"no install line in the first code cell:\n{first.source}"
    words = shlex.split(found.group(1))[2:]
    return {norm(re.split(r"[<>=!~;\[ ]", w, maxsplit=1)[0]) for w in words}


def needed_imports(notebook: nbformat.NotebookNode) -> set[str]:
    """Top-level third-party modules the notebook's cells import outside `try/except ImportError`,
    read with a walk of their own (not the one under test)."""
    found: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(python_source(cell.source))
        guarded = {
            id(n)
            for t in ast.walk(tree)
            if isinstance(t, ast.Try) and any("ImportError" in ast.unparse(h.type or ast.Name("")) for h in t.handlers)
            for b in t.body
            for n in ast.walk(b)
        }
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebooks_install_line_names_every_module_it_imports(path):
    notebook = nbformat.read(path, as_version=4)
    line = named(notebook)
    providers = metadata.packages_distributions()
    for module in needed_imports(notebook):
        dists = {norm(d) for d in providers.get(module, [])}
        assert dists, f"{module} is not installed here: cannot tell which distribution provides it"
        assert dists & line, f"{path.name} imports {module} (from {sorted(dists)}) but its line names {sorted(line)}"
    if "keras" in needed_imports(notebook):  # Keras 3 runs on a backend: the course's is TensorFlow
        assert {"tensorflow-cpu", "tensorflow"} & line, sorted(line)
    assert {"otter-grader", "numpy"} <= line  # the self-check's own needs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_install_line_pins_what_pyproject_declares(path):
    declared = declared_versions(REPO / "pyproject.toml")
    first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    for word in shlex.split(LINE.search(first.source).group(1))[2:]:
        name = norm(re.split(r"[<>=!~;\[ ]", word, maxsplit=1)[0])
        assert word == declared[name], f"{word} in {path.name}, pyproject.toml says {declared[name]}"


def test_the_line_is_derived_from_imports_optional_ones_left_out():
    sources = [
        "%matplotlib inline\nimport math\nimport numpy as np",
        "try:\n    from autograder.data import load\nexcept ImportError:\n    from keras.datasets import mnist",
        "import matplotlib.pyplot as plt\n!echo hi",
    ]
    assert imported_modules(sources) == {"math", "numpy", "keras", "matplotlib"}
    versions = {"numpy": "numpy>=1.26", "keras": "keras>=3.3"}
    assert install_line(sources, versions) == (
        'pip install otter-grader "numpy>=1.26" "keras>=3.3" matplotlib tensorflow-cpu'
    )
    assert install_line(["x = 1"], {}) == "pip install otter-grader numpy"


def test_an_unmapped_import_is_a_build_error_not_a_short_line():
    with pytest.raises(BuildError, match="'sklearn'.*PACKAGES"):
        install_line(["from sklearn.linear_model import Ridge"], {}, "07_extra.ipynb")
    with pytest.raises(BuildError, match="cell 0: cannot read its imports"):
        install_line(["def broken(:\n"], {})
