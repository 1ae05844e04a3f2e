"""01, part 2: vanishing and exploding gradients (backpropagation by hand, the experiment, clipping).

Networks travel to the probe as lists of array references (`b.array`; the probe decodes a JSON list of
arguments element by element). Every case's weight or gradient shapes are *not all equal*, on
purpose: the probe and the self-check stack a returned list of equal-shaped arrays into one
array, while the reference returns a tuple; with unequal shapes a student's list and tuple are
both compared item by item (checks.allclose), so the contract can say "a list or a tuple".

Known gap: the probe's "modifies its input" test looks at top-level array arguments only, so an
in-place change of an array *inside* `weights` or `grads` goes unnoticed (`X` is covered). The
values are still graded; the notebook's contract asks not to modify, as everywhere.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from ..judging.checks import allclose
from .base import CaseBuilder, Question

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu")
# Gradients of small networks are O(1e-6..1); atol only absorbs rounding of exact zeros (dead ReLUs).
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-12
GRAD_TOL = allclose(rtol=GRAD_RTOL, atol=GRAD_ATOL)
# log10 of a ratio, "the same order of magnitude". Drawn in the documented order (X, then the
# weights) a correct function gives the reference's value to rounding. Drawn in another order it
# differs by the seed-to-seed spread, measured over 100 seeds per setting at width 100: sd <= 0.18
# at depth 20 (largest of 100: 0.55, tanh/normal) but 0.27 at depth 24 (largest 0.91), which is
# why hidden depths stay in 20-22.
LOG10_TOL = allclose(rtol=0.0, atol=1.0)
EXPERIMENT = (("sigmoid", "normal"), ("sigmoid", "glorot"), ("relu", "he"), ("selu", "lecun"))


def _network(b: CaseBuilder, rng: np.random.Generator, sizes: list[int], scale: float = 1.0) -> list[dict]:
    """Weights of shape (sizes[l], sizes[l+1]), std scale * sqrt(2 / (fan_in + fan_out)), rounded."""
    return [
        b.array(np.round(rng.normal(0, scale * np.sqrt(2 / (n_in + n_out)), (n_in, n_out)), 6))
        for n_in, n_out in pairwise(sizes)
    ]


def _sizes(rng: np.random.Generator, depth: int, low: int = 2, high: int = 12) -> list[int]:
    """Layer sizes with the input size unlike the first width (see the module docstring)."""
    sizes = [int(v) for v in rng.integers(low, high, size=depth + 1)]
    if sizes[0] == sizes[1]:
        sizes[0] += 1
    return sizes


def _backprop_public(b: CaseBuilder) -> None:
    rng = np.random.default_rng(130)  # fixed: public cases never depend on the run's seed
    for act, sizes in (("sigmoid", [3, 4, 2]), ("relu", [4, 5, 5, 3]), ("selu", [2, 3, 3, 3, 1])):
        X = np.round(rng.normal(0, 1, (5, sizes[0])), 3)
        b.call(f"{act}, layer sizes {sizes}, a batch of 5", "backprop_gradients", X, _network(b, rng, sizes), act)
    b.call("an activation not in the list", "backprop_gradients", np.ones((2, 3)), _network(b, rng, [3, 2, 2]), "swish")


def _backprop_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    for act in ACTIVATIONS:
        sizes = _sizes(rng, int(rng.integers(2, 6)))
        X = rng.normal(0, 1, (int(rng.integers(2, 9)), sizes[0]))
        b.call(f"{act}, another network", "backprop_gradients", X, _network(b, rng, sizes, rng.uniform(0.5, 2)), act)
    act = str(rng.choice(ACTIVATIONS))
    sizes = _sizes(rng, 2)
    b.call(
        f"{act}, a batch of one example",
        "backprop_gradients",
        rng.normal(0, 1, (1, sizes[0])),
        _network(b, rng, sizes),
        act,
    )
    sizes = _sizes(rng, 12, 3, 8)
    b.call(
        "sigmoid, a deep narrow network (12 layers)",
        "backprop_gradients",
        rng.normal(0, 1, (6, sizes[0])),
        _network(b, rng, sizes, 2.0),
        "sigmoid",
    )
    sizes = _sizes(rng, 3)
    b.call(
        "relu, float32 inputs",
        "backprop_gradients",
        rng.normal(0, 1, (4, sizes[0])).astype(np.float32),
        _network(b, rng, sizes),
        "relu",
    )
    b.call("unknown activation", "backprop_gradients", np.ones((2, 2)), _network(b, rng, [2, 3]), "softplus")


def _norms_public(b: CaseBuilder) -> None:
    b.call(
        "two layers, [[3, 4]] and [[1], [2], [2]]",
        "gradient_norms",
        [b.array(np.array([[3.0, 4.0]])), b.array(np.array([[1.0], [2.0], [2.0]]))],
    )
    b.call(
        "a matrix and a vector",
        "gradient_norms",
        [b.array(np.array([[1.0, -1.0], [1.0, -1.0]])), b.array(np.array([0.5, -0.5, 0.5]))],
    )


def _norms_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    sizes = _sizes(rng, int(rng.integers(3, 8)))
    b.call(
        "a deeper list of gradients", "gradient_norms", [b.array(rng.normal(0, 1, (i, o))) for i, o in pairwise(sizes)]
    )
    b.call(
        "tiny and large gradients",
        "gradient_norms",
        [b.array(rng.normal(0, 1e-9, (3, 4))), b.array(rng.normal(0, 1e9, (4, 2)))],
    )
    b.call("a gradient of zeros", "gradient_norms", [b.array(np.zeros((2, 3))), b.array(rng.normal(0, 1, (3, 1)))])
    b.call(
        "float32 gradients",
        "gradient_norms",
        [b.array(rng.normal(0, 1, (5, 3)).astype(np.float32)), b.array(rng.normal(0, 1, 3).astype(np.float32))],
    )


def _ratio_public(b: CaseBuilder) -> None:
    for act, init in EXPERIMENT:
        b.call(
            f"{act} with {init} initialisation, depth 20, width 100, seed 0",
            "gradient_ratio_log10",
            act,
            init,
            20,
            100,
            0,
        )
    b.call(
        "tanh with normal initialisation (exploding), depth 20, width 100, seed 0",
        "gradient_ratio_log10",
        "tanh",
        "normal",
        20,
        100,
        0,
    )
    b.call("an initialisation not in the list", "gradient_ratio_log10", "relu", "orthogonal", 20, 100, 0)


def _ratio_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    for act, init in (*EXPERIMENT, ("tanh", "normal"), ("relu", "normal"), ("tanh", "glorot")):
        b.call(
            f"{act} with {init} initialisation, another depth and seed",
            "gradient_ratio_log10",
            act,
            init,
            int(rng.integers(20, 23)),
            100,
            int(rng.integers(0, 2**31)),
        )
    b.call("unknown initialisation", "gradient_ratio_log10", "sigmoid", "uniform", 20, 100, 1)


def _grads(b: CaseBuilder, rng: np.random.Generator, shapes: list[tuple[int, ...]], scale: float) -> list[dict]:
    return [b.array(rng.normal(0, scale, shape)) for shape in shapes]


def _clip_public(b: CaseBuilder) -> None:
    big = [b.array(np.array([[3.0, 0.0], [0.0, 4.0]])), b.array(np.array([0.0, 0.0, 12.0]))]  # global norm 13
    b.call("global norm 13 clipped to 1", "clip_by_global_norm", big, 1.0)
    small = [b.array(np.array([[0.3, 0.0]])), b.array(np.array([0.4]))]  # global norm 0.5
    b.call("global norm 0.5 under max_norm 5: unchanged", "clip_by_global_norm", small, 5.0)


def _clip_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    shapes = [(4, 3), (3,), (3, 2), (2,)]
    b.call("exploding gradients (norms around 1e30)", "clip_by_global_norm", _grads(b, rng, shapes, 1e30), 1.0)
    b.call("under the maximum", "clip_by_global_norm", _grads(b, rng, shapes, 0.01), 10.0)
    b.call(
        "another max_norm", "clip_by_global_norm", _grads(b, rng, shapes, 3.0), float(np.round(rng.uniform(0.1, 5), 3))
    )
    exact = [np.array([[0.6, 0.0, 0.0]]), np.array([0.8])]
    b.call("global norm exactly max_norm", "clip_by_global_norm", [b.array(g) for g in exact], 1.0)
    b.call("all gradients zero", "clip_by_global_norm", [b.array(np.zeros((2, 2))), b.array(np.zeros(3))], 1.0)
    b.call(
        "float32 gradients",
        "clip_by_global_norm",
        [b.array(rng.normal(0, 5, (3, 3)).astype(np.float32)), b.array(rng.normal(0, 5, 2).astype(np.float32))],
        2.0,
    )


# What hidden cases catch, said without their values.
NORM_HINTS = {
    "a deeper list of gradients": "one norm per gradient in the list, whatever its length",
    "tiny and large gradients": "the Frobenius norm over all entries (not the spectral norm, np.linalg.norm(g, 2))",
    "a gradient of zeros": "the norm of zeros is 0",
    "float32 gradients": "float32 gradients: return float64 norms",
}
CLIP_HINTS = {
    "exploding gradients (norms around 1e30)": "scale by max_norm / global_norm without squaring overflow",
    "under the maximum": "under max_norm the gradients come back unchanged",
    "another max_norm": "use the max_norm passed",
    "global norm exactly max_norm": "at exactly max_norm nothing changes",
    "all gradients zero": "a global norm of 0 must not divide by zero",
    "float32 gradients": "keep each gradient's shape; compute the norm over all entries of all gradients",
}
BACKPROP_HINTS = {
    "sigmoid, a deep narrow network (12 layers)": "every layer's gradient, in order, for a deep network",
    "relu, float32 inputs": "float32 inputs: compute in float64",
    "unknown activation": "an activation not in the list raises ValueError",
}

QUESTIONS = (
    Question(
        id="backprop_gradients",
        points=3.0,
        make_public=_backprop_public,
        make_hidden=_backprop_hidden,
        check=allclose(rtol=GRAD_RTOL, atol=GRAD_ATOL, returns="grads"),
        hints=BACKPROP_HINTS,
    ),
    Question(
        id="gradient_norms",
        points=1.0,
        make_public=_norms_public,
        make_hidden=_norms_hidden,
        check=GRAD_TOL,
        hints=NORM_HINTS,
    ),
    Question(
        id="gradient_ratio_log10", points=2.0, make_public=_ratio_public, make_hidden=_ratio_hidden, check=LOG10_TOL
    ),
    Question(
        id="clip_by_global_norm",
        points=2.0,
        make_public=_clip_public,
        make_hidden=_clip_hidden,
        check=allclose(rtol=GRAD_RTOL, atol=GRAD_ATOL, returns=("clipped", "global_norm")),
        hints=CLIP_HINTS,
    ),
)
