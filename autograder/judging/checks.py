"""Reusable checks: how one case's output is judged against the reference (trusted side).

Every check receives plain data only (numpy arrays, tuples, numbers, strings, dicts) that the
collect stage decoded and validated; nothing here calls student code. Messages are written for
students: for public cases `compare` adds input, expected and got; a check's own message must not
reveal hidden values, only what kind of thing went wrong.

numpy and the standard library only: this module is pasted, with `wire`, `verdict`, `stats`,
`architecture`, `randomness` and `draws`, into every student notebook's self-check
(handout/selfcheck.py), which calls these checks on the public cases. So no
`from __future__ import annotations` (pasted mid-file it would not compile) and no import but
those modules'.
"""

from typing import Any

import numpy as np

from ..wire import Raised
from .architecture import architecture_differences, b_on_a_problems
from .verdict import CaseContext, Check, Verdict, fixed_failure

# A student's answer as floats is at most this many elements (as the probe caps a returned array),
# and a list answer at most this many Python objects (collect lets no longer list through).
MAX_ELEMENTS = 20_000_000
MAX_LIST_NODES = 1_000_000
_NUMBER = (int, float, bool, np.number)


def _numeric_size(value: list | tuple, limit: int) -> int | None:
    """Elements of a nested list/tuple of numbers and arrays, or None if anything else is inside or
    the nesting, object count or element count is over its bound. One pass, no allocation per
    element: this decides, before numpy builds anything, whether building is allowed."""
    stack: list[tuple[list | tuple, int]] = [(value, 0)]
    elements = nodes = 0
    while stack:
        container, depth = stack.pop()
        nodes += len(container) + 1
        if nodes > MAX_LIST_NODES or depth > 32:
            return None
        for item in container:
            if isinstance(item, (list, tuple)):
                stack.append((item, depth + 1))
            elif isinstance(item, np.ndarray) and item.dtype.kind in "biuf":
                elements += item.size
            elif isinstance(item, _NUMBER):
                elements += 1
            else:
                return None
        if elements > limit:
            return None
    return elements


def as_float_array(value: Any, limit: int = MAX_ELEMENTS) -> np.ndarray | None:
    """A student's value as a float array, accepting lists/tuples of numbers; None if impossible
    or larger than `limit` elements.

    A list is converted by one `np.array` call after `_numeric_size` vetted it (strings, dicts and
    ragged nesting stay impossible): building it element by element made a 0-d array per element,
    3.5 GB for a list of 20 million zeros."""
    try:
        if isinstance(value, np.ndarray):
            return value.astype(float) if value.dtype.kind in "biuf" and value.size <= limit else None
        if isinstance(value, (list, tuple)):
            return None if _numeric_size(value, limit) is None else np.array(value, dtype=float)
        if isinstance(value, _NUMBER):
            return np.array(value, dtype=float)
    except (ValueError, TypeError, OverflowError):  # ragged nesting; an int beyond float's range
        return None
    return None


def raised_or_none(ctx: CaseContext) -> Verdict | None:
    """Shared handling when either side raised: expected exceptions must match by type."""
    exp, got = ctx.expected, ctx.got
    if isinstance(exp, Raised):
        if isinstance(got, Raised):
            return Verdict(
                got.type == exp.type, "" if got.type == exp.type else f"raised {got.type}, expected {exp.type}"
            )
        return fixed_failure(f"should raise {exp.type} but returned a value")
    if isinstance(got, Raised):
        return Verdict(False, f"raised {got.type}: {got.message}")
    return None


# How returned values are named in messages, as the contract names them: None (the value itself),
# a name ("clipped": a sequence's items are clipped[0], clipped[1], ...), or one such name per item
# of a returned tuple (("clipped", "global_norm"); nested for tuples of tuples).
Names = Any
NEAR_MISS = 100.0  # a failure within this many times the tolerance is called a near miss
# Lower precisions a near miss is tried against, with the relative error their arithmetic leaves
# (a few roundings of eps): a result that is the expected one at that precision was computed in it.
_PRECISIONS = ((np.float32, 16 * float(np.finfo(np.float32).eps)), (np.float16, 16 * float(np.finfo(np.float16).eps)))


def _item_names(names: Names, count: int) -> list[Names]:
    """What each item of a returned tuple/sequence is called under `names`."""
    if isinstance(names, (tuple, list)) and len(names) == count:
        return list(names)
    base = names if isinstance(names, str) else "returned"
    return [f"{base}[{i}]" for i in range(count)]


def _where(name: Names, index: tuple[int, ...]) -> str:
    """`name[2, 1]`: an element's place in the contract's names (no name: `[2, 1]`)."""
    label = name if isinstance(name, str) else ""
    return f"{label}[{', '.join(str(i) for i in index)}]" if index else label


def _sizes(arr: np.ndarray, exp: np.ndarray, rtol: float, atol: float) -> tuple[float, float, float, tuple]:
    """(worst absolute error, worst relative error (inf if an expected 0 is missed), worst error
    over its tolerance, that element's index). Sizes of errors only: nothing here is an input or an expected value."""
    with np.errstate(all="ignore"):
        err = np.abs(arr - exp)
        err = np.where(np.isnan(arr) & np.isnan(exp), 0.0, err)
        err = np.where((arr == exp), 0.0, err)  # equal infinities
        err = np.nan_to_num(err, nan=np.inf, posinf=np.inf)
        scale = np.abs(exp)
        relative = np.where(err == 0, 0.0, err / np.where(scale > 0, scale, 0.0))  # inf where expected is 0
        relative = np.where(np.isinf(scale) & (err > 0), np.inf, relative)
        allowed = atol + rtol * np.nan_to_num(scale, posinf=0.0)
        ratio = np.where(err == 0, 0.0, err / np.where(allowed > 0, allowed, np.nan))
        ratio = np.nan_to_num(ratio, nan=np.inf, posinf=np.inf)
    worst = int(np.argmax(ratio)) if ratio.size else 0
    index = tuple(int(i) for i in np.unravel_index(worst, ratio.shape)) if ratio.ndim else ()
    return float(err.max(initial=0.0)), float(relative.max(initial=0.0)), float(ratio.max(initial=0.0)), index


def lower_precision(arr: np.ndarray, exp: np.ndarray, raw: Any) -> str | None:
    """The lower precision ('float32', 'float16') whose arithmetic gives the student's values, if
    any: they are that dtype's numbers (returned in it, or every value representable in it) and no
    further from the expected values than a few of its roundings of the largest of them (rounding
    errors grow with the largest intermediate value, not with each result)."""
    finite = np.isfinite(arr) & np.isfinite(exp)
    if not finite.any():
        return None
    got, want = arr[finite], exp[finite]
    for dtype, slack in _PRECISIONS:
        with np.errstate(all="ignore"):
            values_in = getattr(raw, "dtype", None) == dtype or np.array_equal(got.astype(dtype).astype(float), got)
            if values_in and np.abs(got - want).max() <= slack * np.abs(want).max():
                return np.dtype(dtype).name
    return None


def _band(ratio: float) -> str:
    """An error's size against the tolerance, in four bands: what a hidden case may say of it.
    The exact size is `|expected - answer|`, and the answer is the student's choice: two digits
    of it per submission would spell a hidden expected value in a few submissions."""
    if not np.isfinite(ratio):
        return "infinitely many times"
    for bound, text in ((10, "within 10x"), (NEAR_MISS, "10x to 100x"), (1e4, "100x to 10,000x")):
        if ratio <= bound:
            return text
    return "more than 10,000x"


def _wrong_values(
    arr: np.ndarray, exp: np.ndarray, raw: Any, rtol: float, atol: float, name: Names, step_axis: bool
) -> Verdict:
    """What a student reads of values outside the tolerance: how far, where, against what
    tolerance, and for a near miss the cause the check can tell (a lower precision). A hidden
    case says the band of the size and the returned value's name, not the sizes or the place."""
    abs_err, rel_err, ratio, index = _sizes(arr, exp, rtol, atol)
    if step_axis and index:
        where = f"step {index[0] + 1}" + (f", {_where(name, index[1:])}" if index[1:] else "")
    else:
        where = _where(name, index)
    if not np.isfinite(ratio):
        times = "beyond"
    elif ratio < 10:
        times = f"{ratio:.2g}x"
    else:
        times = f"{ratio:,.0f}x" if ratio < 1e6 else f"{ratio:.1e}x"
    text = (
        f"wrong values: worst error {abs_err:.2g}{f' (relative {rel_err:.2g})' if np.isfinite(rel_err) else ''}"
        f"{f' at {where}' if where else ''}, "
        f"{times} the tolerance (rtol {rtol:g}, atol {atol:g})"
    )
    label = f" in {name}" if isinstance(name, str) else ""
    hidden = f"wrong values{label}: {_band(ratio)} the tolerance (rtol {rtol:g}, atol {atol:g})"
    if ratio <= NEAR_MISS:
        cause = ": a near miss"
        precision = lower_precision(arr, exp, raw)
        if precision is not None:
            cause += f"; {precision} arithmetic reproduces it: compute in float64"
        text, hidden = text + cause, hidden + cause
    return Verdict(False, text, hidden)


def _compare_arrays(
    exp: np.ndarray, got: Any, rtol: float, atol: float, same_shape: bool, name: Names = None, step_axis: bool = False
) -> Verdict:
    arr = as_float_array(got)
    if arr is None:
        return Verdict(
            False, f"returned {type(got).__name__}, expected an array of numbers", "did not return an array of numbers"
        )
    wrong_shape = Verdict(
        False, f"wrong shape: got {arr.shape}, expected {exp.shape}", f"wrong shape (expected {exp.shape})"
    )
    if same_shape and arr.shape != exp.shape:
        return wrong_shape
    if not same_shape:
        try:
            arr = np.broadcast_to(arr, exp.shape)
        except ValueError:
            return wrong_shape
    expf = exp.astype(float)
    if np.isnan(arr).any() and not np.isnan(expf).any():
        return fixed_failure("returned nan (overflow or 0/0?)")
    if not np.allclose(arr, expf, rtol=rtol, atol=atol, equal_nan=True):
        return _wrong_values(arr, expf, got, rtol, atol, name, step_axis)
    return Verdict(True)


def precheck(ctx: CaseContext) -> Verdict | None:
    """What every value check decides first: exceptions (expected or not), then modified inputs."""
    raised = raised_or_none(ctx)
    if raised is not None:
        return raised
    if ctx.extra.get("modified_input"):
        return fixed_failure("modifies its input (copy before changing arrays in place)")
    return None


def allclose(rtol: float = 1e-6, atol: float = 1e-9, same_shape: bool = True, returns: Names = None) -> Check:
    """Values within tolerance of the reference, element by element, tuples element-wise;
    `returns` names the returned values in messages as the contract does (see `Names`)."""

    def check(ctx: CaseContext) -> Verdict:
        return precheck(ctx) or _match(ctx.expected, ctx.got, rtol, atol, same_shape, returns)

    return check


def _prefixed(name: Names, verdict: Verdict) -> Verdict:
    """A failed item's message, led by the item's name unless the message names it already."""
    if verdict.passed or not isinstance(name, str) or verdict.message.startswith(name):
        return verdict
    if f" at {name}" in verdict.message and verdict.message.startswith("wrong values"):
        return verdict
    hidden = verdict.hidden if not verdict.hidden or f" in {name}" in verdict.hidden else f"{name}: {verdict.hidden}"
    return Verdict(False, f"{name}: {verdict.message}", hidden)


def _match(exp: Any, got: Any, rtol: float, atol: float, same_shape: bool, names: Names = None) -> Verdict:
    if isinstance(exp, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            what = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
            return Verdict(
                False,
                f"should return a tuple of {len(exp)} values, returned {what}",
                f"should return a tuple of {len(exp)} values",
            )
        for name, e, g in zip(_item_names(names, len(exp)), exp, got):
            verdict = _match(e, g, rtol, atol, same_shape, name)
            if not verdict.passed:
                return _prefixed(name, verdict)
        return Verdict(True)
    if isinstance(exp, dict):  # trajectories: {state name: history}
        if not isinstance(got, dict) or set(got) != set(exp):
            return fixed_failure("did not return the expected values at every step")
        for name in sorted(exp, key=lambda n: (n != "theta", n)):  # theta first: it goes wrong first
            verdict = _compare_arrays(exp[name], got[name], rtol, atol, same_shape, name, step_axis=True)
            if not verdict.passed:
                first = _first_bad_step(exp[name], got[name], rtol, atol)
                where = f" from step {first}" if first else ""
                hidden = verdict.hidden.replace(f" in {name}:", ":", 1)  # named once, in front
                return Verdict(False, f"{name}{where}: {verdict.message}", f"{name}{where}: {hidden}")
        return Verdict(True)
    if isinstance(exp, np.ndarray):
        return _compare_arrays(exp, got, rtol, atol, same_shape, names)
    return Verdict(True) if exp == got else fixed_failure("wrong value")


def _first_bad_step(exp: np.ndarray, got: Any, rtol: float, atol: float) -> int | None:
    arr = as_float_array(got)
    if arr is None or arr.shape != exp.shape:
        return None
    for step in range(exp.shape[0]):
        if not np.allclose(arr[step], exp[step], rtol=rtol, atol=atol):
            return step + 1
    return None


def exact(returns: Names = None) -> Check:
    """Integers and tuples of integers, equal to the reference; `returns` names them (see `Names`)."""

    def check(ctx: CaseContext) -> Verdict:
        raised = raised_or_none(ctx)
        if raised is not None:
            return raised
        exp = as_float_array(ctx.expected)
        got = as_float_array(ctx.got)
        if got is None or exp is None or got.shape != exp.shape:
            return fixed_failure(
                f"should return {len(ctx.expected)} integers"
                if isinstance(ctx.expected, tuple)
                else "wrong type or shape"
            )
        if np.array_equal(exp, got):
            return Verdict(True)
        wrong = np.flatnonzero((exp != got).ravel())
        names = _item_names(returns, exp.size) if isinstance(ctx.expected, tuple) and exp.ndim == 1 else []
        which = ", ".join(str(names[i]) for i in wrong) if names else ""
        text = f"wrong value{'s' if len(wrong) > 1 else ''}" + (f": {which}" if which else "")
        diff = (got - exp).ravel()[wrong]
        if np.all(diff == 1) or np.all(diff == -1):
            text += f" (one {'more' if diff[0] > 0 else 'less'} than expected: a count or an index one off?)"
        return Verdict(False, text, text)  # the contract's names and one bit: nothing the answer spells

    return check


def architecture(compare_compile: bool = True) -> Check:
    """The returned model matches the reference model layer by layer (see models.py)."""

    def check(ctx: CaseContext) -> Verdict:
        raised = raised_or_none(ctx)
        if raised is not None:
            return raised
        diffs = architecture_differences(ctx.expected, ctx.got, compare_compile)
        return Verdict(not diffs, "; ".join(diffs[:6]), "the model differs from the expected one")

    return check


def b_on_a() -> Check:
    """model_B_on_A: the reference's architecture, built on model_A's weights without changing it."""

    def check(ctx: CaseContext) -> Verdict:
        raised = raised_or_none(ctx)
        if raised is not None:
            return raised
        problems = b_on_a_problems(ctx.expected, ctx.got)
        return Verdict(not problems, "; ".join(problems[:6]), "the model differs from the expected one")

    return check


def accuracy_verdict(accuracy: float, minimum: float) -> Verdict:
    """A trained model's verdict from its test accuracy (the grader's numpy forward pass, or Keras
    itself in the self-check)."""
    if accuracy < minimum:
        return fixed_failure(f"test accuracy {accuracy:.4f} is below the required {minimum:.2f}")
    return Verdict(True, f"test accuracy {accuracy:.4f} (required {minimum:.2f})")
