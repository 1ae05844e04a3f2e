"""The self-check stored in a student notebook and the grade agree on every public case.

The self-check judges with the grader's own checks (`autograder/judging/`, pasted into the
notebook), but calls the student's code and rebuilds each check from what `build` embedded (its
parameters, the numbers in place of the solution's formulas): `selfcheck_runtime.py`. So it is
held here to the grader's own `score_question`: the same verdict and the same feedback, case by
case, on the reference solution, on the stub the student starts from, and on the buggy and
alternative variants (mutants) of `tests/submissions/variants.py`.
The self-check tests are taken from the committed notebooks in `assignments/` (what students
get); the grader's side calls the functions through the probe's own handlers, in-process.
"""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pytest

from autograder import wire
from autograder.grading.collect import decode
from autograder.grading.compare import score_question
from autograder.grading.notebook import TAG_SELF_CHECK, TAG_TRAIN, tags
from autograder.grading.prepare import call_id, make_plan
from autograder.handout.selfcheck import OTTER_KEY, encode_input, public_cases
from autograder.questions import ASSIGNMENTS
from autograder.wire import CallOutput, Raised
from tests.conftest import FUNCTION_ONLY, REPO
from tests.submissions.variants import ALTERNATIVES, BUGGY, NEAR_MISSES
from tests.unit.private_runtime import arrays as new_arrays
from tests.unit.private_runtime import handle, runtime

# Student code may warn (overflow in exp); neither the probe nor the self-check makes that an error.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def namespace(assignment_id: str, replace: dict[str, str] | None = None, student: bool = False) -> dict:
    """The globals of a notebook after its code cells ran (no training, no self-check cells)."""
    folder = "assignments" if student else "solutions"
    env: dict = {"__name__": "__main__"}
    for cell in nbformat.read(REPO / folder / f"{assignment_id}.ipynb", 4).cells:
        if cell.cell_type != "code" or TAG_TRAIN in tags(cell) or TAG_SELF_CHECK in tags(cell):
            continue
        source = cell.source
        for name, new in (replace or {}).items():
            if re.search(rf"^def {re.escape(name)}\(", source, re.M):
                source = new
        try:
            exec(compile(source, f"<{assignment_id}>", "exec"), env)
        except Exception:  # noqa: BLE001 - a stub's or bug's demo cell raises; the grader runs on, too
            assert student or replace, source
    return env


def grader_outputs(env: dict, assignment_id: str) -> dict[str, CallOutput]:
    """What the sandboxed probe would report, by its own handlers and the collector's decoding."""
    plan = make_plan(ASSIGNMENTS[assignment_id], seed=0, hidden=False)
    out = {}
    for call in plan.calls():
        name = call.get("function") or call.get("name")
        if name not in env:
            out[call["id"]] = CallOutput(Raised("Missing", f"`{name}` is not defined"))
            continue
        arrays = new_arrays()
        try:
            result = handle(env, call, plan.inputs, arrays)
        except Exception as exc:  # noqa: BLE001 - the code's exception is its answer, as in the probe
            out[call["id"]] = CallOutput(Raised(type(exc).__name__, runtime()["safe"].text(exc, 500)))
            continue
        out[call["id"]] = CallOutput(
            decode(json.loads(runtime()["safe"].dumps(result["value"])), arrays.store),
            bool(result.get("modified_input")),
        )
    return out


def stored_tests(assignment_id: str) -> dict[str, dict]:
    """The otter tests in the committed student notebook, each loaded as otter 7 loads it (compiled
    with the notebook's path as file name, executed in an empty namespace)."""
    path = REPO / "assignments" / f"{assignment_id}.ipynb"
    nb = json.loads(path.read_text())
    loaded = {}
    for qid, source in nb["metadata"][OTTER_KEY]["tests"].items():
        env: dict = {}
        exec(compile(source, str(path), "exec"), env)
        loaded[qid] = env
    return loaded


@pytest.fixture(scope="module")
def references() -> dict[str, dict[str, CallOutput]]:
    return {a: grader_outputs(namespace(a), a) for a in FUNCTION_ONLY}


# The grader's line for cases that failed for one cause (compare._one_line_per_cause), with the
# first public case's own message: the self-check tells each public case on its own.
COLLAPSED = re.compile(r"^(?P<cause>.+?) (?:in \d+ of \d+ cases|\(\d+ of \d+ cases\)); public case \(.*?\): .+$")


def per_case(feedback: list[str], mine: list[str]) -> list[str]:
    """The grader's feedback with each cause's line replaced by the self-check's lines of the
    public cases that failed for that cause, so that the two can be compared line for line (in
    the self-check's order); a cause's line that no self-check line has is kept (and fails)."""
    out: list[str] = []
    for line in feedback:
        found = COLLAPSED.match(line)
        if found is None:
            out.append(line)
            continue
        same = re.compile(rf"public case \(.*?\): {re.escape(found['cause'])}\b")
        out += [m for m in mine if same.match(m.split("\n")[0])] or [line]
    return list(dict.fromkeys(out))  # a case of another cause that starts alike has its own line too


def agree(assignment_id: str, env: dict, reference: dict[str, CallOutput], only=None) -> set[str]:
    """Assert both sides agree on every public case of every question (or those in `only`);
    return the questions lost."""
    assignment = ASSIGNMENTS[assignment_id]
    plan = make_plan(assignment, seed=0, hidden=False)
    student = grader_outputs(env, assignment_id)
    tests = stored_tests(assignment_id)
    lost = set()
    for question in assignment.questions:
        if only is not None and question.id not in only:
            continue
        graded = score_question(question, plan, student, reference)
        test = tests[question.id]
        checker, stored = test["shared"]()
        inputs = {k: checker["unpack"](v) for k, v in stored.items()}
        mine = [checker["judge"](env, case, inputs) for case in test["CASES"]]
        assert [r.passed for r in graded.cases] == [p for p, _ in mine], question.id
        feedback = list(graded.feedback)
        if not question.compares_values:  # the grader shows the reference's sample; no sample travels
            feedback = [re.sub(r"\n  expected: (?!raises ).*?(?=\n  got:)", "", f, flags=re.S) for f in feedback]
        told = list(dict.fromkeys(f for p, f in mine if not p))
        assert sorted(per_case(feedback, told)) == sorted(told), question.id
        if graded.cases_passed < graded.cases_total:
            lost.add(question.id)
    return lost


@pytest.mark.parametrize("assignment_id", FUNCTION_ONLY)
def test_reference_passes_and_stub_fails_alike(assignment_id, references):
    reference = references[assignment_id]
    assert agree(assignment_id, namespace(assignment_id), reference) == set()
    questions = {q.id for q in ASSIGNMENTS[assignment_id].questions}
    assert agree(assignment_id, namespace(assignment_id, student=True), reference) == questions


# Variants whose own code is slow in-process (a Python loop over every element): 23 s of the fast
# tier's 3 minutes on 2 cores; the full suite runs them.
SLOW_VARIANTS = {"math_exp_loop_sigmoid", "gradient_ratio_natural_log"}


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(v, marks=pytest.mark.slow) if v.name in SLOW_VARIANTS else v
        for v in BUGGY + ALTERNATIVES + NEAR_MISSES
        if v.assignment in FUNCTION_ONLY
    ],
    ids=lambda v: v.name,
)
def test_variants_get_the_graders_verdicts(variant, references):
    lost = agree(variant.assignment, namespace(variant.assignment, variant.replace), references[variant.assignment])
    assert lost <= set(variant.lost)  # public cases only: a bug may show in hidden cases alone


def test_stored_tests_embed_public_cases_only():
    """Nothing hidden travels: no hidden case id, and none of a hidden plan's input arrays (those
    with at least 4 distinct values, which cannot coincide with a public one by chance)."""
    for assignment in ASSIGNMENTS.values():
        text = (REPO / "assignments" / f"{assignment.id}.ipynb").read_text()
        assert "hidden-" not in text
        public = make_plan(assignment, seed=0, hidden=False).inputs
        hidden = {k: v for k, v in make_plan(assignment, seed=12345).inputs.items() if k not in public}
        assert hidden, assignment.id
        for key, value in hidden.items():
            if len(np.unique(value)) >= 4:
                packed = encode_input(value)
                form = packed.get("$b64") or json.dumps(packed["$nd"], separators=(",", ":"))
                assert form not in text, key
        for key, value in public.items():  # the same search finds what is embedded
            packed = encode_input(value)
            assert (packed.get("$b64") or json.dumps(packed["$nd"], separators=(",", ":"))) in text, key


def test_random_functions_embed_no_samples():
    """For checks that do not compare values, only an expected exception may be embedded."""
    for assignment in ASSIGNMENTS.values():
        for question in assignment.questions:
            if not question.compares_values:
                reference = {
                    call_id(question.id, c.id): CallOutput(np.zeros(3))
                    for c in make_plan(assignment, 0, hidden=False).cases[question.id]
                }
                cases, _ = public_cases(assignment, question, reference)
                assert all("expected" not in case for case in cases), question.id


@pytest.mark.slow
def test_model_questions_agree_on_reference_and_unclones_b_on_a():
    """02 and 03's model-building questions (Keras; training cells not run, so trained models are
    left to the sandboxed e2e tests): the reference passes, an uncloned model_B_on_A fails, alike."""
    variant = next(v for v in BUGGY if v.name == "b_on_a_not_cloned")
    for assignment_id in ("02_batch_normalisation", "03_transfer_learning"):
        models = {q.id for q in ASSIGNMENTS[assignment_id].questions if q.uses_reference}
        env = namespace(assignment_id)
        reference = grader_outputs(env, assignment_id)
        assert agree(assignment_id, env, reference, models) == set()
        if assignment_id == variant.assignment:
            buggy = namespace(assignment_id, variant.replace)
            assert agree(assignment_id, buggy, reference, models) == {"build_model_B_on_A"}


def test_numpy_only_statistics_match_scipys():
    """judging/stats.py's numpy-only chi-square and Kolmogorov-Smirnov p-values (the grade's and the
    self-check's) against scipy's: equal for chi-square, within 3 % where verdicts are made for KS."""
    from scipy import stats

    from autograder.judging.stats import chi2_sf, ks_pvalue

    for dof in range(1, 11):
        for x in (0.0, 0.5, 3.0, 20.0, 45.0):
            assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-14), (dof, x)
    rng = np.random.default_rng(3)
    for n, shift in ((400, 0.0), (150_000, 0.0), (150_000, 0.01), (150_000, 0.015), (150_000, 0.02)):
        x = rng.normal(shift, 1, n)
        exact = stats.kstest(x, stats.norm.cdf).pvalue
        assert ks_pvalue(x, stats.norm.cdf) == pytest.approx(exact, rel=0.03), (n, shift)


# --- the randomness cases (`calls`) and the numbers that replace the solution's formulas ---------


def _not_random_functions():
    """Random functions that misuse their generator (tests/unit/test_randomness.py's), by question."""
    from tests.unit import test_randomness as tr

    vs = tr.variance_scaling
    return (
        [("05_regularisation", "dropout_train", fn) for fn, _ in tr.DROPOUT_BUGS]
        + [
            ("05_regularisation", "augment", fn)
            for fn in (
                tr.augment_cycles,
                tr.augment_cycles_from_a_random_start,
                tr.augment_one_choice_per_batch,
                tr.augment_half_the_batch_repeated,
            )
        ]
        + [
            ("01_activations_and_initialisation", "variance_scaling", fn)
            for fn in (
                tr.sorted_quantiles,
                tr.antithetic_rows,
                tr.half_the_rows_repeated,
                tr.two_rows_shared_by_every_seed,
                lambda shape, seed=None, **kw: vs(shape, seed=0 if seed is None else seed, **kw),
                lambda shape, seed=None, **kw: np.sort(vs(shape, seed=seed, **kw), axis=1),
                lambda shape, seed=None, **kw: 0.8 * vs(shape, seed=0, **kw) + 0.6 * vs(shape, seed=seed, **kw),
            )
        ]
    )


@pytest.mark.parametrize(
    "assignment_id, qid, fn",
    _not_random_functions(),
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", "lambda"),
)
def test_randomness_cases_fail_alike(assignment_id, qid, fn, references):
    """Each misuse of the generator fails a public `calls` case in the grader, and the self-check
    fails the same cases with the same messages (agree), so the agreement covers failing
    randomness cases, not only passing ones."""
    env = {**namespace(assignment_id), qid: fn}
    assert agree(assignment_id, env, references[assignment_id], {qid}) == {qid}
    assignment = ASSIGNMENTS[assignment_id]
    plan = make_plan(assignment, seed=0, hidden=False)
    graded = score_question(
        assignment.question(qid), plan, grader_outputs(env, assignment_id), references[assignment_id]
    )
    kinds = {c.id: c.call.kind for c in plan.cases[qid]}
    assert any(kinds[r.id] == "calls" and not r.passed for r in graded.cases)


def test_every_random_function_travels_with_its_randomness_cases():
    for assignment_id, qids in (
        ("01_activations_and_initialisation", ("variance_scaling", "he_avg_initializer")),
        ("05_regularisation", ("dropout_train", "inverted_dropout", "augment")),
    ):
        tests = stored_tests(assignment_id)
        for qid in qids:
            assert any(case["call"]["type"] == "calls" for case in tests[qid]["CASES"]), qid


def _scipys_band(n: int, p: float, alpha: float) -> tuple[int, int]:
    """The band by scipy's quantiles, guarded against their rounding."""
    from scipy import stats

    if p <= 0.0 or p >= 1.0 or n == 0:
        k = round(n * min(max(p, 0.0), 1.0))
        return k, k
    lo = max(0, int(stats.binom.ppf(alpha / 2, n, p)))
    while lo > 0 and stats.binom.cdf(lo - 1, n, p) > alpha / 2:
        lo -= 1
    hi = min(n, int(stats.binom.isf(alpha / 2, n, p)))
    while hi < n and stats.binom.sf(hi, n, p) > alpha / 2:
        hi += 1
    return lo, hi


def test_binomial_band_is_scipys():
    """The exact band (numpy, lgamma) of judging/stats.py against scipy's: the same integers."""
    from autograder.judging.stats import binomial_band

    for n in (1, 2, 7, 60, 150, 900, 15_000, 30_000):
        for p in (0.01, 1 / 25, 0.0625, 0.2, 0.25, 0.5, 0.8):
            for alpha in (1e-6, 1e-6 / 6, 2.5e-7 / 1000):
                assert binomial_band(n, p, alpha) == _scipys_band(n, p, alpha), (n, p, alpha)
    assert binomial_band(50, 0.0, 1e-6) == _scipys_band(50, 0.0, 1e-6) and binomial_band(0, 0.5, 1e-6) == (0, 0)


def test_the_target_cdfs_are_scipys():
    """stats.target_cdf for the numbers a01.target gives, against scipy's frozen distributions."""
    from scipy import stats

    from autograder.judging.stats import target_cdf
    from autograder.questions import a01_activations_and_initialisation as a01

    v = np.linspace(-0.3, 0.3, 61)
    uniform = a01.target((300, 500), 2.0, "fan_avg", "uniform")
    lim = uniform["limit"]
    assert np.allclose(target_cdf(uniform)(v), stats.uniform(-lim, 2 * lim).cdf(v), atol=1e-12)
    trunc = a01.target((300, 500), 1.0, "fan_in", "truncated_normal")
    assert np.allclose(target_cdf(trunc)(v), stats.truncnorm(-2, 2, scale=trunc["sd"]).cdf(v), atol=1e-9)
    normal = a01.target((300, 500), 1.0, "fan_out", "untruncated_normal")
    assert np.allclose(target_cdf(normal)(v), stats.norm(0, normal["sd"]).cdf(v), atol=1e-9)


def test_augment_digests_tell_every_transform():
    """The digests build embeds (case_data, from a05.candidates) tell every flip and shift of an
    image, in the order of the grader's shifting; an image that is no such transform is named."""
    from autograder.handout.selfcheck_data import case_data
    from autograder.judging.draws import transforms
    from autograder.judging.verdict import Case
    from autograder.questions import a05_regularisation as a05

    rng = np.random.default_rng(5)
    images = rng.integers(1, 256, (60, 6, 7)).astype(np.uint8)
    call = wire.from_json(
        {"type": "call", "function": "augment", "args": [{"$array": "x"}, {"$rng": 0}], "kwargs": {"max_shift": 2}}
    )
    check = a05.ASSIGNMENT.question("augment").check
    spec = case_data(check, {"kind": "augment"}, Case("c", call, "", True), {"x": images}, raises=False)
    import base64

    table = base64.b64decode(spec["candidates"]["x/2"])
    assert table == a05.candidates(images, 2)
    choices = np.stack([rng.integers(0, 2, 60), rng.integers(-2, 3, 60), rng.integers(-2, 3, 60)], axis=1)
    got = np.stack([a05.shift(img[:, ::-1] if f else img, dy, dx) for img, (f, dy, dx) in zip(images, choices)])
    assert np.array_equal(transforms(images, got, 2, table), choices)
    got[7, 3, 3] += 1
    assert transforms(images, got, 2, table).message.startswith("image 7 is not a left-right flip")


def test_embedded_checkers_contain_no_solution_formula():
    """What students can read (the notebooks' metadata) holds none of the expressions that solve an
    exercise. The scan is shown able to fail: each expression is found in the grader's or the
    reference's code it was taken from."""
    import inspect

    from autograder.handout.selfcheck_data import FORMULAS, formula_leaks
    from autograder.judging import models
    from autograder.questions import a01_activations_and_initialisation as a01
    from autograder.questions import a05_augment, a05_regularisation

    sources = (
        inspect.getsource(a01)
        + inspect.getsource(a05_regularisation)
        + inspect.getsource(a05_augment)
        + inspect.getsource(models)
        + "".join((REPO / "solutions" / f"{a}.ipynb").read_text() for a in ASSIGNMENTS)
    )
    for name, pattern in FORMULAS.items():
        assert re.search(pattern, sources), name
    for assignment in ASSIGNMENTS.values():
        nb = json.loads((REPO / "assignments" / f"{assignment.id}.ipynb").read_text())
        for qid, source in nb["metadata"][OTTER_KEY]["tests"].items():
            assert formula_leaks(source) == [], (assignment.id, qid)
            assert "sqrt(3" not in source and "max(dy" not in source and "min(dy" not in source, (assignment.id, qid)


def test_checker_and_inputs_are_stored_once_per_notebook(tmp_path, monkeypatch):
    """The checker's code and each distinct public input are in the notebook once (05's dropout
    input serves dropout_train and inverted_dropout); a test finds them through the file name otter
    compiles it with, else the notebook named at build in the current folder, else says why not."""
    from autograder.handout.selfcheck import SHARED_KEY, runtime_source

    path = REPO / "assignments" / "05_regularisation.ipynb"
    text = path.read_text()
    packed = encode_input(make_plan(ASSIGNMENTS["05_regularisation"], seed=0, hidden=False).inputs["dropout_train.p0"])
    assert text.count(packed["$b64"]) == 1
    stored = json.loads(json.loads(text)["metadata"][SHARED_KEY]["inputs"])
    assert stored["inverted_dropout.p0"] == {"$same": "dropout_train.p0"}
    for assignment in ASSIGNMENTS.values():
        nb = json.loads((REPO / "assignments" / f"{assignment.id}.ipynb").read_text())
        assert nb["metadata"][SHARED_KEY]["code"] == runtime_source()
        assert all(runtime_source() not in source for source in nb["metadata"][OTTER_KEY]["tests"].values())
    source = json.loads(text)["metadata"][OTTER_KEY]["tests"]["inverted_dropout"]
    for where in ("<string>", str(path)):  # another loader's file name: the notebook in the current folder
        env: dict = {}
        exec(compile(source, where, "exec"), env)
        monkeypatch.chdir(path.parent)
        checker, inputs = env["shared"]()
        assert set(inputs) == {"inverted_dropout.p0", "inverted_dropout.p1"} and "judge" in checker
        assert inputs["inverted_dropout.p0"] == packed
    monkeypatch.chdir(tmp_path)
    env = {}
    exec(compile(source, "<string>", "exec"), env)
    with pytest.raises(AssertionError, match="reads its code from the notebook file 05_regularisation.ipynb"):
        env["shared"]()


def test_trained_models_tasks_are_the_graders():
    """The self-check relabels the test split with the table build embeds, as models.split_tasks."""
    from autograder.handout.selfcheck_data import task_labels
    from autograder.handout.selfcheck_runtime import task_split
    from autograder.judging.models import split_tasks

    rng = np.random.default_rng(2)
    y = rng.integers(0, 10, 500)
    x = rng.random((500, 3))
    for task in ("all", "A", "B"):
        want_x, want_y = split_tasks(x, y)[task]
        got_x, got_y = task_split(x, y, task_labels(task))
        assert np.array_equal(got_x, want_x) and np.array_equal(got_y, want_y), task


# ---- what the self-check is built from: the question's own check, public cases, answers only ----


def test_a_changed_tolerance_reaches_the_self_check():
    import dataclasses

    from autograder.handout.selfcheck import check_spec
    from autograder.judging.checks import allclose

    sigmoid = ASSIGNMENTS["01_activations_and_initialisation"].question("sigmoid")
    looser = dataclasses.replace(sigmoid, check=allclose(rtol=1e-3, atol=1e-5, same_shape=False))
    assert check_spec(looser) == {"kind": "allclose", "rtol": 1e-3, "atol": 1e-5, "same_shape": False, "returns": None}
    assert check_spec(sigmoid)["rtol"] != 1e-3


def test_a_check_without_a_self_check_counterpart_stops_the_build():
    import dataclasses

    from autograder.errors import BuildError
    from autograder.handout.selfcheck import check_spec
    from autograder.judging.verdict import Verdict

    def bespoke(ctx):
        return Verdict(True)

    relu = dataclasses.replace(ASSIGNMENTS["01_activations_and_initialisation"].question("relu"), check=bespoke)
    with pytest.raises(BuildError, match="no counterpart of the check"):
        check_spec(relu)  # else students would get a self-check that judges otherwise than the grader


@pytest.mark.parametrize("no_answer", ["Timeout", "Missing", "NoOutput"])
def test_a_reference_without_an_answer_never_becomes_an_expected_value(no_answer, references):
    from autograder.errors import BuildError

    assignment = ASSIGNMENTS["04_optimizers"]
    question = assignment.question("adam_step")
    reference = dict(references["04_optimizers"])
    first = call_id(question.id, make_plan(assignment, seed=0, hidden=False).cases[question.id][0].id)
    reference[first] = CallOutput(Raised(no_answer, "no answer"))
    with pytest.raises(BuildError, match="the reference gave no answer"):
        public_cases(assignment, question, reference)
    # an exception the solution raises on purpose is an expected answer (the student must raise it too)
    reference[first] = CallOutput(Raised("ValueError", "on purpose"))
    cases, _ = public_cases(assignment, question, reference)
    assert cases[0]["expected"] == {"$raised": "ValueError"}


def test_the_embedded_modules_share_one_namespace_without_clashes():
    """The self-check's code is the wire, the judging modules and selfcheck_runtime.py pasted one
    after another into one namespace: a name defined twice would silently replace the first (a
    check calling another module's helper of the same name), so none may be."""
    import ast
    from collections import Counter
    from pathlib import Path

    from autograder.handout import selfcheck

    here = Path(selfcheck.__file__).parent
    defined: Counter = Counter()
    for name in selfcheck.EMBEDDED:
        for node in ast.parse((here / name).read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined[node.name] += 1
            elif isinstance(node, ast.Assign):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined[node.target.id] += 1
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                continue
            elif isinstance(node, ast.ImportFrom):  # a relative import: must be of an embedded module
                module = (node.module or "").split(".")[-1]
                assert any(e.endswith(f"/{module}.py") or e == f"{module}.py" for e in selfcheck.EMBEDDED), (
                    name,
                    node.module,
                )
    assert [n for n, count in defined.items() if count > 1] == []
    namespace = {"__name__": "selfcheck"}
    exec(compile(selfcheck.runtime_source(), "notebook.ipynb", "exec", dont_inherit=True), namespace)
    assert "grader_check" in namespace and "allclose" in namespace


def test_every_check_kind_is_rebuilt_from_the_graders_factory():
    """Every question's check spec gives the self-check a check of the grader's own factory (the
    same code object), so no check is written a second time for the notebook."""
    from autograder.handout.selfcheck import check_spec, runtime_source

    namespace = {"__name__": "selfcheck"}
    exec(compile(runtime_source(), "notebook.ipynb", "exec", dont_inherit=True), namespace)
    for assignment in ASSIGNMENTS.values():
        for question in assignment.questions:
            spec = check_spec(question)
            spec.update(target={}, divisors=[None], candidates={}, labels={})
            made = namespace["grader_check"](spec)
            if spec["kind"] != "trained":
                assert made.__code__.co_code == question.check.__code__.co_code, question.id
                assert made.__qualname__ == question.check.__qualname__, question.id
