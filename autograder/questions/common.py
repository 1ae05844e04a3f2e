"""Case generators shared by several questions (element-wise functions of any shape)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import CaseBuilder, Picture

# The public case the feedback's curve is drawn from: dense enough to show a wrong branch or slope.
CURVE_CASE = "61 inputs from -3 to 3 (the feedback's curve)"
CURVE = Picture("curve", CURVE_CASE)


# What each hidden element-wise case catches, said without its values.
ELEMENTWISE_HINTS = {
    "3-D array": "inputs of any shape: work element-wise and return the input's shape",
    "0-d array": "a 0-d array in, a 0-d float64 array out",
    "negative inputs only": "the formula for z < 0",
    "positive inputs only": "the formula for z > 0",
    "large negative z": "extreme inputs must give finite values: never exponentiate a large positive number",
    "large positive z": "extreme inputs must give finite values: never exponentiate a large positive number",
    "float32 input": "return float64 whatever the input's dtype (np.asarray(z, dtype=float))",
    "Python list input": "accept any array-like: convert it with np.asarray first",
    "exactly zero": "z = 0 belongs to one side: check the boundary (>= against >)",
    "another alpha": "use the alpha passed, not its default",
}


def elementwise_public(function: str, **kwargs: Any) -> Callable[[CaseBuilder], None]:
    """Small, readable inputs a student can check by hand."""

    def make(b: CaseBuilder) -> None:
        b.call("a vector of small values", function, np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]), **kwargs)
        b.call("a Python scalar", function, 0.5, **kwargs)
        b.call("a 2-D array", function, np.array([[-2.0, 0.0], [1.5, 4.0]]), **kwargs)
        b.call(CURVE_CASE, function, np.linspace(-3.0, 3.0, 61), **kwargs)

    return make


def elementwise_hidden(
    function: str, large: float = 1e4, **kwargs: Any
) -> Callable[[CaseBuilder, np.random.Generator], None]:
    """Shapes, dtypes and magnitudes that catch the usual bugs; each case names its kind only."""

    def make(b: CaseBuilder, rng: np.random.Generator) -> None:
        b.call("3-D array", function, rng.normal(0, 3, size=(3, 4, 5)), **kwargs)
        b.call("0-d array", function, np.array(rng.normal()), **kwargs)
        b.call("negative inputs only", function, -np.abs(rng.normal(0, 5, size=20)) - 1e-3, **kwargs)
        b.call("positive inputs only", function, np.abs(rng.normal(0, 5, size=20)) + 1e-3, **kwargs)
        b.call("large negative z", function, -rng.uniform(50, large, size=10), **kwargs)
        b.call("large positive z", function, rng.uniform(50, large, size=10), **kwargs)
        b.call("float32 input", function, rng.normal(0, 3, size=(4, 4)).astype(np.float32), **kwargs)
        b.call("Python list input", function, [float(v) for v in np.round(rng.normal(0, 2, size=6), 3)], **kwargs)
        b.call("exactly zero", function, np.zeros(3), **kwargs)

    return make
