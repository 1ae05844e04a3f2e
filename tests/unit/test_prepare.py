"""autograder.grading.prepare: plans from declarations and a seed; the sandbox's stand-in data split."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from autograder import data
from autograder.grading import prepare
from autograder.questions import ASSIGNMENTS


@pytest.mark.parametrize("assignment_id", list(ASSIGNMENTS))
def test_public_cases_do_not_depend_on_the_seed(assignment_id):
    assignment = ASSIGNMENTS[assignment_id]
    a, b = prepare.make_plan(assignment, 1, hidden=False), prepare.make_plan(assignment, 2, hidden=False)
    assert a.fingerprint() == b.fingerprint()
    assert all(c.public for cases in a.cases.values() for c in cases)


def test_hidden_cases_depend_on_the_seed_only():
    assignment = ASSIGNMENTS["05_regularisation"]
    one, again, other = (prepare.make_plan(assignment, s) for s in (7, 7, 8))
    assert one.fingerprint() == again.fingerprint() != other.fingerprint()
    public = prepare.make_plan(assignment, 7, hidden=False)
    for qid, cases in one.cases.items():
        assert [c for c in cases if c.public] == list(public.cases[qid])


def test_calls_have_unique_ids_and_reference_skips_trained_models():
    plan = prepare.make_plan(ASSIGNMENTS["02_batch_normalisation"], 3)
    ids = [c["id"] for c in plan.calls()]
    assert len(ids) == len(set(ids))
    skipped = {q.id for q in plan.assignment.questions if not q.uses_reference}
    assert skipped  # bn_model is judged on the test split, not against a reference
    assert {c["id"].split("/")[0] for c in plan.calls(reference=True)} == {
        q.id for q in plan.assignment.questions
    } - skipped
    for call in plan.calls():
        for arg in call.get("args", []):
            if isinstance(arg, dict) and "$array" in arg:
                assert arg["$array"] in plan.inputs


def test_sandbox_data_dir_has_a_stand_in_test_split(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (10_005, 2, 2), dtype=np.uint8)
    y_train = rng.integers(0, 10, 10_005, dtype=np.uint8)
    real_test = (np.full((5, 2, 2), 77, np.uint8), np.full(5, 3, np.uint8))
    calls = []

    def fake_load(**kwargs):
        calls.append(kwargs)
        return (x_train, y_train), real_test

    monkeypatch.setattr(data, "load_fashion_mnist", fake_load)
    target = prepare.sandbox_data_dir(tmp_path)
    (xt, yt), (xs, ys) = data.load_from_dir(target, check_shapes=False)
    np.testing.assert_array_equal(xt, x_train)
    np.testing.assert_array_equal(yt, y_train)
    np.testing.assert_array_equal(xs, x_train[-10_000:])
    np.testing.assert_array_equal(ys, y_train[-10_000:])
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in target.iterdir())
    assert not (tmp_path / "fashion-mnist-sandbox.tmp").exists()
    # cached: the second call does not load the data again
    assert prepare.sandbox_data_dir(tmp_path) == target and len(calls) == 1
