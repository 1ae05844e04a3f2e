"""Randomness checks (judging/randomness.py, stats.binomial_band, the probe's `calls` case): the
correct implementations pass on many seeds; implementations that ignore or misuse their generator
fail each with the message that names what is wrong. No sandbox: functions run through the
probe's own handlers in this process."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
from scipy import stats as sps

from autograder.judging.randomness import count_ok, shared_block
from autograder.judging.stats import REPEATS, binomial_band, window_length
from autograder.questions import a01_activations_and_initialisation as a01
from autograder.questions import a05_regularisation as a05
from tests.unit.private_runtime import arrays as new_arrays
from tests.unit.private_runtime import handle
from tests.unit.test_stats import augment, cases_of, dropout_train, inverted_dropout, judge

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def randomness_cases(question, hidden_seed=None):
    builder = cases_of(question, hidden_seed)
    cases = [c for c in builder.cases if c.call.kind == "calls"]
    assert len(cases) == 1, [c.description for c in builder.cases]
    return builder, cases[0]


def verdict_of(qid, fn, hidden_seed=None):
    question = next(q for m in (a01, a05) for q in m.ASSIGNMENT.questions if q.id == qid)
    builder, case = randomness_cases(question, hidden_seed)
    return judge(question, fn, builder, case)


# --- the exact band -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, p, alpha",
    [
        (1000, 0.25, 2.5e-7),
        (60, 0.5, 4e-12),
        (60, 0.35, 4e-12),
        (30_000, 0.5, 1.7e-7),
        (300, 1 / 7, 1.1e-7),
        (450, 0.5, 3.3e-7),
    ],
)
def test_band_holds_alpha_exactly_and_is_the_narrowest(n, p, alpha):
    lo, hi = binomial_band(n, p, alpha)
    assert sps.binom.cdf(lo - 1, n, p) <= alpha / 2 and sps.binom.sf(hi, n, p) <= alpha / 2
    assert lo == 0 or sps.binom.cdf(lo, n, p) > alpha / 2  # one step in and the tail is too big
    assert hi == n or sps.binom.sf(hi - 1, n, p) > alpha / 2


def test_band_degenerate_probabilities():
    assert binomial_band(10, 0.0, 1e-6) == (0, 0) and binomial_band(10, 1.0, 1e-6) == (10, 10)


def test_count_ok_on_honest_and_tied_events():
    rng = np.random.default_rng(20261201)
    assert all(count_ok(rng.random(1000) < 0.3, 0.3, 1e-6)[0] for _ in range(300))
    ok, text = count_ok(np.ones(1000, bool), 0.3, 1e-6)
    assert not ok and text == "1,000 of 1,000 (about 300 expected)"
    assert not count_ok(np.zeros(1000, bool), 0.3, 1e-6)[0]


# --- the probe's `calls` case --------------------------------------------------------------------


def test_calls_share_a_generator_per_seed_only_when_asked():
    def draw(rng):
        return rng.random(3)

    call = {
        "type": "calls",
        "function": "draw",
        "calls": [
            {"type": "call", "args": [{"$rng": 5, "shared": True}], "kwargs": {}},
            {"type": "call", "args": [{"$rng": 5, "shared": True}], "kwargs": {}},
            {"type": "call", "args": [{"$rng": 5}], "kwargs": {}},
            {"type": "call", "args": [{"$rng": 6, "shared": True}], "kwargs": {}},
        ],
    }
    arrays = new_arrays()
    result = handle({"draw": draw}, call, {}, arrays)
    got = [arrays.store[v["$array"]] for v in result["value"]["$tuple"]]
    stream = np.random.default_rng(5).random(6)
    np.testing.assert_array_equal(got[0], stream[:3])
    np.testing.assert_array_equal(got[1], stream[3:])  # the shared generator went on
    np.testing.assert_array_equal(got[2], stream[:3])  # a fresh one starts again
    np.testing.assert_array_equal(got[3], np.random.default_rng(6).random(3))
    assert result["modified_input"] is False


def test_calls_report_a_modified_input_and_make_a_fresh_initializer_each_time():
    def zero_first(x):
        x[0] = 0.0
        return x

    call = {"type": "calls", "function": "f", "calls": [{"type": "call", "args": [{"$array": "x"}], "kwargs": {}}] * 2}
    result = handle({"f": zero_first}, call, {"x": np.ones(3)}, new_arrays())
    assert result["modified_input"] is True

    made = []

    class Init:
        def __init__(self):
            made.append(self)

        def __call__(self, shape):
            return np.full(shape, float(len(made)))

        def get_config(self):
            return {}

    call = {"type": "calls", "function": "init", "calls": [{"type": "initializer", "shape": [2, 2]}] * 2}
    arrays = new_arrays()
    value = handle({"init": Init}, call, {}, arrays)["value"]["$tuple"]
    assert len(made) == 2 and [arrays.store[v["samples"]["$array"]][0, 0] for v in value] == [1.0, 2.0]


# --- correct implementations pass, on the public case and many hidden seeds ---------------------


def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
    """An independent numpy version: standard normals scaled, truncation by inverse-cdf sampling."""
    fan_in, fan_out = shape
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    s = scale / max(1.0, n)
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return math.sqrt(3 * s) * (2 * rng.random(tuple(shape)) - 1)
    if distribution == "untruncated_normal":
        return math.sqrt(s) * rng.standard_normal(tuple(shape))
    u = sps.norm.cdf(-2) + rng.random(tuple(shape)) * (sps.norm.cdf(2) - sps.norm.cdf(-2))
    return math.sqrt(s) / 0.87962566103423978 * sps.norm.ppf(u)


@pytest.mark.parametrize("hidden_seed", [None, *range(40)])
def test_correct_dropout_and_variance_scaling_pass(hidden_seed):
    for qid, fn in (
        ("dropout_train", dropout_train),
        ("inverted_dropout", inverted_dropout),
        ("variance_scaling", variance_scaling),
    ):
        verdict = verdict_of(qid, fn, hidden_seed)
        assert verdict.passed, (qid, hidden_seed, verdict.message)


@pytest.mark.parametrize("hidden_seed", [None, 0, 1, 2, 3])
def test_correct_augment_passes(hidden_seed):
    verdict = verdict_of("augment", augment, hidden_seed)
    assert verdict.passed, verdict.message


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


@pytest.mark.parametrize("hidden_seed", [None, 0, 1])
def test_keras_initializer_passes(keras, hidden_seed):
    verdict = verdict_of(
        "he_avg_initializer", lambda: keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform"), hidden_seed
    )
    assert verdict.passed, verdict.message


# --- implementations that are not random fail, saying why -----------------------------------------


def dropout_prefix(x, rate, rng):
    """The issue's example: always the first round(rate * n) elements, rng ignored."""
    out = np.array(x, dtype=float)
    out.flat[: round(rate * out.size)] = 0.0
    return out


def dropout_element_0(x, rate, rng):
    out = dropout_train(x, rate, rng)
    out.flat[0] = 0.0
    return out


def dropout_one_mask_per_row(x, rate, rng):
    x = np.asarray(x, dtype=float)
    return np.where(rng.random(x.shape[-1]) >= rate, x, 0.0)


def dropout_rebuilds_the_generator(x, rate, rng):
    return dropout_train(x, rate, np.random.default_rng(rng.bit_generator.seed_seq))


def dropout_half_the_rows_repeated(x, rate, rng):
    """The red team's: half the rows' mask drawn, then used again for the other half."""
    x = np.asarray(x, dtype=float)
    half = rng.random(((x.shape[0] + 1) // 2, *x.shape[1:])) >= rate
    return np.where(np.concatenate([half, half])[: x.shape[0]], x, 0.0)


DROPOUT_BUGS = [
    (dropout_prefix, "the same mask for every seed"),
    (lambda x, rate, rng: dropout_train(x, rate, np.random.default_rng(0)), "the same mask for every seed"),
    (lambda x, rate, rng: dropout_train(x, rate, np.random), "a fresh generator with the same seed gave another mask"),
    (dropout_rebuilds_the_generator, "two calls in a row with the same generator gave the same mask"),
    (dropout_element_0, "element (0, 0) is always dropped"),
    (dropout_one_mask_per_row, "rows of one mask are related"),
    (dropout_half_the_rows_repeated, "in the masks, the same"),
]


@pytest.mark.parametrize("hidden_seed", [None, 11])
@pytest.mark.parametrize("fn, fragment", DROPOUT_BUGS)
def test_dropout_without_randomness_fails(fn, fragment, hidden_seed):
    verdict = verdict_of("dropout_train", fn, hidden_seed)
    assert not verdict.passed and fragment in verdict.message, verdict.message


def augment_cycles(images, rng, max_shift=2):
    """The issue's example: (flip, dy, dx) cycles through every combination in order."""
    m = max_shift
    combos = list(itertools.product((0, 1), range(-m, m + 1), range(-m, m + 1)))
    return np.stack(
        [
            a05.shift(img[:, ::-1] if combos[i % len(combos)][0] else img, *combos[i % len(combos)][1:])
            for i, img in enumerate(np.asarray(images))
        ]
    )


def augment_cycles_from_a_random_start(images, rng, max_shift=2):
    m = max_shift
    combos = list(itertools.product((0, 1), range(-m, m + 1), range(-m, m + 1)))
    start = int(rng.integers(len(combos)))
    return np.stack(
        [
            a05.shift(
                img[:, ::-1] if combos[(start + i) % len(combos)][0] else img, *combos[(start + i) % len(combos)][1:]
            )
            for i, img in enumerate(np.asarray(images))
        ]
    )


def augment_one_choice_per_batch(images, rng, max_shift=2):
    flip, (dy, dx) = rng.random() < 0.5, rng.integers(-max_shift, max_shift + 1, 2)
    return np.stack([a05.shift(img[:, ::-1] if flip else img, dy, dx) for img in np.asarray(images)])


def augment_half_the_batch_repeated(images, rng, max_shift=2):
    """The red team's: choices drawn for half the batch, then used again for the other half."""
    images = np.asarray(images)
    n, m = len(images), max_shift
    half = (n + 1) // 2
    flips, shifts = rng.random(half) < 0.5, rng.integers(-m, m + 1, (half, 2))
    return np.stack(
        [a05.shift(img[:, ::-1] if flips[i % half] else img, *shifts[i % half]) for i, img in enumerate(images)]
    )


@pytest.mark.parametrize("hidden_seed", [None, 12])
@pytest.mark.parametrize(
    "fn, fragment",
    [
        (augment_half_the_batch_repeated, "images in a row appear twice"),
        (augment_cycles, "the same flips and shifts for every seed"),
        (augment_cycles_from_a_random_start, "of neighbouring images are tied"),
        (augment_one_choice_per_batch, "the flips of neighbouring images are tied"),
        (
            lambda images, rng, max_shift=2: augment(images, np.random.default_rng(), max_shift),
            "a fresh generator with the same seed gave other flips and shifts",
        ),
        (
            lambda images, rng, max_shift=2: augment(images, np.random.default_rng(1), max_shift),
            "the same flips and shifts for every seed",
        ),
    ],
)
def test_augment_without_randomness_fails(fn, fragment, hidden_seed):
    verdict = verdict_of("augment", fn, hidden_seed)
    assert not verdict.passed and fragment in verdict.message, verdict.message


def antithetic_rows(shape, seed=None, **kw):
    """Every second row the negative of the one above: each row alone looks right."""
    w = variance_scaling(shape, seed=seed, **kw)
    even = shape[0] // 2 * 2
    w[1:even:2] = -w[0:even:2]
    return w


def half_the_rows_repeated(shape, seed=None, **kw):
    """The red team's: half the rows drawn, then repeated below them."""
    half = variance_scaling(((shape[0] + 1) // 2, shape[1]), seed=seed, **kw)
    return np.concatenate([half, half])[: shape[0]]


def two_rows_shared_by_every_seed(shape, seed=None, **kw):
    """Rows 0-1 from a fixed seed, the rest from `seed`: too few shared signs for the counts."""
    w = variance_scaling(shape, seed=seed, **kw)
    w[:2] = variance_scaling((2, shape[1]), seed=7, **kw)
    return w


def sorted_quantiles(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
    """The issue's example: the target distribution's quantiles in order, the same for every seed."""
    size = shape[0] * shape[1]
    n = {"fan_in": shape[0], "fan_out": shape[1], "fan_avg": (shape[0] + shape[1]) / 2}[mode]
    s = scale / max(1.0, n)
    dist = {
        "uniform": sps.uniform(-math.sqrt(3 * s), 2 * math.sqrt(3 * s)),
        "untruncated_normal": sps.norm(0, math.sqrt(s)),
        "truncated_normal": sps.truncnorm(-2, 2, scale=math.sqrt(s) / 0.87962566103423978),
    }[distribution]
    return dist.ppf((np.arange(size) + 0.5) / size).reshape(shape)


@pytest.mark.parametrize("hidden_seed", [None, 13])
@pytest.mark.parametrize(
    "fn, fragment",
    [
        (sorted_quantiles, "the same matrix for every seed"),
        (
            lambda shape, seed=None, **kw: variance_scaling(shape, seed=0 if seed is None else seed, **kw),
            "seed=None gave the same matrix twice",
        ),
        (
            lambda shape, seed=None, **kw: np.sort(variance_scaling(shape, seed=seed, **kw), axis=1),
            "neighbouring entries are related (side by side",
        ),
        (
            lambda shape, seed=None, **kw: np.sort(variance_scaling(shape, seed=seed, **kw), axis=0),
            "neighbouring entries are related",
        ),  # sorted columns: neighbours in a row are alike too
        (
            lambda shape, seed=None, **kw: np.repeat(
                variance_scaling((1, shape[1]), seed=seed, **kw), shape[0], axis=0
            ),
            "neighbouring entries are related",
        ),  # one row drawn, then repeated
        (antithetic_rows, "neighbouring entries are related (one above the other"),
        (half_the_rows_repeated, "in the matrix draws that should be independent, the same"),
        (two_rows_shared_by_every_seed, "in the matrix draws that should be independent, the same"),
        (
            lambda shape, seed=None, **kw: (
                0.8 * variance_scaling(shape, seed=0, **kw) + 0.6 * variance_scaling(shape, seed=seed, **kw)
            ),
            "two matrix draws that should be independent are related",
        ),  # mostly a fixed matrix
        (
            lambda shape, seed=None, **kw: variance_scaling(shape, seed=None, **kw),
            "two calls with the same seed gave different values",
        ),
    ],
)
def test_variance_scaling_without_randomness_fails(fn, fragment, hidden_seed):
    verdict = verdict_of("variance_scaling", fn, hidden_seed)
    assert not verdict.passed and fragment in verdict.message, verdict.message


def test_the_sorted_quantiles_pass_the_distribution_check():
    """Why the randomness case is needed: the distribution alone cannot tell them apart."""
    shape = (300, 500)
    samples = sorted_quantiles(shape, 2.0, "fan_avg", "uniform")
    assert a01.check_samples(samples, shape, 2.0, "fan_avg", "uniform").passed


def test_seeded_keras_initializer_fails(keras):
    verdict = verdict_of(
        "he_avg_initializer", lambda: keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform", seed=42)
    )
    assert not verdict.passed and "sampled the same kernel" in verdict.message


# --- shared blocks: the window lengths and their bound ---------------------------------------------


def test_window_length_is_the_shortest_within_alpha():
    for n, p, alpha in ((250_000, 0.5 + 1e-6, REPEATS / 3), (61_000, 0.65, REPEATS / 3), (900, 1 / 18, REPEATS)):
        k = window_length(n, p, alpha)
        pairs = n * (n - 1) / 2
        assert pairs * p**k <= alpha < pairs * p ** (k - 1), (n, p, k)


def test_shared_block_finds_a_repeat_anywhere_and_nothing_in_independent_draws():
    rng = np.random.default_rng(5)
    draws = [rng.integers(0, 2, (150, 200)).astype(np.uint8) for _ in range(4)]
    assert shared_block(draws, 0.5, REPEATS) is None
    half = draws[0].copy()
    half[75:] = half[:75]
    assert shared_block([half, *draws[1:]], 0.5, REPEATS) == (
        "along the rows",
        window_length(120_000, 0.5, REPEATS / 3),
    )
    columns = draws[1].copy()
    columns[:, 150] = columns[:, 3]
    columns[:, 151] = columns[:, 4]  # two columns repeated: 300 signs down the columns
    assert shared_block([draws[0], columns], 0.5, REPEATS)[0] == "down the columns"
    block = draws[2].copy()
    block[100:110, 50:60] = draws[3][20:30, 5:15]  # a 10 x 10 block of another draw
    assert shared_block([block, draws[3]], 0.5, REPEATS)[0] == "as a 8 x 8 block"  # 60 signs: 8 x 8


@pytest.mark.parametrize("hidden_seed", [None, *range(5)])
def test_correct_functions_share_no_block(hidden_seed):
    """The correct implementations on the real cases (the long runs are test_correct_*_pass)."""
    for qid, fn in (("dropout_train", dropout_train), ("variance_scaling", variance_scaling), ("augment", augment)):
        verdict = verdict_of(qid, fn, hidden_seed)
        assert verdict.passed, (qid, verdict.message)
