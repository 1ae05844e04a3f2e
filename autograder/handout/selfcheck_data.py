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
import hashlib
import inspect
import re
from typing import Any

import numpy as np

from .. import wire
from ..errors import BuildError
from ..judging.models import split_tasks
from ..questions import a01_activations_and_initialisation as a01
from ..questions import a05_regularisation as a05

DIGEST_SIZE = 8  # bytes per candidate image: a wrong image matches one of its 50 candidates w.p. 50 / 2**64

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


def target(shape: tuple[int, int], scale: float, mode: str, distribution: str) -> dict[str, Any]:
    """The grader's bound and distribution (a01._distribution) for one public case, as numbers."""
    bound, cdf = a01._distribution(tuple(shape), scale, mode, distribution)
    frozen = cdf.__self__  # a frozen scipy distribution: its parameters are the public case's numbers
    family = frozen.dist.name
    if family == "uniform":
        return {"bound": bound, "family": "uniform", "limit": bound}
    if family == "truncnorm":
        low, high = frozen.args
        if low != -high:
            raise BuildError(f"the self-check knows symmetric truncated normals only, not {frozen.args}")
        return {"bound": bound, "family": "truncated_normal", "sd": float(frozen.kwds["scale"]), "cut": float(high)}
    if family == "norm":
        return {"bound": None, "family": "normal", "sd": float(frozen.args[1])}
    raise BuildError(f"the self-check has no cdf for the grader's {family} distribution")


def task_labels(task: str) -> dict[str, list[int]]:
    """Which of the labels 0..9 a trained model's task keeps, and as what (models.split_tasks on
    the ten labels themselves): the self-check relabels keras' test split with this table."""
    kept, labels = split_tasks(np.arange(10), np.arange(10))[task]
    return {"keep": [int(v) for v in kept], "as": [int(v) for v in labels]}


def candidates(images: np.ndarray, max_shift: int) -> str:
    """Digests of every (flip, dy, dx) transform of every image, in a05.identify's order."""
    out = bytearray()
    for original in images:
        for flipped in (0, 1):
            base = original[:, ::-1] if flipped else original
            for dy in range(-max_shift, max_shift + 1):
                for dx in range(-max_shift, max_shift + 1):
                    moved = a05.shift(base, dy, dx)
                    plain = np.ascontiguousarray(moved + np.zeros((), dtype=moved.dtype)).tobytes()
                    out += hashlib.blake2b(plain, digest_size=DIGEST_SIZE).digest()
    return base64.b64encode(bytes(out)).decode()


def _subcalls(call: Any) -> list[Any]:
    return list(call.calls) if isinstance(call, wire.Calls) else [call]


def _randomness(check: Any) -> dict[str, Any]:
    """The parameters of the grader's randomness check for this question (its closure)."""
    free = inspect.getclosurevars(check).nonlocals
    name = check.__qualname__.split(".<locals>")[0]
    if name == "matrix_check":
        return {
            "same": free["same"],
            "other_seed": free["other_seed"],
            "unseeded": free["unseeded"],
            "count": free["count"],
            "alpha": free["alpha"],
            "repeats": free["repeats"],
            "independent": free["independent"],
            "what": free["what"],
            "how": free["how"],
            "identical": free["identical"],
        }
    if name == "mask_check":
        return {
            "consecutive": free["consecutive"],
            "same": free["same"],
            "other_seed": free["other_seed"],
            "count": free["count"],
            "alpha": free["alpha"],
            "repeats": free["repeats"],
        }
    if name == "choices_check":
        return {
            "consecutive": list(free["consecutive"]),
            "same": list(free["same"]),
            "other_seed": list(free["other_seed"]),
            "count": free["count"],
            "repeats": free["repeats"],
        }
    raise BuildError(f"the self-check has no counterpart of the randomness check {check.__qualname__}")


def random_spec(kind: str, question_check: Any) -> dict[str, Any]:
    """The randomness parameters of a random function's question, read off the grader's check."""
    if kind == "dropout":
        found = inspect.getclosurevars(question_check).nonlocals["randomness"]
    else:
        refs = inspect.getclosurevars(question_check).globals
        found = [v for k, v in refs.items() if k.endswith("_RANDOMNESS")]
        if len(found) != 1:  # a guess would give the self-check another check's parameters
            raise BuildError(
                f"{question_check.__qualname__}: expected one *_RANDOMNESS check to read, found {len(found)}"
            )
        found = found[0]
    return _randomness(found)


def case_data(spec: dict[str, Any], call: Any, inputs: dict[str, np.ndarray], raises: bool) -> dict[str, Any]:
    """Numbers the grader's check computes for this public case, which the self-check is given."""
    kind = spec["kind"]
    if kind == "variance_scaling" and isinstance(call, wire.Call) and not raises:
        kw = call.decoded_kwargs(inputs)
        return {
            "target": target(
                call.decoded_args(inputs)[0],
                kw.get("scale", 1.0),
                kw.get("mode", "fan_in"),
                kw.get("distribution", "truncated_normal"),
            )
        }
    if kind == "he_avg" and isinstance(call, wire.Initializer):
        return {"target": target(a01.HE_AVG_SHAPE, 2.0, "fan_avg", "uniform")}  # as a01._check_he_avg
    if kind == "dropout":
        return {"divisors": [1 - float(sub.args[1]) if spec["scaled"] else None for sub in _subcalls(call)]}
    if kind == "augment":
        found = {}
        for sub in _subcalls(call):
            key, m = wire.array_key(sub.args[0]), int(sub.kwargs.get("max_shift", 2))
            found[f"{key}/{m}"] = found.get(f"{key}/{m}") or candidates(inputs[key], m)
        return {"digest_size": DIGEST_SIZE, "candidates": found}
    return {}
