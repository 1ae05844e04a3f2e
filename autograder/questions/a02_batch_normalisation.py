"""02: batch normalisation."""

from __future__ import annotations

import numpy as np

from ..judging.checks import allclose, architecture
from ..judging.models import Threshold, trained
from .base import Assignment, CaseBuilder, Picture, Question
from .pictures import features, trained_accuracy

RTOL, ATOL = 1e-5, 1e-7
TOL = allclose(rtol=RTOL, atol=ATOL)


def _bn_train_public(b: CaseBuilder) -> None:
    x = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 5.0, 0.0], [0.0, 3.0, 4.0]])
    b.call("a batch of 4 samples with 3 features", "batch_norm_train", x, np.ones(3), np.zeros(3))
    b.call(
        "gamma, beta and epsilon given",
        "batch_norm_train",
        x,
        np.array([2.0, 0.5, 1.0]),
        np.array([0.0, 1.0, -1.0]),
        epsilon=0.1,
    )


def _bn_train_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    b.call("random batch", "batch_norm_train", rng.normal(3, 2, (64, 10)), rng.normal(1, 0.3, 10), rng.normal(0, 1, 10))
    x = rng.normal(0, 1, (16, 4))
    x[:, 1] = 7.0
    b.call("a constant feature (zero variance)", "batch_norm_train", x, np.ones(4), np.zeros(4))
    b.call("large values", "batch_norm_train", rng.normal(1e4, 50, (32, 5)), np.ones(5), np.zeros(5))
    b.call(
        "float32 input",
        "batch_norm_train",
        rng.normal(0, 1, (32, 6)).astype(np.float32),
        np.ones(6, np.float32),
        np.zeros(6, np.float32),
    )
    b.call(
        "a 3-D batch (statistics over axis 0)",
        "batch_norm_train",
        rng.normal(0, 2, (8, 3, 4)),
        rng.normal(1, 0.1, (3, 4)),
        rng.normal(0, 0.1, (3, 4)),
    )


def _moving_public(b: CaseBuilder) -> None:
    b.call(
        "default momentum",
        "update_moving_statistics",
        np.zeros(3),
        np.ones(3),
        np.array([1.0, 2.0, 3.0]),
        np.array([0.5, 1.0, 2.0]),
    )
    b.call(
        "momentum 0.9",
        "update_moving_statistics",
        np.array([1.0, -1.0]),
        np.array([2.0, 0.5]),
        np.array([0.0, 1.0]),
        np.array([1.0, 1.0]),
        momentum=0.9,
    )


def _moving_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    b.call(
        "random statistics",
        "update_moving_statistics",
        rng.normal(0, 1, 20),
        rng.uniform(0.5, 2, 20),
        rng.normal(0, 1, 20),
        rng.uniform(0.5, 2, 20),
        momentum=float(np.round(rng.uniform(0.5, 0.999), 3)),
    )
    b.call(
        "2-D statistics",
        "update_moving_statistics",
        rng.normal(0, 1, (3, 4)),
        rng.uniform(0.5, 2, (3, 4)),
        rng.normal(0, 1, (3, 4)),
        rng.uniform(0.5, 2, (3, 4)),
    )


def _inference_public(b: CaseBuilder) -> None:
    b.call(
        "moving statistics given",
        "batch_norm_inference",
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        np.array([1.0, 2.0]),
        np.array([0.0, 0.5]),
        np.array([2.0, 3.0]),
        np.array([1.0, 4.0]),
    )


def _inference_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    b.call(
        "random",
        "batch_norm_inference",
        rng.normal(0, 3, (50, 8)),
        rng.normal(1, 0.2, 8),
        rng.normal(0, 1, 8),
        rng.normal(0, 1, 8),
        rng.uniform(0.1, 3, 8),
        epsilon=float(np.round(rng.uniform(1e-4, 0.1), 5)),
    )
    b.call(
        "a single sample",
        "batch_norm_inference",
        rng.normal(0, 3, (1, 5)),
        np.ones(5),
        np.zeros(5),
        np.zeros(5),
        np.ones(5),
    )


def _model_public(b: CaseBuilder) -> None:
    b.model("the lecture's batch-normalised model", "build_bn_model")


TRAINED_CASE = "bn_model, trained by the notebook, on the real test set"


def _trained_public(b: CaseBuilder) -> None:
    b.trained(TRAINED_CASE, "bn_model")


BN_THRESHOLD = Threshold("all", 0.79, "benchmarks/budgets/02_batch_normalisation.md")

ASSIGNMENT = Assignment(
    id="02_batch_normalisation",
    title="Batch normalisation",
    needs_data=True,
    questions=(
        Question(
            id="batch_norm_train",
            points=2.0,
            make_public=_bn_train_public,
            make_hidden=_bn_train_hidden,
            check=allclose(rtol=RTOL, atol=ATOL, returns=("y", "batch_mean", "batch_var")),
            picture=Picture(
                "features", "a batch of 4 samples with 3 features", features(("y", "batch mean", "batch variance"))
            ),
        ),
        Question(
            id="update_moving_statistics",
            points=1.0,
            make_public=_moving_public,
            make_hidden=_moving_hidden,
            check=allclose(rtol=RTOL, atol=ATOL, returns=("mean", "var")),
            picture=Picture("features", "default momentum", features(("moving mean", "moving variance"))),
        ),
        Question(
            id="batch_norm_inference",
            points=1.0,
            make_public=_inference_public,
            make_hidden=_inference_hidden,
            check=TOL,
            picture=Picture("features", "moving statistics given", features(("y",))),
        ),
        Question(id="build_bn_model", points=2.0, make_public=_model_public, check=architecture()),
        Question(
            id="bn_model",
            points=2.0,
            make_public=_trained_public,
            check=trained(BN_THRESHOLD),
            judged_by="threshold",
            picture=Picture("accuracy", TRAINED_CASE, trained_accuracy(BN_THRESHOLD)),
        ),
    ),
)
