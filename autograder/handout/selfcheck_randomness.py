"""How students' self-checks judge the randomness cases of every random function, and the table of checks.

The randomness cases (`calls`) are questions/randomness.py in numpy. A `calls` case is several
calls of one random function; the grader asks of them what a random function must do (a seed
reproduces, other seeds and consecutive calls differ, what happens to an element or an image
does not depend on its position) with exact binomial bands. The parameters of each test (which
calls share a seed, how many calls, the words that differ by question) are read off the grader's
checks by `build` and travel in the case's check spec, so they cannot drift apart;
`tests/unit/test_selfcheck.py` holds the verdicts and messages to the grader's.

Pasted after `selfcheck_random.py` and before `selfcheck_runtime.py` into every notebook (see
selfcheck_runtime.py for why nothing here imports scipy or autograder).
"""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# isort: off
from ..wire import array_key, decode_arg  # in the package only
from .selfcheck_judge import (
    ALPHA,
    _allclose,
    _architecture,
    _b_on_a,
    _exact,
    _floats,
    _he_avg,
    _pre,
    _trained,
    _variance_scaling,
)  # in the package only
from .selfcheck_random import _augment, _augment_transforms, _dropout, _dropout_mask  # in the package only
# isort: on


# --- several calls: randomness (questions/randomness.py) ------------------------------------------


def binomial_band(n, p, alpha):
    """[lo, hi] with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2 for X ~ Binomial(n, p), as
    stats.binomial_band computes it with scipy (ppf and isf): lo is the first k whose lower tail
    reaches alpha/2, hi the first k whose upper tail P(X > k) is at most alpha/2. Tails are summed
    from their own end, so they keep their relative precision far below alpha."""
    if p <= 0.0 or p >= 1.0 or n == 0:
        k = round(n * min(max(p, 0.0), 1.0))
        return k, k
    k = np.arange(n + 1)
    lgamma = np.frompyfunc(math.lgamma, 1, 1)
    log_pmf = (
        math.lgamma(n + 1)
        - lgamma(k + 1).astype(float)
        - lgamma(n - k + 1).astype(float)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    pmf = np.exp(log_pmf)
    lower = np.cumsum(pmf)
    upper = np.append(np.cumsum(pmf[::-1])[::-1][1:], 0.0)  # upper[k] = P(X > k)
    return int(np.argmax(lower >= alpha / 2)), int(np.argmax(upper <= alpha / 2))


def count_ok(events, p, alpha):
    count, n = int(np.sum(events)), int(np.size(events))
    lo, hi = binomial_band(n, p, alpha)
    return lo <= count <= hi, f"{count:,} of {n:,} (about {n * p:,.0f} expected)"


def _neighbours(values):
    rows, cols = values.shape[0] // 2 * 2, values.shape[1] // 2 * 2
    return [
        ("side by side", values[:, 0:cols:2], values[:, 1:cols:2]),
        ("one above the other", values[0:rows:2, :], values[1:rows:2, :]),
    ]


def window_length(n, p_max, alpha):
    """stats.window_length: the shortest k with n(n-1)/2 * p_max**k <= alpha."""
    pairs = n * (n - 1) / 2
    if pairs < 1 or p_max <= 0.0:
        return 1
    return max(1, math.ceil(math.log(alpha / pairs) / math.log(p_max)))


def _repeats(windows):
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


def shared_block(draws, p_max, alpha):
    """randomness.shared_block: where two stretches of independent draws are the same, or None."""
    mats = [d.reshape(d.shape[0], -1) if d.ndim >= 2 else d.reshape(1, -1) for d in draws]
    total = sum(m.size for m in mats)
    two_d = all(m.shape[0] > 1 for m in mats)
    k = window_length(total, p_max, alpha / (3 if two_d else 1))
    if _repeats([sliding_window_view(m.ravel(), k) for m in mats if m.size >= k]):
        return "along the rows", k
    if two_d:
        if _repeats([sliding_window_view(m.T.ravel(), k) for m in mats if m.size >= k]):
            return "down the columns", k
        side = math.isqrt(k - 1) + 1
        if _repeats(
            [sliding_window_view(m, (side, side)).reshape(-1, side * side) for m in mats if min(m.shape) >= side]
        ):
            return f"as a {side} x {side} block", side * side
    return None


def _shared_text(found, what):
    return f"the same {found[1]} {what} appear twice ({found[0]})"


SIGN_P_MAX = 0.5 + 1e-6


def _outputs(exp, got, modified, count, decode):
    """The calls' values, each decoded, or (False, message) for the first problem."""
    early = _pre(exp, got, modified)
    if early:
        return early
    if not isinstance(got, tuple) or len(got) != count:
        return False, "did not return a value on every call"
    out = []
    for i, value in enumerate(got):
        decoded = decode(i, value)
        if isinstance(decoded, tuple) and len(decoded) == 2 and decoded[0] is False:
            return False, f"call {i + 1} of {count}: {decoded[1]}"
        out.append(decoded)
    return out


def matrix_randomness(spec, call, inputs, exp, got, modified):
    """randomness.matrix_check: signs of symmetric continuous samples agree with probability 1/2."""
    first = call["calls"][0]
    shape = tuple(int(d) for d in (first["shape"] if "shape" in first else decode_arg(first["args"][0], inputs)))

    def decode(i, value):
        value = value.get("samples") if isinstance(value, dict) else value
        arr = _floats(value)
        if arr is None or arr.shape != shape:
            return False, f"should return an array of shape {shape}"
        return arr if np.isfinite(arr).all() else (False, "returned nan or inf")

    out = _outputs(exp, got, modified, spec["count"], decode)
    if isinstance(out, tuple):
        return out
    same, other, unseeded, alpha, what, how = (
        spec[k] for k in ("same", "other_seed", "unseeded", "alpha", "what", "how")
    )
    if same is not None and not np.array_equal(out[same[0]], out[same[1]]):
        return False, f"two calls with the same seed gave different values: {how}, so that a seed reproduces its matrix"
    a, b = out[other[0]], out[other[1]]
    if np.array_equal(a, b):
        return False, f"{spec['identical']}: {how}"
    unseeded_message = (
        f"seed=None gave the same {what} twice: pass seed on to np.random.default_rng (None means fresh randomness)"
    )
    if unseeded is not None and np.array_equal(out[unseeded[0]], out[unseeded[1]]):
        return False, unseeded_message
    for name, values in ((f"the first {what}", a), (f"the second {what}", b)):
        for direction, left, right in _neighbours(values > 0):
            ok, text = count_ok(left == right, 0.5, alpha)
            if not ok:
                return False, (
                    f"in {name}, neighbouring entries are related ({direction}, the same sign in {text}): "
                    "draw each entry on its own, whatever its position (sorted values? a row or column "
                    "repeated?)"
                )
    ok, text = count_ok((a > 0) == (b > 0), 0.5, alpha)
    if not ok:
        return False, f"two {what} draws that should be independent are related (signs agree in {text}): {how}"
    if unseeded is not None and not count_ok((out[unseeded[0]] > 0) == (out[unseeded[1]] > 0), 0.5, alpha)[0]:
        return False, unseeded_message
    found = shared_block([(out[i] > 0).astype(np.uint8) for i in spec["independent"]], SIGN_P_MAX, spec["repeats"])
    if found is not None:
        return False, (
            f"in the {what} draws that should be independent, {_shared_text(found, 'signs')}: "
            f"draw every entry, of every {what}, on its own (half the rows drawn and repeated?)"
        )
    return True, ""


def mask_randomness(spec, call, inputs, exp, got, modified):
    """randomness.mask_check: dropout masks of consecutive calls, the same seed, another seed."""
    consecutive, alpha = spec["consecutive"], spec["alpha"]

    def decode(i, value):
        args = call["calls"][i]["args"]
        return _dropout_mask(inputs[array_key(args[0])], spec["divisors"][i], value)

    out = _outputs(exp, got, modified, spec["count"], decode)
    if isinstance(out, tuple):
        return out
    rate = float(call["calls"][0]["args"][1])
    values, masks = [o[0] for o in out], [o[1] for o in out]
    if not np.array_equal(values[0], values[spec["same"]]):
        return False, (
            "a fresh generator with the same seed gave another mask: draw only from the generator passed "
            "as `rng` (not np.random.* or a generator of your own)"
        )
    first, other = masks[0], masks[spec["other_seed"]]
    if np.array_equal(first, other):
        return False, "the same mask for every seed: draw the mask from the `rng` argument"
    run = np.array(masks[:consecutive])
    if all(np.array_equal(run[i], run[i + 1]) for i in range(0, consecutive - 1, 2)):
        return False, (
            "two calls in a row with the same generator gave the same mask: each call must draw new numbers from `rng`"
        )
    per_element = run.sum(axis=0)
    lo, hi = binomial_band(consecutive, rate, alpha / per_element.size)
    for worst in (int(np.argmax(per_element)), int(np.argmin(per_element))):
        c = int(per_element.flat[worst])
        if not lo <= c <= hi:
            where = np.unravel_index(worst, per_element.shape)
            name = where[0] if len(where) == 1 else tuple(int(w) for w in where)
            how = "always" if c == consecutive else "never" if c == 0 else f"in {c} of {consecutive} calls"
            return False, (
                f"element {name} is {how} dropped ({c} of {consecutive} calls, about "
                f"{consecutive * rate:.0f} expected): which elements are dropped must not depend "
                "on their position"
            )
    if run.ndim >= 3 and run.shape[1] >= 2:
        top, bottom = run[:, 0 : run.shape[1] // 2 * 2 : 2], run[:, 1 : run.shape[1] // 2 * 2 : 2]
        ok, text = count_ok(top & bottom, rate**2, alpha)
        if not ok:
            return False, (
                f"rows of one mask are related (neighbouring rows drop the same element in {text}): "
                "draw one number per element, rng.random(x.shape)"
            )
    ok, text = count_ok(first & other, rate**2, alpha)
    if not ok:
        return False, f"the masks for two seeds are related (both drop the same element in {text})"
    ok, text = count_ok(run[0 : consecutive - 1 : 2] & run[1:consecutive:2], rate**2, alpha)
    if not ok:
        return False, f"consecutive calls give related masks (both drop the same element in {text})"
    found = shared_block([*run.astype(np.uint8), other.astype(np.uint8)], max(rate, 1 - rate), spec["repeats"])
    if found is not None:
        return False, (
            f"in the masks, {_shared_text(found, 'kept or dropped entries')}: draw one number per "
            "element on every call, rng.random(x.shape) (half the rows drawn and repeated?)"
        )
    return True, ""


def choices_randomness(spec, call, inputs, exp, got, modified):
    """randomness.choices_check: per image (flip, dy, dx) of each call, agreements are binomial."""
    early = _pre(exp, got, modified)
    if early:
        return early
    count, (s0, s1), consecutive, other = spec["count"], spec["same"], spec["consecutive"], spec["other_seed"]
    if not isinstance(got, tuple) or len(got) != count:
        return False, "did not return a value on every call"
    if not np.array_equal(np.asarray(got[s0]), np.asarray(got[s1])):
        return False, (
            "a fresh generator with the same seed gave other flips and shifts: draw only from the "
            "generator passed as `rng` (not np.random.* or a generator of your own)"
        )
    found = {}
    for i in sorted({*consecutive, *other}):
        sub = call["calls"][i]
        decoded = _augment_transforms(spec, inputs, array_key(sub["args"][0]), int(sub["kwargs"]["max_shift"]), got[i])
        if isinstance(decoded, tuple):
            return False, f"call {i + 1} of {count}: {decoded[1]}"
        found[i] = decoded
    m = int(call["calls"][0]["kwargs"]["max_shift"])
    parts = [("flips", 0, 0.5)] + (
        [("vertical shifts", 1, 1 / (2 * m + 1)), ("horizontal shifts", 2, 1 / (2 * m + 1))] if m > 0 else []
    )
    alpha = (ALPHA - spec["repeats"]) / (3 * len(parts))
    a, b = found[other[0]], found[other[1]]
    if np.array_equal(a, b):
        return False, "the same flips and shifts for every seed: draw them from the `rng` argument"
    first, second = found[consecutive[0]], found[consecutive[1]]
    if np.array_equal(first, second):
        return False, (
            "two calls in a row with the same generator flipped and shifted the images the same way: "
            "each call must draw new numbers from `rng`"
        )
    for name, k, p in parts:
        pairs = np.concatenate(
            [v[0 : len(v) // 2 * 2 : 2, k] == v[1 : len(v) // 2 * 2 : 2, k] for v in (first, second, b)]
        )
        ok, text = count_ok(pairs, p, alpha)
        if not ok:
            return False, (
                f"the {name} of neighbouring images are tied (images 1-2, 3-4, ... agree in {text}): every "
                "image needs its own random choices, not a pattern over the batch"
            )
    for name, k, p in parts:
        ok, text = count_ok(a[:, k] == b[:, k], p, alpha)
        if not ok:
            return False, f"the {name} for two seeds are related (the same for an image in {text})"
        ok, text = count_ok(first[:, k] == second[:, k], p, alpha)
        if not ok:
            return False, f"the {name} of two calls in a row are related (the same for an image in {text})"
    side = 2 * m + 1
    symbols = [
        (v[:, 0] * side * side + (v[:, 1] + m) * side + (v[:, 2] + m)).astype(np.int16) for v in (first, second, b)
    ]
    found_block = shared_block(symbols, 0.5 / side**2, spec["repeats"])
    if found_block is not None:
        return False, (
            f"the flips and shifts of {found_block[1]} images in a row appear twice: every image "
            "needs its own random choices (half the batch drawn and repeated?)"
        )
    return True, ""


def _or_randomness(single, randomness):
    """A random function's check: `calls` cases are judged on their randomness (with the grader's
    parameters, `spec["randomness"]`, beside the case's own numbers), other cases alone."""

    def check(spec, call, *rest):
        if call["type"] == "calls":
            return randomness({**spec, **spec["randomness"]}, call, *rest)
        return single(spec, call, *rest)

    return check


CHECKS = {
    "allclose": _allclose,
    "exact": _exact,
    "architecture": _architecture,
    "b_on_a": _b_on_a,
    "trained": _trained,
    "variance_scaling": _or_randomness(_variance_scaling, matrix_randomness),
    "he_avg": _or_randomness(_he_avg, matrix_randomness),
    "dropout": _or_randomness(_dropout, mask_randomness),
    "augment": _or_randomness(_augment, choices_randomness),
}
