"""01: activations and initialisation."""

from __future__ import annotations

import math

import numpy as np

from .. import wire
from ..judging.checks import allclose
from ..judging.draws import he_avg_check, samples_verdict, variance_scaling_check
from ..judging.randomness import calls_shape, matrix_check
from ..judging.stats import ALPHA, target_cdf
from .a01_gradients import QUESTIONS as GRADIENT_QUESTIONS
from .base import Assignment, CaseBuilder, CaseContext, Picture, Question, Verdict
from .common import CURVE, ELEMENTWISE_HINTS, elementwise_hidden, elementwise_public
from .pictures import histogram

TOL = allclose(rtol=1e-5, atol=1e-8)
# The notebook's convention for every activation: correct, finite values without any NumPy warning.
NO_WARNINGS = "the contract asks for no NumPy warning for any finite input"


def _elementwise(qid: str, points: float, large: float = 1e4, **kwargs) -> Question:
    return Question(
        id=qid,
        points=points,
        make_public=elementwise_public(qid, **kwargs),
        make_hidden=elementwise_hidden(qid, large, **kwargs),
        check=TOL,
        picture=CURVE,
        hints=ELEMENTWISE_HINTS,
        warning_free=NO_WARNINGS,
    )


def _alpha_variants(qid: str) -> Question:
    def public(b: CaseBuilder) -> None:
        elementwise_public(qid)(b)
        b.call("alpha given", qid, np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), alpha=0.2)

    def hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
        elementwise_hidden(qid, 1e4)(b, rng)
        b.call("another alpha", qid, rng.normal(0, 3, size=12), alpha=float(np.round(rng.uniform(0.05, 0.5), 3)))

    return Question(
        id=qid,
        points=1.0,
        make_public=public,
        make_hidden=hidden,
        check=TOL,
        picture=CURVE,
        hints=ELEMENTWISE_HINTS,
        warning_free=NO_WARNINGS,
    )


def _init_public(b: CaseBuilder) -> None:
    for act in ("sigmoid", "tanh", "relu"):
        b.call(f"784 inputs, 300 outputs, {act}", "init_stddev", 784, 300, act)
    b.call("an activation not in the table", "init_stddev", 10, 10, "softmax")


def _init_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    for act in ("sigmoid", "tanh", "relu"):
        n_in, n_out = (int(v) for v in rng.integers(1, 2000, size=2))
        b.call(f"other sizes, {act}", "init_stddev", n_in, n_out, act)
    b.call("unknown activation", "init_stddev", 5, 5, "swish")


def _limit_public(b: CaseBuilder) -> None:
    for mode in ("fan_in", "fan_out", "fan_avg"):
        b.call(f"scale 2, fan_in 300, fan_out 100, {mode}", "variance_scaling_limit", 2.0, 300, 100, mode)
    b.call("an unknown mode", "variance_scaling_limit", 1.0, 3, 4, "fan_max")


def _limit_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    for mode in ("fan_in", "fan_out", "fan_avg"):
        fan_in, fan_out = (int(v) for v in rng.integers(1, 3000, size=2))
        b.call(
            f"other sizes, {mode}",
            "variance_scaling_limit",
            float(np.round(rng.uniform(0.1, 3), 3)),
            fan_in,
            fan_out,
            mode,
        )
    b.call("unknown mode", "variance_scaling_limit", 1.0, 10, 10, "average")


def _two_seeds(rng: np.random.Generator) -> tuple[int, int]:
    """Two different seeds from the case's generator (the run's recorded seed)."""
    seed = int(rng.integers(0, 2**31))
    return seed, (seed + 1 + int(rng.integers(0, 2**30))) % 2**31


def _vs_randomness(
    b: CaseBuilder, description: str, shape: tuple[int, int], distribution: str, seed: int, other: int
) -> None:
    """Calls 1 and 3 share a seed (equal), 2 has another (unrelated), 4 and 5 have seed=None."""
    kw = {"scale": 2.0, "mode": "fan_avg", "distribution": distribution}
    b.calls(description, "variance_scaling", [b.sub(shape, **kw, seed=s) for s in (seed, other, seed, None, None)])


VS_PICTURE_CASE = "uniform, fan_avg, scale 2"


def _vs_public(b: CaseBuilder) -> None:
    b.call(VS_PICTURE_CASE, "variance_scaling", (300, 500), scale=2.0, mode="fan_avg", distribution="uniform", seed=1)
    b.call("truncated normal (the default), fan_in", "variance_scaling", (300, 500), seed=2)
    b.call("an unknown distribution", "variance_scaling", (3, 3), distribution="cauchy", seed=0)
    _vs_randomness(b, "randomness: seeds 11, 12, 11, None, None", (150, 200), "uniform", 11, 12)


def _vs_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    combos = [
        ("fan_in", "uniform"),
        ("fan_out", "truncated_normal"),
        ("fan_avg", "untruncated_normal"),
        ("fan_out", "uniform"),
        ("fan_avg", "truncated_normal"),
    ]
    for mode, dist in combos:
        shape = (int(rng.integers(200, 400)), int(rng.integers(200, 400)))
        b.call(
            f"{dist}, {mode}",
            "variance_scaling",
            shape,
            scale=float(np.round(rng.uniform(0.5, 3), 3)),
            mode=mode,
            distribution=dist,
            seed=int(rng.integers(0, 2**31)),
        )
    b.call("unknown mode", "variance_scaling", (4, 4), mode="fan_max", seed=0)
    seed, other = _two_seeds(rng)
    _vs_randomness(
        b,
        "randomness: the same seed twice, another seed, seed=None twice",
        (int(rng.integers(150, 250)), int(rng.integers(150, 250))),
        str(rng.choice(["uniform", "truncated_normal", "untruncated_normal"])),
        seed,
        other,
    )


def _fan(shape: tuple[int, int], mode: str) -> float:
    return {"fan_in": shape[0], "fan_out": shape[1], "fan_avg": (shape[0] + shape[1]) / 2}[mode]


def target(shape: tuple[int, int], scale: float, mode: str, distribution: str) -> dict:
    """The bound and distribution of keras.initializers.VarianceScaling for a 2-D shape, as the
    numbers `stats.target_cdf` reads (the self-check gets them, not this formula)."""
    s = scale / max(1.0, _fan(shape, mode))
    if distribution == "uniform":
        limit = math.sqrt(3 * s)
        return {"bound": limit, "family": "uniform", "limit": limit}
    if distribution == "truncated_normal":
        sd = math.sqrt(s) / 0.87962566103423978
        return {"bound": 2 * sd, "family": "truncated_normal", "sd": sd, "cut": 2.0}
    return {"bound": None, "family": "normal", "sd": math.sqrt(s)}


def check_samples(samples, shape, scale, mode, distribution) -> Verdict:
    return samples_verdict(samples, tuple(shape), target(tuple(shape), scale, mode, distribution), mode, distribution)


def _target_histogram(samples, shape, scale, mode, distribution) -> dict:
    """The feedback's histogram of a student's samples over the target density (the check's own)."""
    found = target(tuple(shape), scale, mode, distribution)
    bound, cdf = math.inf if found["bound"] is None else found["bound"], target_cdf(found)
    spread = bound if math.isfinite(bound) else 3 * math.sqrt(scale / max(1.0, _fan(tuple(shape), mode)))
    return {**histogram(samples, tuple(shape), spread, cdf), "target": f"{distribution}, {mode}, scale {scale:g}"}


def _vs_picture(ctx: CaseContext) -> dict:
    kw = ctx.kwargs
    return _target_histogram(
        ctx.got, ctx.args[0], kw.get("scale", 1.0), kw.get("mode", "fan_in"), kw.get("distribution", "truncated_normal")
    )


def _he_picture(ctx: CaseContext) -> dict:
    samples = ctx.got.get("samples") if isinstance(ctx.got, dict) else None
    return _target_histogram(samples, HE_AVG_SHAPE, 2.0, "fan_avg", "uniform")


_VS_RANDOMNESS = matrix_check(
    calls_shape, same=(0, 2), other_seed=(0, 1), unseeded=(3, 4), count=5, identical="the same matrix for every seed"
)
# Two unseeded Keras initializers draw their seeds with random.randint(1, 1e9): they collide with
# probability 1e-9, which the statistical tests' budget leaves room for (total <= 1e-6).
_HE_RANDOMNESS = matrix_check(
    calls_shape,
    same=None,
    other_seed=(0, 1),
    unseeded=None,
    count=2,
    what="kernel",
    identical="two initializers from he_avg_initializer() sampled the same kernel",
    how="leave the initializer's seed unset, so that every layer gets its own weights",
    budget=ALPHA - 1e-9,
)


def _vs_target(ctx: CaseContext) -> dict:
    kw = ctx.kwargs
    shape = tuple(ctx.args[0])
    return target(shape, kw.get("scale", 1.0), kw.get("mode", "fan_in"), kw.get("distribution", "truncated_normal"))


_check_variance_scaling = variance_scaling_check(_vs_target, _VS_RANDOMNESS)


HE_AVG_SHAPE = (400, 600)


def _he_randomness(b: CaseBuilder, description: str, shape: tuple[int, int]) -> None:
    """Two initializers from two calls of he_avg_initializer(): their kernels must be unrelated."""
    b.calls(description, "he_avg_initializer", [wire.Initializer("", shape)] * 2)


HE_PICTURE_CASE = "the initializer samples a 400x600 kernel"


def _he_public(b: CaseBuilder) -> None:
    b.initializer(HE_PICTURE_CASE, "he_avg_initializer", HE_AVG_SHAPE)
    _he_randomness(b, "randomness: two initializers sample a 200x300 kernel each", (200, 300))


def _he_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    _he_randomness(
        b, "randomness: two initializers, another shape", (int(rng.integers(150, 250)), int(rng.integers(150, 250)))
    )


_check_he_avg = he_avg_check(lambda ctx: target(tuple(ctx.case.call.shape), 2.0, "fan_avg", "uniform"), _HE_RANDOMNESS)


ASSIGNMENT = Assignment(
    id="01_activations_and_initialisation",
    title="Activations and weight initialisation",
    questions=(
        _elementwise("sigmoid", 1.0),
        _elementwise("sigmoid_derivative", 1.0),
        _elementwise("relu", 1.0),
        _alpha_variants("leaky_relu"),
        _alpha_variants("elu"),
        _elementwise("selu", 1.0),
        _alpha_variants("leaky_relu_derivative"),
        _alpha_variants("elu_derivative"),
        Question(
            id="init_stddev",
            points=1.0,
            make_public=_init_public,
            make_hidden=_init_hidden,
            check=TOL,
            hints={"unknown activation": "an activation not in the table raises ValueError"},
        ),
        Question(
            id="variance_scaling_limit", points=1.0, make_public=_limit_public, make_hidden=_limit_hidden, check=TOL
        ),
        Question(
            id="variance_scaling",
            points=2.0,
            make_public=_vs_public,
            make_hidden=_vs_hidden,
            check=_check_variance_scaling,
            judged_by="statistics",
            picture=Picture("distribution", VS_PICTURE_CASE, _vs_picture),
        ),
        Question(
            id="he_avg_initializer",
            points=1.0,
            make_public=_he_public,
            make_hidden=_he_hidden,
            check=_check_he_avg,
            judged_by="statistics",
            picture=Picture("distribution", HE_PICTURE_CASE, _he_picture),
        ),
        *GRADIENT_QUESTIONS,  # sections 8-10: backpropagation, the experiment, clipping
    ),
)
