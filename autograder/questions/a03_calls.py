"""The sandbox's handler for notebook 03's `BOnA` calls (see `wire.BOnA`). UNTRUSTED SIDE.

Beside 03's question module because only 03 needs it: it builds a model_A the way the notebook's
task A does, hands it to the student's `build_model_B_on_A`, then replays the notebook's unfreeze
phase, to see whether the new model reuses model_A's layer objects (training it would change
model_A) or clones them. Copied into the sandbox and loaded by the runner like `runtime/handlers.py`;
it imports nothing from the grader but the wire and the runtime's own modules.
"""

from ..runtime.handlers import describe_model, handles
from ..runtime.safe import _array, _default_rng, same_array
from ..wire import BOnA


def _build_base(spec, seed):
    import keras

    keras.utils.set_random_seed(int(seed))
    layers = [keras.Input(shape=tuple(spec["input_shape"])), keras.layers.Flatten()]
    for units, activation in spec["dense"]:
        layers.append(keras.layers.Dense(int(units), activation=activation))
    model = keras.Sequential(layers)
    model.compile(loss=spec["loss"], optimizer=keras.optimizers.SGD(learning_rate=1e-3))
    return model


def _unchanged(weights, before) -> bool:
    return all(same_array(w, v) for w, v in zip(weights, before))


@handles(BOnA)
def do_b_on_a(ns, call, inputs, arrays):
    import keras

    model_a = _build_base(call.base, call.seed)
    before = [_array(w, copy=True) for w in model_a.get_weights()]
    new = ns[call.function](model_a)
    info = describe_model(new)
    reused = [layer for layer in new.layers[:-1]]
    a_weights = before[: sum(len(layer.get_weights()) for layer in reused)]
    reused_weights = [w for layer in reused for w in layer.get_weights()]
    info["starts_from_model_a"] = bool(len(reused_weights) == len(a_weights) and _unchanged(reused_weights, a_weights))
    info["model_a_changed_by_build"] = not _unchanged(model_a.get_weights(), before)
    # The notebook's unfreeze phase: make everything trainable, recompile, train a little.
    for layer in new.layers:
        layer.trainable = True
    new.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.5))
    rng = _default_rng(int(call.seed))
    x = rng.random((32, *call.base["input_shape"])).astype("float32")
    y = (rng.random(32) < 0.5).astype("float32")
    new.fit(x, y, epochs=2, batch_size=8, verbose=0)
    info["model_a_changed_by_training"] = not _unchanged(model_a.get_weights(), before)
    return {"value": info}
