"""README's table of exercises is the question declarations, not a copy that drifts from them."""

from __future__ import annotations

import re
from pathlib import Path

from autograder.questions import ASSIGNMENTS

README = Path(__file__).resolve().parents[2] / "README.md"


def table() -> dict[str, tuple[str, str]]:
    rows = re.findall(r"^\| `(\d\d_\w+)` \| ([\d.]+) \| (.*) \|$", README.read_text(), re.MULTILINE)
    return {aid: (points, exercises) for aid, points, exercises in rows}


def test_readme_lists_every_graded_exercise_with_its_points():
    rows = table()
    assert set(rows) == set(ASSIGNMENTS)
    for aid, assignment in ASSIGNMENTS.items():
        listed = ", ".join(f"`{q.id}` {q.points:g}" for q in assignment.questions)
        assert rows[aid] == (f"{assignment.max_score:g}", listed), aid
