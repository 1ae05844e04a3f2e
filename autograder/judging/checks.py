"""Reusable checks: how one case's output is judged against the reference (trusted side).

Every check receives plain data only (numpy arrays, tuples, numbers, strings, dicts) that the
collect stage decoded and validated; nothing here calls student code. Messages are written for
students: for public cases `compare` adds input, expected and got; a check's own message must not
reveal hidden values, only what kind of thing went wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..wire import Raised
from .models import Threshold, architecture_differences, check_trained
from .verdict import CaseContext, Check, Verdict

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
        return Verdict(False, f"should raise {exp.type} but returned a value")
    if isinstance(got, Raised):
        return Verdict(False, f"raised {got.type}: {got.message}")
    return None


def _compare_arrays(exp: np.ndarray, got: Any, rtol: float, atol: float, same_shape: bool) -> Verdict:
    arr = as_float_array(got)
    if arr is None:
        return Verdict(False, f"returned {type(got).__name__}, expected an array of numbers")
    if same_shape and arr.shape != exp.shape:
        return Verdict(False, f"wrong shape: got {arr.shape}, expected {exp.shape}")
    if not same_shape:
        try:
            arr = np.broadcast_to(arr, exp.shape)
        except ValueError:
            return Verdict(False, f"wrong shape: got {arr.shape}, expected {exp.shape}")
    expf = exp.astype(float)
    if np.isnan(arr).any() and not np.isnan(expf).any():
        return Verdict(False, "returned nan (overflow or 0/0?)")
    if not np.allclose(arr, expf, rtol=rtol, atol=atol, equal_nan=True):
        return Verdict(False, "wrong values")
    return Verdict(True)


def precheck(ctx: CaseContext) -> Verdict | None:
    """What every value check decides first: exceptions (expected or not), then modified inputs."""
    raised = raised_or_none(ctx)
    if raised is not None:
        return raised
    if ctx.extra.get("modified_input"):
        return Verdict(False, "modifies its input (copy before changing arrays in place)")
    return None


def allclose(rtol: float = 1e-6, atol: float = 1e-9, same_shape: bool = True) -> Check:
    """Values within tolerance of the reference, element by element, tuples element-wise."""

    def check(ctx: CaseContext) -> Verdict:
        return precheck(ctx) or _match(ctx.expected, ctx.got, rtol, atol, same_shape)

    return check


def _match(exp: Any, got: Any, rtol: float, atol: float, same_shape: bool) -> Verdict:
    if isinstance(exp, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            what = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
            return Verdict(False, f"should return a tuple of {len(exp)} values, returned {what}")
        for i, (e, g) in enumerate(zip(exp, got)):
            verdict = _match(e, g, rtol, atol, same_shape)
            if not verdict.passed:
                return Verdict(False, f"item {i} of the returned tuple: {verdict.message}")
        return Verdict(True)
    if isinstance(exp, dict):  # trajectories: {state name: history}
        if not isinstance(got, dict) or set(got) != set(exp):
            return Verdict(False, "did not return the expected values at every step")
        for name in sorted(exp, key=lambda n: (n != "theta", n)):  # theta first: it goes wrong first
            verdict = _compare_arrays(exp[name], got[name], rtol, atol, same_shape)
            if not verdict.passed:
                first = _first_bad_step(exp[name], got[name], rtol, atol)
                where = f" from step {first}" if first else ""
                return Verdict(False, f"{name}{where}: {verdict.message}")
        return Verdict(True)
    if isinstance(exp, np.ndarray):
        return _compare_arrays(exp, got, rtol, atol, same_shape)
    return Verdict(exp == got, "" if exp == got else "wrong value")


def _first_bad_step(exp: np.ndarray, got: Any, rtol: float, atol: float) -> int | None:
    arr = as_float_array(got)
    if arr is None or arr.shape != exp.shape:
        return None
    for step in range(exp.shape[0]):
        if not np.allclose(arr[step], exp[step], rtol=rtol, atol=atol):
            return step + 1
    return None


def exact() -> Check:
    """Integers and tuples of integers, equal to the reference."""

    def check(ctx: CaseContext) -> Verdict:
        raised = raised_or_none(ctx)
        if raised is not None:
            return raised
        exp = as_float_array(ctx.expected)
        got = as_float_array(ctx.got)
        if got is None or exp is None or got.shape != exp.shape:
            return Verdict(
                False,
                f"should return {len(ctx.expected)} integers"
                if isinstance(ctx.expected, tuple)
                else "wrong type or shape",
            )
        return Verdict(bool(np.array_equal(exp, got)), "" if np.array_equal(exp, got) else "wrong value")

    return check


def architecture(compare_compile: bool = True) -> Check:
    """The returned model matches the reference model layer by layer (see models.py)."""

    def check(ctx: CaseContext) -> Verdict:
        raised = raised_or_none(ctx)
        if raised is not None:
            return raised
        diffs = architecture_differences(ctx.expected, ctx.got, compare_compile)
        return Verdict(not diffs, "; ".join(diffs[:6]))

    return check


def trained(threshold: Threshold) -> Check:
    """The notebook's trained model reaches the accuracy threshold on the real test split."""

    def check(ctx: CaseContext) -> Verdict:
        if isinstance(ctx.got, Raised):
            return Verdict(False, f"{ctx.got.type}: {ctx.got.message}")
        return check_trained(ctx.got, threshold)[0]

    return check
