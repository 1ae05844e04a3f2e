"""05, augmentation: `augment` (a random left-right flip and shift of every image) and its check.

Apart from a05_regularisation.py because it is a job of its own: the grader tells each returned
image's transform (flip, dy, dx) by the digests of every flip and shift of its input (`candidates`,
made here by shifting: the exercise), then judges the transforms' statistics and, over several
calls in one case, their randomness (judging/draws.py, judging/randomness.py). The self-check's
builder (handout/selfcheck_data.py) embeds the same digests for the public cases.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import wire
from ..judging.draws import augment_check, augment_decoder, call_args, digest, max_shift
from ..judging.randomness import choices_check
from .base import CaseBuilder, CaseContext


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


def candidates(images: np.ndarray, max_shift: int) -> bytes:
    """Digests of every (flip, dy, dx) transform of every image, in the order `draws.transforms`
    reads them: unflipped then flipped, dy then dx from -max_shift to max_shift."""
    out = bytearray()
    for original in images:
        for flipped in (0, 1):
            base = original[:, ::-1] if flipped else original
            for dy in range(-max_shift, max_shift + 1):
                for dx in range(-max_shift, max_shift + 1):
                    out += digest(shift(base, dy, dx))
    return bytes(out)


@lru_cache(maxsize=8)
def _candidates_of(raw: bytes, dtype: str, shape: tuple[int, ...], max_shift: int) -> bytes:
    return candidates(np.frombuffer(raw, dtype=dtype).reshape(shape), max_shift)


def _table(ctx: CaseContext, i: int) -> bytes:
    """The digests of call i's images: computed once for the calls of a case that share them
    (a randomness case passes one batch of images to its four calls)."""
    images = np.ascontiguousarray(call_args(ctx, i)[0][0])
    return _candidates_of(images.tobytes(), images.dtype.str, images.shape, max_shift(ctx, i))


_AUGMENT_RANDOMNESS = choices_check((0, 1), (0, 2), (0, 3), 4, augment_decoder(_table), lambda ctx: max_shift(ctx, 0))
_check_augment = augment_check(_table, _AUGMENT_RANDOMNESS)
