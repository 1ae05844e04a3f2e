"""03: transfer learning on Fashion-MNIST (task A: 8 classes, task B: sandal vs shirt)."""

from __future__ import annotations

import numpy as np

from ..judging.checks import allclose, architecture, b_on_a
from ..judging.models import Threshold, trained
from .base import Assignment, CaseBuilder, Picture, Question
from .pictures import trained_accuracy


def _split_public(b: CaseBuilder) -> None:
    y = np.array([0, 5, 6, 7, 8, 9, 1, 6, 5, 2, 3, 4], dtype=np.uint8)
    x = np.arange(len(y) * 4, dtype=np.uint8).reshape(len(y), 2, 2)
    b.call("12 tiny images, one of each class and two more 5s and 6s", "split_dataset", x, y)


def _split_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    y = rng.integers(0, 10, 300).astype(np.uint8)
    b.call("300 random images", "split_dataset", rng.integers(0, 256, (300, 4, 4)).astype(np.uint8), y)
    y = rng.choice([5, 6], 40).astype(np.uint8)
    b.call("only sandals and shirts", "split_dataset", rng.integers(0, 256, (40, 3, 3)).astype(np.uint8), y)
    y = rng.choice([0, 1, 2, 3, 4, 7, 8, 9], 50).astype(np.int64)
    b.call("no sandal or shirt, int64 labels", "split_dataset", rng.random((50, 3, 3)), y)


def _model(function: str, description: str):
    def make(b: CaseBuilder) -> None:
        b.model(description, function)

    return make


BASE_A = {
    "input_shape": [28, 28],
    "loss": "sparse_categorical_crossentropy",
    "dense": [[300, "selu"], [100, "selu"], [50, "selu"], [50, "selu"], [50, "selu"], [8, "softmax"]],
}


def _b_on_a_public(b: CaseBuilder) -> None:
    b.b_on_a("built from a model_A made by the grader", "build_model_B_on_A", BASE_A, 0)


def _b_on_a_hidden(b: CaseBuilder, rng: np.random.Generator) -> None:
    b.b_on_a("built from another model_A", "build_model_B_on_A", BASE_A, int(rng.integers(1, 2**31)))


_check_b_on_a = b_on_a()


def _trained_case(name: str, task: str) -> str:
    return f"{name}, trained by the notebook, on task {task}'s real test set"


def _trained(name: str, task: str):
    def make(b: CaseBuilder) -> None:
        b.trained(_trained_case(name, task), name)

    return make


THRESHOLDS = {
    "model_A": Threshold("A", 0.86, "benchmarks/budgets/03_transfer_learning.md"),
    "model_B": Threshold("B", 0.95, "benchmarks/budgets/03_transfer_learning.md"),
    "model_B_on_A": Threshold("B", 0.96, "benchmarks/budgets/03_transfer_learning.md"),
}

ASSIGNMENT = Assignment(
    id="03_transfer_learning",
    title="Transfer learning",
    needs_data=True,
    questions=(
        Question(
            id="split_dataset",
            points=2.0,
            make_public=_split_public,
            make_hidden=_split_hidden,
            check=allclose(rtol=0.0, atol=0.0, returns=(("X_A", "y_A"), ("X_B", "y_B"))),
        ),
        Question(
            id="build_model_A",
            points=1.0,
            make_public=_model("build_model_A", "the lecture's model A"),
            check=architecture(),
        ),
        Question(
            id="build_model_B",
            points=1.0,
            make_public=_model("build_model_B", "the lecture's model B"),
            check=architecture(),
        ),
        Question(
            id="build_model_B_on_A",
            points=2.0,
            make_public=_b_on_a_public,
            make_hidden=_b_on_a_hidden,
            check=_check_b_on_a,
        ),
        *(
            Question(
                id=name,
                points=1.0,
                make_public=_trained(name, t.task),
                check=trained(t),
                judged_by="threshold",
                picture=Picture("accuracy", _trained_case(name, t.task), trained_accuracy(t)),
            )
            for name, t in THRESHOLDS.items()
        ),
    ),
)
