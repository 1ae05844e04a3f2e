"""autograder.judging.models: the numpy forward pass against real Keras, and architecture comparison."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from autograder.judging import models
from autograder.judging.architecture import architecture_differences
from autograder.judging.models import Threshold, UnsupportedModel, forward

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
layers = keras.layers


def describe(model, compiled=None) -> dict:
    """As the probe describes a model: plain classes, configs and weight arrays."""
    described = {
        "class": type(model).__name__,
        "layers": [
            {
                "class": type(layer).__name__,
                "config": layer.get_config(),
                "weights": layer.get_weights(),
                "trainable": bool(layer.trainable),
                "params": int(layer.count_params()),
            }
            for layer in model.layers
        ],
    }
    described["input_shape"] = list(model.input_shape[1:])
    if compiled is not None:
        described["compiled"] = compiled
    return described


def randomise(model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, layers.BatchNormalization):
            names = [w.path.split("/")[-1] for w in layer.weights]
            new = []
            for name, w in zip(names, weights):
                if name == "moving_variance":
                    new.append(rng.uniform(0.2, 3.0, w.shape))
                elif name == "gamma":
                    new.append(rng.uniform(0.5, 2.0, w.shape))
                else:
                    new.append(rng.normal(0, 1, w.shape))
            layer.set_weights([w.astype(np.float32) for w in new])
        elif weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in weights])


def keras_output(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)


def assert_same(model, x, **kwargs):
    np.testing.assert_allclose(forward(describe(model), x, **kwargs), keras_output(model, x), rtol=2e-4, atol=2e-5)


def test_forward_matches_keras_on_the_lecture_model():
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Flatten(),
            layers.Dense(32, activation="selu"),
            layers.BatchNormalization(),
            layers.Dropout(0.4),
            layers.Dense(10, activation="softmax"),
        ]
    )
    randomise(model, rng)
    x = rng.uniform(0, 1, (53, 28, 28))
    assert_same(model, x, batch=16)  # several batches, the last one short
    out = forward(describe(model), x)
    assert out.shape == (53, 10) and np.allclose(out.sum(axis=1), 1)


@pytest.mark.parametrize("activation", sorted(models.ACTIVATIONS))
def test_each_activation_matches_keras(activation):
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(5, activation=activation), layers.Activation(activation)])
    randomise(model, rng)
    x = rng.normal(0, 3, (40, 6))
    assert_same(model, x)


@pytest.mark.parametrize("center, scale", [(True, False), (False, True), (False, False)])
def test_batch_normalisation_variants(center, scale):
    rng = np.random.default_rng(2)
    model = keras.Sequential(
        [
            keras.Input((7,)),
            layers.Dense(4, use_bias=False),
            layers.BatchNormalization(center=center, scale=scale, epsilon=0.05),
            layers.Dense(3, activation="sigmoid"),
        ]
    )
    randomise(model, rng)
    assert_same(model, rng.normal(0, 2, (30, 7)))


def test_dense_on_3d_input_without_flatten():
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((4, 5)), layers.Dense(3, activation="tanh")])
    randomise(model, rng)
    assert_same(model, rng.normal(0, 1, (9, 4, 5)))


def _dense_description():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu")])
    return describe(model)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda d: d.update(layers=[]), "no layers"),
        (lambda d: d["layers"].insert(0, {"class": "Lambda", "config": {}}), "layer type 'Lambda' is not supported"),
        (lambda d: d["layers"][0]["config"].update(activation="gelu"), "activation 'gelu' is not supported"),
        (lambda d: d["layers"][0]["config"].update(activation={"class_name": "Custom"}), "is not supported"),
        (lambda d: d["layers"][0].update(weights=d["layers"][0]["weights"][:1]), "expected 2 weight arrays"),
        (lambda d: d["layers"][0].update(weights=[w.tolist() for w in d["layers"][0]["weights"]]), "expected 2 weight"),
        (lambda d: d["layers"][0].update(weights=[np.zeros((5, 3)), np.zeros(3)]), "do not fit its input"),
        (lambda d: d["layers"][0].update(weights=[np.zeros((4, 3)), np.zeros(2)]), "do not fit its input"),
        (
            lambda d: d["layers"].append(
                {"class": "BatchNormalization", "config": {"axis": 0}, "weights": [np.ones(3)] * 4}
            ),
            "last axis",
        ),
        (
            lambda d: d["layers"].append({"class": "BatchNormalization", "config": {}, "weights": [np.ones(5)] * 4}),
            "statistics do not fit",
        ),
    ],
)
def test_unsupported_descriptions(corrupt, message):
    description = _dense_description()
    corrupt(description)
    with pytest.raises(UnsupportedModel, match=message):
        forward(description, np.ones((2, 4)))


# --- tasks, accuracy, thresholds ---------------------------------------------------------------------


def test_split_tasks():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 5, 9], dtype=np.uint8)
    x = np.arange(len(y), dtype=float)[:, None]
    tasks = models.split_tasks(x, y)
    np.testing.assert_array_equal(tasks["all"][1], y)
    keep = [i for i, label in enumerate(y) if label not in (5, 6)]
    np.testing.assert_array_equal(tasks["A"][0][:, 0], keep)
    np.testing.assert_array_equal(tasks["A"][1], [[0, 1, 2, 3, 4, None, None, 5, 6, 7][y[i]] for i in keep])
    np.testing.assert_array_equal(tasks["B"][0][:, 0], [5, 6, 10, 11])
    np.testing.assert_array_equal(tasks["B"][1], [0, 1, 1, 0])
    assert all(t[1].dtype == np.int64 for t in tasks.values())


@pytest.fixture
def tiny_tasks(monkeypatch):
    x = np.eye(4)
    tasks = {"all": (x, np.array([0, 1, 2, 3])), "B": (x, np.array([1, 1, 0, 0]))}
    monkeypatch.setattr(models, "test_tasks", lambda: tasks)
    return tasks


def _linear(kernel, bias, activation="linear"):
    return {
        "layers": [
            {
                "class": "Dense",
                "config": {"activation": activation},
                "weights": [np.asarray(kernel, float), np.asarray(bias, float)],
            }
        ]
    }


def test_accuracy_and_thresholds(tiny_tasks):
    perfect = _linear(np.eye(4), np.zeros(4), "softmax")
    three_of_four = _linear(np.eye(4)[:, [0, 1, 2, 2]], np.zeros(4))
    assert models.accuracy(perfect, "all") == 1.0
    assert models.accuracy(three_of_four, "all") == 0.75
    verdict, acc = models.check_trained(three_of_four, Threshold("all", 0.8, "test"))
    assert not verdict.passed and acc == 0.75 and "0.7500 is below the required 0.80" in verdict.message
    verdict, acc = models.check_trained(three_of_four, Threshold("all", 0.75, "test"))
    assert verdict.passed and acc == 0.75


def test_binary_output_uses_one_half(tiny_tasks):
    says_first_two = _linear([[5.0], [5.0], [-5.0], [-5.0]], [0.0], "sigmoid")
    assert models.accuracy(says_first_two, "B") == 1.0
    # the threshold is 1/2 (a probability), not 0: outputs 0.4 count as class 0
    assert models.accuracy(_linear([[0.4], [0.4], [-0.4], [-0.4]], [0.0], "linear"), "B") == 0.5


def test_check_trained_never_raises_on_bad_models(tiny_tasks):
    verdict, acc = models.check_trained("not a model", Threshold("all", 0.5, ""))
    assert not verdict.passed and acc is None and "could not be exported" in verdict.message
    verdict, acc = models.check_trained({"layers": [{"class": "Conv2D"}]}, Threshold("all", 0.5, ""))
    assert not verdict.passed and acc is None and "Conv2D" in verdict.message
    verdict, acc = models.check_trained(
        {"layers": [{"class": "Flatten"}, {"class": "Activation", "config": {"activation": "relu"}}]},
        Threshold("all", 0.5, ""),
    )
    assert verdict.passed and acc == 1.0  # identity on one-hot rows: argmax is the label


def test_output_must_be_a_vector_per_image(monkeypatch):
    monkeypatch.setattr(models, "test_tasks", lambda: {"all": (np.ones((3, 2, 2)), np.zeros(3, np.int64))})
    verdict, acc = models.check_trained({"layers": [{"class": "Dropout"}]}, Threshold("all", 0.1, ""))
    assert not verdict.passed and acc is None and "expected a vector per image" in verdict.message


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (DEBIAN / "t10k-labels-idx1-ubyte.gz").is_file(), reason="no local Fashion-MNIST")
def test_real_test_tasks_and_constant_models(monkeypatch):
    from autograder import data

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", DEBIAN)
    models.test_tasks.cache_clear()
    try:
        tasks = models.test_tasks()
        assert {k: len(v[1]) for k, v in tasks.items()} == {"all": 10000, "A": 8000, "B": 2000}
        assert tasks["all"][0].max() <= 1.0 and tasks["all"][0].dtype == np.float64
        always_class_0 = {"layers": [{"class": "Flatten"}, _linear(np.zeros((784, 8)), np.eye(8)[0])["layers"][0]]}
        assert models.accuracy(always_class_0, "A") == 0.125  # 1000 of each class
        always_no = {"layers": [{"class": "Flatten"}, _linear(np.zeros((784, 1)), [-3.0], "sigmoid")["layers"][0]]}
        assert models.accuracy(always_no, "B") == 0.5
    finally:
        models.test_tasks.cache_clear()


# --- architecture ---------------------------------------------------------------------------------------


def lecture_model(units=300, activation="relu", initializer="he_normal", dropout=0.2, trainable=True):
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            layers.Flatten(),
            layers.Dense(units, activation=activation, kernel_initializer=initializer),
            layers.Dropout(dropout),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.layers[1].trainable = trainable
    return model


COMPILED = {"loss": "sparse_categorical_crossentropy", "optimizer": "SGD", "learning_rate": 0.01}


def test_architecture_identical():
    assert architecture_differences(describe(lecture_model(), COMPILED), describe(lecture_model(), COMPILED)) == []


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"units": 100}, "layer 1 (Dense): units is 100, expected 300"),
        ({"activation": "elu"}, "layer 1 (Dense): activation is 'elu', expected 'relu'"),
        ({"initializer": "glorot_uniform"}, "kernel_initializer is GlorotUniform, expected HeNormal"),
        ({"dropout": 0.5}, "layer 2 (Dropout): rate is 0.5, expected 0.2"),
        ({"trainable": False}, "trainable is False, expected True"),
    ],
)
def test_architecture_differences_are_named(kwargs, fragment):
    diffs = architecture_differences(describe(lecture_model(), COMPILED), describe(lecture_model(**kwargs), COMPILED))
    assert any(fragment in d for d in diffs), diffs


def test_architecture_layer_kinds_and_input():
    expected = describe(lecture_model())
    other = describe(keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(10)]))
    assert architecture_differences(expected, other) == [
        "layers are ['Flatten', 'Dense'], expected ['Flatten', 'Dense', 'Dropout', 'Dense']"
    ]
    wider = describe(
        keras.Sequential(
            [
                keras.Input((28, 29)),
                layers.Flatten(),
                layers.Dense(300, activation="relu", kernel_initializer="he_normal"),
                layers.Dropout(0.2),
                layers.Dense(10, activation="softmax"),
            ]
        )
    )
    diffs = architecture_differences(expected, wider, compare_compile=False)
    assert "layer 1 (Dense): 243900 parameters, expected 235500" in diffs
    assert "input shape is [28, 29], expected [28, 28]" in diffs
    assert architecture_differences(expected, "nope") == ["did not return a Keras model"]


def test_architecture_compile_settings():
    expected = describe(lecture_model(), COMPILED)
    close = describe(lecture_model(), {**COMPILED, "learning_rate": 0.01 * (1 + 1e-7)})
    assert architecture_differences(expected, close) == []
    diffs = architecture_differences(
        expected, describe(lecture_model(), {**COMPILED, "learning_rate": 0.02, "optimizer": "Adam"})
    )
    assert diffs == ["compiled optimizer is 'Adam', expected 'SGD'", "learning rate is 0.02, expected 0.01"]
    assert architecture_differences(expected, describe(lecture_model()), compare_compile=False) == []
    assert "compiled loss is None" in architecture_differences(expected, describe(lecture_model()))[0]


# --- bounds: the work of evaluating a description is checked before any is done ---------------------


def _activations(n: int) -> dict:
    return {
        "layers": [{"class": "Flatten", "config": {}, "weights": []}]
        + [{"class": "Activation", "config": {"activation": "selu"}, "weights": []}] * n
    }


def test_thousands_of_layers_are_refused_before_any_forward_work(monkeypatch):
    """2,000 Activation layers took 61 s on the 10,000 test images; now: refused, nothing computed."""
    monkeypatch.setattr(models, "_apply", lambda *a: pytest.fail("a layer was evaluated"))
    x = np.zeros((10_000, 28, 28))
    for description in (_activations(3000), {**_activations(63), "layers_total": 3001}):
        with pytest.raises(
            UnsupportedModel,
            match=r"the model has 3,001 layers; the grader evaluates models of "
            r"at most 64 layers",
        ):
            forward(description, x)


def test_bounds_on_weights_and_values_per_image():
    x = np.zeros((2, 28, 28))
    flatten = {"class": "Flatten", "config": {}, "weights": []}

    def dense(units: int) -> dict:
        return {
            "class": "Dense",
            "config": {"activation": "linear"},
            "weights": [np.zeros((784, units), np.float32), np.zeros(units, np.float32)],
        }

    with pytest.raises(
        UnsupportedModel, match="the model has 3,140,000 weights; the grader evaluates at most 3,000,000"
    ):
        forward({"layers": [flatten, dense(4000)]}, x)
    many = [flatten, dense(3000)] + [{"class": "Activation", "config": {}, "weights": []}] * 20
    with pytest.raises(UnsupportedModel, match="values per image over its layers; the grader evaluates at most 50,000"):
        forward({"layers": many}, x)
    models.check_bounds({"layers": [flatten, dense(3800)]}, 784)  # 2.98 M weights, 5,368 values per image: allowed
    unused = {"class": "Dropout", "config": {}, "weights": [np.zeros(3_000_001, np.float32)]}
    with pytest.raises(UnsupportedModel, match="3,000,001 weights"):
        forward({"layers": [flatten, unused]}, x)


def test_the_reference_models_are_far_inside_the_bounds():
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.BatchNormalization(),
            layers.Dense(300, activation="elu"),
            layers.BatchNormalization(),
            layers.Dense(100, activation="elu"),
            layers.BatchNormalization(),
            layers.Dense(10, activation="softmax"),
        ]
    )  # 02's bn_model, 271,346 parameters
    models.check_bounds(describe(model), 784)
    assert model.count_params() * 10 < models.MAX_PARAMETERS and len(model.layers) * 8 <= models.MAX_LAYERS


def _rowwise_bn_model() -> dict:
    """The red team's `bn_model` on Input((28, 28)) without Flatten: Dense 1700, 1700, 10 (2.96 M
    weights, under the weight bound) runs on each of an image's 28 rows: 28 times its weights' cost."""
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.BatchNormalization(),
            layers.Dense(1700, activation="elu"),
            layers.BatchNormalization(),
            layers.Dense(1700, activation="elu"),
            layers.BatchNormalization(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    assert model.count_params() < models.MAX_PARAMETERS
    return describe(model)


def test_a_model_without_flatten_counts_every_row(monkeypatch):
    """Bounds count the rows a Dense layer runs on: refused before any layer is evaluated (it took
    the grader 200 s and 3.3 GB when each image counted as one row)."""
    monkeypatch.setattr(models, "_apply", lambda *a: pytest.fail("a layer was evaluated"))
    with pytest.raises(UnsupportedModel, match=r"values per image over its layers \(a Dense layer before a Flatten"):
        forward(_rowwise_bn_model(), np.zeros((3, 28, 28)))
    # few values (7,136 per image), but the multiply-adds of 4 rows: 3.1 M for 785,000 weights
    rowwise = {
        "layers": [
            {
                "class": "Dense",
                "config": {},
                "weights": [np.zeros((784, 1000), np.float32), np.zeros(1000, np.float32)],
            },
            {"class": "Flatten", "config": {}, "weights": []},
        ]
    }
    with pytest.raises(
        UnsupportedModel,
        match=r"3,136,000 multiply-adds per image \(a Dense layer before a Flatten runs on each of an image's 4 rows",
    ):
        models.check_bounds(rowwise, (4, 784))
    assert models.check_bounds(rowwise, 784) == 1000  # the same model on one row per image: allowed


def test_a_model_is_evaluated_once_for_its_check_and_its_picture(monkeypatch):
    """A failed model is checked and drawn from the same description: one forward pass."""
    from autograder.questions.pictures import trained_accuracy

    calls = []
    real = models.forward
    monkeypatch.setattr(models, "forward", lambda d, x: calls.append(1) or real(d, x))
    x = np.random.default_rng(0).random((50, 28, 28))
    y = np.arange(50) % 10
    monkeypatch.setattr(models, "test_tasks", lambda: {"all": (x, y)})
    flatten = {"class": "Flatten", "config": {}, "weights": []}
    dense = {"class": "Dense", "config": {"activation": "softmax"}, "weights": [np.zeros((784, 10)), np.zeros(10)]}
    got = {"layers": [flatten, dense]}
    threshold = Threshold("all", 0.99, "test")
    verdict, _ = models.check_trained(got, threshold)
    assert not verdict.passed

    class Ctx:
        pass

    ctx = Ctx()
    ctx.got = got
    picture = trained_accuracy(threshold)(ctx)
    assert picture["accuracy"] < 0.99 and calls == [1]
    models.check_trained({"layers": [flatten, dense]}, threshold)  # another object: evaluated again
    assert calls == [1, 1]


def test_architecture_of_thousands_of_layers_is_one_short_message():
    expected = describe(lecture_model(), COMPILED)
    diffs = architecture_differences(expected, {**_activations(3000), "compiled": COMPILED})
    assert diffs == [f"the model has 3,001 layers, expected {len(expected['layers'])}"]
