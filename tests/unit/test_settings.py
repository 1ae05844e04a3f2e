"""Instructor settings in [tool.autograder] (autograder/course/settings.py): validated against the
declarations, and reflected in grading, in `build`'s self-checks, in results and in resuming.

Expected numbers are derived from the declarations (`questions/`), never written down here.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import batch
from autograder.cli import main as cli
from autograder.course.config import load_config
from autograder.course.settings import threshold_of
from autograder.errors import UsageError
from autograder.grading.compare import compare, score_question
from autograder.grading.grade import grade_notebook
from autograder.grading.prepare import call_id, make_plan
from autograder.grading.reference import cache_key
from autograder.handout.build import build_one
from autograder.judging import models
from autograder.questions import ASSIGNMENTS
from autograder.wire import CallOutput

REPO = Path(__file__).resolve().parents[2]
OPT, TL, BN = "04_optimizers", "03_transfer_learning", "02_batch_normalisation"
DECLARED = ASSIGNMENTS[OPT].question("momentum_step").points
B_ON_A = threshold_of(ASSIGNMENTS[TL].question("model_B_on_A"))


def course(folder: Path, body: str) -> Path:
    """A course copy: the repository's solutions and a pyproject.toml with `body` as settings."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("[tool.autograder]\n" + body)
    if not (folder / "solutions").exists():
        shutil.copytree(REPO / "solutions", folder / "solutions")
    return folder


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, message",
    [
        (
            '[tool.autograder.points]\n"04_optimizer.momentum_step" = 3\n',
            r'points\] "04_optimizer.momentum_step": unknown assignment \'04_optimizer\'; known: 01_',
        ),
        (
            '[tool.autograder.points]\n"04_optimizers.momentum" = 3\n',
            r'"04_optimizers.momentum": 04_optimizers has no question \'momentum\'; known: momentum_step, ',
        ),
        ('[tool.autograder.points]\n"04_optimizers" = 3\n', r"has no question ''"),
        (
            '[tool.autograder.points]\n"04_optimizers.adam_step" = 0\n',
            r'"04_optimizers.adam_step" must be a positive number',
        ),
        ('[tool.autograder.points]\n"04_optimizers.adam_step" = -1.5\n', "must be a positive number of points"),
        ('[tool.autograder.points]\n"04_optimizers.adam_step" = true\n', "must be a positive number of points"),
        ('[tool.autograder.points]\n"04_optimizers.adam_step" = "2"\n', "must be a positive number of points"),
        ('[tool.autograder.points]\n"04_optimizers.adam_step" = nan\n', "must be a positive number of points"),
        ("points = 3\n", r"\[tool.autograder.points\] must be a table"),
        (
            '[tool.autograder.thresholds]\n"03_transfer_learning.model_B_on_A" = 1.5\n',
            r'"03_transfer_learning.model_B_on_A" must be an accuracy in \(0, 1\]',
        ),
        ('[tool.autograder.thresholds]\n"03_transfer_learning.model_B_on_A" = 0\n', r"must be an accuracy in \(0, 1\]"),
        ('[tool.autograder.thresholds]\n"03_transfer_learning.model_B_on_A" = 85\n', r"in \(0, 1\] \(0.85 for 85 %\)"),
        (
            '[tool.autograder.thresholds]\n"03_transfer_learning.split_dataset" = 0.9\n',
            r'"03_transfer_learning.split_dataset": not a trained-model question.*02_batch_normalisation.bn_model',
        ),
        ('[tool.autograder.thresholds]\n"03_transfer.model_A" = 0.9\n', "unknown assignment '03_transfer'"),
        (
            '[tool.autograder.assignments."03_transfer"]\nmemory_mb = 4096\n',
            r'\[tool.autograder.assignments\]."03_transfer": unknown assignment',
        ),
        (
            '[tool.autograder.assignments."03_transfer_learning"]\nmemory = 4096\n',
            r"unknown keys memory; an assignment may set notebook_seconds, cell_seconds, call_seconds, memory_mb",
        ),
        (
            '[tool.autograder.assignments."03_transfer_learning"]\nmemory_mb = 0\n',
            r'\[tool.autograder.assignments."03_transfer_learning"\] memory_mb must be at least 1',
        ),
        ('[tool.autograder.assignments."03_transfer_learning"]\nmemory_mb = "4G"\n', "memory_mb must be an integer"),
        (
            '[tool.autograder.assignments."03_transfer_learning"]\nnotebook_seconds = -5\n',
            r'"03_transfer_learning"\] notebook_seconds must be a positive number of seconds',
        ),
        (
            '[tool.autograder.assignments."03_transfer_learning"]\ncell_seconds = 1200\n',
            r'"03_transfer_learning"\] cell_seconds = 1200 is above notebook_seconds = 900',
        ),
        (
            '[tool.autograder.assignments."03_transfer_learning"]\nnotebook_seconds = 30\n',
            r'"03_transfer_learning"\] cell_seconds = 600 is above notebook_seconds = 30',
        ),
        ("call_seconds = 1000\n", r"\[tool.autograder\] call_seconds = 1000 is above notebook_seconds = 900"),
    ],
)
def test_wrong_settings_are_usage_errors_naming_the_key(tmp_path, body, message):
    (tmp_path / "pyproject.toml").write_text("[tool.autograder]\n" + body)
    with pytest.raises(UsageError, match=message) as caught:
        load_config(tmp_path)
    assert "\n" not in str(caught.value)


def test_a_wrong_setting_is_exit_2_before_anything_runs(tmp_path, capsys):
    course(tmp_path, '[tool.autograder.points]\n"04_optimizers.momentum" = 3\n')
    code = cli.main(["--course", str(tmp_path), "build", "--check"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.ExitCode.USAGE and len(err) == 1 and "04_optimizers.momentum" in err[0]


def test_quoted_and_nested_keys_mean_the_same(tmp_path):
    quoted = course(tmp_path / "a", '[tool.autograder.points]\n"04_optimizers.momentum_step" = 3\n')
    bare = course(tmp_path / "b", "[tool.autograder.points]\n04_optimizers.momentum_step = 3\n")
    table = course(tmp_path / "c", '[tool.autograder.points."04_optimizers"]\nmomentum_step = 3\n')
    got = {str(load_config(path).points) for path in (quoted, bare, table)}
    assert got == {str({"04_optimizers.momentum_step": 3.0})}


def test_the_repository_declares_no_overrides_and_thresholds_only_on_trained_models():
    config = load_config(REPO)
    assert (config.points, config.thresholds, config.assignments) == ({}, {}, {})
    for assignment in ASSIGNMENTS.values():
        assert config.assignment(assignment.id) == assignment
        for q in assignment.questions:
            assert (threshold_of(q) is not None) == (q.check.__qualname__ == "trained.<locals>.check"), q.id


# --- points: the grade and the self-check ---------------------------------------------------------


def test_points_change_the_self_check_points_and_the_max_score(tmp_path):
    changed = DECLARED * 2 + 1
    config = load_config(course(tmp_path, f'[tool.autograder.points]\n"{OPT}.momentum_step" = {changed}\n'))
    assignment = config.assignment(OPT)
    assert assignment.max_score == ASSIGNMENTS[OPT].max_score - DECLARED + changed
    built = build_one(REPO / "solutions" / f"{OPT}.ipynb", assignment, tmp_path, {})
    tests = nbformat.reads(built.text, as_version=4).metadata["otter"]["tests"]
    for qid, source in tests.items():
        env: dict = {}
        exec(compile(source, f"{qid}.py", "exec"), env)
        assert env["points"] == assignment.question(qid).points, qid
    assert "points = 2.0" not in tests["momentum_step"] and f"points = {changed:.1f}" in tests["momentum_step"]


def test_points_change_the_grade(tmp_path):
    """compare on the plan of the course's assignment: every case passes, so each question scores
    its configured points (the grade's sum follows), and only the configured question changes."""
    changed = DECLARED + 1.5
    config = load_config(course(tmp_path, f'[tool.autograder.points]\n"{OPT}.momentum_step" = {changed}\n'))
    scores = {}
    for name, assignment in (("declared", ASSIGNMENTS[OPT]), ("course", config.assignment(OPT))):
        plan = make_plan(assignment, seed=3)
        same = {
            call_id(q.id, c.id): CallOutput({"theta": np.ones((10, 2)), "v": np.zeros((10, 2))})
            for q in assignment.questions
            for c in plan.cases[q.id]
        }
        scores[name] = {q.id: q.score for q in compare(plan, same, same)}
    assert scores["declared"] == {q.id: q.points for q in ASSIGNMENTS[OPT].questions}
    assert scores["course"] == {**scores["declared"], "momentum_step": changed}


def test_grade_records_the_settings_and_the_configured_maximum(tmp_path):
    """grade_notebook() itself uses the course's assignment (here on an unreadable file: no sandbox needed)."""
    changed = DECLARED + 3
    config = load_config(course(tmp_path, f'[tool.autograder.points]\n"{OPT}.momentum_step" = {changed}\n'))
    empty = tmp_path / f"empty_{OPT}.ipynb"
    empty.write_text("")
    result = grade_notebook(empty, config, use_sandbox=False)
    assert result.error and result.max_score == config.assignment(OPT).max_score
    assert {q.id: q.max_score for q in result.questions}["momentum_step"] == changed
    assert result.settings_hash == config.settings_hash(OPT) != load_config(REPO).settings_hash(OPT)
    assert json.loads(result.to_json())["settings_hash"] == result.settings_hash


def test_cli_build_bakes_the_course_points_and_reports_drift_when_they_change(tmp_path, monkeypatch):
    """`autograder build` writes the course's points into the self-checks; after a change in
    pyproject.toml, `build --check` (and so `verify`) says which notebook is out of date."""
    monkeypatch.setattr(cli, "reference_outputs", lambda plan, config, use_sandbox: {})
    root = course(tmp_path, f'[tool.autograder.points]\n"{OPT}.momentum_step" = {DECLARED + 1}\n')
    assert cli._build(load_config(root), False, check_only=False)  # assignments/ written
    test = nbformat.read(root / "assignments" / f"{OPT}.ipynb", as_version=4).metadata["otter"]["tests"]
    assert f"points = {DECLARED + 1:.1f}" in test["momentum_step"]
    assert cli._build(load_config(root), False, check_only=True) == []
    course(tmp_path, f'[tool.autograder.points]\n"{OPT}.momentum_step" = {DECLARED + 2}\n')
    assert cli._build(load_config(root), False, check_only=True) == [str(root / "assignments" / f"{OPT}.ipynb")]


# --- thresholds: pass or fail of a trained model ---------------------------------------------------


def test_a_threshold_decides_pass_or_fail_of_a_trained_model(tmp_path, monkeypatch):
    """The compare stage with a model whose test accuracy lies between the declared threshold and
    the course's lower one: failed as declared, passed under the course's setting."""
    accuracy = B_ON_A.minimum - 0.05
    monkeypatch.setattr(models, "accuracy", lambda description, task: accuracy)
    lower = round(accuracy - 0.02, 4)
    config = load_config(course(tmp_path, f'[tool.autograder.thresholds]\n"{TL}.model_B_on_A" = {lower}\n'))
    verdicts = {}
    for name, assignment in (("declared", ASSIGNMENTS[TL]), ("course", config.assignment(TL))):
        plan = make_plan(assignment, seed=0, hidden=False)
        question = assignment.question("model_B_on_A")
        student = {call_id(question.id, c.id): CallOutput({"layers": []}) for c in plan.cases[question.id]}
        verdicts[name] = score_question(question, plan, student, {})
    assert (
        verdicts["declared"].status == "failed"
        and f"below the required {B_ON_A.minimum:.2f}" in verdicts["declared"].feedback[0]
    )
    assert verdicts["course"].status == "passed"
    assert verdicts["course"].score == ASSIGNMENTS[TL].question("model_B_on_A").points


def test_a_threshold_reaches_the_self_check(tmp_path):
    config = load_config(course(tmp_path, f'[tool.autograder.thresholds]\n"{TL}.model_B_on_A" = 0.5\n'))
    built = build_one(REPO / "solutions" / f"{TL}.ipynb", config.assignment(TL), tmp_path, {})
    env: dict = {}
    exec(
        compile(nbformat.reads(built.text, as_version=4).metadata["otter"]["tests"]["model_B_on_A"], "t.py", "exec"),
        env,
    )
    assert [case["check"]["minimum"] for case in env["CASES"]] == [0.5]
    assert threshold_of(config.assignment(TL).question("model_A")) == threshold_of(
        ASSIGNMENTS[TL].question("model_A")
    )  # the others keep theirs


# --- limits, hash, cache, resume --------------------------------------------------------------------


def test_an_assignment_gets_its_own_limits_and_the_others_keep_the_global_ones(tmp_path):
    config = load_config(
        course(tmp_path, f'[tool.autograder.assignments."{TL}"]\nnotebook_seconds = 1200\nmemory_mb = 4096\n')
    )
    own, other = config.for_assignment(TL), config.for_assignment(OPT)
    assert (own.notebook_seconds, own.memory_mb, own.limits.memory_bytes) == (1200.0, 4096, 4096 * 2**20)
    assert isinstance(own.notebook_seconds, float)
    assert (other.notebook_seconds, other.memory_mb) == (config.notebook_seconds, config.memory_mb)


def test_the_hash_changes_with_any_effective_setting_of_its_assignment_only(tmp_path):
    base = load_config(course(tmp_path / "base", ""))
    hashes = {aid: base.settings_hash(aid) for aid in ASSIGNMENTS}
    assert len(set(hashes.values())) == len(hashes)
    for body, changed in [
        (f'[tool.autograder.points]\n"{OPT}.adam_step" = 5\n', OPT),
        (f'[tool.autograder.thresholds]\n"{BN}.bn_model" = 0.7\n', BN),
        (f'[tool.autograder.assignments."{TL}"]\nmemory_mb = 4096\n', TL),
    ]:
        config = load_config(course(tmp_path / changed, body))
        assert {aid: config.settings_hash(aid) != hashes[aid] for aid in ASSIGNMENTS} == {
            aid: aid == changed for aid in ASSIGNMENTS
        }, body
    assert load_config(course(tmp_path / "again", "")).settings_hash(OPT) == hashes[OPT]
    global_limit = load_config(course(tmp_path / "global", "max_passes = 1\n"))
    assert all(global_limit.settings_hash(aid) != hashes[aid] for aid in ASSIGNMENTS)


def test_the_reference_cache_key_does_not_depend_on_points_or_thresholds(tmp_path):
    """Reference outputs are the same under any points or thresholds (trained models are judged
    without a reference), so the cache is shared; see autograder/course/settings.py."""
    config = load_config(
        course(
            tmp_path,
            f'[tool.autograder.points]\n"{TL}.split_dataset" = 7\n[tool.autograder.thresholds]\n"{TL}.model_A" = 0.5\n',
        )
    )
    solution = REPO / "solutions" / f"{TL}.ipynb"
    assert cache_key(solution, make_plan(config.assignment(TL), 5)) == cache_key(
        solution, make_plan(ASSIGNMENTS[TL], 5)
    )


def test_a_resumed_batch_regrades_results_graded_under_other_settings(tmp_path):
    notebook = tmp_path / f"ann_{OPT}.ipynb"
    notebook.write_text("{}")
    subs = [batch.Submission(notebook, "ann", OPT)]
    graded: list[str] = []

    def fake_grade(sub, seed):
        graded.append(sub.key)
        return replace(
            grade_notebook(notebook, load_config(REPO), assignment_id=OPT, use_sandbox=False),
            seed=seed,
            settings_hash=current,
        )

    for current, regraded in (("a" * 64, True), ("a" * 64, False), ("b" * 64, True)):
        before = len(graded)
        results, failures = batch.run_batch(
            subs, tmp_path / "out", 1, batch.Threads(fake_grade, 1), settings_hashes={OPT: current}
        )
        assert not failures and results[0].settings_hash == current
        assert (len(graded) > before) == regraded, current


def test_grade_runs_the_reference_and_the_submission_under_the_assignments_limits(tmp_path, monkeypatch):
    """grade_notebook() hands the assignment's own limits to the reference and to the sandbox (stubbed here)."""
    import importlib

    from autograder.grading.limits import Timing

    grade_module = importlib.import_module("autograder.grading.grade")  # the package exports a function of that name

    config = load_config(
        course(
            tmp_path,
            f'[tool.autograder.assignments."{OPT}"]\n'
            "memory_mb = 1234\nnotebook_seconds = 20\ncell_seconds = 10\ncall_seconds = 5\n",
        )
    )
    seen: dict = {}

    class Stop(Exception):
        pass

    def run(job, limits, **kwargs):
        seen["sandbox"] = limits
        raise Stop

    monkeypatch.setattr(grade_module, "reference_outputs", lambda plan, c, use_sandbox: seen.update(reference=c) or {})
    monkeypatch.setattr(grade_module, "reference_timing", lambda a, c, use_sandbox: Timing(1.0, {}, {}))
    monkeypatch.setattr(grade_module.execute, "run", run)
    with pytest.raises(Stop):
        grade_notebook(REPO / "solutions" / f"{OPT}.ipynb", config, use_sandbox=False)
    assert seen["reference"].memory_mb == 1234
    assert (seen["sandbox"].memory_bytes, seen["sandbox"].notebook_seconds, seen["sandbox"].cell_seconds) == (
        1234 * 2**20,
        20.0,
        10.0,
    )


def test_the_configuration_page_documents_every_key_and_the_declared_thresholds():
    readme = (REPO / "docs" / "configuration.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `[tool.autograder.thresholds]`"))
    declared = {q.id: t.minimum for a in ASSIGNMENTS.values() for q in a.questions if (t := threshold_of(q))}
    assert declared and all(re.search(rf"`{qid}` {minimum:g}(?!\d)", row) for qid, minimum in declared.items()), row
    for key in ("[tool.autograder.points]", '[tool.autograder.assignments."<assignment>"]'):
        assert f"| `{key}` |" in readme
    from autograder.course.settings import LIMIT_KEYS

    row = next(line for line in readme.splitlines() if line.startswith("| `[tool.autograder.assignments."))
    assert all(f"`{key}`" in row for key in LIMIT_KEYS)
