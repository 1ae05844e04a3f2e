"""What a random function's self-check gets instead of the formulas it must not contain.

Students can read a notebook's metadata, so the embedded checker holds no solution: not the
uniform bound sqrt(3 * scale / n) (exercise `variance_scaling_limit`), not the truncated normal's
constant, not the fan of a mode, not inverted dropout's x / (1 - rate), not augment's shifting,
not split_dataset's tasks (03).
`build` computes, for each public case, what the grader's check would compute from them, with
the grader's own code (`questions/a01_*`, `a05_*`), and embeds the resulting numbers: the target
distribution's parameters for the case's shape, the divisor of kept values, a digest of every
flip and shift of each public input image in the order the grader tries them, and the table of
labels each trained model's task keeps. Public outputs
on public inputs, as the other questions' expected values are. `FORMULAS` lists the expressions
that must not appear in what is embedded; `build` refuses a notebook that has one.
"""

from __future__ import annotations

import base64
import inspect
import re
from typing import Any

import numpy as np

from .. import wire
from ..errors import BuildError
from ..judging.draws import DIGEST_SIZE, max_shift
from ..judging.models import split_tasks
from ..judging.verdict import Case, CaseContext

# Solution expressions (as the grader's and the reference's code write them) and what they are.
FORMULAS = {
    "the uniform bound of variance_scaling_limit": r"sqrt\(\s*3",
    "the truncated normal's constant": r"0\.8796",
    "the fan of each mode": r"[\"']fan_avg[\"']\s*:\s*\(",
    "inverted dropout's scaling": r"/\s*\(\s*1(\.0*)?\s*-\s*rate\s*\)",
    "augment's shift": r"(max|min)\(\s*-?d[yx]\b|-\s*d[yx]\b",
    "split_dataset's tasks and relabelling": r"==\s*5\)\s*\||>\s*6\s*[\],]",
}


def formula_leaks(source: str) -> list[str]:
    """The names of the FORMULAS found in an embedded checker's source."""
    return [name for name, pattern in FORMULAS.items() if re.search(pattern, source)]


def task_labels(task: str) -> dict[str, list[int]]:
    """Which of the labels 0..9 a trained model's task keeps, and as what (models.split_tasks on
    the ten labels themselves): the self-check relabels keras' test split with this table."""
    kept, labels = split_tasks(np.arange(10), np.arange(10))[task]
    return {"keep": [int(v) for v in kept], "as": [int(v) for v in labels]}


def randomness_spec(check: Any) -> dict[str, Any]:
    """The arguments of the grader's randomness check (its closure) that the self-check passes to
    the same factory, beside its own decoders."""
    free = inspect.getclosurevars(check).nonlocals
    name = check.__qualname__.split(".<locals>")[0]
    keys = {
        "matrix_check": ("same", "other_seed", "unseeded", "count", "identical", "what", "how", "budget"),
        "mask_check": ("consecutive", "same", "other_seed"),
        "choices_check": ("consecutive", "same", "other_seed", "count"),
    }
    if name not in keys:
        raise BuildError(f"the self-check has no counterpart of the randomness check {check.__qualname__}")
    return {key: free[key] for key in keys[name]}


def case_data(check: Any, spec: dict[str, Any], case: Case, inputs: dict[str, np.ndarray], raises: bool) -> dict:
    """Numbers the grader's check computes for this public case, which the self-check is given:
    asked of the question's own functions (the closure of its check), on the case itself."""
    kind = spec["kind"]
    free = inspect.getclosurevars(check).nonlocals
    ctx = CaseContext(case, inputs, None, None)
    calls = range(len(case.call.calls)) if isinstance(case.call, wire.Calls) else range(1)
    if kind in ("variance_scaling", "he_avg") and not isinstance(case.call, wire.Calls) and not raises:
        return {"target": free["target_of"](ctx)}
    if kind == "dropout":
        return {"divisors": [free["divisor_of"](ctx, i) for i in calls]}
    if kind == "augment":
        found: dict[str, str] = {}
        for i in calls:
            sub = case.call.calls[i] if isinstance(case.call, wire.Calls) else case.call
            key = f"{wire.array_key(sub.args[0])}/{max_shift(ctx, i)}"
            if key not in found:
                found[key] = base64.b64encode(free["table_of"](ctx, i)).decode()
        return {"digest_size": DIGEST_SIZE, "candidates": found}
    return {}
