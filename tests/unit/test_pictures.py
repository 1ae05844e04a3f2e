"""Pictures of failed questions: taken from the public case the declaration names (never a hidden
one), bounded, robust to hostile values, drawn as embedded SVG with alt text.

Outputs are computed here, in the test process, by a correct and a buggy implementation of each
function (the buggy ones are those of `tests/submissions/variants.py`), on the real plan's cases,
and judged by the real `compare`; the sandboxed version of the same is in
`tests/e2e/test_report_render.py`.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from autograder.grading.compare import score_question
from autograder.grading.prepare import Plan, call_id, make_plan
from autograder.judging.checks import allclose
from autograder.questions import get_assignment
from autograder.questions.base import Assignment, CaseBuilder, Picture, Question
from autograder.questions.common import CURVE_CASE
from autograder.report import feedback_html, feedback_markdown
from autograder.report.pictures import MARKDOWN_NOTE, picture_html, svg_and_alt
from autograder.result import QuestionResult, Result
from autograder.wire import CallOutput, Raised

A01, A02, A03, A04, A05 = (
    "01_activations_and_initialisation",
    "02_batch_normalisation",
    "03_transfer_learning",
    "04_optimizers",
    "05_regularisation",
)
SEED = 11


# --- running a function on a plan's cases, as the probe would ------------------------------------


def _decode(plan: Plan, value: Any, shared: dict[int, np.random.Generator]) -> Any:
    if isinstance(value, dict) and "$array" in value:
        return plan.inputs[value["$array"]].copy()
    if isinstance(value, dict) and "$tuple" in value:
        return tuple(_decode(plan, v, shared) for v in value["$tuple"])
    if isinstance(value, dict) and "$rng" in value:
        if value.get("shared"):
            return shared.setdefault(value["$rng"], np.random.default_rng(value["$rng"]))
        return np.random.default_rng(value["$rng"])
    if isinstance(value, list):
        return [_decode(plan, v, shared) for v in value]
    return value


def _call(fn: Callable, plan: Plan, call: dict, shared: dict) -> Any:
    args = [_decode(plan, a, shared) for a in call.get("args", [])]
    kwargs = {k: _decode(plan, v, shared) for k, v in call.get("kwargs", {}).items()}
    return fn(*args, **kwargs)


def _trajectory(fn: Callable, plan: Plan, call: dict) -> dict[str, np.ndarray]:
    state = {k: plan.inputs[v["$array"]].astype(float) for k, v in call["state"].items()}
    a, b = (plan.inputs[call["grad"][k]["$array"]] for k in ("a", "b"))
    steps: dict[str, list] = {name: [] for name in call["returns"]}
    for t in range(1, call["steps"] + 1):
        args = [
            a * state["theta"] - b
            if tok == "@grad"
            else t
            if tok == "@t"
            else state[tok[1:]].copy()
            if isinstance(tok, str) and tok.startswith("@")
            else tok
            for tok in call["args"]
        ]
        for name, value in zip(call["returns"], fn(*args)):
            state[name] = np.asarray(value, dtype=float)
            steps[name].append(state[name])
    return {name: np.array(values) for name, values in steps.items()}


def _value(fn: Callable, plan: Plan, call: dict) -> Any:
    try:
        if call["type"] == "trajectory":
            return _trajectory(fn, plan, call)
        if call["type"] == "calls":
            shared: dict = {}
            return tuple(_call(fn, plan, sub, shared) for sub in call["calls"])
        out = _call(fn, plan, call, {})
        return np.asarray(out) if isinstance(out, np.generic) else out  # the probe sends numpy scalars as arrays
    except Exception as exc:  # noqa: BLE001 - as the probe: a raised exception is an answer
        return Raised(type(exc).__name__, str(exc))


def graded(
    assignment_id: str, qid: str, student: Callable, reference: Callable | None = None, plan: Plan | None = None
) -> QuestionResult:
    """The question's result for `student` against `reference` on the real plan (public + hidden)."""
    plan = plan or make_plan(get_assignment(assignment_id), SEED)
    question = plan.assignment.question(qid)
    got, expected = {}, {}
    for case in plan.cases[qid]:
        cid = call_id(qid, case.id)
        got[cid] = CallOutput(_value(student, plan, case.call.to_json()))
        if reference is not None:
            expected[cid] = CallOutput(_value(reference, plan, case.call.to_json()))
    return score_question(question, plan, got, expected)


def drawn(result: QuestionResult) -> tuple[str, str]:
    out = svg_and_alt(result.id, result.picture)
    assert not isinstance(out, str), out
    assert out[0].startswith("<svg") and "<script" not in out[0]
    return out


# --- the functions: correct, and buggy as in variants.py ------------------------------------------


def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))


def elu_wrong_branch(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    return np.where(z < 0, z, alpha * (np.exp(np.minimum(z, 50)) - 1))


def adam(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10, correct=True):
    m = beta1 * np.asarray(m, float) + (1 - beta1) * np.asarray(grad, float)
    s = beta2 * np.asarray(s, float) + (1 - beta2) * np.asarray(grad, float) ** 2
    m_hat, s_hat = (m / (1 - beta1**t), s / (1 - beta2**t)) if correct else (m, s)
    return np.asarray(theta, float) - learning_rate * m_hat / (np.sqrt(s_hat) + epsilon), m, s


def adam_without_bias_correction(*args, **kwargs):
    return adam(*args, **kwargs, correct=False)


def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, fan_in_only=False):
    fan = {"fan_in": shape[0], "fan_out": shape[1], "fan_avg": (shape[0] + shape[1]) / 2}[mode]
    s = scale / max(1.0, shape[0] if fan_in_only else fan)
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return rng.uniform(-math.sqrt(3 * s), math.sqrt(3 * s), shape)
    if distribution == "truncated_normal":
        sd = math.sqrt(s) / 0.87962566103423978
        out = rng.normal(0, sd, shape)
        while (bad := np.abs(out) > 2 * sd).any():
            out[bad] = rng.normal(0, sd, bad.sum())
        return out
    if distribution == "untruncated_normal":
        return rng.normal(0, math.sqrt(s), shape)
    raise ValueError(distribution)


def dropout_train(x, rate, rng, keep=None):
    x = np.asarray(x, dtype=float)
    return x * (rng.random(x.shape) >= rate) if keep is None else x * (rng.random(x.shape) < rate)


def batch_norm_train(x, gamma, beta, epsilon=1e-3, axis=0):
    x = np.asarray(x, dtype=float)
    mean, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, x.mean(axis=0), x.var(axis=0)


def update_moving_statistics(moving_mean, moving_var, batch_mean, batch_var, momentum=0.99, swapped=False):
    if swapped:  # the weights the wrong way round
        momentum = 1 - momentum
    return (momentum * moving_mean + (1 - momentum) * batch_mean, momentum * moving_var + (1 - momentum) * batch_var)


def untrained_model(classes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "class": "Sequential",
        "layers": [
            {"class": "Flatten", "config": {}, "weights": []},
            {
                "class": "Dense",
                "config": {"activation": "softmax", "use_bias": True},
                "weights": [rng.normal(0, 0.05, (784, classes)), np.zeros(classes)],
            },
        ],
    }


# --- one test per kind ------------------------------------------------------------------------------


def test_curve_of_a_wrong_elu_on_the_public_inputs():
    r = graded(A01, "elu", elu_wrong_branch, elu)
    assert r.status != "passed" and r.picture["kind"] == "curve"
    assert r.picture["description"] == CURVE_CASE
    assert r.picture["x"] == pytest.approx(np.linspace(-3, 3, 61).tolist())
    assert r.picture["expected"] == pytest.approx(elu(np.linspace(-3, 3, 61)).tolist(), rel=1e-5)
    assert r.picture["got"] == pytest.approx(elu_wrong_branch(np.linspace(-3, 3, 61)).tolist(), rel=1e-5)
    svg, alt = drawn(r)
    assert svg.count("<polyline") >= 2 and "differ at" in alt and "elu" in alt


def test_trajectory_of_adam_without_bias_correction_with_the_bowl():
    r = graded(A04, "adam_step", adam_without_bias_correction, adam)
    assert r.picture["kind"] == "trajectory" and r.picture["dims"] == [0, 1]
    assert r.picture["a"] == [1.0, 10.0] and r.picture["start"] == [1.0, -2.0]
    assert len(r.picture["expected"][0]) == len(r.picture["got"][0]) == 10
    svg, alt = drawn(r)
    assert 'stroke-dasharray="3,3"' in svg, "the bowl's contours"
    assert "part at step 1" in alt


def test_distribution_of_an_initializer_with_the_wrong_fan():
    r = graded(A01, "variance_scaling", lambda *a, **k: variance_scaling(*a, **k, fan_in_only=True), variance_scaling)
    assert r.picture["kind"] == "distribution" and r.picture["case"] == "public-1"
    assert sum(r.picture["counts"]) == 300 * 500 and sum(r.picture["expected"]) == pytest.approx(300 * 500, rel=1e-6)
    limit = math.sqrt(3 * 2.0 / 400)
    assert r.picture["edges"][0] == pytest.approx(-1.5 * limit, rel=1e-5)
    svg, alt = drawn(r)
    assert svg.count("<rect") > 30 and "Histogram" in alt and "uniform, fan_avg" in alt


def test_distribution_of_dropout_keeping_the_rate():
    r = graded(A05, "dropout_train", lambda x, rate, rng: dropout_train(x, rate, rng, keep=True), dropout_train)
    labels = r.picture["labels"]
    counts = dict(zip(labels, r.picture["counts"]))
    expected = dict(zip(labels, r.picture["expected"]))
    assert expected["dropped (0)"] == pytest.approx(0.2 * 60_000)
    assert counts["dropped (0)"] == pytest.approx(0.8 * 60_000, rel=0.02)  # the bug: the rate is what is kept
    _, alt = drawn(r)
    assert "dropped (0): 4" in alt


def test_features_of_batch_norm_over_the_wrong_axis_and_of_swapped_momentum():
    r = graded(A02, "batch_norm_train", lambda *a, **k: batch_norm_train(*a, **k, axis=1), batch_norm_train)
    means, stds, batch_mean, batch_var = r.picture["series"]
    assert [s["label"] for s in r.picture["series"]] == ["mean of y", "std of y", "batch mean", "batch variance"]
    assert means["expected"] == pytest.approx([0, 0, 0], abs=1e-6) and len(stds["got"]) == 3
    assert batch_mean["got"] == batch_mean["expected"]  # the bug is in y only
    drawn(r)
    r = graded(
        A02,
        "update_moving_statistics",
        lambda *a, **k: update_moving_statistics(*a, **k, swapped=True),
        update_moving_statistics,
    )
    assert [s["label"] for s in r.picture["series"]] == ["moving mean", "moving variance"]
    assert "features differ" in drawn(r)[1]


@pytest.mark.parametrize(("assignment", "qid", "classes"), [(A02, "bn_model", 10), (A03, "model_B", 2)])
def test_accuracy_and_confusion_matrix_of_an_untrained_model(assignment, qid, classes):
    r = graded(assignment, qid, lambda *a, **k: untrained_model(classes))
    p = r.picture
    assert r.status == "failed" and p["kind"] == "accuracy" and len(p["classes"]) == classes
    confusion = np.array(p["confusion"])
    assert confusion.shape == (classes, classes)
    assert confusion.sum() + p["other"] == (10_000 if classes == 10 else 2_000)  # the real test split
    assert p["accuracy"] == pytest.approx(np.trace(confusion) / (confusion.sum() + p["other"]), abs=1e-6)
    assert p["accuracy"] < p["threshold"]
    assert "required" in drawn(r)[1]


def test_every_picture_names_a_public_case_of_its_question():
    for assignment_id in (A01, A02, A03, A04, A05):
        plan = make_plan(get_assignment(assignment_id), SEED)
        for question in plan.assignment.questions:
            if question.picture is not None:
                found = [c for c in plan.cases[question.id] if c.description == question.picture.case]
                assert [c.public for c in found] == [True], (question.id, question.picture.case)


# --- hidden values never reach a picture ----------------------------------------------------------


def _numbers(value: Any) -> set[float]:
    """Every number in a nested structure (arrays too), rounded as pictures round them."""
    if isinstance(value, np.ndarray):
        return {float(f"{v:.6g}") for v in value.astype(float).ravel().tolist() if math.isfinite(v)}
    if isinstance(value, (list, tuple)):
        return set().union(*(_numbers(v) for v in value)) if len(value) else set()
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value):
        return {float(f"{float(value):.6g}")}
    return set()


def _case_numbers(plan: Plan, qid: str, public: bool, reference: Callable) -> set[float]:
    found: set[float] = set()
    for case in plan.cases[qid]:
        if case.public == public:
            arrays = [plan.inputs[k] for k in re.findall(r"'\$array': '([^']+)'", repr(case.call))]
            found |= _numbers(arrays) | _numbers(_value(reference, plan, case.call.to_json()))
    return found


@pytest.mark.parametrize(
    ("assignment", "qid", "student", "reference"),
    [
        (A01, "elu", elu_wrong_branch, elu),
        (A04, "adam_step", adam_without_bias_correction, adam),
        (A02, "batch_norm_train", lambda *a, **k: batch_norm_train(*a, **k, axis=1), batch_norm_train),
    ],
    ids=["curve", "trajectory", "features"],
)
def test_no_hidden_input_or_expected_value_is_in_the_picture(assignment, qid, student, reference):
    """Hidden inputs are random, so a hidden value showing in the picture would be found here;
    the student fails the hidden cases too, so they were all candidates."""
    plan = make_plan(get_assignment(assignment), SEED)
    r = graded(assignment, qid, student, reference, plan)
    assert not all(c.passed for c in r.cases if not c.public), "the hidden cases must fail too"
    hidden = _case_numbers(plan, qid, False, reference) - _case_numbers(plan, qid, True, reference)
    hidden = {v for v in hidden if v not in (0.0, 1.0, -1.0)}
    assert len(hidden) > 20
    shown = _numbers(r.picture)
    assert not shown & hidden, sorted(shown & hidden)[:5]
    assert r.picture["case"] in {c.id for c in plan.cases[qid] if c.public}


def test_a_hidden_case_described_like_the_picture_case_is_never_drawn():
    """The picture's case is chosen by its description *and* by being public: a hidden case with
    the same description (a declaration's slip) is still never drawn."""

    def public(b: CaseBuilder) -> None:
        b.call("the vector", "f", np.array([1.0, 2.0, 3.0]))

    def hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
        b.call("the vector", "f", np.array([111.0, 222.0, 333.0]))

    question = Question(
        id="f",
        points=1.0,
        make_public=public,
        make_hidden=hidden,
        check=allclose(),
        picture=Picture("curve", "the vector"),
    )
    plan = make_plan(Assignment("x", "x", (question,)), SEED)
    ordered = Plan(plan.assignment, plan.seed, {"f": tuple(reversed(plan.cases["f"]))}, plan.inputs)
    for p in (plan, ordered):
        r = score_question(
            question,
            p,
            {call_id("f", c.id): CallOutput(np.zeros(3)) for c in p.cases["f"]},
            {call_id("f", c.id): CallOutput(_value(lambda z: z, p, c.call.to_json())) for c in p.cases["f"]},
        )
        assert r.picture["x"] == [1.0, 2.0, 3.0] and not _numbers(r.picture) & {111.0, 222.0, 333.0}


def test_picture_data_refuses_a_hidden_case():
    from autograder.questions.base import Case, CaseContext
    from autograder.questions.pictures import picture_data

    case = Case("hidden-1", {"type": "call", "args": [{"$array": "k"}]}, "secret", public=False)
    with pytest.raises(ValueError, match="public"):
        picture_data(Picture("curve", "secret"), CaseContext(case, {"k": np.ones(3)}, np.ones(3), np.zeros(3)))


# --- hostile student values and hostile result files ---------------------------------------------------


@pytest.mark.parametrize(
    "got",
    [
        np.array([np.nan, np.inf, -np.inf, 1e308, -1e308] * 12 + [0.0]),
        np.full(61, 1e300),
        np.zeros(61, dtype=bool).astype(float) - 5e-324,
    ],
    ids=["nan-inf-huge", "all-huge", "denormal"],
)
def test_hostile_values_are_drawn_clipped_with_a_note(got):
    plan = make_plan(get_assignment(A01), SEED)
    r = graded(A01, "elu", lambda z, alpha=1.0: got if np.shape(z) == (61,) else elu_wrong_branch(z), elu, plan)
    json.dumps(r.picture, allow_nan=False)  # plain JSON: no NaN or inf inside
    svg, alt = drawn(r)
    assert all(abs(float(v)) < 1e4 for v in re.findall(r'(?:x|y|cx|cy)="(-?[0-9.e+]+)"', svg))
    if np.isnan(got).any():
        assert "nan or inf" in alt and "beyond the plot" in alt


@pytest.mark.parametrize(
    "got",
    [np.zeros(60), np.zeros((61, 2)), "a string", {"theta": 1}, [[1, 2], [3]]],
    ids=["short", "2-D", "string", "dict", "ragged"],
)
def test_a_value_of_the_wrong_shape_or_type_gives_a_note(got):
    r = graded(A01, "elu", lambda z, alpha=1.0: got if np.shape(z) == (61,) else elu(z), elu)
    assert r.status == "partial" and "note" in r.picture
    assert svg_and_alt("elu", r.picture).startswith("No picture: ")


def test_a_raising_function_gets_no_picture():
    r = graded(A01, "elu", lambda z, alpha=1.0: 1 / 0, elu)
    assert r.picture is None


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "curve", "x": [1, 2], "expected": [1], "got": [1, 2]},
        {"kind": "curve", "x": list(range(5000)), "expected": list(range(5000)), "got": list(range(5000))},
        {"kind": "curve", "x": ["<script>"], "expected": [1], "got": [1]},
        {"kind": "trajectory", "dims": [0], "a": [-1, 1]},
        {"kind": "distribution", "counts": [1, None], "expected": [1, 2]},
        {"kind": "accuracy", "accuracy": 0.5, "threshold": 0.9, "classes": ["a", "b"], "confusion": [[1]]},
        {"kind": "features", "series": "x"},
        {"kind": "<b>"},
        {"kind": "curve"},
        [],
        "x",
        None,
    ],
    ids=lambda d: str(d)[:30],
)
def test_bad_picture_data_in_a_result_file_gives_a_note_never_an_error(data):
    out = svg_and_alt("q", data)
    assert isinstance(out, str)
    html = picture_html("q", data)
    assert "<img" not in html and "<script" not in html and "<b>" not in html


# --- in the feedback -------------------------------------------------------------------------------


def _feedback_result() -> Result:
    r = graded(A01, "elu", elu_wrong_branch, elu)
    passed = graded(A01, "relu", lambda z: np.maximum(z, 0), lambda z: np.maximum(z, 0))
    return Result(A01, "s.ipynb", "s", r.score + passed.score, 2.0, SEED, "0.1.0", True, (r, passed), None)


def test_feedback_html_embeds_the_picture_and_markdown_points_to_it():
    result = _feedback_result()
    assert Result.from_dict(json.loads(result.to_json())) == result  # the picture survives the result file
    html = feedback_html("s", [result])
    images = re.findall(r'<img class="picture" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', html)
    assert len(images) == 1, "one picture: elu failed, relu passed"
    svg = base64.b64decode(images[0][0]).decode()
    assert svg.startswith("<svg") and "Plot of your elu" in images[0][1]
    assert html.index("<code>elu</code>") < html.index('<img class="picture"')
    markdown = feedback_markdown("s", [result])
    assert MARKDOWN_NOTE in markdown and "data:" not in markdown and "](" not in markdown


def test_a_configured_threshold_is_the_one_the_accuracy_picture_draws():
    from autograder.course.settings import effective

    assignment = effective(get_assignment(A02), {}, {f"{A02}.bn_model": 0.5})
    plan = make_plan(assignment, SEED)
    r = graded(A02, "bn_model", lambda *a, **k: untrained_model(10), plan=plan)
    assert r.picture["threshold"] == 0.5
    assert "required 0.50" in drawn(r)[1]


def test_values_beyond_the_frame_are_marked_on_the_picture_and_the_expected_curve_is_dashed():
    """A diverging function is pinned to the frame's edge: the picture itself says so (arrows on
    the edge and a note), not only its alt text; the expected curve is dashed, the student's solid."""
    far = np.where(np.arange(61) % 12 == 0, 1e6, 0.0)  # 6 values far above, the rest on the curve's scale
    r = graded(A01, "elu", lambda z, alpha=1.0: far if np.shape(z) == (61,) else elu(z), elu)
    svg, alt = drawn(r)
    assert svg.count("<polygon") == 6, "one arrow per value beyond the frame"
    assert "6 of your values beyond the plot (6 above it; arrows on its edge)" in svg
    assert "6 of your values beyond the plot" in alt
    expected_line = re.search(r'<polyline[^>]*stroke="#57606a"[^>]*/>', svg)
    assert expected_line and 'stroke-dasharray="7,4"' in expected_line.group(0)
    assert re.search(r'<line[^>]*stroke="#57606a"[^>]*stroke-dasharray="7,4"/><text[^>]*>expected<', svg), "legend"
