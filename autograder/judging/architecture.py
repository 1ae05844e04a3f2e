"""Models compared as plain data: layer by layer, as the contract describes them.

Standard library only: pasted into every student notebook's self-check
(handout/selfcheck.py), so a student's notebook and the grade compare architectures with this one
function. The description is student data (a dict the probe exported); nothing here evaluates it.
"""

from typing import Any

# The most layers a description is read for (8x the reference's); also what the probe exports
# (it says when a model had more). models.check_bounds refuses to evaluate more.
MAX_LAYERS = 64

_COMPARED_KEYS = ("units", "activation", "use_bias", "epsilon", "momentum", "rate")


def _initializer_name(config: dict[str, Any]) -> str | None:
    init = config.get("kernel_initializer")
    if isinstance(init, dict):
        return str(init.get("class_name"))
    return init if isinstance(init, str) else None


def architecture_differences(expected: dict[str, Any], got: Any, compare_compile: bool = True) -> list[str]:
    """Readable differences between two model descriptions, empty if they match."""
    if not isinstance(got, dict) or not isinstance(got.get("layers"), list):
        return ["did not return a Keras model"]
    exp_layers, got_layers = expected["layers"], got["layers"]
    total = got.get("layers_total")
    count = total if isinstance(total, int) and total > len(got_layers) else len(got_layers)
    if count > max(MAX_LAYERS, len(exp_layers)):  # else the message alone would list them all
        return [f"the model has {count:,} layers, expected {len(exp_layers)}"]
    diffs = []
    exp_kinds = [layer["class"] for layer in exp_layers]
    got_kinds = [layer.get("class") if isinstance(layer, dict) else "?" for layer in got_layers]
    if exp_kinds != got_kinds:
        return [f"layers are {got_kinds}, expected {exp_kinds}"]
    for i, (e, g) in enumerate(zip(exp_layers, got_layers)):
        ec, gc = e.get("config") or {}, g.get("config") or {}
        where = f"layer {i} ({e['class']})"
        for key in _COMPARED_KEYS:
            if ec.get(key) != gc.get(key):
                diffs.append(f"{where}: {key} is {gc.get(key)!r}, expected {ec.get(key)!r}")
        if _initializer_name(ec) != _initializer_name(gc):
            diffs.append(f"{where}: kernel_initializer is {_initializer_name(gc)}, expected {_initializer_name(ec)}")
        if e.get("trainable") != g.get("trainable"):
            diffs.append(f"{where}: trainable is {g.get('trainable')}, expected {e.get('trainable')}")
        if e.get("params") != g.get("params"):
            diffs.append(f"{where}: {g.get('params')} parameters, expected {e.get('params')}")
    if expected.get("input_shape") != got.get("input_shape"):
        diffs.append(f"input shape is {got.get('input_shape')}, expected {expected.get('input_shape')}")
    if compare_compile:
        ecomp, gcomp = expected.get("compiled") or {}, got.get("compiled") or {}
        for key in ("loss", "optimizer"):
            if ecomp.get(key) != gcomp.get(key):
                diffs.append(f"compiled {key} is {gcomp.get(key)!r}, expected {ecomp.get(key)!r}")
        elr, glr = ecomp.get("learning_rate"), gcomp.get("learning_rate")
        if isinstance(elr, float) and not (isinstance(glr, float) and abs(glr - elr) <= 1e-6 * abs(elr)):
            diffs.append(f"learning rate is {glr!r}, expected {elr!r}")
    return diffs


def b_on_a_problems(expected: dict[str, Any], got: Any) -> list[str]:
    """What is wrong with model_B_on_A: its architecture, and whether it starts from model_A's
    weights without changing model_A (what the probe recorded while building and training it)."""
    got = got if isinstance(got, dict) else {}
    problems = architecture_differences(expected, got)
    if got.get("model_a_changed_by_build") or got.get("model_a_changed_by_training"):
        problems.insert(
            0,
            "training model_B_on_A changed model_A: clone model_A (keras.models.clone_model "
            "and set_weights) instead of reusing its layer objects",
        )
    if got.get("starts_from_model_a") is not True:
        problems.append("the reused layers do not start from model_A's weights")
    return problems
