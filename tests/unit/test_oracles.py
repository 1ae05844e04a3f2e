"""The reference solutions against Keras, an independent oracle.

Grading compares students with the solutions, so the solutions must be right: wherever Keras
implements the same algorithm (BatchNormalization, EarlyStopping, SGD with momentum, Nesterov,
Adagrad, RMSprop, Adam, VarianceScaling) the solution's function is checked against it here.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.notebook import code_cells, read_notebook

REPO = Path(__file__).resolve().parents[2]
keras = pytest.importorskip("keras")


@cache
def solution(assignment: str) -> dict:
    """The solution notebook's namespace after its non-training cells ran."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    namespace: dict = {}
    for cell in code_cells(read_notebook(REPO / "solutions" / f"{assignment}.ipynb"), skip_training=True):
        source = "\n".join(line for line in cell.source.split("\n") if not line.lstrip().startswith(("%", "!")))
        exec(compile(source, f"{assignment}[{cell.index}]", "exec"), namespace)
    return namespace


def run_keras_optimizer(optimizer, theta0: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int) -> list[np.ndarray]:
    var = keras.Variable(theta0.astype("float64"), dtype="float64")
    out = []
    for _ in range(steps):
        grad = a * np.asarray(var.numpy()) - b
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad, dtype="float64"), var)])
        out.append(np.asarray(var.numpy()))
    return out


THETA0 = np.array([1.0, -2.0, 0.5])
A = np.array([1.0, 4.0, 0.25])
B = np.array([0.0, 1.0, 0.5])


def trajectory(step, state_names, *hyper, steps=10, nesterov=False):
    theta, states, out = THETA0.copy(), [np.zeros(3) for _ in state_names], []
    for t in range(1, steps + 1):
        if nesterov:
            theta, *states = step(theta, lambda x: A * x - B, *states, *hyper)
        else:
            extra = [t] if step.__name__ == "adam_step" else []
            theta, *states = step(theta, A * theta - B, *states, *extra, *hyper)
        out.append((theta, states))
    return out


def test_momentum_matches_keras_sgd_momentum():
    ns = solution("04_optimizers")
    ours = trajectory(ns["momentum_step"], ["m"], 0.125, 0.875)
    theirs = run_keras_optimizer(keras.optimizers.SGD(learning_rate=0.125, momentum=0.875), THETA0, A, B, 10)
    np.testing.assert_allclose([t for t, _ in ours], theirs, rtol=1e-6, atol=1e-9)


def test_nesterov_matches_keras_at_the_look_ahead_point():
    ns = solution("04_optimizers")
    beta = 0.875
    ours = trajectory(ns["nesterov_step"], ["m"], 0.125, beta, nesterov=True)
    theirs = run_keras_optimizer(
        keras.optimizers.SGD(learning_rate=0.125, momentum=beta, nesterov=True), THETA0, A, B, 10
    )
    look_ahead = [theta - beta * m for theta, (m,) in ours]
    np.testing.assert_allclose(look_ahead, theirs, rtol=1e-6, atol=1e-9)
    assert not np.allclose([t for t, _ in ours], theirs, rtol=1e-6)  # the raw theta differs: the check can fail


def test_adagrad_and_rmsprop_match_keras():
    ns = solution("04_optimizers")
    ours = trajectory(ns["adagrad_step"], ["s"], 0.5, 1e-10)
    theirs = run_keras_optimizer(
        keras.optimizers.Adagrad(learning_rate=0.5, initial_accumulator_value=0.0, epsilon=1e-10), THETA0, A, B, 10
    )
    np.testing.assert_allclose([t for t, _ in ours], theirs, rtol=1e-6, atol=1e-9)
    ours = trajectory(ns["rmsprop_step"], ["s"], 0.125, 0.875, 1e-10)
    theirs = run_keras_optimizer(
        keras.optimizers.RMSprop(learning_rate=0.125, rho=0.875, epsilon=1e-10), THETA0, A, B, 10
    )
    np.testing.assert_allclose([t for t, _ in ours], theirs, rtol=1e-6, atol=1e-9)


def test_adam_matches_keras_for_small_epsilon_and_differs_for_large():
    ns = solution("04_optimizers")
    ours = trajectory(ns["adam_step"], ["m", "s"], 0.125, 0.875, 0.984375, 1e-12)
    theirs = run_keras_optimizer(
        keras.optimizers.Adam(learning_rate=0.125, beta_1=0.875, beta_2=0.984375, epsilon=1e-12), THETA0, A, B, 10
    )
    np.testing.assert_allclose([t for t, _ in ours], theirs, rtol=1e-5, atol=1e-8)
    big = trajectory(ns["adam_step"], ["m", "s"], 0.125, 0.875, 0.984375, 0.5)
    keras_big = run_keras_optimizer(
        keras.optimizers.Adam(learning_rate=0.125, beta_1=0.875, beta_2=0.984375, epsilon=0.5), THETA0, A, B, 10
    )
    assert not np.allclose([t for t, _ in big], keras_big, atol=1e-3)  # epsilon inside vs outside the root


def test_batch_norm_matches_keras_layer():
    ns = solution("02_batch_normalisation")
    rng = np.random.default_rng(0)
    x = rng.normal(2, 3, (32, 6)).astype("float32")
    gamma, beta = rng.normal(1, 0.2, 6).astype("float32"), rng.normal(0, 1, 6).astype("float32")
    layer = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.9)
    layer.build((None, 6))
    layer.set_weights([gamma, beta, np.zeros(6, "float32"), np.ones(6, "float32")])
    keras_y = np.asarray(layer(x, training=True))
    y, mean, var = ns["batch_norm_train"](x, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, keras_y, rtol=1e-4, atol=1e-4)
    moving_mean, moving_var = ns["update_moving_statistics"](np.zeros(6), np.ones(6), mean, var, 0.9)
    _, _, keras_mean, keras_var = layer.get_weights()
    np.testing.assert_allclose(moving_mean, keras_mean, rtol=1e-5, atol=1e-6)
    # Keras keeps the biased batch variance in its moving average, as the contract says
    np.testing.assert_allclose(moving_var, keras_var, rtol=1e-5, atol=1e-6)
    x2 = rng.normal(0, 1, (5, 6)).astype("float32")
    np.testing.assert_allclose(
        ns["batch_norm_inference"](x2, gamma, beta, keras_mean, keras_var, 1e-3),
        np.asarray(layer(x2, training=False)),
        rtol=1e-4,
        atol=1e-4,
    )


def keras_early_stopping(losses, patience, min_delta):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, min_delta=min_delta, restore_best_weights=True
    )
    callback.set_model(model)
    callback.on_train_begin()
    stopped = len(losses) - 1
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"val_loss": float(loss)})
        if getattr(model, "stop_training", False):
            stopped = epoch
            break
    return stopped, callback.best_epoch


def test_early_stopping_matches_keras_callback():
    ns = solution("05_regularisation")
    rng = np.random.default_rng(1)
    for _ in range(150):
        losses = [float(v) for v in np.round(1 / np.arange(1, 13) + rng.normal(0, 0.05, 12), 2)]
        patience = int(rng.integers(0, 4))
        min_delta = float(rng.choice([0.0, 0.013, 0.07]))
        assert tuple(ns["early_stopping"](losses, patience, min_delta)) == keras_early_stopping(
            losses, patience, min_delta
        ), (losses, patience, min_delta)


def test_variance_scaling_moments_match_keras():
    ns = solution("01_activations_and_initialisation")
    for mode in ("fan_in", "fan_out", "fan_avg"):
        for dist in ("uniform", "truncated_normal", "untruncated_normal"):
            ours = ns["variance_scaling"]((300, 500), scale=2.0, mode=mode, distribution=dist, seed=3)
            theirs = np.asarray(
                keras.initializers.VarianceScaling(scale=2.0, mode=mode, distribution=dist, seed=3)(shape=(300, 500))
            )
            assert abs(ours.std() / theirs.std() - 1) < 0.02, (mode, dist)
            assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < 0.05 or dist == "untruncated_normal"
