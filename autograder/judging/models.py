"""Models as plain data: architecture comparison and accuracy on the real test split (trusted).

A trained model leaves the sandbox only as a description (layer classes, a few config values)
plus weight arrays. Here it is evaluated by a small numpy forward pass that knows a whitelist of
layers and activations, so no Keras deserialisation, no Lambda layer, no custom object and no
`load_model` ever runs on a submission's behalf. The real test split is loaded here and never
enters the sandbox.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..wire import Raised
from .architecture import MAX_LAYERS
from .checks import accuracy_verdict
from .verdict import CaseContext, Check, Verdict


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "selu": lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0))),
    "sigmoid": lambda z: 0.5 * (1 + np.tanh(0.5 * z)),
    "tanh": np.tanh,
    "softmax": _softmax,
    "softplus": lambda z: np.logaddexp(0, z),
}
IDENTITY_LAYERS = {"InputLayer", "Dropout", "AlphaDropout", "GaussianNoise", "GaussianDropout"}


class UnsupportedModel(ValueError):
    """The description cannot be evaluated by the whitelist forward pass; message for students."""


# The description is student data: evaluating it must not become a way to make the grader compute
# or allocate without bound. The assignment's reference models have at most 8 layers, 271,346
# parameters and ~2,400 values per image over all layers (02's bn_model); the bounds are generous
# multiples, checked on the description before any forward work (benchmarks/README.md measures
# the forward pass at these bounds). They count what the forward pass will touch as it runs: a
# Dense layer applies to the last axis, so on images of 28 x 28 without a Flatten before it, it runs
# once per row, 28 times per image, on 28 times the values. Such a model stays within the weight
# bound and cost the grader 28 times what a flattened model of its weights costs.
MAX_PARAMETERS = 3_000_000  # ~11x the reference (a Dense layer of 3,800 units on the 784 pixels fits)
MAX_VALUES_PER_IMAGE = 50_000  # outputs of all layers for one image, rows included, ~20x the reference
# Multiply-adds of the Dense layers for one image, rows included: what a flattened model at the
# weight bound costs (each weight used once per image), so no shape of a model costs more than that.
MAX_MULTIPLY_ADDS_PER_IMAGE = MAX_PARAMETERS
# Activations are computed in batches of at most _MAX_BATCH_VALUES values.
_MAX_BATCH_VALUES = 4_000_000


def _weight_list(layer: dict[str, Any]) -> list[Any]:
    return layer["weights"] if isinstance(layer.get("weights"), list) else []


def check_bounds(description: dict[str, Any], input_shape: int | tuple[int, ...]) -> int:
    """UnsupportedModel, with a message for students, if evaluating this model on inputs of
    `input_shape` per image (an int: flat inputs) would cost more than the bounds above; else the
    most values one image holds at any layer (the forward pass sizes its batches by it). Nothing
    is computed or allocated here beyond counting."""
    layers = description.get("layers")
    if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
        raise UnsupportedModel("the model has no layers")
    exported = description.get("layers_total")
    count = exported if isinstance(exported, int) and exported > len(layers) else len(layers)
    if count > MAX_LAYERS:
        raise UnsupportedModel(
            f"the model has {count:,} layers; the grader evaluates models of at most "
            f"{MAX_LAYERS} layers (the assignment's models have 8)"
        )
    parameters = sum(w.size for layer in layers for w in _weight_list(layer) if isinstance(w, np.ndarray))
    if parameters > MAX_PARAMETERS:
        raise UnsupportedModel(f"the model has {parameters:,} weights; the grader evaluates at most {MAX_PARAMETERS:,}")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(d) for d in input_shape)
    rows, width = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1, shape[-1] if shape else 1
    values = widest = rows * width
    work, rowwise = 0, 0  # rowwise: the most rows a Dense layer runs on per image
    for layer in layers:
        weights = _weight_list(layer)
        if layer.get("class") == "Flatten":
            rows, width = 1, rows * width
        elif layer.get("class") == "Dense" and weights and isinstance(weights[0], np.ndarray) and weights[0].ndim == 2:
            work += rows * int(weights[0].size)  # h @ w: each weight once per row
            width, rowwise = int(weights[0].shape[1]), max(rowwise, rows if rows > 1 else 0)
        values += rows * width
        widest = max(widest, rows * width)
    note = f" (a Dense layer before a Flatten runs on each of an image's {rowwise:,} rows)" if rowwise else ""
    if values > MAX_VALUES_PER_IMAGE:
        raise UnsupportedModel(
            f"the model computes {values:,} values per image over its layers{note}; the grader "
            f"evaluates at most {MAX_VALUES_PER_IMAGE:,}"
        )
    if work > MAX_MULTIPLY_ADDS_PER_IMAGE:
        raise UnsupportedModel(
            f"the model computes {work:,} multiply-adds per image{note}; the grader "
            f"evaluates at most {MAX_MULTIPLY_ADDS_PER_IMAGE:,}"
        )
    return widest


def _activation(config: dict[str, Any], where: str):
    name = config.get("activation", "linear")
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise UnsupportedModel(f"{where}: activation {name!r} is not supported by the grader")
    return ACTIVATIONS[name]


def _weights(layer: dict[str, Any], count: int, where: str) -> list[np.ndarray]:
    weights = layer.get("weights")
    if not isinstance(weights, list) or len(weights) != count or not all(isinstance(w, np.ndarray) for w in weights):
        raise UnsupportedModel(f"{where}: expected {count} weight arrays")
    return [w.astype(np.float64) for w in weights]


def forward(description: dict[str, Any], x: np.ndarray, batch: int = 2000) -> np.ndarray:
    """Model output for inputs `x`, computed with numpy from the plain description."""
    widest = check_bounds(description, tuple(x.shape[1:]))
    layers = description["layers"]
    batch = max(1, min(batch, _MAX_BATCH_VALUES // max(1, widest)))
    outputs = []
    for start in range(0, len(x), batch):
        h = x[start : start + batch].astype(np.float64)
        for i, layer in enumerate(layers):
            h = _apply(layer, h, f"layer {i} ({layer.get('class')})")
        outputs.append(h)
    return np.concatenate(outputs)


def _apply(layer: dict[str, Any], h: np.ndarray, where: str) -> np.ndarray:
    kind = layer.get("class")
    config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    if kind in IDENTITY_LAYERS:
        return h
    if kind == "Flatten":
        return h.reshape(len(h), -1)
    if kind == "Activation":
        return _activation(config, where)(h)
    if kind == "Dense":
        use_bias = config.get("use_bias", True) is not False
        w = _weights(layer, 2 if use_bias else 1, where)
        if w[0].ndim != 2 or w[0].shape[0] != h.shape[-1] or (use_bias and w[1].shape != (w[0].shape[1],)):
            raise UnsupportedModel(f"{where}: weight shapes do not fit its input")
        z = h @ w[0] + (w[1] if use_bias else 0.0)
        return _activation(config, where)(z)
    if kind == "BatchNormalization":
        axis = config.get("axis", -1)
        if axis not in (-1, [-1], len(h.shape) - 1, [len(h.shape) - 1]):
            raise UnsupportedModel(f"{where}: only batch normalisation over the last axis is supported")
        scale, center = config.get("scale", True) is not False, config.get("center", True) is not False
        w = _weights(layer, 2 + scale + center, where)
        if any(v.shape != (h.shape[-1],) for v in w):  # else broadcasting could blow up the batch
            raise UnsupportedModel(f"{where}: statistics do not fit its input")
        gamma = w.pop(0) if scale else 1.0
        beta = w.pop(0) if center else 0.0
        mean, var = w
        eps = float(config.get("epsilon", 1e-3))
        return (h - mean) / np.sqrt(var + eps) * gamma + beta
    raise UnsupportedModel(
        f"{where}: layer type {kind!r} is not supported by the grader "
        "(use Flatten, Dense, BatchNormalization, Dropout, Activation)"
    )


# --- test splits ------------------------------------------------------------------------------


def split_tasks(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The lecture's tasks, computed here independently of any notebook."""
    b_mask = (y == 5) | (y == 6)
    y_a = y[~b_mask].astype(np.int64)
    y_a[y_a > 6] -= 2
    return {"all": (x, y.astype(np.int64)), "A": (x[~b_mask], y_a), "B": (x[b_mask], (y[b_mask] == 6).astype(np.int64))}


@lru_cache(maxsize=1)
def test_tasks() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from ..data import load_fashion_mnist

    (_, _), (x_test, y_test) = load_fashion_mnist()
    return split_tasks(x_test.astype(np.float64) / 255.0, y_test)


FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# The class names of each task's labels, in label order (split_tasks: A drops sandal and shirt, B: 1 is shirt).
TASK_CLASSES = {"all": FASHION_CLASSES, "A": FASHION_CLASSES[:5] + FASHION_CLASSES[7:], "B": ("Sandal", "Shirt")}


# The last evaluations of this thread: a failed model is both checked and drawn (its confusion
# matrix), from the same decoded description, and is evaluated once for both. Entries hold the
# description itself, so its identity cannot be taken by another object while it is cached; batch
# workers are threads, each with its own entries.
_EVALUATED = threading.local()
_KEEP = 2


def predictions(description: dict[str, Any], task: str) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) labels of the task's real test split; the same description object and task
    are evaluated once (the answer, or the UnsupportedModel, is kept for the next caller)."""
    entries: list[tuple[dict[str, Any], str, Any]] = getattr(_EVALUATED, "entries", None) or []
    for seen, seen_task, answer in entries:
        if seen is description and seen_task == task:
            if isinstance(answer, UnsupportedModel):
                raise answer
            return answer
    try:
        answer = _evaluate(description, task)
    except UnsupportedModel as exc:
        answer = exc
    _EVALUATED.entries = [*entries[-(_KEEP - 1) :], (description, task, answer)]
    if isinstance(answer, UnsupportedModel):
        raise answer
    return answer


def _evaluate(description: dict[str, Any], task: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = test_tasks()[task]
    out = forward(description, x)
    if out.ndim != 2:
        raise UnsupportedModel(f"the model's output has shape {out.shape[1:]}, expected a vector per image")
    return ((out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)), y


def accuracy(description: dict[str, Any], task: str) -> float:
    pred, y = predictions(description, task)
    return float((pred == y).mean())


@dataclass(frozen=True)
class Threshold:
    task: str
    minimum: float
    measured: str  # where the number comes from, shown to instructors


def check_trained(got: Any, threshold: Threshold) -> tuple[Verdict, float | None]:
    if not isinstance(got, dict):
        return Verdict(False, "the model could not be exported"), None
    try:
        acc = accuracy(got, threshold.task)
    except UnsupportedModel as exc:
        return Verdict(False, str(exc)), None
    return accuracy_verdict(acc, threshold.minimum), acc


def trained(threshold: Threshold) -> Check:
    """The notebook's trained model reaches the accuracy threshold on the real test split."""

    def check(ctx: CaseContext) -> Verdict:
        if isinstance(ctx.got, Raised):
            return Verdict(False, f"{ctx.got.type}: {ctx.got.message}")
        return check_trained(ctx.got, threshold)[0]

    return check
