"""Shared fixtures: the repository's config with a private cache, and notebook variants."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest

from autograder.course.config import Config, load_config
from autograder.grading.notebook import TAG_TRAIN, tags

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The repo's settings, with a cache of its own so tests never reuse a stale reference."""
    return load_config(REPO, cache_dir=tmp_path_factory.mktemp("cache"))


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
