"""autograder.gradescope.export: Result -> Gradescope's results.json, the commands the zip's scripts call, the zip's layout."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from autograder.cli.main import ExitCode, main
from autograder.course.config import load_config
from autograder.errors import UsageError
from autograder.gradescope.export import ENVIRONMENT_TEST, build_autograder_zip, failure, to_gradescope
from autograder.gradescope.settings import sized
from autograder.result import CaseResult, CellError, Execution, QuestionResult, Result
from autograder.sandbox.isolation import Isolation

REPO = Path(__file__).resolve().parents[2]
TEST_KEYS = {"name", "score", "max_score", "status", "output", "visibility"}


def question(qid: str, points: float, public: list[bool], hidden: list[bool]) -> QuestionResult:
    """A question as compare.py scores it: points * passed / total, feedback for failed cases only."""
    cases, feedback = [], []
    for kind, pattern in (("public", public), ("hidden", hidden)):
        for i, passed in enumerate(pattern, 1):
            description = f"{qid} {kind} shape {i}"
            message = "" if passed else f"{qid} {kind} wrong value {i}"
            cases.append(CaseResult(f"{kind}-{i}", kind == "public", passed, description, message))
            if not passed:
                feedback.append(
                    f"{kind} case ({description}): {message}"
                    + (f"\n  input:    {qid}(SECRET-INPUT-{i})" if kind == "public" else "")
                )
    total = len(cases)
    passed = sum(c.passed for c in cases)
    score = round(points * passed / total, 4) if total else 0.0
    status = "passed" if total and passed == total else "partial" if passed else "failed"
    return QuestionResult(qid, score, points, status, passed, total, tuple(feedback), tuple(cases))


def result(
    *questions: QuestionResult, execution: Execution | None = None, error: str | None = None, sandboxed: bool = True
) -> Result:
    if execution is None and error is None:
        execution = Execution(3.2, False, False, False, 1, (), ())
    return Result(
        assignment="04_optimizers",
        submission="sub.ipynb",
        student="sub",
        score=round(sum(q.score for q in questions), 4),
        max_score=sum(q.max_score for q in questions),
        seed=99,
        grader_version="0.1.0",
        sandboxed=sandboxed,
        questions=tuple(questions),
        execution=execution,
        error=error,
    )


def check_format(doc: dict) -> None:
    json.dumps(doc)  # plain JSON
    assert {"score", "output", "tests", "visibility", "stdout_visibility"} <= set(doc)
    for test in doc["tests"]:
        assert set(test) == TEST_KEYS, test
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_published") or test["name"] == ENVIRONMENT_TEST
        assert 0 <= test["score"] <= test["max_score"] + 1e-9


def test_public_and_hidden_cases_are_split_and_add_up():
    res = result(
        question("adam_step", 2.0, [True], [True, False, True, False, True]),
        question("momentum_step", 2.0, [False], [True] * 5),
        question("rmsprop_step", 2.0, [True], [True] * 5),
    )
    doc = to_gradescope(res)
    check_format(doc)
    assert doc["score"] == res.score
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(res.score, abs=1e-9)
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(res.max_score, abs=1e-9)
    tests = {t["name"]: t for t in doc["tests"]}
    assert list(tests) == [
        f"{q} ({k} cases)" for q in ("adam_step", "momentum_step", "rmsprop_step") for k in ("public", "hidden")
    ]
    adam_public, adam_hidden = tests["adam_step (public cases)"], tests["adam_step (hidden cases)"]
    assert (adam_public["score"], adam_public["max_score"], adam_public["status"]) == (0.3333, 0.3333, "passed")
    assert (adam_hidden["score"], adam_hidden["max_score"], adam_hidden["status"]) == (1.0, 1.6667, "failed")
    assert tests["momentum_step (public cases)"]["status"] == "failed"
    assert "SECRET-INPUT-1" in tests["momentum_step (public cases)"]["output"]  # public details are shown
    assert tests["momentum_step (hidden cases)"]["score"] == 1.6667


def test_hidden_details_are_only_in_after_published_tests():
    res = result(
        question("adam_step", 2.0, [False, True], [False, False, True]),
        question("nesterov_step", 2.0, [True], [False, True]),
    )
    doc = to_gradescope(res)
    for test in doc["tests"]:
        hidden = test["name"].endswith("(hidden cases)")
        assert test["visibility"] == ("after_published" if hidden else "visible")
        if not hidden:
            assert "hidden wrong value" not in test["output"] and "hidden shape" not in test["output"]
    hidden_text = "\n".join(t["output"] for t in doc["tests"] if t["visibility"] == "after_published")
    assert "adam_step hidden wrong value 1" in hidden_text and "nesterov_step hidden wrong value 1" in hidden_text
    # the always-visible top level shows neither hidden details nor the total (it would give them away)
    assert "hidden wrong value" not in doc["output"]
    assert f"{res.score:g}" not in doc["output"]
    assert doc["stdout_visibility"] == "hidden"


@pytest.mark.parametrize("points", [1.0, 2.0, 3.0, 0.5])
@pytest.mark.parametrize("n_public,n_hidden", [(1, 5), (2, 4), (3, 3), (1, 2), (4, 7)])
def test_every_pass_pattern_adds_up_to_the_question_score(points, n_public, n_hidden):
    for pattern in itertools.product([True, False], repeat=n_public + n_hidden):
        q = question("q", points, list(pattern[:n_public]), list(pattern[n_public:]))
        tests = to_gradescope(result(q))["tests"]
        assert len(tests) == 2
        assert sum(t["score"] for t in tests) == pytest.approx(q.score, abs=1e-9)
        assert sum(t["max_score"] for t in tests) == pytest.approx(points, abs=1e-9)
        for t in tests:
            assert 0 <= t["score"] <= t["max_score"] + 1e-9
            assert (t["status"] == "passed") == (t["score"] == t["max_score"])


def test_questions_with_one_kind_of_case_are_one_test():
    res = result(question("only_public", 1.0, [True, False], []), question("only_hidden", 2.0, [], [True, False]))
    tests = to_gradescope(res)["tests"]
    assert [(t["name"], t["visibility"], t["score"], t["max_score"]) for t in tests] == [
        ("only_public (public cases)", "visible", 0.5, 1.0),
        ("only_hidden (hidden cases)", "after_published", 1.0, 2.0),
    ]


def test_all_public_shows_the_total():
    res = result(question("q", 2.0, [True, True], []))
    doc = to_gradescope(res)
    assert "2 / 2 points" in doc["output"]


def test_execution_problems_go_to_the_top_level_output():
    execution = Execution(
        61.0,
        True,
        True,
        False,
        3,
        ("cell:7", "probe:adam_step/hidden-2", "probe:adam_step/public-1"),
        (CellError(4, "error", "NameError", "name 'np' is not defined"), CellError(7, "timeout")),
    )
    doc = to_gradescope(result(question("adam_step", 2.0, [True], [True, False]), execution=execution, sandboxed=False))
    out = doc["output"]
    assert "cell 5: NameError: name 'np' is not defined" in out  # cells counted from 1
    assert "cell 8 did not finish in time" in out
    assert "total time limit" in out
    assert "calling adam_step on a hidden case" in out and "hidden-2" not in out
    assert "calling adam_step on case public-1" in out
    assert "WITHOUT the bubblewrap sandbox" not in out  # the instructor's (test below)
    assert doc["execution_time"] == 61
    assert not any("NameError" in t["output"] for t in doc["tests"])


def test_isolation_notes_go_to_the_instructor_not_the_student():
    """A note on the grader's container is not about the notebook: a hidden test worth 0 of 0
    (Gradescope never shows "hidden" tests to students), nothing in what the student sees."""
    weak = Isolation("none", "host", 60001, "guard", "rlimit", container_memory_mb=3072)
    res = dataclasses.replace(result(question("adam_step", 2.0, [True], [True, False])), isolation=weak)
    doc = to_gradescope(res)
    check_format(doc)
    seen = doc["output"] + "".join(t["output"] for t in doc["tests"] if t["visibility"] != "hidden")
    for note in ("no namespaces", "no network isolation", "memory guard", "RLIMIT_NPROC", "3072 MB"):
        assert note not in seen
    (env,) = [t for t in doc["tests"] if t["visibility"] == "hidden"]
    assert env["name"] == ENVIRONMENT_TEST and (env["score"], env["max_score"]) == (0.0, 0.0)
    for note in ("no namespaces", "no network isolation", "memory guard", "RLIMIT_NPROC", "3072 MB"):
        assert note in env["output"]
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(doc["score"])
    full = dataclasses.replace(res, isolation=Isolation("bwrap", "none", 60001, "cgroup-v1", "cgroup-v1", "cgroup-v1"))
    assert all(t["visibility"] != "hidden" for t in to_gradescope(full)["tests"])


def test_the_zip_accepts_exactly_what_a_container_gives(tmp_path):
    """accept_weaker in the zip's pyproject.toml, and GRADESCOPE.md says what it means."""
    path = build_autograder_zip(
        tmp_path / "a.zip",
        REPO,
        assignment="04_optimizers",
        settings=sized(load_config(REPO), timeout_minutes=10, container_mb=3072, seed=1),
    )
    with zipfile.ZipFile(path) as zf:
        pyproject = zf.read("pyproject.toml").decode()
        guide = zf.read("GRADESCOPE.md").decode()
    assert (
        'accept_weaker = ["memory", "pids", "cpu", "landlock"]' in pyproject and pyproject.count("accept_weaker =") == 1
    )
    assert "## Isolation in Gradescope's container" in guide
    assert "memory guard" in guide and "RLIMIT_NPROC" in guide and "PermissionError" in guide


def test_unreadable_submission_scores_zero_with_the_reason():
    questions = tuple(
        QuestionResult(q, 0.0, 2.0, "error", 0, 0, ("sub.ipynb: the file is empty",))
        for q in ("momentum_step", "adam_step")
    )
    res = Result(
        assignment="04_optimizers",
        submission="sub.ipynb",
        student="sub",
        score=0.0,
        max_score=4.0,
        seed=1,
        grader_version="0.1.0",
        sandboxed=True,
        questions=questions,
        execution=None,
        error="sub.ipynb: the file is empty",
    )
    doc = to_gradescope(res)
    check_format(doc)
    assert doc["score"] == 0.0
    assert "the file is empty" in doc["output"]
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in doc["tests"]] == [
        ("momentum_step", 0.0, 2.0, "failed"),
        ("adam_step", 0.0, 2.0, "failed"),
    ]


def test_failure_document():
    doc = failure("no notebook")
    check_format(doc)
    assert doc["score"] == 0.0 and "no notebook" in doc["output"]


def test_the_scripts_commands_convert_and_fail_safely(tmp_path, monkeypatch, capsys):
    """run_autograder's `export gradescope-results` and `-failure` read no course: they must leave a
    results.json even where the course's pyproject.toml is what broke (here: no course at all)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOGRADER_COURSE", str(tmp_path / "no-course"))
    res = result(question("adam_step", 2.0, [True], [False, True]))
    src, out = tmp_path / "r.json", tmp_path / "results" / "results.json"
    src.write_text(res.to_json())
    assert main(["export", "gradescope-results", str(src), str(out)]) == ExitCode.OK
    assert json.loads(out.read_text()) == to_gradescope(res)

    src.write_text('{"schema_version": 999}')
    assert main(["export", "gradescope-results", str(src), str(out)]) == ExitCode.INFRASTRUCTURE
    assert json.loads(out.read_text())["score"] == 0.0 and "could not read its own result" in out.read_text()
    assert f"cannot read the result {src}" in capsys.readouterr().err

    assert main(["export", "gradescope-failure", str(out), "two notebooks"]) == ExitCode.OK
    assert "two notebooks" in json.loads(out.read_text())["output"]


@pytest.mark.parametrize(
    ("bwrap", "uid", "level"), [(True, True, "bubblewrap"), (False, True, "no-namespaces"), (False, False, "none")]
)
def test_the_level_the_scripts_pick_their_options_from(bwrap, uid, level, monkeypatch, capsys):
    from autograder.gradescope import commands

    monkeypatch.setattr(commands, "bubblewrap_available", lambda: bwrap)
    monkeypatch.setattr(commands, "can_drop_uid", lambda: uid)
    assert main(["export", "gradescope-level"]) == ExitCode.OK
    assert capsys.readouterr().out == f"{level}\n"


def test_prepare_without_a_fixed_seed_is_a_usage_error(tmp_path, capsys):
    course = tmp_path / "course"
    course.mkdir()
    (course / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    assert load_config(course).seed is None  # the repository's course fixes none; the zip's does
    assert main(["--course", str(course), "export", "gradescope-prepare"]) == ExitCode.USAGE
    assert "no seed in [tool.autograder]" in capsys.readouterr().err


# ---- the zip's layout (no grading; the e2e test runs it) --------------------------------------


def test_zip_layout(tmp_path):
    path = build_autograder_zip(tmp_path / "autograder.zip", REPO, assignment="04_optimizers")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
    for needed in (
        "setup.sh",
        "run_autograder",
        "pyproject.toml",
        "README.md",
        "autograder/__init__.py",
        "autograder/gradescope/export.py",
        "autograder/runtime/runner.py",
        "autograder/runtime/probe.py",
        "autograder/questions/a04_optimizers.py",
        "solutions/04_optimizers.ipynb",
    ):
        assert needed in names
    assert not any("__pycache__" in n or n.endswith(".pyc") or n.startswith(("tests/", "assignments/")) for n in names)
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert run.startswith("#!/usr/bin/env bash") and "GRADESCOPE_ROOT" in run and 'ASSIGNMENT="04_optimizers"' in run
    assert '--assignment "$ASSIGNMENT" --strict-assignment' in run
    assert "bubblewrap" in setup and "python3-pip" in setup and "GRADESCOPE_ROOT" in setup
    for script in ("run_autograder", "setup.sh"):
        (tmp_path / script).write_text(run if script == "run_autograder" else setup)
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)


def test_zip_is_reproducible_and_can_fix_the_assignment(tmp_path):
    settings = sized(load_config(REPO), timeout_minutes=10, container_mb=3072, seed=11)
    a = build_autograder_zip(tmp_path / "a.zip", REPO, assignment="04_optimizers", settings=settings)
    b = build_autograder_zip(tmp_path / "b.zip", REPO, assignment="04_optimizers", settings=settings)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert 'ASSIGNMENT="04_optimizers"' in zf.read("run_autograder").decode()
    with pytest.raises(UsageError, match="unknown assignment"):
        build_autograder_zip(tmp_path / "c.zip", REPO, assignment="99_nope")
    with pytest.raises(UsageError, match="missing"):
        build_autograder_zip(tmp_path / "d.zip", tmp_path)


def test_one_gradescope_assignment_is_one_of_ours(tmp_path, capsys):
    """Without --assignment the export refuses a course of several assignments (a notebook would
    pick the one that scores it) and takes the only one of a course that has one."""
    with pytest.raises(UsageError, match="pass --assignment"):
        build_autograder_zip(tmp_path / "a.zip", REPO)
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, course / name)
    shutil.copy(REPO / "solutions" / "05_regularisation.ipynb", course / "solutions")
    out = tmp_path / "b.zip"
    assert main(["--course", str(course), "export", "gradescope", "--out", str(out), "--seed", "3"]) == ExitCode.OK
    assert "for 05_regularisation" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert 'ASSIGNMENT="05_regularisation"' in zf.read("run_autograder").decode()


def test_a_notebook_stamped_as_another_assignment_scores_zero_saying_so(tmp_path):
    """run_autograder's `--strict-assignment`: a full-marks 01 notebook renamed into the 05 slot
    is neither graded as 01 (its 21 points in a 12-point assignment) nor run at all."""
    from autograder.grading.grade import grade_notebook

    config = load_config(REPO)
    renamed = tmp_path / "my_05_regularisation.ipynb"
    shutil.copy(REPO / "solutions" / "01_activations_and_initialisation.ipynb", renamed)
    result = grade_notebook(renamed, config, assignment_id="05_regularisation", seed=1, strict_assignment=True)
    assert (result.assignment, result.score, result.max_score) == ("05_regularisation", 0.0, 12.0)
    assert result.execution is None  # refused before anything ran
    doc = to_gradescope(result)
    assert doc["score"] == 0.0
    assert "this notebook is assignment 01_activations_and_initialisation" in doc["output"]
    assert "upload your 05_regularisation notebook" in doc["output"]


# ---- Gradescope-sized settings ----------------------------------------------------------------


def test_limits_fit_gradescopes_timeout_with_every_rerun(tmp_path):
    config = load_config(REPO)
    for minutes in (10, 20, 40):
        settings = sized(config, timeout_minutes=minutes, container_mb=3072, seed=5)
        assert settings.worst_case_seconds() <= minutes * 60
        assert (
            settings.cell_seconds + config.limit_floor_seconds <= settings.notebook_seconds <= config.notebook_seconds
        )
    assert sized(config, timeout_minutes=10, container_mb=3072, seed=5).memory_mb == 3072 - 512
    with pytest.raises(UsageError, match="pick at least 1536 MB"):
        sized(config, timeout_minutes=10, container_mb=768, seed=5)  # Gradescope's default container
    with pytest.raises(UsageError, match="at most|1 to 40"):
        sized(config, timeout_minutes=41, container_mb=3072, seed=5)
    with pytest.raises(UsageError, match="too little"):
        sized(config, timeout_minutes=2, container_mb=3072, seed=5)


def test_the_zips_pyproject_carries_the_sized_settings_and_the_fixed_seed(tmp_path):
    settings = sized(load_config(REPO), timeout_minutes=10, container_mb=3072, seed=424242)
    path = build_autograder_zip(tmp_path / "autograder.zip", REPO, assignment="05_regularisation", settings=settings)
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp_path / "source")
        guide = zf.read("GRADESCOPE.md").decode()
        setup = zf.read("setup.sh").decode()
    config = load_config(tmp_path / "source")  # valid TOML, every key once, the grader reads it
    assert (config.seed, config.notebook_seconds, config.cell_seconds, config.memory_mb) == (
        424242,
        settings.notebook_seconds,
        settings.cell_seconds,
        settings.memory_mb,
    )
    assert config.max_passes * config.notebook_seconds + 60 <= 600
    for line in settings.instructions():
        assert line in guide and line in setup
    assert "at least 3072 MB" in guide and "at least 10 minutes" in guide
    assert "export gradescope-prepare" in setup
