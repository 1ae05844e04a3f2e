"""05: regularisation (penalties, dropout, early stopping, augmentation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import wire
from ..judging.checks import allclose, exact
from ..judging.draws import call_args, dropout_check, dropout_rate, mask_decoder
from ..judging.randomness import mask_check
from .a05_augment import _augment_hidden, _augment_public, _check_augment, candidates, shift  # noqa: F401
from .base import Assignment, CaseBuilder, CaseContext, Picture, Question
from .pictures import categories, student_array

TOL = allclose(rtol=1e-7, atol=1e-9)


def _penalty(function: str, *extra: float) -> dict[str, Any]:
    """A penalty's public and hidden cases, as `Question` keywords."""

    def public(b: CaseBuilder) -> None:
        b.call("a small vector", function, np.array([1.0, -2.0, 0.5, 0.0]), *extra)

    def hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
        b.call("2-D weights", function, rng.normal(0, 1, (5, 7)), *extra)
        b.call("a Python list", function, [float(v) for v in rng.normal(0, 1, 4)], *extra)
        b.call("all zeros", function, np.zeros(6), *extra)
        if extra:
            for r in (0.0, 1.0):
                b.call(f"r = {r:g}", function, rng.normal(0, 1, 8), r)

    return {"make_public": public, "make_hidden": hidden, "hints": PENALTY_HINTS}


# What the hidden cases catch, said without their values.
PENALTY_HINTS = {
    "2-D weights": "2-D input: a sum over all entries, not a matrix norm (np.linalg.norm of a matrix is not it)",
    "a Python list": "accept any array-like: convert it with np.asarray first",
    "all zeros": "the penalty of zero weights is 0",
    "r = 0": "at r = 0 only the L2 term is left",
    "r = 1": "at r = 1 only the L1 term is left",
}
DROPOUT_HINTS = {
    "another rate": "rate is the share dropped: keep each value with probability 1 - rate",
    "rate 0.5": "rate is the share dropped: keep each value with probability 1 - rate",
    "rate 0 keeps everything": "at rate 0 nothing is dropped",
    "a 3-D input": "inputs of any shape: one independent draw per element",
}
EARLY_STOPPING_HINTS = {
    "ties with the best (not an improvement)": "ties in the validation loss: a tie is not an improvement",
    "min_delta larger than the improvements": "an improvement must beat the best loss by more than min_delta",
    "min_delta smaller than the improvements": "an improvement must beat the best loss by more than min_delta",
    "a single epoch": "a single epoch: nothing to stop",
    "noisy losses, patience 0": "count the epochs since the best loss, not since the last decrease",
    "noisy losses, patience 1": "count the epochs since the best loss, not since the last decrease",
    "noisy losses, patience 3": "count the epochs since the best loss, not since the last decrease",
}


def _dropout_inputs(rng: np.random.Generator, shape=(200, 300)) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


CONSECUTIVE = 60  # calls with one generator: enough for "element 0 is always dropped" at rates 0.35-0.65


def _dropout_randomness(
    b: CaseBuilder, description: str, function: str, x: np.ndarray, rate: float, seed: int, other: int
) -> None:
    """60 calls with one generator, a fresh one with the same seed (must equal call 1), another seed."""
    ref = b.array(x)
    calls = [b.sub(ref, rate, wire.Rng(seed, shared=True)) for _ in range(CONSECUTIVE)]
    b.calls(description, function, calls + [b.sub(ref, rate, wire.Rng(seed)), b.sub(ref, rate, wire.Rng(other))])


DROPOUT_PICTURE_CASE = "60,000 values, rate 0.2"


def _dropout_picture(scaled: bool):
    """Where each returned value went (dropped, kept as the contract says, kept otherwise, or
    something else) against the contract's expected counts: a wrong rate or scaling shows at once."""

    def extract(ctx: CaseContext) -> dict:
        x, rate = ctx.args[0], float(ctx.args[1])
        got = student_array(ctx.got, x.shape, limit=x.size)
        with np.errstate(all="ignore"):
            dropped = got == 0
            as_is = np.isclose(got, x, rtol=1e-9, atol=0) & ~dropped
            rescaled = np.isclose(got, x / (1 - rate), rtol=1e-9, atol=0) & ~dropped & ~as_is
        right, wrong = (rescaled, as_is) if scaled else (as_is, rescaled)
        other = ~(dropped | as_is | rescaled)
        kept, other_kept = ("kept / (1 - rate)", "kept as is") if scaled else ("kept as is", "kept / (1 - rate)")
        return categories(
            ["dropped (0)", kept, other_kept, "other values"],
            [dropped.sum(), right.sum(), wrong.sum(), other.sum()],
            [rate * x.size, (1 - rate) * x.size, 0, 0],
        )

    return extract


def _dropout_public(function: str):
    def make(b: CaseBuilder) -> None:
        b.call(DROPOUT_PICTURE_CASE, function, _dropout_inputs(np.random.default_rng(0)), 0.2, wire.Rng(0))
        _dropout_randomness(
            b,
            "randomness: 20x50 values, rate 0.5, 60 calls with one generator seeded 3, "
            "a fresh generator seeded 3, one seeded 4",
            function,
            _dropout_inputs(np.random.default_rng(1), (20, 50)),
            0.5,
            3,
            4,
        )

    return make


def _dropout_hidden(function: str):
    def make(b: CaseBuilder, rng: np.random.Generator) -> None:
        for rate in (0.5, float(np.round(rng.uniform(0.1, 0.4), 2)), float(np.round(rng.uniform(0.6, 0.9), 2))):
            b.call(
                f"rate {rate:g}" if rate == 0.5 else "another rate",
                function,
                _dropout_inputs(rng),
                rate,
                wire.Rng(int(rng.integers(0, 2**31))),
            )
        b.call("rate 0 keeps everything", function, _dropout_inputs(rng, (20, 30)), 0.0, wire.Rng(1))
        b.call("a 3-D input", function, _dropout_inputs(rng, (40, 50, 30)), 0.3, wire.Rng(int(rng.integers(0, 2**31))))
        seed = int(rng.integers(0, 2**31))
        _dropout_randomness(
            b,
            "randomness: 60 calls with one generator, the same seed again, another seed",
            function,
            _dropout_inputs(rng, (20, 50)),
            float(np.round(rng.uniform(0.35, 0.65), 2)),
            seed,
            (seed + 1 + int(rng.integers(0, 2**30))) % 2**31,
        )

    return make


def _dropout_check(scaled: bool):
    """A kept value is x / (1 - rate) for inverted dropout, x itself for plain dropout."""

    def divisor(ctx: CaseContext, i: int) -> float | None:
        return 1 - float(call_args(ctx, i)[0][1]) if scaled else None

    randomness = mask_check(CONSECUTIVE, CONSECUTIVE, CONSECUTIVE + 1, mask_decoder(divisor), dropout_rate)
    return dropout_check(divisor, randomness)


def _test_weights_public(b: CaseBuilder) -> None:
    b.call("a 2x2 weight matrix, rate 0.5", "dropout_test_weights", np.array([[1.0, -2.0], [0.5, 4.0]]), 0.5)


def _test_weights_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    b.call(
        "random weights", "dropout_test_weights", rng.normal(0, 1, (30, 20)), float(np.round(rng.uniform(0.1, 0.9), 2))
    )
    b.call("rate 0", "dropout_test_weights", rng.normal(0, 1, 5), 0.0)


def _es_public(b: CaseBuilder) -> None:
    b.call(
        "improves, then stalls for 3 epochs, patience 2", "early_stopping", [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.6], 2
    )
    b.call("never stops", "early_stopping", [1.0, 0.9, 0.8, 0.7], 2)


def _es_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    for patience in (0, 1, 3):
        losses = np.round(1.0 / np.arange(1, 16) + rng.normal(0, 0.03, 15), 3)
        b.call(f"noisy losses, patience {patience}", "early_stopping", [float(v) for v in losses], patience)
    b.call("ties with the best (not an improvement)", "early_stopping", [0.5, 0.4, 0.4, 0.4, 0.4, 0.3], 2)
    b.call("min_delta larger than the improvements", "early_stopping", [1.0, 0.99, 0.98, 0.97, 0.96, 0.5], 2, 0.05)
    b.call("min_delta smaller than the improvements", "early_stopping", [1.0, 0.9, 0.85, 0.84, 0.86, 0.87], 1, 0.02)
    b.call("a single epoch", "early_stopping", [0.3], 0)


ASSIGNMENT = Assignment(
    id="05_regularisation",
    title="Regularisation",
    questions=(
        Question(id="l1_penalty", points=1.0, check=TOL, **_penalty("l1_penalty")),
        Question(id="l2_penalty", points=1.0, check=TOL, **_penalty("l2_penalty")),
        Question(id="elastic_net_penalty", points=1.0, check=TOL, **_penalty("elastic_net_penalty", 0.3)),
        Question(
            id="dropout_train",
            points=2.0,
            make_public=_dropout_public("dropout_train"),
            make_hidden=_dropout_hidden("dropout_train"),
            check=_dropout_check(scaled=False),
            hints=DROPOUT_HINTS,
            judged_by="statistics",
            picture=Picture("distribution", DROPOUT_PICTURE_CASE, _dropout_picture(scaled=False)),
        ),
        Question(
            id="dropout_test_weights",
            points=1.0,
            make_public=_test_weights_public,
            make_hidden=_test_weights_hidden,
            check=TOL,
        ),
        Question(
            id="inverted_dropout",
            points=2.0,
            make_public=_dropout_public("inverted_dropout"),
            make_hidden=_dropout_hidden("inverted_dropout"),
            check=_dropout_check(scaled=True),
            hints=DROPOUT_HINTS,
            judged_by="statistics",
            picture=Picture("distribution", DROPOUT_PICTURE_CASE, _dropout_picture(scaled=True)),
        ),
        Question(
            id="early_stopping",
            points=2.0,
            make_public=_es_public,
            make_hidden=_es_hidden,
            check=exact(returns=("stopped_epoch", "best_epoch")),
            hints=EARLY_STOPPING_HINTS,
        ),
        Question(
            id="augment",
            points=2.0,
            make_public=_augment_public,
            make_hidden=_augment_hidden,
            check=_check_augment,
            judged_by="statistics",
        ),
    ),
)
