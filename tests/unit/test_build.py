"""autograder.handout.build: solutions/ -> assignments/, with markers enforced and leaks detected."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.errors import BuildError
from autograder.handout.build import (
    BEGIN,
    Built,
    build_one,
    defined_functions,
    graded_functions,
    leaks,
    strip_solutions,
)
from autograder.judging.checks import allclose
from autograder.questions import ASSIGNMENTS
from autograder.questions.base import Assignment, Question

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS, ASSIGNMENTS_DIR = REPO / "solutions", REPO / "assignments"

FAKE = Assignment(
    "99_fake",
    "Fake",
    (
        Question(id="foo", points=1.0, make_public=lambda b: b.call("one", "foo", 1.0), check=allclose()),
        Question(id="bar", points=1.0, make_public=lambda b: b.call("two", "bar", 2.0), check=allclose()),
    ),
)

FOO = 'def foo(x):\n    """Add a secret."""\n    # BEGIN SOLUTION\n    return x + 12345\n    # END SOLUTION\n'
BAR = "def bar(x):\n    # BEGIN SOLUTION\n    secret_value = x * 987654\n    return secret_value\n    # END SOLUTION\n"


def run(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


# --- strip_solutions -------------------------------------------------------------------------------


def test_strip_indented_block():
    source = (
        "def outer(x):\n    y = 2\n    if x:\n        # BEGIN SOLUTION\n        z = x * y\n        return z\n"
        "        # END SOLUTION\n    return None\n"
    )
    stripped, removed = strip_solutions(source, "cell 1")
    assert removed == ["        z = x * y", "        return z"]
    assert stripped == (
        "def outer(x):\n    y = 2\n    if x:\n        # YOUR CODE HERE\n"
        '        raise NotImplementedError("outer")\n    return None\n'
    )
    namespace = run(stripped)
    with pytest.raises(NotImplementedError, match="outer"):
        namespace["outer"](1)
    assert namespace["outer"](0) is None


def test_strip_several_blocks_name_their_functions():
    source = FOO + "\n\n" + BAR + "\nprint('given code')\n"
    stripped, removed = strip_solutions(source, "cell 2")
    assert removed == ["    return x + 12345", "    secret_value = x * 987654", "    return secret_value"]
    namespace = run(stripped)
    for name in ("foo", "bar"):
        with pytest.raises(NotImplementedError, match=name):
            namespace[name](1)
    assert "print('given code')" in stripped and "12345" not in stripped and "987654" not in stripped


def test_strip_top_level_block():
    stripped, removed = strip_solutions("# BEGIN SOLUTION\nmodel = make()\n# END SOLUTION", "cell 3")
    assert removed == ["model = make()"]
    assert stripped == '# YOUR CODE HERE\nraise NotImplementedError("this exercise")'


def test_strip_without_markers_is_identity():
    source = "def helper():\n    return 1\n"
    assert strip_solutions(source, "c") == (source, [])


def test_marker_must_be_alone_on_its_line():
    source = "x = 1  # BEGIN SOLUTION\ny = 2\n"
    assert strip_solutions(source, "c") == (source, [])
    assert BEGIN.match("    # BEGIN SOLUTION   ") and not BEGIN.match("# BEGIN SOLUTIONS")


@pytest.mark.parametrize(
    "source, message",
    [
        ("def f():\n    # END SOLUTION\n    return 1\n", "'# END SOLUTION' without a BEGIN"),
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "'# BEGIN SOLUTION' without an END"),
        ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "nested"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n# END SOLUTION\n", "without a BEGIN"),
    ],
)
def test_unbalanced_markers(source, message):
    with pytest.raises(BuildError, match=message) as err:
        strip_solutions(source, "sol.ipynb cell 7")
    assert str(err.value).startswith("sol.ipynb cell 7: ")


def test_defined_functions_top_level_only():
    assert defined_functions("def a():\n    def b():\n        pass\nclass C:\n    def d(self): pass\n") == {"a"}
    assert defined_functions("def broken(:\n") == set()
    assert defined_functions("# Markdown title\n\nSome *text*.") == set()


# --- build_one on a tiny notebook ------------------------------------------------------------------


def solution_notebook(tmp_path: Path, cells: list[str], assignment: str = "99_fake", minor: int = 5) -> Path:
    doc_cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Fake assignment", **({"id": "md"} if minor >= 5 else {})}
    ]
    for i, source in enumerate(cells):
        cell = {
            "cell_type": "code",
            "metadata": {},
            "source": source,
            "execution_count": 7,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "12345\n"}],
        }
        if minor >= 5:
            cell["id"] = f"cell{i}"
        doc_cells.append(cell)
    doc = {
        "nbformat": 4,
        "nbformat_minor": minor,
        "cells": doc_cells,
        "metadata": {"autograder": {"assignment": assignment}},
    }
    path = tmp_path / "99_fake.ipynb"
    path.write_text(json.dumps(doc))
    return path


def test_graded_functions_of_fake_and_real():
    assert graded_functions(FAKE) == {"foo", "bar"}
    # assignment 04: the five optimizers; trained-model questions (02) contribute no function
    assert graded_functions(ASSIGNMENTS["04_optimizers"]) == {
        "momentum_step",
        "nesterov_step",
        "adagrad_step",
        "rmsprop_step",
        "adam_step",
    }


def test_build_one_tiny_notebook(tmp_path):
    path = solution_notebook(tmp_path, ["import numpy as np", FOO, BAR])
    built = build_one(path, FAKE, tmp_path / "out", {})
    assert built.path == tmp_path / "out" / "99_fake.ipynb" and built.assignment == "99_fake"
    nb = nbformat.reads(built.text, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["autograder"] == {"assignment": "99_fake", "generated": True}
    assert "autograder-generated" in nb.cells[0].metadata["tags"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "12345" not in built.text and "987654" not in built.text  # neither in code nor in outputs
    namespace = run("\n".join(c.source for c in code if "autograder-self-check" not in c.metadata.get("tags", [])))
    for name in ("foo", "bar"):
        with pytest.raises(NotImplementedError, match=name):
            namespace[name](1.0)
    assert built.solution_lines == {"return x + 12345", "secret_value = x * 987654", "return secret_value"}
    assert leaks(built) == []
    assert build_one(path, FAKE, tmp_path / "out", {}).text == built.text  # reproducible


def test_graded_function_without_markers_is_an_error(tmp_path):
    path = solution_notebook(tmp_path, [FOO, "def bar(x):\n    return x * 987654\n"])
    with pytest.raises(BuildError, match=r"99_fake.ipynb cell 2: defines graded \['bar'\] without"):
        build_one(path, FAKE, tmp_path / "out", {})


def test_missing_graded_function_is_an_error(tmp_path):
    path = solution_notebook(tmp_path, [FOO])
    with pytest.raises(BuildError, match=r"no solution cell defines \['bar'\]"):
        build_one(path, FAKE, tmp_path / "out", {})


def test_wrong_metadata_stamp_is_an_error(tmp_path):
    path = solution_notebook(tmp_path, [FOO, BAR], assignment="98_other")
    with pytest.raises(BuildError, match="'98_other', expected '99_fake'"):
        build_one(path, FAKE, tmp_path / "out", {})


def test_solution_line_also_in_given_code_is_not_a_leak(tmp_path):
    path = solution_notebook(tmp_path, [FOO, BAR, "secret_value = x * 987654"])
    built = build_one(path, FAKE, tmp_path / "out", {})
    assert "secret_value = x * 987654" not in built.solution_lines
    assert leaks(built) == []


def test_leaks_finds_a_solution_line_left_in(tmp_path):
    built = build_one(solution_notebook(tmp_path, [FOO, BAR]), FAKE, tmp_path / "out", {})
    doc = json.loads(built.text)
    doc["cells"].append(
        {
            "cell_type": "code",
            "id": "leak",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ["def bar(x):\n", "    secret_value = x * 987654\n", "    return secret_value\n"],
        }
    )
    doc["cells"].append({"cell_type": "markdown", "id": "md2", "metadata": {}, "source": ["return x + 12345"]})
    leaked = Built(built.assignment, built.path, json.dumps(doc), built.solution_lines)
    assert leaks(leaked) == ["return secret_value", "secret_value = x * 987654"]  # markdown is not code


def test_build_one_from_nbformat_4_4_is_a_valid_notebook(tmp_path):
    built = build_one(solution_notebook(tmp_path, [FOO, BAR], minor=4), FAKE, tmp_path / "out", {})
    nbformat.validate(nbformat.reads(built.text, as_version=4))


# --- the real assignments ------------------------------------------------------------------------------


def test_real_assignment_04_without_markers_is_an_error(tmp_path):
    nb = nbformat.read(SOLUTIONS / "04_optimizers.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("def momentum_step(")]
    assert len(cells) == 1
    cells[0].source = "\n".join(line for line in cells[0].source.split("\n") if "SOLUTION" not in line)
    copy = tmp_path / "04_optimizers.ipynb"
    nbformat.write(nb, copy)
    with pytest.raises(BuildError, match=r"defines graded \['momentum_step'\] without"):
        build_one(copy, ASSIGNMENTS["04_optimizers"], tmp_path / "out", {})


@pytest.mark.parametrize("assignment_id", list(ASSIGNMENTS))
def test_real_student_notebooks_have_stubs_and_no_leaks(tmp_path, assignment_id):
    assignment = ASSIGNMENTS[assignment_id]
    built = build_one(SOLUTIONS / f"{assignment_id}.ipynb", assignment, tmp_path, {})
    assert leaks(built) == []
    code = "\n".join(c.source for c in nbformat.reads(built.text, as_version=4).cells if c.cell_type == "code")
    for name in graded_functions(assignment):
        assert f'raise NotImplementedError("{name}")' in code, name
    assert "# BEGIN SOLUTION" not in built.text and "# END SOLUTION" not in built.text


def test_self_check_cells_follow_each_exercise_and_tests_in_metadata_embed_public_values(tmp_path):
    from autograder.wire import CallOutput

    reference = {"foo/public-1": CallOutput(np.array(12346.0)), "bar/public-1": CallOutput(np.array(1975308.0))}
    built = build_one(solution_notebook(tmp_path, ["import numpy as np", FOO, BAR]), FAKE, tmp_path / "out", reference)
    nb = nbformat.reads(built.text, as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "pip install otter-grader numpy" in sources[0]
    assert sources[0].endswith('grader = otter.Notebook("99_fake.ipynb", tests_dir="")')
    assert sources.index('grader.check("foo")') == sources.index(next(s for s in sources if "def foo" in s)) + 1
    assert sources[-1] == "grader.check_all()"
    assert all(
        "autograder-self-check" in c.metadata["tags"]
        for c in nb.cells
        if c.cell_type == "code" and "grader" in c.source
    )
    otter_meta = nb.metadata["otter"]
    assert otter_meta["OK_FORMAT"] is False and set(otter_meta["tests"]) == {"foo", "bar"}
    foo_test = otter_meta["tests"]["foo"]
    assert "12346.0" in foo_test and "1975308" not in foo_test

    def imported(source):
        return {
            (node.module or "." * node.level).split(".")[0]
            if isinstance(node, ast.ImportFrom)
            else alias.name.split(".")[0]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }

    assert imported(foo_test) == {"json", "os", "otter"}
    checker = nb.metadata["autograder_selfcheck"]["code"]  # once per notebook, not in each test
    # the standard library, numpy, and keras for models only (dataclasses, typing: the pasted wire.py
    # and judging/; collections.abc, functools: judging/)
    assert imported(checker) == {
        *("base64", "collections", "dataclasses", "functools", "hashlib", "json", "math", "typing", "zlib"),
        *("numpy", "keras"),
    }
    env: dict = {}
    exec(compile(foo_test, "foo.py", "exec"), env)
    assert env["name"] == "foo" and env["CASES"][0]["expected"]["$nd"] == 12346.0


def test_build_removes_the_old_tests_folder(tmp_path, monkeypatch):
    """Self-check files used to live in assignments/tests/: build --check reports them, build removes them."""
    import importlib

    build_module = importlib.import_module("autograder.handout.build")  # the package exports a function of that name
    monkeypatch.setattr(build_module, "ASSIGNMENTS", {"99_fake": FAKE})
    (tmp_path / "tests" / "99_fake").mkdir(parents=True)
    (tmp_path / "tests" / "99_fake" / "foo.py").write_text("old")
    solutions = tmp_path / "sol"
    solutions.mkdir()
    solution_notebook(solutions, ["import numpy as np", FOO, BAR])
    drift = build_module.build(solutions, tmp_path, lambda plan: {}, check_only=True)
    assert str(tmp_path / "tests") in drift and (tmp_path / "tests").is_dir()
    build_module.build(solutions, tmp_path, lambda plan: {})
    assert not (tmp_path / "tests").exists() and (tmp_path / "99_fake.ipynb").is_file()
    assert build_module.build(solutions, tmp_path, lambda plan: {}, check_only=True) == []


def test_a_solution_formula_in_the_checker_is_a_build_error(tmp_path, monkeypatch):
    """The embedded checker is scanned before anything is built (selfcheck_data.FORMULAS)."""
    from autograder.handout import selfcheck
    from autograder.wire import CallOutput

    source = selfcheck.runtime_source()
    monkeypatch.setattr(selfcheck, "runtime_source", lambda: source + "\nlimit = math.sqrt(3 * s)\n")
    reference = {"foo/public-1": CallOutput(np.array(12346.0)), "bar/public-1": CallOutput(np.array(1975308.0))}
    with pytest.raises(BuildError, match="the uniform bound of variance_scaling_limit"):
        build_one(solution_notebook(tmp_path, ["import numpy as np", FOO, BAR]), FAKE, tmp_path / "out", reference)
