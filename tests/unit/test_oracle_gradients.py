"""Notebook 01's gradient functions against TensorFlow, an independent oracle.

Grading compares students with the solution, so the solution's backpropagation by hand is held to
`tf.GradientTape` on the same network and loss (every activation, several depths and batch sizes)
and its clipping to `tf.clip_by_global_norm`. Each comparison is paired with one that must fail
(a wrong derivative, no clipping), so the tolerance cannot hide a wrong answer.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from tests.unit.test_oracles import solution

tf = pytest.importorskip("tensorflow")
A01 = "01_activations_and_initialisation"
# tf.nn.leaky_relu keeps alpha as a float32 attribute (0.00999999977...), a 1e-7 relative difference
# in float64: written with tf.where, the tape still differentiates it.
TF_ACTIVATIONS = {
    "sigmoid": tf.math.sigmoid,
    "tanh": tf.math.tanh,
    "relu": tf.nn.relu,
    "leaky_relu": lambda z: tf.where(z > 0, z, 0.01 * z),
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
}


def tape_gradients(X: np.ndarray, weights: list[np.ndarray], activation: str) -> list[np.ndarray]:
    """The notebook's loss, sum(A_L ** 2) / (2 m), differentiated by TensorFlow in float64."""
    variables = [tf.Variable(w, dtype=tf.float64) for w in weights]
    with tf.GradientTape() as tape:
        a = tf.constant(X, dtype=tf.float64)
        for w in variables:
            a = TF_ACTIVATIONS[activation](a @ w)
        loss = tf.reduce_sum(a**2) / (2 * X.shape[0])
    return [g.numpy() for g in tape.gradient(loss, variables)]


def network(rng: np.random.Generator, sizes: list[int], scale: float = 1.0) -> list[np.ndarray]:
    return [rng.normal(0, scale * np.sqrt(2 / (i + o)), (i, o)) for i, o in pairwise(sizes)]


@pytest.mark.parametrize("activation", sorted(TF_ACTIVATIONS))
def test_backprop_matches_gradient_tape(activation):
    ns = solution(A01)
    rng = np.random.default_rng(15)
    for sizes, batch in (([3, 4, 2], 5), ([6, 5, 5, 4, 3, 2], 1), ([4, *[8] * 10, 3], 7)):
        X, weights = rng.normal(0, 1, (batch, sizes[0])), network(rng, sizes, 1.5)
        ours = ns["backprop_gradients"](X, [w.copy() for w in weights], activation)
        theirs = tape_gradients(X, weights, activation)
        assert len(ours) == len(theirs)
        for g, t in zip(ours, theirs):
            np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-14)


def test_a_wrong_derivative_differs_from_the_tape():
    """sigmoid's gradients are not tanh's: the comparison above can fail."""
    ns = solution(A01)
    rng = np.random.default_rng(16)
    X, weights = rng.normal(0, 1, (4, 3)), network(rng, [3, 4, 2])
    ours = ns["backprop_gradients"](X, weights, "sigmoid")
    assert not np.allclose(ours[0], tape_gradients(X, weights, "tanh")[0], rtol=1e-3)


def test_vanishing_ratio_matches_the_tape():
    """The experiment's sigmoid/Glorot ratio (about 1e-12) through TensorFlow's gradients."""
    ns = solution(A01)
    rng = np.random.default_rng(0)  # the draws gradient_ratio_log10 documents: X, then the weights
    X = rng.standard_normal((100, 100))
    weights = [rng.normal(0.0, np.sqrt(2 / 200), (100, 100)) for _ in range(20)]
    norms = [np.linalg.norm(g) for g in tape_gradients(X, weights, "sigmoid")]
    expected = np.log10(norms[0] / norms[-1])
    assert expected < -10
    assert abs(ns["gradient_ratio_log10"]("sigmoid", "glorot", 20, 100, 0) - expected) < 1e-6


def test_clip_by_global_norm_matches_tensorflow():
    ns = solution(A01)
    rng = np.random.default_rng(17)
    shapes = [(4, 3), (3,), (3, 2)]
    for scale, max_norm in ((1e30, 1.0), (3.0, 2.5), (0.01, 10.0), (0.0, 1.0)):
        grads = [rng.normal(0, 1, s) * scale for s in shapes]
        clipped, norm = ns["clip_by_global_norm"]([g.copy() for g in grads], max_norm)
        tf_clipped, tf_norm = tf.clip_by_global_norm([tf.constant(g, dtype=tf.float64) for g in grads], max_norm)
        assert norm == pytest.approx(float(tf_norm), rel=1e-12, abs=0)
        for c, t, g in zip(clipped, tf_clipped, grads):
            np.testing.assert_allclose(c, t.numpy(), rtol=1e-12, atol=0)
            assert c.shape == g.shape
        unclipped = not np.allclose(grads[0], tf_clipped[0].numpy(), rtol=1e-6)
        assert unclipped == (norm > max_norm)  # clipping happened exactly when the norm was too large
