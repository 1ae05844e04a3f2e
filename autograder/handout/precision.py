"""Expected values that do not depend on the last bits of one CPU's floating point.

The public expected values in a student notebook are the solution's outputs on the machine that
builds. Another CPU (other SIMD paths in BLAS, another summation order in a 20-layer product)
computes them some ulps apart, and a value that sits near a rounding boundary is then written
with another last digit: `build --check` reported a notebook out of date that nothing had changed.
So:

- `rounded`: a float is written with SIGNIFICANT_DIGITS digits, far more than any check needs
  (rtol >= 1e-7 here) and enough that the self-check shows the expected value as the grader's
  feedback does (six decimals): fewer digits would make its messages differ from the grader's.
  Rounding alone cannot be CPU-proof: whatever the digits, some value sits near a boundary.
- `same_within_tolerance`: the drift check (`build --check`, `verify`) accepts a rebuilt notebook
  whose only differences are expected values within `DRIFT` of their check's tolerance, and keeps
  the committed file. A real change (a solution that computes something else, a changed
  tolerance, case or code) is anything else, and is still reported.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

import numpy as np

SIGNIFICANT_DIGITS = 10  # expected values written: far inside every tolerance, and as many as messages show
DRIFT = 1e-2  # two builds may differ by this share of the check's tolerance, no more
CASES_PREFIX = "CASES = json.loads("  # the line of a self-check test that holds its cases


def rounded(value: float) -> float:
    """`value` to SIGNIFICANT_DIGITS (non-finite values as they are)."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else value


def same_within_tolerance(current: str, built: str) -> bool:
    """Whether two texts of a generated notebook differ only in expected values, each within DRIFT
    of its check's tolerance. Anything unparsable or otherwise different is a difference."""
    try:
        return _same(json.loads(current), json.loads(built))
    except (ValueError, SyntaxError, TypeError, KeyError):
        return False


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and a != b and CASES_PREFIX in a and CASES_PREFIX in b:
        return _same_test(a, b)
    return a == b


def _same_test(a: str, b: str) -> bool:
    """Two sources of one self-check test: equal but for their cases' expected values."""
    lines_a, lines_b = a.split("\n"), b.split("\n")
    if len(lines_a) != len(lines_b):
        return False
    for line_a, line_b in zip(lines_a, lines_b):
        if line_a == line_b:
            continue
        if not (line_a.startswith(CASES_PREFIX) and line_b.startswith(CASES_PREFIX)):
            return False
        cases_a, cases_b = _cases(line_a), _cases(line_b)
        if len(cases_a) != len(cases_b):
            return False
        for case_a, case_b in zip(cases_a, cases_b):
            if case_a.keys() != case_b.keys() or case_a["check"] != case_b["check"]:
                return False
            if any(case_a[k] != case_b[k] for k in case_a if k != "expected"):
                return False
            if not _close(case_a.get("expected"), case_b.get("expected"), case_a["check"]):
                return False
    return True


def _cases(line: str) -> list[dict[str, Any]]:
    """The cases of a `CASES = json.loads('...')` line (a Python string literal of JSON text)."""
    literal = line[len(CASES_PREFIX) :].removesuffix(")")
    cases = json.loads(ast.literal_eval(literal))
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "check" in c for c in cases):
        raise ValueError("not a list of cases")
    return cases


def _close(a: Any, b: Any, check: dict[str, Any]) -> bool:
    """Expected values equal, or float arrays within DRIFT of an `allclose` check's tolerance."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, check) for x, y in zip(a, b))
    if not isinstance(a, dict):
        return a == b
    if a.keys() != b.keys():
        return False
    if "$nd" not in a:
        return all(_close(a[k], b[k], check) for k in a)
    if (a["dtype"], a["shape"]) != (b["dtype"], b["shape"]) or np.dtype(a["dtype"]).kind != "f":
        return a == b
    if check.get("kind") != "allclose":
        return a == b
    x, y = np.asarray(a["$nd"], dtype=float), np.asarray(b["$nd"], dtype=float)
    if x.shape != y.shape:
        return False
    allowed = DRIFT * (float(check["atol"]) + float(check["rtol"]) * np.abs(y))
    same_nan = np.isnan(x) & np.isnan(y)
    return bool(np.all(same_nan | (x == y) | (np.abs(x - y) <= allowed)))
