"""One call of a random function: samples of a distribution, dropout masks, augmented images.

What a single call must look like under its contract, judged from numbers rather than from the
solution's formulas: the target distribution's parameters (`stats.target_cdf`), the divisor of a
kept dropout value, digests of every flip and shift of an input image. The question declares how
the grader gets those numbers (questions/a01_*, a05_*, from the formulas); the self-check pasted
into a student notebook gets the same numbers for its public cases from `build`
(handout/selfcheck_data.py), since the formulas are the exercises. Either way the verdict and the
message come from here. Several calls of one function (`wire.Calls`) are judged by `randomness`.
"""

import hashlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..wire import Calls
from .checks import as_float_array, precheck, raised_or_none
from .stats import ALPHA, binomial_ok, ks_pvalue, target_cdf, uniform_counts_ok
from .verdict import CaseContext, Check, Verdict, fixed_failure

DIGEST_SIZE = 8  # bytes per candidate image: a wrong image matches one of its 50 candidates w.p. 50 / 2**64

# What the question knows and the self-check is given, for call `i` of a case (0 for a single call).
TargetOf = Callable[[CaseContext], dict]
DivisorOf = Callable[[CaseContext, int], Any]  # a float, or None: kept values unchanged
TableOf = Callable[[CaseContext, int], bytes]


def call_args(ctx: CaseContext, i: int) -> tuple[list[Any], dict[str, Any]]:
    """The arguments of call `i` of a `Calls` case, or of the case's only call."""
    return ctx.sub_args(i) if isinstance(ctx.case.call, Calls) else (ctx.args, ctx.kwargs)


def _several_calls_or(first: Callable[[CaseContext], Verdict | None], randomness: Check, ctx: CaseContext):
    """What a random function's check decides before looking at one call's value: a `Calls` case
    is judged on its randomness; else what `first` (raised_or_none, precheck) says, if anything."""
    return randomness(ctx) if isinstance(ctx.case.call, Calls) else first(ctx)


# --- samples of a distribution (variance_scaling, he_avg_initializer) -----------------------------


def samples_verdict(samples: Any, shape: tuple[int, ...], target: dict, mode: str, distribution: str) -> Verdict:
    """Samples of the target distribution (its bound, then Kolmogorov-Smirnov at ALPHA)."""
    arr = as_float_array(samples)
    if arr is None:
        return fixed_failure("did not return an array of numbers")
    if arr.shape != tuple(shape):
        return Verdict(
            False, f"wrong shape: got {arr.shape}, expected {tuple(shape)}", f"wrong shape (expected {tuple(shape)})"
        )
    if not np.isfinite(arr).all():
        return fixed_failure("returned nan or inf")
    bound = math.inf if target.get("bound") is None else target["bound"]
    if np.abs(arr).max() > bound * (1 + 1e-6):
        return Verdict(False, f"values outside the {distribution} bound for mode {mode}")
    p = ks_pvalue(arr, target_cdf(target))
    if p < ALPHA:
        return Verdict(
            False,
            f"the samples do not follow the expected {distribution} distribution for mode "
            f"{mode} (Kolmogorov-Smirnov p = {p:.1e}); check the scale, the fan and the distribution",
        )
    return Verdict(True)


def variance_scaling_check(target_of: TargetOf, randomness: Check) -> Check:
    """variance_scaling(shape, scale, mode, distribution, seed): samples of the target; `calls`
    cases by `randomness`."""

    def check(ctx: CaseContext) -> Verdict:
        early = _several_calls_or(raised_or_none, randomness, ctx)
        if early is not None:
            return early
        kw = ctx.kwargs
        mode, distribution = kw.get("mode", "fan_in"), kw.get("distribution", "truncated_normal")
        return samples_verdict(ctx.got, tuple(ctx.args[0]), target_of(ctx), mode, distribution)

    return check


def he_avg_check(target_of: TargetOf, randomness: Check) -> Check:
    """he_avg_initializer(): a VarianceScaling(2, fan_avg, uniform) whose kernel samples the target."""

    def check(ctx: CaseContext) -> Verdict:
        early = _several_calls_or(raised_or_none, randomness, ctx)
        if early is not None:
            return early
        got = ctx.got if isinstance(ctx.got, dict) else {}
        info = got.get("info") if isinstance(got.get("info"), dict) else {}
        config = info.get("config") if isinstance(info.get("config"), dict) else {}
        wanted = {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}
        if info.get("class") != "VarianceScaling" or any(config.get(k) != v for k, v in wanted.items()):
            return Verdict(
                False,
                "should be VarianceScaling(scale=2., mode='fan_avg', distribution='uniform'); "
                f"got {info.get('class')} with { ({k: config.get(k) for k in wanted}) }",
            )
        shape = tuple(int(d) for d in ctx.case.call.shape)
        return samples_verdict(got.get("samples"), shape, target_of(ctx), "fan_avg", "uniform")

    return check


# --- dropout masks -----------------------------------------------------------------------------------


def dropout_mask(x: np.ndarray, divisor: Any, value: Any) -> tuple[np.ndarray, np.ndarray] | Verdict:
    """(the returned values, the mask of dropped elements), or what is wrong with the value: every
    value is 0 or kept (x / divisor; x itself if divisor is None)."""
    got = as_float_array(value)
    if got is None or got.shape != x.shape:
        return Verdict(
            False,
            f"wrong shape: got {None if got is None else got.shape}, expected {x.shape}",
            f"wrong shape (expected {x.shape})",
        )
    kept = np.isclose(got, x if divisor is None else x / divisor, rtol=1e-9, atol=0)
    dropped = got == 0
    if not (kept | dropped).all():
        how = "unchanged (no rescaling during training)" if divisor is None else "divided by (1 - rate)"
        return fixed_failure(f"every value must be either dropped (0) or kept {how}")
    return got, dropped & ~kept


def mask_decoder(divisor_of: DivisorOf):
    """The randomness check's decoder of call i's value: (values, dropped mask) or a Verdict."""

    def decode(ctx: CaseContext, i: int, value: Any) -> Any:
        return dropout_mask(call_args(ctx, i)[0][0], divisor_of(ctx, i), value)

    return decode


def dropout_rate(ctx: CaseContext) -> float:
    return float(call_args(ctx, 0)[0][1])


def dropout_check(divisor_of: DivisorOf, randomness: Check) -> Check:
    """dropout(x, rate, rng): values dropped or kept, about 1 - rate of them kept."""

    def check(ctx: CaseContext) -> Verdict:
        early = _several_calls_or(precheck, randomness, ctx)
        if early is not None:
            return early
        x, rate = ctx.args[0], dropout_rate(ctx)
        found = dropout_mask(x, divisor_of(ctx, 0), ctx.got)
        if isinstance(found, Verdict):
            return found
        kept = ~found[1]
        if not binomial_ok(int(kept.sum()), x.size, 1 - rate):
            return Verdict(False, f"kept {kept.mean():.3f} of the values; expected about {1 - rate:g} (1 - rate)")
        return Verdict(True)

    return check


# --- augmented images --------------------------------------------------------------------------------


def plain_bytes(image: np.ndarray) -> bytes:
    """An image's bytes with -0.0 made 0.0: equal bytes then mean equal values (np.array_equal)."""
    return np.ascontiguousarray(image + np.zeros((), dtype=image.dtype)).tobytes()


def digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(plain_bytes(image), digest_size=DIGEST_SIZE).digest()


def transforms(images: np.ndarray, got: Any, max_shift: int, table: bytes) -> np.ndarray | Verdict:
    """(flipped, dy, dx) of every image as an (n, 3) array, or what is wrong with the value.

    `table` holds a digest of every candidate of every input image (unflipped then flipped, dy then
    dx from -max_shift to max_shift): the first candidate equal to the returned image is its
    transform. Unique for the grading inputs: their pixels are never 0, so the zero fill tells the
    shift, and random pixels are never left-right symmetric."""
    if not isinstance(got, np.ndarray) or got.shape != images.shape:
        return fixed_failure(f"should return an array of shape {images.shape}")
    if got.dtype != images.dtype:
        return Verdict(False, f"returned dtype {got.dtype}, expected {images.dtype} (the input's)")
    side = 2 * max_shift + 1
    per_image = 2 * side * side
    found = []
    for i, aug in enumerate(got):
        start = i * per_image * DIGEST_SIZE
        digests: dict[bytes, int] = {}
        for j in range(per_image):
            digests.setdefault(table[start + j * DIGEST_SIZE : start + (j + 1) * DIGEST_SIZE], j)
        j = digests.get(digest(aug))
        if j is None:
            return Verdict(
                False,
                f"image {i} is not a left-right flip and/or a shift by at most {max_shift} "
                "pixels (zero fill, positive dx = right, positive dy = down) of its input",
            )
        flipped, rest = divmod(j, side * side)
        found.append((flipped, rest // side - max_shift, rest % side - max_shift))
    return np.array(found, dtype=int).reshape(len(found), 3)


def max_shift(ctx: CaseContext, i: int) -> int:
    return int(call_args(ctx, i)[1].get("max_shift", 2))


def augment_decoder(table_of: TableOf):
    def decode(ctx: CaseContext, i: int, value: Any) -> Any:
        return transforms(call_args(ctx, i)[0][0], value, max_shift(ctx, i), table_of(ctx, i))

    return decode


def augment_check(table_of: TableOf, randomness: Check) -> Check:
    """augment(images, rng, max_shift): every image a flip and/or shift of its input, flips a fair
    coin, shifts uniform."""

    def check(ctx: CaseContext) -> Verdict:
        early = _several_calls_or(precheck, randomness, ctx)
        if early is not None:
            return early
        m = max_shift(ctx, 0)
        found = transforms(ctx.args[0], ctx.got, m, table_of(ctx, 0))
        if isinstance(found, Verdict):
            return found
        flips, dys, dxs = found.T
        if not binomial_ok(int(flips.sum()), len(flips), 0.5):
            return Verdict(False, f"flipped {flips.mean():.2f} of the images; expected about 1/2")
        for name, values in (("vertical", dys), ("horizontal", dxs)):
            counts = np.bincount(values + m, minlength=2 * m + 1)
            if not uniform_counts_ok(counts):
                return Verdict(False, f"{name} shifts are not uniform over [-{m}, {m}]: counts {counts.tolist()}")
        return Verdict(True)

    return check
