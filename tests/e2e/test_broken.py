"""Broken submissions through the whole pipeline: nothing is lost, and each says what is wrong.

A file that cannot be read as a notebook gets score 0 and a message naming the problem (in
`Result.error` and in every question's feedback). A notebook that can be read is graded: whatever
still works scores, and what is missing or broken says so in its question's feedback. Built from
solutions/05_regularisation.ipynb (numpy only, quick) unless stated.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

from autograder.grading.grade import grade_notebook
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO
from tests.submissions.variants import A05

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
SEED = 7
POINTS = {
    "l1_penalty": 1.0,
    "l2_penalty": 1.0,
    "elastic_net_penalty": 1.0,
    "dropout_train": 2.0,
    "dropout_test_weights": 1.0,
    "inverted_dropout": 2.0,
    "early_stopping": 2.0,
    "augment": 2.0,
}


@pytest.fixture(scope="module")
def small(config):
    return dataclasses.replace(config, cell_seconds=5, call_seconds=5, notebook_seconds=60, memory_mb=1024)


def solution() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / f"{A05}.ipynb", as_version=4)


def defining(nb, name: str) -> int:
    return next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(rf"^def {name}\(", c.source, re.M)
    )


def write(tmp_path: Path, name: str, content: bytes | str | nbformat.NotebookNode, version: int = 4) -> Path:
    path = tmp_path / f"{name}_{A05}.ipynb"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        nbformat.write(content, path, version=version)
    return path


def scores(result) -> dict[str, float]:
    return {q.id: q.score for q in result.questions}


# --- unreadable: score 0 and the reason, for every question ---------------------------------------


def _nb_json() -> str:
    return nbformat.writes(solution())


UNREADABLE = {
    "empty": (b"", "the file is empty"),
    "invalid_json": (_nb_json()[: len(_nb_json()) // 2].encode(), "not valid JSON"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "not UTF-8 text"),
    "zip_renamed": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xb7\x8c\xe4\x58" + bytes(200), "not UTF-8 text"),
    "non_utf8_text": (
        _nb_json().replace("Regularisation", "R\u00e9gularisation").encode("latin-1", "replace"),
        "not UTF-8 text",
    ),
    "nbformat_5": (
        json.dumps({**json.loads(_nb_json()), "nbformat": 5}).encode(),
        "notebook format 5 is not supported",
    ),
    "nbformat_missing": (
        json.dumps({k: v for k, v in json.loads(_nb_json()).items() if k != "nbformat"}).encode(),
        "notebook format None is not supported",
    ),
    "json_not_a_notebook": (b'{"name": "my homework", "answers": [1, 2, 3]}', "not a Jupyter notebook"),
    "json_list": (b"[1, 2, 3]", "not a Jupyter notebook"),
    "cells_not_a_list": (
        json.dumps({**json.loads(_nb_json()), "cells": "oops"}).encode(),
        "damaged notebook structure",
    ),
    "deeply_nested": (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
}


@pytest.mark.parametrize("case", UNREADABLE, ids=str)
def test_unreadable_files_score_zero_with_a_reason(case, small, tmp_path):
    content, reason = UNREADABLE[case]
    result = grade_notebook(write(tmp_path, case, content), small, assignment_id=A05, seed=SEED)
    assert result.score == 0.0 and result.max_score == sum(POINTS.values())
    assert result.error is not None and reason in result.error, result.error
    assert result.execution is None  # nothing ran
    for q in result.questions:
        assert q.status == "error" and reason in q.feedback[0]


def test_a_notebook_over_the_size_limit_is_refused_without_reading_it(small, tmp_path):
    path = tmp_path / f"huge_{A05}.ipynb"
    with open(path, "wb") as fh:
        fh.truncate(201 * 1024**2)  # sparse: no disk used
    result = grade_notebook(path, small, assignment_id=A05, seed=SEED)
    assert result.score == 0.0 and "larger than the 200 MB limit" in result.error


# --- readable: graded, nothing that works is lost ------------------------------------------------


def test_nbformat_3_is_converted_and_graded(small, tmp_path):
    result = grade_notebook(write(tmp_path, "v3", solution(), version=3), small, seed=SEED)
    assert json.loads((tmp_path / f"v3_{A05}.ipynb").read_text())["nbformat"] == 3
    assert result.assignment == A05 and result.score == result.max_score


def test_a_byte_order_mark_is_not_damage(small, tmp_path):
    result = grade_notebook(write(tmp_path, "bom", b"\xef\xbb\xbf" + _nb_json().encode()), small, seed=SEED)
    assert result.error is None and result.score == result.max_score


def test_missing_cells_cost_their_questions_only(small, tmp_path):
    nb = solution()
    for name in ("l2_penalty", "dropout_train"):
        del nb.cells[defining(nb, name)]
    result = grade_notebook(write(tmp_path, "missing_cells", nb), small, seed=SEED)
    assert result.score == result.max_score - POINTS["l2_penalty"] - POINTS["dropout_train"]
    for name in ("l2_penalty", "dropout_train"):
        q = next(q for q in result.questions if q.id == name)
        assert q.status == "missing" and f"`{name}` is not defined" in q.feedback[0]
    # the demo cells that call them fail, visibly, and nothing else is affected
    assert {e.ename for e in result.execution.cell_errors} == {"NameError"}


def test_renamed_and_broken_functions_cost_their_questions_only(small, tmp_path):
    nb = solution()
    nb.cells[defining(nb, "l1_penalty")].source = nb.cells[defining(nb, "l1_penalty")].source.replace(
        "def l1_penalty(", "def l1_penality("
    )
    augment = defining(nb, "augment")
    nb.cells[augment].source = nb.cells[augment].source.replace("    return np.where(", "    return np.where((", 1)
    assert nb.cells[augment].source != solution().cells[augment].source  # a syntax error now
    result = grade_notebook(write(tmp_path, "renamed", nb), small, seed=SEED)
    assert result.score == result.max_score - POINTS["l1_penalty"] - POINTS["augment"]
    statuses = {q.id: q.status for q in result.questions if q.score < q.max_score}
    assert statuses == {"l1_penalty": "missing", "augment": "missing"}
    errors = {e.cell: e.ename for e in result.execution.cell_errors}
    assert errors[augment] == "SyntaxError"


def test_a_deleted_import_cell_is_explained_in_every_question(small, tmp_path):
    nb = solution()
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert "import numpy as np" in nb.cells[first].source
    del nb.cells[first]
    result = grade_notebook(write(tmp_path, "no_imports", nb), small, seed=SEED)
    assert result.score == 0.0
    for q in result.questions:
        assert "raised NameError: name 'np' is not defined" in q.feedback[0], (q.id, q.feedback[:1])


def test_an_empty_notebook_is_missing_everything(small, tmp_path):
    nb = solution()
    nb.cells = []
    result = grade_notebook(write(tmp_path, "empty_nb", nb), small, seed=SEED)
    assert result.score == 0.0 and {q.status for q in result.questions} == {"missing"}
    assert result.error is None and result.execution.cell_errors == ()


def test_outputs_and_kernels_do_not_matter(small, tmp_path):
    """Stripped outputs, 50 MB of outputs and a kernel that does not exist all grade like the solution."""
    stripped = solution()
    for cell in stripped.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    bulky = copy.deepcopy(stripped)
    bulky.cells[defining(bulky, "l1_penalty")].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x" * 50_000_000)
    ]
    kernel = solution()
    kernel.metadata["kernelspec"] = {"name": "no-such-kernel-3.7", "display_name": "Gone", "language": "cobol"}
    for name, nb in (("stripped", stripped), ("bulky", bulky), ("kernel", kernel)):
        path = write(tmp_path, name, nb)
        started = time.monotonic()
        result = grade_notebook(path, small, seed=SEED)
        assert result.score == result.max_score and result.error is None, name
        if name == "bulky":
            assert path.stat().st_size > 50_000_000
            assert time.monotonic() - started < 30
