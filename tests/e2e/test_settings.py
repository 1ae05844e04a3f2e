"""End to end: a course that reweights a question in its pyproject.toml grades with its points.

The course is a temporary copy (the repository's solutions and pyproject.toml, one points line
added) that shares the session's reference cache; expectations come from the declarations.
"""

from __future__ import annotations

import shutil

import pytest

from autograder.course.config import load_config
from autograder.grading.grade import grade_notebook
from autograder.questions import ASSIGNMENTS
from autograder.sandbox import bubblewrap_available
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
OPT = "04_optimizers"


def test_changed_points_change_the_grade_of_a_real_notebook(config, tmp_path):
    declared = ASSIGNMENTS[OPT]
    changed = declared.question("momentum_step").points + 3
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    (tmp_path / "pyproject.toml").write_text(
        (REPO / "pyproject.toml").read_text() + f'\n[tool.autograder.points]\n"{OPT}.momentum_step" = {changed}\n'
    )
    course = load_config(tmp_path, cache_dir=config.cache_dir)
    result = grade_notebook(tmp_path / "solutions" / f"{OPT}.ipynb", course, seed=7)
    scores = {q.id: q.score for q in result.questions}
    assert scores == {q.id: changed if q.id == "momentum_step" else q.points for q in declared.questions}
    assert result.score == result.max_score == declared.max_score + 3
    assert result.settings_hash == course.settings_hash(OPT) != config.settings_hash(OPT)
