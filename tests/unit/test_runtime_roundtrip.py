"""The wire across the sandbox boundary, without a sandbox: the trusted side's calls and inputs,
run by the runtime's probe (loaded as the runner loads it), written as the runtime writes its files,
read back by collect. Until now only the slow end-to-end tests went through this path."""

from __future__ import annotations

import io
import json
import os

import numpy as np

from autograder import wire
from autograder.grading import collect
from autograder.grading.prepare import make_plan
from autograder.questions import get_assignment
from tests.unit.private_runtime import runtime


class Silent:
    def event(self, *args, **kwargs) -> None:
        pass


def notebook() -> dict:
    """The names a 04 notebook defines: a correct momentum, an Adam that raises, the rest missing."""

    def momentum_step(theta, grad, m, learning_rate, beta=0.9):
        m = beta * np.asarray(m) + learning_rate * np.asarray(grad)
        return np.asarray(theta) - m, m

    def adam_step(*args):
        raise ValueError("not yet \ud800")  # a lone surrogate: collect must make it safe

    return {"np": np, "momentum_step": momentum_step, "adam_step": adam_step}


def test_probe_files_read_back_as_the_values_the_student_returned(tmp_path):
    plan = make_plan(get_assignment("04_optimizers"), seed=7)
    calls = plan.calls()
    buffer = io.BytesIO()
    np.savez(buffer, **plan.inputs)
    (tmp_path / "inputs.npz").write_bytes(buffer.getvalue())

    rt = runtime()  # the probe's modules as the runner loads them in the sandbox
    inputs = rt["safe"].read_inputs(os.open(tmp_path / "inputs.npz", os.O_RDONLY))
    doc, arrays = rt["probe"].run(notebook(), calls, inputs, (), Silent(), 30)
    out = tmp_path / "out"
    out.mkdir()
    (out / "planted").write_text("a file the notebook left")
    rt["npz"].write_outputs(str(out), doc, arrays)
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "probe.json"]

    ids = [c["id"] for c in calls]
    got = collect.read_outputs(out, ids, {c["id"]: c["type"] for c in calls})
    assert set(got) == set(ids)
    by_question: dict[str, list[collect.CallOutput]] = {}
    for cid, output in got.items():
        by_question.setdefault(cid.split("/", 1)[0], []).append(output)
    assert all(not isinstance(o.value, collect.Raised) for o in by_question["momentum_step"])
    first = next(c for c in calls if c["function"] == "momentum_step")
    trajectory = got[first["id"]].value
    theta, m = (plan.inputs[wire.array_key(first["state"][k])] for k in ("theta", "m"))
    a, b = (plan.inputs[wire.array_key(first["grad"][k])] for k in ("a", "b"))
    expected = []
    for _ in range(first["steps"]):  # the same bowl and step on this side of the boundary
        theta, m = notebook()["momentum_step"](theta, a * theta - b, m, *first["args"][3:])
        expected.append(theta)
    assert np.allclose(trajectory["theta"], np.array(expected), rtol=0, atol=1e-12)
    raised = [o.value for o in by_question["adam_step"]]
    assert all(isinstance(r, collect.Raised) and r.type == "ValueError" for r in raised)
    assert all("\ud800" not in r.message and "not yet" in r.message for r in raised)
    assert all(isinstance(o.value, collect.Raised) and o.value.type == "Missing" for o in by_question["nesterov_step"])


def test_a_function_returning_too_many_arrays_costs_only_its_own_question(tmp_path):
    """Red team: 65,536 empty arrays (zero bytes: the byte budget never notices) used to overflow the
    zip's 16-bit entry count in the probe's writer, so no output was written at all and after three
    passes every question of the notebook was lost. The count has a per-question share too."""
    plan = make_plan(get_assignment("05_regularisation"), seed=7)
    calls = [c for c in plan.calls() if c["function"] in ("l1_penalty", "l2_penalty")]
    buffer = io.BytesIO()
    np.savez(buffer, **plan.inputs)
    (tmp_path / "inputs.npz").write_bytes(buffer.getvalue())
    empty = np.zeros(0)

    def l1_penalty(theta):
        return tuple(tuple(tuple(empty for _ in range(16)) for _ in range(64)) for _ in range(64))

    def l2_penalty(theta):
        return 0.5 * float(np.sum(np.asarray(theta, dtype=float) ** 2))

    rt = runtime()
    inputs = rt["safe"].read_inputs(os.open(tmp_path / "inputs.npz", os.O_RDONLY))
    doc, arrays = rt["probe"].run({"l1_penalty": l1_penalty, "l2_penalty": l2_penalty}, calls, inputs, (), Silent(), 30)
    out = tmp_path / "out"
    out.mkdir()
    rt["npz"].write_outputs(str(out), doc, arrays)

    got = collect.read_outputs(out, [c["id"] for c in calls], {c["id"]: c["type"] for c in calls})
    assert set(got) == {c["id"] for c in calls}
    for call in calls:
        value = got[call["id"]].value
        if call["function"] == "l1_penalty":
            assert isinstance(value, collect.Raised) and "arrays for this question" in value.message
        else:
            assert not isinstance(value, collect.Raised)


def test_a_name_behind_a_hostile_key_is_found_without_running_the_notebooks_code():
    """Red team: a cell re-keyed `l2_penalty` in its namespace with a str subclass whose __eq__
    raises. The probe's `name in ns`, outside any call's alarm, ran it: the probe crashed with no
    output, and the watchdog blamed the case before it (another question's, here l1_penalty)."""

    class Hostile(str):
        def __hash__(self) -> int:
            return str.__hash__(self)

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

    def l1_penalty(theta):
        return float(np.sum(np.abs(np.asarray(theta, dtype=float))))

    def l2_penalty(theta):
        return 0.5 * float(np.sum(np.asarray(theta, dtype=float) ** 2))

    plan = make_plan(get_assignment("05_regularisation"), seed=7)
    calls = [c for c in plan.calls() if c["function"] in ("l1_penalty", "l2_penalty")]
    rt = runtime()
    doc, _ = rt["probe"].run(
        {"l1_penalty": l1_penalty, Hostile("l2_penalty"): l2_penalty}, calls, plan.inputs, (), Silent(), 30
    )
    results = json.loads(doc)["results"]
    assert all(results[c["id"]]["ok"] for c in calls), results


def _scale_in_place(grads, max_norm):
    for g in grads:
        g *= 0.5
    return tuple(grads), 1.0


def _replace_an_item(grads, max_norm):
    grads[0] = grads[0] * 0.5
    return tuple(grads), 1.0


def _scale_a_dict_value(state, max_norm):
    state["w"] *= 0.5
    return state["w"]


def _copies(grads, max_norm):
    return tuple(np.asarray(g) * 0.5 for g in grads), 1.0


def test_modified_arrays_inside_lists_tuples_and_dicts_are_seen():
    """`g *= factor` on the arrays of a list argument changes the caller's gradients: the contract
    forbids it, and the probe and the self-check say so (both walk nested arguments)."""
    from autograder.handout.selfcheck_runtime import run_call
    from tests.unit.private_runtime import arrays as new_arrays
    from tests.unit.private_runtime import handle

    inputs = {"a": np.ones((2, 2)), "b": np.arange(3.0)}
    grads = [{"$array": "a"}, {"$array": "b"}]
    cases = [
        (_scale_in_place, [grads, 1.0], True),
        (_scale_in_place, [{"$tuple": grads}, 1.0], True),
        (_replace_an_item, [grads, 1.0], True),
        (_copies, [grads, 1.0], False),
        (_copies, [[[{"$array": "a"}]], 1.0], False),
    ]
    for fn, args, expected in cases:
        call = {"type": "call", "function": "f", "args": args, "kwargs": {}}
        probe = handle({"f": fn}, call, inputs, new_arrays())
        assert probe["modified_input"] is expected, (fn.__name__, args)
        assert run_call({"f": fn}, call, inputs)[1] is expected, (fn.__name__, args)
        assert inputs["a"][0, 0] == 1.0  # the inputs themselves are never handed out
    # a dict argument (no call kind sends one today; the walk covers it all the same)
    rt = runtime()["safe"]
    state = {"w": np.ones(3)}
    before = rt.snapshot([state, 1.0])
    _scale_a_dict_value(state, 1.0)
    assert rt.modified([state, 1.0], before) is True
    state = {"w": np.ones(3)}
    before = rt.snapshot([state])
    state["extra"] = 1
    assert rt.modified([state], before) is True


def test_the_warnings_a_call_raised_come_back_as_data_whatever_the_notebook_set(tmp_path):
    """A naive sigmoid overflows in np.exp for large negative inputs: the probe records the warning
    under NumPy's default settings even though the notebook silenced both NumPy and `warnings`."""
    plan = make_plan(get_assignment("01_activations_and_initialisation"), seed=7)
    calls = [c for c in plan.calls() if c["function"] == "sigmoid"]
    buffer = io.BytesIO()
    np.savez(buffer, **plan.inputs)
    (tmp_path / "inputs.npz").write_bytes(buffer.getvalue())

    def sigmoid(z):
        return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))

    rt = runtime()
    inputs = rt["safe"].read_inputs(os.open(tmp_path / "inputs.npz", os.O_RDONLY))
    old = np.seterr(all="ignore")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc, arrays = rt["probe"].run({"np": np, "sigmoid": sigmoid}, calls, inputs, (), Silent(), 30)
    finally:
        np.seterr(**old)
    out = tmp_path / "out"
    out.mkdir()
    rt["npz"].write_outputs(str(out), doc, arrays)
    got = collect.read_outputs(out, [c["id"] for c in calls])
    by_case = {plan.cases["sigmoid"][i].description: got[c["id"]] for i, c in enumerate(calls)}
    (warned,) = by_case["large negative z"].warnings
    assert (warned.category, warned.message) == ("RuntimeWarning", "overflow encountered in exp")
    assert by_case["large positive z"].warnings == () and by_case["a Python scalar"].warnings == ()
