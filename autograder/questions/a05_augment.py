"""05, augmentation: `augment` (a random left-right flip and shift of every image) and its check.

Apart from a05_regularisation.py because it is a job of its own: the grader tells each returned
image's transform (flip, dy, dx) by trying them all (`identify`), then judges the transforms'
statistics and, over several calls in one case, their randomness. `shift`, `identify` and
`transforms` are also used by the self-check's builder (selfcheck_data.py) and its tests, as `a05.*`.
"""

from __future__ import annotations

import numpy as np

from .. import wire
from ..judging.checks import precheck
from ..judging.stats import binomial_ok, uniform_counts_ok
from .base import CaseBuilder, CaseContext, Verdict
from .randomness import choices_check


def _augment_images(rng: np.random.Generator, n: int, size: int = 10) -> np.ndarray:
    return rng.integers(1, 256, (n, size, size)).astype(np.uint8)


def _augment_randomness(
    b: CaseBuilder, description: str, images: np.ndarray, max_shift: int, seed: int, other: int
) -> None:
    """Two calls with one generator, a fresh one with the same seed (must equal call 1), another seed."""
    ref = b.array(images)
    b.calls(
        description,
        "augment",
        [
            b.sub(ref, wire.Rng(seed, shared=True), max_shift=max_shift),
            b.sub(ref, wire.Rng(seed, shared=True), max_shift=max_shift),
            b.sub(ref, wire.Rng(seed), max_shift=max_shift),
            b.sub(ref, wire.Rng(other), max_shift=max_shift),
        ],
    )


def _augment_public(b: CaseBuilder) -> None:
    b.call(
        "400 images of 10x10 pixels, max_shift 2",
        "augment",
        _augment_images(np.random.default_rng(0), 400),
        wire.Rng(0),
    )
    _augment_randomness(
        b,
        "randomness: 300 images, max_shift 2, two calls with one generator seeded 3, "
        "a fresh generator seeded 3, one seeded 4",
        _augment_images(np.random.default_rng(1), 300),
        2,
        3,
        4,
    )


def _augment_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    b.call("max_shift 3", "augment", _augment_images(rng, 600), wire.Rng(int(rng.integers(0, 2**31))), max_shift=3)
    b.call("max_shift 0 (flips only)", "augment", _augment_images(rng, 400), wire.Rng(5), max_shift=0)
    b.call("float images", "augment", rng.uniform(0.1, 1.0, (400, 8, 8)), wire.Rng(7))
    seed = int(rng.integers(0, 2**31))
    _augment_randomness(
        b,
        "randomness: two calls with one generator, the same seed again, another seed",
        _augment_images(rng, 300),
        int(rng.integers(1, 4)),
        seed,
        (seed + 1 + int(rng.integers(0, 2**30))) % 2**31,
    )


def shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move content down by dy and right by dx, zero fill (the contract's convention)."""
    out = np.zeros_like(image)
    h, w = image.shape
    if abs(dy) >= h or abs(dx) >= w:
        return out  # shifted entirely out of the frame
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def identify(original: np.ndarray, augmented: np.ndarray, max_shift: int) -> tuple[int, int, int] | None:
    """(flipped, dy, dx) such that augmented is that transform of original, or None."""
    for flipped in (0, 1):
        base = original[:, ::-1] if flipped else original
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                if np.array_equal(shift(base, dy, dx), augmented):
                    return flipped, dy, dx
    return None


def transforms(images: np.ndarray, got: object, max_shift: int) -> np.ndarray | Verdict:
    """(flipped, dy, dx) of every image as an (n, 3) array, or what is wrong with the value.

    Unique for the grading inputs: their pixels are never 0, so the zero fill tells the shift,
    and random pixels are never left-right symmetric."""
    if not isinstance(got, np.ndarray) or got.shape != images.shape:
        return Verdict(False, f"should return an array of shape {images.shape}")
    if got.dtype != images.dtype:
        return Verdict(False, f"returned dtype {got.dtype}, expected {images.dtype} (the input's)")
    found = []
    for i, (orig, aug) in enumerate(zip(images, got)):
        transform = identify(orig, aug, max_shift)
        if transform is None:
            return Verdict(
                False,
                f"image {i} is not a left-right flip and/or a shift by at most {max_shift} "
                "pixels (zero fill, positive dx = right, positive dy = down) of its input",
            )
        found.append(transform)
    return np.array(found, dtype=int).reshape(len(found), 3)


def _decode_augment(ctx: CaseContext, i: int, value: object) -> np.ndarray | Verdict:
    args, kwargs = ctx.sub_args(i)
    return transforms(args[0], value, int(kwargs["max_shift"]))


_AUGMENT_RANDOMNESS = choices_check(
    (0, 1), (0, 2), (0, 3), 4, _decode_augment, lambda ctx: int(ctx.sub_args(0)[1]["max_shift"])
)


def _check_augment(ctx: CaseContext) -> Verdict:
    if isinstance(ctx.case.call, wire.Calls):
        return _AUGMENT_RANDOMNESS(ctx)
    early = precheck(ctx)
    if early is not None:
        return early
    images = ctx.args[0]
    max_shift = int(ctx.kwargs.get("max_shift", 2))
    found = transforms(images, ctx.got, max_shift)
    if isinstance(found, Verdict):
        return found
    flips, dys, dxs = found.T
    if not binomial_ok(int(flips.sum()), len(flips), 0.5):
        return Verdict(False, f"flipped {flips.mean():.2f} of the images; expected about 1/2")
    for name, values in (("vertical", dys), ("horizontal", dxs)):
        counts = np.bincount(values + max_shift, minlength=2 * max_shift + 1)
        if not uniform_counts_ok(counts):
            return Verdict(
                False, f"{name} shifts are not uniform over [-{max_shift}, {max_shift}]: counts {counts.tolist()}"
            )
    return Verdict(True)
