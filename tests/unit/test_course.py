"""autograder.course.locate: where the course is, from any working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.course import locate as course
from autograder.course.locate import find_course
from autograder.errors import UsageError


def make_course(folder: Path, table: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n" + ("[tool.autograder]\nseed = 1\n" if table else "")
    )
    return folder.resolve()


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """A working folder with no course above it and no installed course."""
    monkeypatch.setattr(course, "installed_courses", lambda: [tmp_path / "not-installed"])
    work = tmp_path / "downloads"
    work.mkdir()
    return work


def test_explicit_course_wins_over_everything(tmp_path, nowhere):
    a, b = make_course(tmp_path / "a"), make_course(tmp_path / "b")
    inside = make_course(nowhere / "c")
    assert find_course(a, cwd=inside, environ={course.ENV: str(b)}) == a
    assert find_course(None, cwd=inside, environ={course.ENV: str(b)}) == b
    assert find_course(None, cwd=inside, environ={}) == inside


def test_a_folder_with_solutions_is_a_course(tmp_path, nowhere):
    (tmp_path / "plain" / "solutions").mkdir(parents=True)
    assert find_course(tmp_path / "plain", cwd=nowhere, environ={}) == (tmp_path / "plain").resolve()


def test_explicit_folder_that_is_not_a_course_is_a_usage_error(tmp_path, nowhere):
    with pytest.raises(UsageError, match="--course .*not a course"):
        find_course(tmp_path / "missing", cwd=nowhere, environ={})
    with pytest.raises(UsageError, match=r"\$AUTOGRADER_COURSE .*not a course"):
        find_course(None, cwd=nowhere, environ={course.ENV: str(make_course(tmp_path / "t", table=False))})


def test_nearest_pyproject_with_the_table_from_a_subfolder(tmp_path, nowhere):
    root = make_course(nowhere / "course")
    make_course(nowhere / "course" / "sub", table=False)  # another project's pyproject: not a course
    deep = nowhere / "course" / "sub" / "deeper"
    deep.mkdir()
    assert find_course(None, cwd=deep, environ={}) == root


def test_installed_course_when_nothing_else(tmp_path, monkeypatch, nowhere):
    installed = make_course(tmp_path / "prefix" / "share" / "dnn-grader")
    monkeypatch.setattr(course, "installed_courses", lambda: [tmp_path / "checkout", installed])
    assert find_course(None, cwd=nowhere, environ={}) == installed


def test_nothing_found_lists_what_was_tried(tmp_path, nowhere):
    with pytest.raises(UsageError) as err:
        find_course(None, cwd=nowhere, environ={})
    message = str(err.value)
    assert "--course" in message and "$AUTOGRADER_COURSE" in message and str(nowhere.resolve()) in message
    assert str(tmp_path / "not-installed") in message and "\n" not in message


def test_the_package_finds_its_own_checkout():
    """Run from this checkout (editable install), the installed course is the repository."""
    repo = Path(__file__).resolve().parents[2]
    assert course.installed_courses()[0] == repo and course.is_course(repo)
