"""Randomness of the random functions: what the distribution checks cannot see.

A distribution check looks at one call: counts and shapes of the draws. A function that ignores
its generator (the first round(rate * n) elements always dropped, the sorted quantiles of the
target distribution, flips and shifts cycling through a fixed order) passes it. These checks look
at several calls in one case (the probe's `calls` type) and ask what a random function must do:

- reproducible: a fresh generator with the same seed (or the same int seed) gives the same output;
- different seeds, and consecutive calls with one generator, give unrelated outputs;
- what happens to an element (dropped, its sign) or an image (flip, shift) does not depend on its
  position, nor on its neighbour's;
- no stretch of the independent draws repeats anywhere in them (`shared_block`): not half a
  draw's rows, not a block two draws share.

Every statistical test is a count of independent events of known probability under the
contract (see `stats.binomial_band`), so it is exact: each case spends ALPHA = 1e-6 in total,
split over its tests (Bonferroni: REPEATS = 1e-8 to the shared blocks, whose bound
`stats.window_length` computes, the rest evenly over its counts), and a correct implementation
fails a case with
probability at most 1e-6 on any seed. The exact-identity tests ("the same mask for every seed")
add less than 1e-90: two independent masks of 1,000 elements, 300 images' choices or matrices of
continuous values coincide with probability below 0.58**1000, 0.5**300 and ~0 respectively. The seeds are drawn from the case's generator (the run's
recorded seed), so a regrade makes the same calls. The messages say which property fails.

Pasted into every student notebook's self-check (see checks.py), which builds these checks with
the parameters `build` reads off the question's (handout/selfcheck_data.py) and its own decoders.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..wire import Initializer
from .checks import as_float_array, precheck
from .stats import ALPHA, REPEATS, binomial_band, window_length
from .verdict import CaseContext, Check, Verdict, fixed_failure

# Reads one call's value (the case context, the call's index, the value): what the check needs, or
# a Verdict saying what is wrong with it.
Decoder = Callable[[CaseContext, int, Any], Any]


def _band_text(count: int, n: int, p: float) -> str:
    return f"{count:,} of {n:,} (about {n * p:,.0f} expected)"


def count_ok(events: np.ndarray, p: float, alpha: float) -> tuple[bool, str]:
    """Do these independent events, each of probability p under the contract, happen as often as
    they should? Their count is then Binomial(size, p): outside the exact band (probability <=
    alpha) the draws are related. Returns the verdict and the count as text for the message."""
    count, n = int(np.sum(events)), int(np.size(events))
    lo, hi = binomial_band(n, p, alpha)
    return lo <= count <= hi, _band_text(count, n, p)


def neighbours(values: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Disjoint pairs of neighbouring entries of a matrix, along rows and along columns.

    Disjoint pairs (0-1, 2-3, ...) keep the pairs independent, which the exact count needs."""
    rows, cols = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    return [
        ("side by side", values[:, 0:cols:2], values[:, 1:cols:2]),
        ("one above the other", values[0:rows:2, :], values[1:rows:2, :]),
    ]


# Signs of symmetric continuous samples: 1/2 each, up to float rounding (about 1e-7, see matrix_check).
SIGN_P_MAX = 0.5 + 1e-6


def _repeats(windows: Sequence[np.ndarray]) -> bool:
    """Are two windows (rows of these (count, ...) arrays of small non-negative integers) equal?
    Exact: each window becomes its bytes (bits, for 0/1 symbols), read as 64-bit keys and sorted
    (lexsort is far faster than sorting byte strings); equal neighbours after sorting are repeats."""
    rows = [np.ascontiguousarray(w.reshape(len(w), -1)) for w in windows if len(w)]
    if not rows:
        return False
    flat = np.concatenate(rows)
    top = int(flat.max())
    if top <= 1:
        packed = np.packbits(flat.astype(np.uint8), axis=1)
    elif top <= 255:
        packed = flat.astype(np.uint8)
    else:
        packed = np.ascontiguousarray(flat.astype("<u2")).view(np.uint8)
    width = -(-packed.shape[1] // 8) * 8
    keys = np.zeros((len(packed), width), np.uint8)
    keys[:, : packed.shape[1]] = packed
    keys = keys.view("<u8")
    if keys.shape[1] == 1:
        ordered = np.sort(keys[:, 0])
        return bool((ordered[1:] == ordered[:-1]).any())
    ordered = keys[np.lexsort(keys.T[::-1])]
    return bool(np.all(ordered[1:] == ordered[:-1], axis=1).any())


def shared_block(draws: Sequence[np.ndarray], p_max: float, alpha: float) -> tuple[str, int] | None:
    """Where two stretches of these draws are the same, and how long they are; None if nowhere.

    `draws` are independent draws of integer symbols (a matrix, a sequence, or higher dimensions
    seen as rows of their first axis), no symbol taking any value with probability above p_max.
    Three tests share `alpha`: windows along the rows (each draw read row by row), down the
    columns, and square blocks; each window is long enough for its test's bound
    (`stats.window_length`, computed from the draws' total size). A draw that repeats its first
    half, or two draws sharing a block, fail; a correct one with probability at most alpha."""
    mats = [d.reshape(d.shape[0], -1) if d.ndim >= 2 else d.reshape(1, -1) for d in draws]
    total = sum(m.size for m in mats)
    two_d = all(m.shape[0] > 1 for m in mats)
    k = window_length(total, p_max, alpha / (3 if two_d else 1))
    lines = [m.ravel() for m in mats]
    if _repeats([sliding_window_view(x, k) for x in lines if x.size >= k]):
        return "along the rows", k
    if two_d:
        columns = [m.T.ravel() for m in mats]
        if _repeats([sliding_window_view(x, k) for x in columns if x.size >= k]):
            return "down the columns", k
        side = math.isqrt(k - 1) + 1  # the smallest square of at least k symbols
        if _repeats(
            [sliding_window_view(m, (side, side)).reshape(-1, side * side) for m in mats if min(m.shape) >= side]
        ):
            return f"as a {side} x {side} block", side * side
    return None


def _shared_text(found: tuple[str, int], what: str) -> str:
    where, size = found
    return f"the same {size} {what} appear twice ({where})"


def as_outputs(ctx: CaseContext, count: int, decode: Decoder) -> list[np.ndarray] | Verdict:
    """The case's outputs (a tuple, one per call), each decoded; the first problem as a verdict."""
    early = precheck(ctx)
    if early is not None:
        return early
    got = ctx.got
    if not isinstance(got, tuple) or len(got) != count:
        return fixed_failure("did not return a value on every call")
    out = []
    for i, value in enumerate(got):
        decoded = decode(ctx, i, value)
        if isinstance(decoded, Verdict):
            return Verdict(
                False,
                f"call {i + 1} of {count}: {decoded.message}",
                decoded.hidden and f"call {i + 1} of {count}: {decoded.hidden}",
            )
        out.append(decoded)
    return out


def calls_shape(ctx: CaseContext) -> tuple[int, int]:
    """The matrix shape of a `calls` case's first call: an initializer's, or a function's first argument."""
    first = ctx.case.call.calls[0]
    shape = first.shape if isinstance(first, Initializer) else ctx.sub_args(0)[0][0]
    return tuple(int(d) for d in shape)


# --- matrices of symmetric continuous samples (variance_scaling, he_avg_initializer) ---------------


def matrix_decoder(shape: tuple[int, int]) -> Decoder:
    def decode(ctx: CaseContext, i: int, value: Any) -> np.ndarray | Verdict:
        if isinstance(value, dict):  # an initializer call: {"samples", "info"}
            value = value.get("samples")
        arr = as_float_array(value)
        if arr is None or arr.shape != shape:
            return fixed_failure(f"should return an array of shape {shape}")
        if not np.isfinite(arr).all():
            return fixed_failure("returned nan or inf")
        return arr

    return decode


def matrix_check(
    shape_of: Callable[[CaseContext], tuple[int, int]],
    same: tuple[int, int] | None,
    other_seed: tuple[int, int],
    unseeded: tuple[int, int] | None,
    count: int,
    *,
    identical: str,
    what: str = "matrix",
    how: str = "draw every number from np.random.default_rng(seed)",
    budget: float = ALPHA,
) -> Check:
    """Samples of a distribution symmetric about 0 (all three VarianceScaling ones).

    `same`: two calls with the same seed (must be equal); `other_seed`: two calls with different
    seeds (or two fresh initializers); `unseeded`: two calls with seed=None. Under the contract the
    entries are independent, continuous and symmetric, so two independent entries have the same
    sign with probability exactly 1/2: the sign-agreement counts are exactly Binomial(n, 1/2).
    (float32 rounding moves P(x > 0) from 1/2 by about 1e-7, a shift of under 0.1 in the counts.)
    Tests: other seeds, unseeded, and 2 neighbour directions x 2 matrices: `budget` split over them,
    but for REPEATS, spent on blocks of signs shared by the independent matrices (`shared_block`)."""
    repeats = REPEATS
    independent = sorted({*other_seed, *(unseeded or ())})

    def check(ctx: CaseContext) -> Verdict:
        alpha = (budget - REPEATS) / (1 + (unseeded is not None) + 4)
        out = as_outputs(ctx, count, matrix_decoder(shape_of(ctx)))
        if isinstance(out, Verdict):
            return out
        if same is not None and not np.array_equal(out[same[0]], out[same[1]]):
            return Verdict(
                False,
                f"two calls with the same seed gave different values: {how}, so that a seed reproduces its matrix",
            )
        a, b = out[other_seed[0]], out[other_seed[1]]
        if np.array_equal(a, b):
            return Verdict(False, f"{identical}: {how}")
        unseeded_message = (
            f"seed=None gave the same {what} twice: pass seed on to np.random.default_rng (None means fresh randomness)"
        )
        if unseeded is not None and np.array_equal(out[unseeded[0]], out[unseeded[1]]):
            return Verdict(False, unseeded_message)
        for name, values in ((f"the first {what}", a), (f"the second {what}", b)):
            for direction, left, right in neighbours(values > 0):
                ok, text = count_ok(left == right, 0.5, alpha)
                if not ok:
                    return Verdict(
                        False,
                        f"in {name}, neighbouring entries are related ({direction}, the same "
                        f"sign in {text}): draw each entry on its own, whatever its position (sorted "
                        "values? a row or column repeated?)",
                    )
        ok, text = count_ok((a > 0) == (b > 0), 0.5, alpha)
        if not ok:
            return Verdict(
                False, f"two {what} draws that should be independent are related (signs agree in {text}): {how}"
            )
        if unseeded is not None and not count_ok((out[unseeded[0]] > 0) == (out[unseeded[1]] > 0), 0.5, alpha)[0]:
            return Verdict(False, unseeded_message)  # no counts: they change from run to run
        found = shared_block([(out[i] > 0).astype(np.uint8) for i in independent], SIGN_P_MAX, repeats)
        if found is not None:
            return Verdict(
                False,
                f"in the {what} draws that should be independent, {_shared_text(found, 'signs')}: "
                f"draw every entry, of every {what}, on its own (half the rows drawn and repeated?)",
            )
        return Verdict(True)

    return check


# --- dropout masks -----------------------------------------------------------------------------------


def mask_check(
    consecutive: int, same: int, other_seed: int, decode: Decoder, rate_of: Callable[[CaseContext], float]
) -> Check:
    """Masks (True = dropped) of `consecutive` calls with one generator, then a fresh generator with
    the first seed (`same`: must equal call 1), then another seed (`other_seed`).

    Under the contract each element is dropped independently with probability `rate`, so: two
    masks drop the same element with probability rate**2 (exactly Binomial counts for other seeds,
    for the pairs of consecutive calls 1-2, 3-4, ..., and for pairs of rows 1-2, 3-4, ... within a
    call); each element is dropped in Binomial(consecutive, rate) of the calls, with the band taken
    at alpha / (2 * elements) per side (Bonferroni over the elements). 4 tests share ALPHA but for
    REPEATS, spent on blocks shared by the independent masks (calls 1-`consecutive` and another
    seed's; `shared_block`, no entry dropped or kept with probability above max(rate, 1 - rate))."""
    alpha = (ALPHA - REPEATS) / 4
    repeats = REPEATS
    count = consecutive + 2

    def check(ctx: CaseContext) -> Verdict:
        out = as_outputs(ctx, count, decode)
        if isinstance(out, Verdict):
            return out
        rate = rate_of(ctx)
        values, masks = [o[0] for o in out], [o[1] for o in out]
        if not np.array_equal(values[0], values[same]):
            return Verdict(
                False,
                "a fresh generator with the same seed gave another mask: draw only from the "
                "generator passed as `rng` (not np.random.* or a generator of your own)",
            )
        first, other = masks[0], masks[other_seed]
        if np.array_equal(first, other):
            return fixed_failure("the same mask for every seed: draw the mask from the `rng` argument")
        run = np.array(masks[:consecutive])
        if all(np.array_equal(run[i], run[i + 1]) for i in range(0, consecutive - 1, 2)):
            return Verdict(
                False,
                "two calls in a row with the same generator gave the same mask: each call must "
                "draw new numbers from `rng`",
            )
        per_element = run.sum(axis=0)
        lo, hi = binomial_band(consecutive, rate, alpha / per_element.size)
        for worst in (int(np.argmax(per_element)), int(np.argmin(per_element))):
            c = int(per_element.flat[worst])
            if not lo <= c <= hi:
                where = np.unravel_index(worst, per_element.shape)
                name = where[0] if len(where) == 1 else tuple(int(w) for w in where)
                how = "always" if c == consecutive else "never" if c == 0 else f"in {c} of {consecutive} calls"
                return Verdict(
                    False,
                    f"element {name} is {how} dropped ({c} of {consecutive} calls, about "
                    f"{consecutive * rate:.0f} expected): which elements are dropped must not depend "
                    "on their position",
                )
        if run.ndim >= 3 and run.shape[1] >= 2:
            top, bottom = run[:, 0 : run.shape[1] // 2 * 2 : 2], run[:, 1 : run.shape[1] // 2 * 2 : 2]
            ok, text = count_ok(top & bottom, rate**2, alpha)
            if not ok:
                return Verdict(
                    False,
                    f"rows of one mask are related (neighbouring rows drop the same element in "
                    f"{text}): draw one number per element, rng.random(x.shape)",
                )
        ok, text = count_ok(first & other, rate**2, alpha)
        if not ok:
            return Verdict(False, f"the masks for two seeds are related (both drop the same element in {text})")
        ok, text = count_ok(run[0 : consecutive - 1 : 2] & run[1:consecutive:2], rate**2, alpha)
        if not ok:
            return Verdict(False, f"consecutive calls give related masks (both drop the same element in {text})")
        found = shared_block([*run.astype(np.uint8), other.astype(np.uint8)], max(rate, 1 - rate), repeats)
        if found is not None:
            return Verdict(
                False,
                f"in the masks, {_shared_text(found, 'kept or dropped entries')}: draw one number per "
                "element on every call, rng.random(x.shape) (half the rows drawn and repeated?)",
            )
        return Verdict(True)

    return check


# --- augmentation choices ----------------------------------------------------------------------------


def choices_check(
    consecutive: tuple[int, int],
    same: tuple[int, int],
    other_seed: tuple[int, int],
    count: int,
    decode: Decoder,
    max_shift_of: Callable[[CaseContext], int],
) -> Check:
    """Per image (flip, dy, dx) of each call. Under the contract every image's flip is a fair coin
    and dy, dx are uniform on 2m+1 values, independently: two independent images agree on the flip
    with probability 1/2 and on a shift with probability 1/(2m+1), so these agreement counts are
    exactly Binomial: between two seeds, between two consecutive calls, and between neighbouring
    images 1-2, 3-4, ... of every independent call. Up to 9 tests (3 with max_shift 0) share ALPHA
    but for REPEATS, spent on runs of images whose choices repeat (`shared_block`: an image's
    (flip, dy, dx) takes no value with probability above 1 / (2 (2m+1)**2))."""
    repeats = REPEATS

    def check(ctx: CaseContext) -> Verdict:
        early = precheck(ctx)
        if early is not None:
            return early
        if not isinstance(ctx.got, tuple) or len(ctx.got) != count:
            return fixed_failure("did not return a value on every call")
        if not np.array_equal(np.asarray(ctx.got[same[0]]), np.asarray(ctx.got[same[1]])):
            return Verdict(
                False,
                "a fresh generator with the same seed gave other flips and shifts: draw only from "
                "the generator passed as `rng` (not np.random.* or a generator of your own)",
            )
        wanted = sorted({*consecutive, *other_seed})
        found: dict[int, np.ndarray] = {}
        for i in wanted:
            decoded = decode(ctx, i, ctx.got[i])
            if isinstance(decoded, Verdict):
                return Verdict(
                    False,
                    f"call {i + 1} of {count}: {decoded.message}",
                    decoded.hidden and f"call {i + 1} of {count}: {decoded.hidden}",
                )
            found[i] = decoded
        m = max_shift_of(ctx)
        parts = [("flips", 0, 0.5)] + (
            [("vertical shifts", 1, 1 / (2 * m + 1)), ("horizontal shifts", 2, 1 / (2 * m + 1))] if m > 0 else []
        )
        alpha = (ALPHA - repeats) / (3 * len(parts))
        a, b = found[other_seed[0]], found[other_seed[1]]
        if np.array_equal(a, b):
            return Verdict(False, "the same flips and shifts for every seed: draw them from the `rng` argument")
        first, second = found[consecutive[0]], found[consecutive[1]]
        if np.array_equal(first, second):
            return Verdict(
                False,
                "two calls in a row with the same generator flipped and shifted the images the same "
                "way: each call must draw new numbers from `rng`",
            )
        for name, k, p in parts:  # within a call first: a pattern over the batch explains the rest
            pairs = np.concatenate(
                [v[0 : len(v) // 2 * 2 : 2, k] == v[1 : len(v) // 2 * 2 : 2, k] for v in (first, second, b)]
            )
            ok, text = count_ok(pairs, p, alpha)
            if not ok:
                return Verdict(
                    False,
                    f"the {name} of neighbouring images are tied (images 1-2, 3-4, ... agree in "
                    f"{text}): every image needs its own random choices, not a pattern over the batch",
                )
        for name, k, p in parts:
            ok, text = count_ok(a[:, k] == b[:, k], p, alpha)
            if not ok:
                return Verdict(False, f"the {name} for two seeds are related (the same for an image in {text})")
            ok, text = count_ok(first[:, k] == second[:, k], p, alpha)
            if not ok:
                return Verdict(False, f"the {name} of two calls in a row are related (the same for an image in {text})")
        side = 2 * m + 1
        symbols = [
            (v[:, 0] * side * side + (v[:, 1] + m) * side + (v[:, 2] + m)).astype(np.int16) for v in (first, second, b)
        ]
        found_block = shared_block(symbols, 0.5 / side**2, repeats)
        if found_block is not None:
            return Verdict(
                False,
                f"the flips and shifts of {found_block[1]} images in a row appear twice: every image "
                "needs its own random choices (half the batch drawn and repeated?)",
            )
        return Verdict(True)

    return check
