"""Statistical checks (judging/stats.py) and the random-function questions built on them:
a01 check_samples (variance scaling) and a05 dropout and augmentation. Each check must pass a
correct implementation and fail the usual bugs."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats as sps

from autograder.grading.collect import decode
from autograder.judging.stats import ALPHA, SIGMAS, binomial_ok, ks_pvalue, uniform_counts_ok
from autograder.judging.verdict import CaseContext
from autograder.questions import a01_activations_and_initialisation as a01
from autograder.questions import a05_regularisation as a05
from autograder.questions.base import CaseBuilder
from autograder.wire import Raised

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tests.unit.private_runtime import arrays as new_arrays
from tests.unit.private_runtime import handle

# --- stats.py ---------------------------------------------------------------------------------------


def test_binomial_bounds():
    n, p = 10_000, 0.3
    sigma = math.sqrt(n * p * (1 - p))
    edge = SIGMAS * sigma
    assert binomial_ok(round(n * p), n, p)
    assert binomial_ok(int(n * p + edge), n, p) and binomial_ok(math.ceil(n * p - edge), n, p)
    assert not binomial_ok(math.ceil(n * p + edge + 1e-9), n, p)
    assert not binomial_ok(int(n * p - edge - 1), n, p)
    assert binomial_ok(n, n, 1.0) and not binomial_ok(n - 1, n, 1.0)
    assert binomial_ok(0, n, 0.0) and not binomial_ok(1, n, 0.0)


def test_binomial_false_failure_rate_is_below_the_stated_bound():
    # exact binomial tail beyond the acceptance band, for the sizes the checks use
    for n, p in ((60_000, 0.8), (60_000, 0.5), (400, 0.5), (600, 0.1)):
        half = SIGMAS * math.sqrt(n * p * (1 - p))
        tail = sps.binom.cdf(math.ceil(n * p - half) - 1, n, p) + sps.binom.sf(math.floor(n * p + half), n, p)
        assert tail < ALPHA


def test_uniform_counts():
    assert uniform_counts_ok(np.array([100, 100, 100, 100, 100]))
    assert uniform_counts_ok(np.array([90, 110, 95, 105, 100]))
    assert not uniform_counts_ok(np.array([0, 0, 500, 0, 0]))
    assert not uniform_counts_ok(np.array([200, 100, 100, 100, 0]))
    assert uniform_counts_ok(np.array([400]))
    rng = np.random.default_rng(0)
    assert all(uniform_counts_ok(np.bincount(rng.integers(0, 5, 400), minlength=5)) for _ in range(200))


def test_ks_pvalue():
    rng = np.random.default_rng(1)
    assert ks_pvalue(rng.normal(0, 1, (300, 200)), sps.norm().cdf) > ALPHA
    assert ks_pvalue(rng.normal(0, 1.1, (300, 200)), sps.norm().cdf) < ALPHA


# --- a01: variance scaling --------------------------------------------------------------------------

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
SHAPE = (300, 500)


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def keras_samples(keras, shape, scale, mode, distribution, seed):
    init = keras.initializers.VarianceScaling(scale=scale, mode=mode, distribution=distribution, seed=seed)
    return np.asarray(init(shape, dtype="float32"))


def fan(shape, mode):
    return {"fan_in": shape[0], "fan_out": shape[1], "fan_avg": (shape[0] + shape[1]) / 2}[mode]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_check_samples_passes_keras(keras, mode, distribution):
    seed = 10 * MODES.index(mode) + DISTRIBUTIONS.index(distribution)
    samples = keras_samples(keras, SHAPE, 2.0, mode, distribution, seed)
    assert a01.check_samples(samples, SHAPE, 2.0, mode, distribution).passed


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("used, checked", [("fan_out", "fan_in"), ("fan_in", "fan_avg"), ("fan_avg", "fan_out")])
def test_check_samples_fails_wrong_fan(keras, used, checked, distribution):
    samples = keras_samples(keras, SHAPE, 2.0, used, distribution, seed=3)
    verdict = a01.check_samples(samples, SHAPE, 2.0, checked, distribution)
    assert not verdict.passed
    assert checked in verdict.message


def test_check_samples_fails_missing_truncation_constant():
    rng = np.random.default_rng(4)
    sd = math.sqrt(1.0 / SHAPE[0])  # forgot to divide by .87962566103423978
    samples = sps.truncnorm(-2, 2, scale=sd).rvs(SHAPE, random_state=rng)
    verdict = a01.check_samples(samples, SHAPE, 1.0, "fan_in", "truncated_normal")
    assert not verdict.passed and "Kolmogorov-Smirnov" in verdict.message
    # with the constant, the same recipe passes
    right = sps.truncnorm(-2, 2, scale=sd / 0.87962566103423978).rvs(SHAPE, random_state=rng)
    assert a01.check_samples(right, SHAPE, 1.0, "fan_in", "truncated_normal").passed


def test_check_samples_fails_untruncated_for_truncated():
    samples = np.random.default_rng(5).normal(0, math.sqrt(1.0 / SHAPE[0]) / 0.87962566103423978, SHAPE)
    verdict = a01.check_samples(samples, SHAPE, 1.0, "fan_in", "truncated_normal")
    assert not verdict.passed and "outside" in verdict.message


def test_check_samples_fails_uniform_without_the_3():
    limit = math.sqrt(2.0 / fan(SHAPE, "fan_avg"))  # sqrt(scale / fan): forgot the 3
    samples = np.random.default_rng(6).uniform(-limit, limit, SHAPE)
    assert not a01.check_samples(samples, SHAPE, 2.0, "fan_avg", "uniform").passed
    right = np.random.default_rng(6).uniform(-math.sqrt(3) * limit, math.sqrt(3) * limit, SHAPE)
    assert a01.check_samples(right, SHAPE, 2.0, "fan_avg", "uniform").passed


def test_check_samples_shape_and_junk():
    ok = np.random.default_rng(7).uniform(-0.01, 0.01, SHAPE)
    assert "wrong shape" in a01.check_samples(ok.T, SHAPE, 1.0, "fan_in", "uniform").message
    assert "nan" in a01.check_samples(np.full(SHAPE, np.nan), SHAPE, 1.0, "fan_in", "uniform").message
    assert not a01.check_samples("samples", SHAPE, 1.0, "fan_in", "uniform").passed


def test_variance_scaling_question_passes_keras_on_its_cases(keras):
    question = a01.ASSIGNMENT.question("variance_scaling")
    builder = CaseBuilder(question.id, public=False)
    question.make_public(builder)
    question.make_hidden(builder, np.random.default_rng(8))

    def by_keras(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        return keras_samples(keras, tuple(shape), scale, mode, distribution, seed)

    checked = 0
    for case in builder.cases:
        verdict = judge(question, by_keras, builder, case, reference=by_keras)
        assert verdict.passed, (case.description, verdict.message)
        checked += "cauchy" not in str(case.call) and "fan_max" not in str(case.call)
    assert checked >= 8  # 6 distribution cases and 2 randomness cases (keras' seed=None included)


def test_he_avg_initializer_check(keras):
    question = a01.ASSIGNMENT.question("he_avg_initializer")
    builder = CaseBuilder(question.id, public=True)
    question.make_public(builder)
    case = builder.cases[0]

    def judged(init):
        got = {
            "info": {"class": type(init).__name__, "config": init.get_config()},
            "samples": np.asarray(init(case.call.shape)),
        }
        return question.check(CaseContext(case, {}, None, got))

    assert judged(keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform", seed=1)).passed
    assert not judged(keras.initializers.HeUniform(seed=1)).passed
    assert not judged(
        keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="normal", seed=1)
    ).passed


# --- a05: dropout -------------------------------------------------------------------------------------


def cases_of(question, hidden_seed=None):
    builder = CaseBuilder(question.id, public=hidden_seed is None)
    if hidden_seed is None:
        question.make_public(builder)
    else:
        question.make_hidden(builder, np.random.default_rng(hidden_seed))
    return builder


def run_case(fn, builder, case):
    """Call `fn` through the probe's own handler for the case's type (copies of the inputs,
    generators made as in the sandbox) and decode the value as collect does: (value, modified)."""
    env = {case.call.function: fn}
    arrays = new_arrays()
    try:
        result = handle(env, case.call.to_json(), builder.arrays, arrays)
    except Exception as exc:  # noqa: BLE001 - the implementation's exception is its answer
        return Raised(type(exc).__name__, str(exc)), False
    return decode(result["value"], arrays.store), bool(result.get("modified_input"))


def judge(question, fn, builder, case, reference=None):
    """Run `fn` as the probe would and apply the question's check (`reference`: the expected side)."""
    got, modified = run_case(fn, builder, case)
    expected = run_case(reference, builder, case)[0] if reference is not None else None
    return question.check(CaseContext(case, builder.arrays, expected, got, {"modified_input": modified}))


def dropout_train(x, rate, rng):
    x = np.asarray(x, dtype=float)
    return np.where(rng.random(x.shape) >= rate, x, 0.0)


def inverted_dropout(x, rate, rng):
    x = np.asarray(x, dtype=float)
    return np.where(rng.random(x.shape) >= rate, x / (1.0 - rate), 0.0)


def keep_prob_is_rate(x, rate, rng):
    x = np.asarray(x, dtype=float)
    return np.where(rng.random(x.shape) < rate, x / (1.0 - rate), 0.0)


def in_place(x, rate, rng):
    x[rng.random(x.shape) < rate] = 0.0
    x /= 1.0 - rate
    return x


@pytest.mark.parametrize("name, fn", [("dropout_train", dropout_train), ("inverted_dropout", inverted_dropout)])
@pytest.mark.parametrize("hidden_seed", [None, 1, 2])
def test_dropout_check_passes_correct_implementations(name, fn, hidden_seed):
    question = a05.ASSIGNMENT.question(name)
    builder = cases_of(question, hidden_seed)
    for case in builder.cases:
        verdict = judge(question, fn, builder, case)
        assert verdict.passed, (case.description, verdict.message)


def test_dropout_check_fails_keep_probability_equal_to_rate():
    question = a05.ASSIGNMENT.question("inverted_dropout")
    builder = cases_of(question)  # rate 0.2
    verdict = judge(question, keep_prob_is_rate, builder, builder.cases[0])
    assert not verdict.passed and "expected about 0.8" in verdict.message


def test_dropout_check_fails_without_rescaling():
    question = a05.ASSIGNMENT.question("inverted_dropout")
    builder = cases_of(question)
    verdict = judge(question, dropout_train, builder, builder.cases[0])
    assert not verdict.passed and "divided by (1 - rate)" in verdict.message


def test_dropout_train_check_fails_rescaling():
    question = a05.ASSIGNMENT.question("dropout_train")
    builder = cases_of(question)
    verdict = judge(question, inverted_dropout, builder, builder.cases[0])
    assert not verdict.passed and "no rescaling" in verdict.message


def test_dropout_check_fails_in_place_and_wrong_shape():
    question = a05.ASSIGNMENT.question("inverted_dropout")
    builder = cases_of(question)
    verdict = judge(question, in_place, builder, builder.cases[0])
    assert not verdict.passed and "modifies its input" in verdict.message
    verdict = judge(question, lambda x, rate, rng: inverted_dropout(x, rate, rng).ravel(), builder, builder.cases[0])
    assert not verdict.passed and "wrong shape" in verdict.message


def test_dropout_check_expected_exception():
    question = a05.ASSIGNMENT.question("dropout_train")
    case = cases_of(question).cases[0]
    ctx = CaseContext(case, {}, Raised("ValueError", "rate"), Raised("ValueError", "other"))
    assert question.check(ctx).passed


# --- a05: augmentation -----------------------------------------------------------------------------


def augment(images, rng, max_shift=2):
    """Written independently of a05.shift: pad, then cut the shifted window."""
    images = np.asarray(images)
    n, h, w = images.shape
    flip = rng.random(n) < 0.5
    dy = rng.integers(-max_shift, max_shift + 1, size=n)
    dx = rng.integers(-max_shift, max_shift + 1, size=n)
    out = np.empty_like(images)
    m = max_shift
    for i in range(n):
        img = images[i, :, ::-1] if flip[i] else images[i]
        padded = np.pad(img, m)
        out[i] = padded[m - dy[i] : m - dy[i] + h, m - dx[i] : m - dx[i] + w]
    return out


def augment_with_roll(images, rng, max_shift=2):
    images = np.asarray(images)
    n = len(images)
    flip = rng.random(n) < 0.5
    dy = rng.integers(-max_shift, max_shift + 1, size=n)
    dx = rng.integers(-max_shift, max_shift + 1, size=n)
    return np.stack(
        [np.roll(img[:, ::-1] if f else img, (a, b), axis=(0, 1)) for img, f, a, b in zip(images, flip, dy, dx)]
    )


def augment_always_flip(images, rng, max_shift=2):
    images = np.asarray(images)
    n, h, w = images.shape
    dy = rng.integers(-max_shift, max_shift + 1, size=n)
    dx = rng.integers(-max_shift, max_shift + 1, size=n)
    return np.stack([a05.shift(img[:, ::-1], a, b) for img, a, b in zip(images, dy, dx)])


def augment_never_shift(images, rng, max_shift=2):
    images = np.asarray(images)
    flip = rng.random(len(images)) < 0.5
    return np.stack([img[:, ::-1] if f else img.copy() for img, f in zip(images, flip)])


def augment_float(images, rng, max_shift=2):
    return augment(images, rng, max_shift).astype(np.float64)


def shifted_by_loop(image, dy, dx):
    h, w = image.shape
    expected = np.zeros_like(image)
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                expected[y, x] = image[y - dy, x - dx]
    return expected


def test_shift_against_a_pixel_loop():
    image = np.arange(1, 31).reshape(5, 6)
    for dy in range(-5, 6):
        for dx in range(-6, 7):
            np.testing.assert_array_equal(
                a05.shift(image, dy, dx), shifted_by_loop(image, dy, dx), err_msg=f"{dy}, {dx}"
            )


def test_shift_beyond_the_image_is_all_zeros():
    image = np.arange(1, 31).reshape(5, 6)
    for dy, dx in [(-6, 0), (0, -7), (-6, -7), (6, 0), (0, 7)]:
        np.testing.assert_array_equal(a05.shift(image, dy, dx), shifted_by_loop(image, dy, dx))


def test_transforms_recover_the_transform():
    from autograder.judging.draws import transforms

    image = np.random.default_rng(9).integers(1, 256, (1, 8, 8))
    table = a05.candidates(image, 2)
    for flipped in (0, 1):
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                base = image[0][:, ::-1] if flipped else image[0]
                found = transforms(image, a05.shift(base, dy, dx)[None], 2, table)
                assert found.tolist() == [[flipped, dy, dx]]
    assert not transforms(image, np.roll(image, 1, axis=1), 2, table).passed
    assert not transforms(image, a05.shift(image[0], 3, 0)[None], 2, table).passed


@pytest.mark.parametrize("hidden_seed", [None, 3])
def test_augment_check_passes_a_correct_implementation(hidden_seed):
    question = a05.ASSIGNMENT.question("augment")
    builder = cases_of(question, hidden_seed)
    assert len(builder.cases) >= 1
    for case in builder.cases:
        verdict = judge(question, augment, builder, case)
        assert verdict.passed, (case.description, verdict.message)


@pytest.mark.parametrize(
    "fn, fragment",
    [
        (augment_with_roll, "zero fill"),
        (augment_always_flip, "flipped 1.00 of the images"),
        (augment_never_shift, "shifts are not uniform"),
        (augment_float, "returned dtype float64, expected uint8"),
    ],
)
def test_augment_check_fails_the_usual_bugs(fn, fragment):
    question = a05.ASSIGNMENT.question("augment")
    builder = cases_of(question)
    verdict = judge(question, fn, builder, builder.cases[0])
    assert not verdict.passed and fragment in verdict.message, verdict.message


def test_augment_check_fails_in_place_modification():
    question = a05.ASSIGNMENT.question("augment")
    builder = cases_of(question)

    def in_place(images, rng, max_shift=2):
        out = augment(images, rng, max_shift)
        images[...] = out
        return out

    verdict = judge(question, in_place, builder, builder.cases[0])
    assert not verdict.passed and "modifies its input" in verdict.message
