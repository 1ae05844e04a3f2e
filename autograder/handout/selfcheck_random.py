"""How students' self-checks judge one call of dropout and augment (questions/a05's checks).

With what `build` computed in place of the solution's formulas (see selfcheck_data.py: the
divisor of kept values, digests of augment's candidates). Their randomness cases are in
selfcheck_randomness.py. Pasted between `selfcheck_judge.py` and `selfcheck_randomness.py` into
every notebook (see selfcheck_runtime.py for why nothing here imports scipy or autograder).
"""

import base64
import hashlib

import numpy as np

# isort: off
from ..wire import array_key  # in the package only
from .selfcheck_judge import _binomial_ok, _floats, _pre, _uniform_counts_ok  # in the package only
# isort: on

# --- one call of dropout or augment (questions/a05) -------------------------------------------------


def _dropout_mask(x, divisor, value):
    """(the values, the mask of dropped elements), or (False, message): questions/a05's dropout_mask,
    with the value a kept element must have given by `build` as a divisor (None: unchanged)."""
    arr = _floats(value)
    if arr is None or arr.shape != x.shape:
        return False, f"wrong shape: got {None if arr is None else arr.shape}, expected {x.shape}"
    kept = np.isclose(arr, x if divisor is None else x / divisor, rtol=1e-9, atol=0)
    dropped = arr == 0
    if not (kept | dropped).all():
        how = "unchanged (no rescaling during training)" if divisor is None else "divided by (1 - rate)"
        return False, f"every value must be either dropped (0) or kept {how}"
    return arr, dropped & ~kept


def _dropout(spec, call, inputs, exp, got, modified):
    early = _pre(exp, got, modified)
    if early:
        return early
    x, rate = inputs[array_key(call["args"][0])], float(call["args"][1])
    found = _dropout_mask(x, spec["divisors"][0], got)
    if found[0] is False:
        return found
    kept = ~found[1]
    if not _binomial_ok(int(kept.sum()), x.size, 1 - rate):
        return False, f"kept {kept.mean():.3f} of the values; expected about {1 - rate:g} (1 - rate)"
    return True, ""


def _plain_bytes(image):
    """An image's bytes with -0.0 made 0.0: equal bytes then mean equal values (np.array_equal)."""
    return np.ascontiguousarray(image + np.zeros((), dtype=image.dtype)).tobytes()


def _augment_transforms(spec, inputs, key, m, got):
    """(flipped, dy, dx) of every image as an (n, 3) array, or (False, message), as a05's `transforms`.

    The grader tries every flip and shift of each input image in turn; `build` stored a digest of
    each of those candidates instead (the shifting itself is the exercise), in the grader's order,
    so the first candidate equal to the student's image is found by its digest."""
    images = inputs[key]
    if not isinstance(got, np.ndarray) or got.shape != images.shape:
        return False, f"should return an array of shape {images.shape}"
    if got.dtype != images.dtype:
        return False, f"returned dtype {got.dtype}, expected {images.dtype} (the input's)"
    side, size = 2 * m + 1, spec["digest_size"]
    per_image = 2 * side * side
    table = base64.b64decode(spec["candidates"][f"{key}/{m}"])
    found = []
    for i, aug in enumerate(got):
        digests = {}
        for j in range(per_image):
            digests.setdefault(table[(i * per_image + j) * size : (i * per_image + j + 1) * size], j)
        j = digests.get(hashlib.blake2b(_plain_bytes(aug), digest_size=size).digest())
        if j is None:
            return False, (
                f"image {i} is not a left-right flip and/or a shift by at most {m} pixels (zero fill, "
                "positive dx = right, positive dy = down) of its input"
            )
        flipped, rest = divmod(j, side * side)
        found.append((flipped, rest // side - m, rest % side - m))
    return np.array(found, dtype=int).reshape(len(found), 3)


def _augment(spec, call, inputs, exp, got, modified):
    early = _pre(exp, got, modified)
    if early:
        return early
    m = int(call["kwargs"].get("max_shift", 2))
    found = _augment_transforms(spec, inputs, array_key(call["args"][0]), m, got)
    if isinstance(found, tuple):
        return found
    flips, dys, dxs = found.T
    if not _binomial_ok(int(flips.sum()), len(flips), 0.5):
        return False, f"flipped {flips.mean():.2f} of the images; expected about 1/2"
    for name, values in (("vertical", dys), ("horizontal", dxs)):
        counts = np.bincount(values + m, minlength=2 * m + 1)
        if not _uniform_counts_ok(counts):
            return False, f"{name} shifts are not uniform over [-{m}, {m}]: counts {counts.tolist()}"
    return True, ""
