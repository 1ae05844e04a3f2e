"""The data of a failed question's picture, taken from one public case (trusted side, in compare).

`compare` calls `picture_data` with the context of the public case a question's `Picture` names,
and only when that case failed. What comes back is plain JSON (lists of rounded floats, no NaN),
small by construction: the series have the size of the declared public inputs, and a student's
value of any other shape or type gives a note instead of a picture. The student's numbers are
hostile: NaN and inf become `None`, huge values stay numbers (the renderer clips them), and any
failure here is a note, never a crash: the picture is a courtesy, the verdict is already made.

Only the case's own inputs, its reference output and the student's output are read, so a
picture can show nothing a public case's feedback text does not already show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import wire
from ..judging.checks import as_float_array
from ..judging.models import TASK_CLASSES, Threshold, UnsupportedModel, predictions
from ..wire import Raised
from .base import CaseContext, Picture

MAX_POINTS = 400  # values per series: the declared public inputs are smaller
MAX_SERIES_BYTES = 40_000
MAX_SAMPLES = 1_000_000  # a random function's samples, reduced to bin counts before they are kept

# A kind-specific extractor, for kinds whose data the question's declaration supplies.
Extractor = Callable[[CaseContext], dict[str, Any]]


class NoPicture(Exception):
    """Why this student's value cannot be drawn; shown as a note in place of the picture."""


def numbers(values: Any) -> list[float | None]:
    """A flat list of floats for JSON: 6 significant digits, NaN and inf as None."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size > MAX_POINTS:
        raise NoPicture(f"too many values to draw ({arr.size:,})")
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in arr.tolist()]


def student_array(
    got: Any, shape: tuple[int, ...], what: str = "your function", limit: int = MAX_POINTS * 4
) -> np.ndarray:
    """The student's value as a float array of exactly `shape`, or NoPicture saying why not."""
    if isinstance(got, Raised):
        raise NoPicture(f"{what} raised {got.type}")
    arr = as_float_array(got, limit=limit)
    if arr is None:
        raise NoPicture(f"{what} did not return an array of numbers of shape {shape}")
    if arr.shape != shape:
        raise NoPicture(f"{what} returned shape {arr.shape}, expected {shape}")
    return arr


def _input(ctx: CaseContext, arg: Any) -> np.ndarray:
    return np.asarray(wire.decode_arg(arg, ctx.inputs), dtype=float)


def curve(ctx: CaseContext) -> dict[str, Any]:
    """An elementwise function on the case's input vector: reference and student, point by point."""
    x = np.asarray(ctx.args[0], dtype=float)
    expected = np.asarray(ctx.expected, dtype=float)
    got = student_array(ctx.got, expected.shape)
    return {"x": numbers(x), "expected": numbers(expected), "got": numbers(got)}


def trajectory(ctx: CaseContext) -> dict[str, Any]:
    """An optimizer's theta after each step, on the two most curved coordinates of the bowl
    1/2 a theta^2 - c theta (whose contours the renderer draws from a and c)."""
    call = ctx.case.call
    a, c = _input(ctx, call.a).ravel(), _input(ctx, call.b).ravel()
    start = _input(ctx, call.state["theta"]).ravel()
    dims = sorted(int(i) for i in np.argsort(-a, kind="stable")[:2])
    expected = np.asarray(ctx.expected["theta"], dtype=float).reshape(len(ctx.expected["theta"]), -1)
    got = ctx.got.get("theta") if isinstance(ctx.got, dict) else ctx.got
    mine = student_array(got, tuple(np.shape(ctx.expected["theta"])), "your optimizer").reshape(expected.shape)
    return {
        "dims": dims,
        "a": numbers(a[dims]),
        "c": numbers(c[dims]),
        "start": numbers(start[dims]),
        "expected": [numbers(expected[:, d]) for d in dims],
        "got": [numbers(mine[:, d]) for d in dims],
    }


def features(labels: Sequence[str]) -> Extractor:
    """Per-feature statistics of the returned value or of each returned item (named by `labels`):
    a batch (2-D or more) as the mean and the standard deviation of every feature over axis 0, a
    per-feature vector as itself. Batch norm's bugs (the wrong axis, a missing epsilon, swapped
    weights) show as features off their expected values."""

    def extract(ctx: CaseContext) -> dict[str, Any]:
        exp = ctx.expected if isinstance(ctx.expected, tuple) else (ctx.expected,)
        got = ctx.got if isinstance(ctx.expected, tuple) else (ctx.got,)
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            raise NoPicture(f"your function did not return {len(exp)} values")
        series = []
        for i, (e, g) in enumerate(zip(exp, got)):
            e = np.asarray(e, dtype=float)
            g = student_array(g, e.shape, "your function" if len(exp) == 1 else f"item {i} of your result")
            name = labels[i] if i < len(labels) else "output"
            if e.ndim < 2:
                series.append({"label": name, "expected": numbers(e), "got": numbers(g)})
                continue
            e2, g2 = e.reshape(len(e), -1), g.reshape(len(g), -1)
            with np.errstate(all="ignore"):
                series += [
                    {"label": f"{what} of {name}", "expected": numbers(f(e2)), "got": numbers(f(g2))}
                    for what, f in (("mean", lambda v: v.mean(axis=0)), ("std", lambda v: v.std(axis=0)))
                ]
        return {"series": series[:4]}

    return extract


def histogram(
    samples: Any, shape: tuple[int, ...], bound: float, cdf: Callable[[np.ndarray], np.ndarray], bins: int = 30
) -> dict[str, Any]:
    """Counts of the student's samples in equal bins over the target's range (1.5x its bound, so
    values outside it show), against the counts the target distribution expects in each bin."""
    arr = student_array(samples, shape, "your function", MAX_SAMPLES)
    edges = np.linspace(-1.5 * bound, 1.5 * bound, bins + 1)
    finite = arr[np.isfinite(arr)].ravel()
    counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)
    expected = np.diff(cdf(edges)) * arr.size
    expected[0] += cdf(edges[:1])[0] * arr.size
    expected[-1] += (1 - cdf(edges[-1:])[0]) * arr.size
    return {
        "edges": numbers(edges),
        "counts": [int(v) for v in counts],
        "expected": numbers(expected),
        "outside": int(arr.size - finite.size),
    }


def categories(labels: Sequence[str], counts: Sequence[int], expected: Sequence[float]) -> dict[str, Any]:
    """Counts per category (dropped / kept, a shift) against the counts the contract expects."""
    return {"labels": [str(v) for v in labels], "counts": [int(v) for v in counts], "expected": numbers(expected)}


def trained_accuracy(threshold: Threshold) -> Extractor:
    """A trained model's accuracy on the task's real test split against the threshold, and its
    confusion matrix there (counts only: the split is public, its images never shown)."""

    def extract(ctx: CaseContext) -> dict[str, Any]:
        if not isinstance(ctx.got, dict):
            raise NoPicture("the model could not be exported")
        try:
            pred, y = predictions(ctx.got, threshold.task)
        except UnsupportedModel as exc:
            raise NoPicture(str(exc)) from None
        classes = TASK_CLASSES[threshold.task]
        n = len(classes)
        inside = (pred >= 0) & (pred < n)
        matrix = np.bincount(y[inside] * n + pred[inside], minlength=n * n).reshape(n, n)
        return {
            "accuracy": float(f"{(pred == y).mean():.6g}"),
            "threshold": threshold.minimum,
            "classes": list(classes),
            "confusion": matrix.tolist(),
            "other": int((~inside).sum()),
        }

    return extract


_GENERIC: dict[str, Extractor] = {"curve": curve, "trajectory": trajectory}


def picture_data(picture: Picture, ctx: CaseContext) -> dict[str, Any] | None:
    """The picture of `ctx` (a public case that failed) as JSON-ready data, or a note saying why
    there is none. Never raises. A hidden case is refused outright (its values must never show)."""
    if not ctx.case.public:
        raise ValueError(f"a picture must come from a public case, not {ctx.case.id}")
    if isinstance(ctx.got, Raised):
        return None  # the message already says what it raised; there is nothing to draw
    extract = picture.data or _GENERIC.get(picture.kind)
    base = {"kind": picture.kind, "case": ctx.case.id, "description": ctx.case.description}
    try:
        if extract is None:
            raise NoPicture("nothing to draw")
        data = {**base, **extract(ctx)}
    except NoPicture as why:
        return {**base, "note": str(why)}
    except Exception as exc:  # noqa: BLE001 - odd student data must not cost the grading
        return {**base, "note": f"no picture (your value could not be drawn: {type(exc).__name__})"}
    if len(repr(data)) > MAX_SERIES_BYTES:
        return {**base, "note": "no picture (too much to draw)"}
    return data
