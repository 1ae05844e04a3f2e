"""Calls the submission's functions on the grading inputs and writes plain data. UNTRUSTED SIDE.

Runs inside the sandbox, in the student's interpreter, after the notebook's cells. It imports
nothing from the grader. Every call is isolated: its own try/except and alarm, copies of its
inputs, so one broken or hostile function costs at most its own question.

Nothing here needs to be trusted: a student who tampers with this module (it is visible to the
notebook) can only change the plain data it writes, and the grader compares that data with
reference values it keeps outside the sandbox.

Call types in calls.json (each has "id" and "type"):
  call        {"function", "args": [...], "kwargs": {...}}        -> the return value
  trajectory  {"function", "steps", "state": {...}, "args": [...], "returns": [...], "grad": {"a", "b"}}
              calls the function `steps` times, feeding returned state back; -> {name: (steps, ...)}
  initializer {"function", "shape"}   -> samples of `function()(shape)` and its config
  model       {"function"}            -> architecture of the model `function()` returns
  b_on_a      {"function", "base": [layer specs], "seed"} -> architecture of function(model_A) and
              whether building and training it changed model_A
  trained     {"name"}                -> architecture and weights of the notebook's variable `name`
Argument encodings: JSON scalars/lists as they are; {"$array": key} from inputs.npz;
{"$rng": seed} a fresh numpy Generator; "@name" in trajectories: state variable, "@grad" the
gradient a*theta - b at the current theta, "@grad_fn" that gradient as a callable, "@t" the step.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time

import numpy as np

# Bound before student code runs: a notebook that patches numpy later does not change these.
_asarray = np.asarray
_array = np.array
_array_equal = np.array_equal
_savez = np.savez
_default_rng = np.random.default_rng
_dumps = json.dumps
_MAX_ELEMENTS = 20_000_000
_MAX_LIST = 64


class CallTimeout(BaseException):
    """Raised by the alarm when one call runs too long."""


def _alarm(signum, frame):  # noqa: ARG001
    raise CallTimeout("the call ran longer than its time limit")


def load_inputs(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


class Arrays:
    """Collects output arrays under fresh keys, as plain ndarrays of numeric dtype."""

    def __init__(self) -> None:
        self.store: dict[str, np.ndarray] = {}

    def add(self, value) -> dict:
        arr = _asarray(value)
        if type(arr) is not np.ndarray:
            arr = _array(arr, subok=False)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"returned a value of dtype {arr.dtype} (expected numbers)")
        if arr.size > _MAX_ELEMENTS:
            raise ValueError(f"returned {arr.size} values, more than {_MAX_ELEMENTS}")
        key = f"a{len(self.store)}"
        self.store[key] = _array(arr, copy=True, subok=False)
        return {"$array": key}


def encode(value, arrays: Arrays, depth: int = 0):
    """Turn a returned value into JSON with array references; raise for what cannot be data."""
    if depth > 3:
        raise ValueError("returned a value nested too deeply")
    if value is None:
        return {"$none": True}
    if isinstance(value, str):
        return {"$str": value[:200]}
    if type(value) is tuple:
        if len(value) > _MAX_LIST:
            raise ValueError("returned a tuple that is too long")
        return {"$tuple": [encode(v, arrays, depth + 1) for v in value]}
    if type(value) is list and 0 < len(value) <= _MAX_LIST:
        try:
            return arrays.add(value)
        except (TypeError, ValueError):
            return {"$list": [encode(v, arrays, depth + 1) for v in value]}
    return arrays.add(value)


def decode_arg(arg, inputs: dict):
    if isinstance(arg, dict):
        if "$array" in arg:
            return _array(inputs[arg["$array"]], copy=True)
        if "$rng" in arg:
            return _default_rng(int(arg["$rng"]))
        if "$tuple" in arg:
            return tuple(decode_arg(a, inputs) for a in arg["$tuple"])
    if isinstance(arg, list):
        return [decode_arg(a, inputs) for a in arg]
    return arg


def _snapshot(values):
    return [(_array(v, copy=True) if isinstance(v, np.ndarray) else None) for v in values]


def _modified(values, snapshot) -> bool:
    for v, s in zip(values, snapshot):
        if s is not None:
            try:
                if not (isinstance(v, np.ndarray) and v.shape == s.shape and _array_equal(v, s, equal_nan=True)):
                    return True
            except Exception:
                return True
    return False


# --- call types -------------------------------------------------------------------------------

def _do_call(ns, call, inputs, arrays):
    fn = ns[call["function"]]
    args = [decode_arg(a, inputs) for a in call.get("args", [])]
    kwargs = {k: decode_arg(v, inputs) for k, v in call.get("kwargs", {}).items()}
    before = _snapshot(args + list(kwargs.values()))
    value = fn(*args, **kwargs)
    result = {"value": encode(value, arrays)}
    result["modified_input"] = _modified(args + list(kwargs.values()), before)
    return result


def _do_trajectory(ns, call, inputs, arrays):
    fn = ns[call["function"]]
    state = {k: _asarray(decode_arg(v, inputs), dtype=float) for k, v in call["state"].items()}
    a = _asarray(decode_arg(call["grad"]["a"], inputs), dtype=float)
    b = _asarray(decode_arg(call["grad"]["b"], inputs), dtype=float)
    history: dict[str, list] = {name: [] for name in call["returns"]}
    for t in range(1, int(call["steps"]) + 1):
        theta = state["theta"]

        def grad_fn(x, a=a, b=b):
            return a * _asarray(x, dtype=float) - b

        args = []
        for token in call["args"]:
            if token == "@grad":
                args.append(grad_fn(theta))
            elif token == "@grad_fn":
                args.append(grad_fn)
            elif token == "@t":
                args.append(t)
            elif isinstance(token, str) and token.startswith("@"):
                args.append(_array(state[token[1:]], copy=True))
            else:
                args.append(token)
        out = fn(*args)
        if type(out) not in (tuple, list) or len(out) != len(call["returns"]):
            raise ValueError(f"step {t}: expected a tuple of {len(call['returns'])} values "
                             f"({', '.join(call['returns'])}), got {type(out).__name__}")
        for name, value in zip(call["returns"], out):
            arr = _asarray(value)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"step {t}: {name} has dtype {arr.dtype}")
            state[name] = _array(arr, dtype=float, copy=True)
            history[name].append(state[name])
    try:
        stacked = {name: _asarray(values) for name, values in history.items()}
    except ValueError as exc:
        raise ValueError(f"the returned shapes change between steps: {exc}") from None
    return {"value": {name: arrays.add(v) for name, v in stacked.items()}}


def _jsonable(value, depth=0):
    """Configs from student objects, reduced to JSON scalars/lists/dicts of bounded size."""
    if depth > 4:
        return None
    if value is None or isinstance(value, (bool, int, str)):
        return value[:200] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in list(value)[:32]]
    if isinstance(value, dict):
        return {str(k)[:100]: _jsonable(v, depth + 1) for k, v in list(value.items())[:64]}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return _jsonable(value.item(), depth)
    return str(type(value).__name__)


def _initializer_info(init):
    info = {"class": type(init).__name__}
    try:
        info["config"] = _jsonable(init.get_config())
    except Exception as exc:  # noqa: BLE001
        info["config_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return info


def _do_initializer(ns, call, inputs, arrays):
    init = ns[call["function"]]()
    samples = _asarray(init(shape=tuple(call["shape"])))
    return {"value": {"samples": arrays.add(samples), "info": _initializer_info(init)}}


def _describe_model(model, arrays=None):
    layers = []
    for layer in list(model.layers)[:64]:
        entry = {"class": type(layer).__name__, "trainable": bool(layer.trainable)}
        try:
            entry["config"] = _jsonable(layer.get_config())
        except Exception as exc:  # noqa: BLE001
            entry["config_error"] = str(exc)[:300]
        try:
            entry["params"] = int(layer.count_params())
        except Exception:  # noqa: BLE001 - an unbuilt layer has no params yet
            entry["params"] = None
        if arrays is not None:
            entry["weights"] = [arrays.add(w) for w in layer.get_weights()]
        layers.append(entry)
    info = {"class": type(model).__name__, "layers": layers}
    try:
        info["input_shape"] = _jsonable(list(model.input_shape))
    except Exception:  # noqa: BLE001
        info["input_shape"] = None
    compiled = {}
    try:
        loss = getattr(model, "loss", None)
        compiled["loss"] = loss if isinstance(loss, str) else (type(loss).__name__ if loss is not None else None)
        opt = getattr(model, "optimizer", None)
        if opt is not None:
            compiled["optimizer"] = type(opt).__name__
            compiled["learning_rate"] = float(_asarray(opt.learning_rate))
    except Exception as exc:  # noqa: BLE001
        compiled["error"] = str(exc)[:300]
    info["compiled"] = _jsonable(compiled)
    return info


def _do_model(ns, call, inputs, arrays):
    return {"value": _describe_model(ns[call["function"]]())}


def _build_base(spec, seed):
    import keras

    keras.utils.set_random_seed(int(seed))
    layers = [keras.Input(shape=tuple(spec["input_shape"])), keras.layers.Flatten()]
    for units, activation in spec["dense"]:
        layers.append(keras.layers.Dense(int(units), activation=activation))
    model = keras.Sequential(layers)
    model.compile(loss=spec["loss"], optimizer=keras.optimizers.SGD(learning_rate=1e-3))
    return model


def _do_b_on_a(ns, call, inputs, arrays):
    import keras

    model_a = _build_base(call["base"], call["seed"])
    before = [_array(w, copy=True) for w in model_a.get_weights()]
    new = ns[call["function"]](model_a)
    info = _describe_model(new)
    reused = [layer for layer in new.layers[:-1]]
    a_weights = before[: sum(len(layer.get_weights()) for layer in reused)]
    reused_weights = [w for layer in reused for w in layer.get_weights()]
    info["starts_from_model_a"] = bool(len(reused_weights) == len(a_weights) and all(
        w.shape == v.shape and _array_equal(w, v) for w, v in zip(reused_weights, a_weights)))
    info["model_a_changed_by_build"] = not all(
        _array_equal(w, v) for w, v in zip(model_a.get_weights(), before))
    # The notebook's unfreeze phase: make everything trainable, recompile, train a little.
    for layer in new.layers:
        layer.trainable = True
    new.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.5))
    rng = _default_rng(int(call["seed"]))
    x = rng.random((32, *call["base"]["input_shape"])).astype("float32")
    y = (rng.random(32) < 0.5).astype("float32")
    new.fit(x, y, epochs=2, batch_size=8, verbose=0)
    info["model_a_changed_by_training"] = not all(
        _array_equal(w, v) for w, v in zip(model_a.get_weights(), before))
    return {"value": info}


def _do_trained(ns, call, inputs, arrays):
    return {"value": _describe_model(ns[call["name"]], arrays)}


_HANDLERS = {
    "call": _do_call,
    "trajectory": _do_trajectory,
    "initializer": _do_initializer,
    "model": _do_model,
    "b_on_a": _do_b_on_a,
    "trained": _do_trained,
}


def run(ns, calls, inputs, skip, progress, out_dir, call_seconds) -> None:
    """Make every call, record value or error, write probe.json and arrays.npz."""
    arrays = Arrays()
    results = {}
    for call in calls:
        item = f"probe:{call['id']}"
        if item in skip:
            results[call["id"]] = {"ok": False, "error": {"type": "Timeout", "message":
                                   "this call did not finish in an earlier attempt and was skipped"}}
            continue
        name = call.get("function") or call.get("name")
        if name not in ns:
            results[call["id"]] = {"ok": False, "error": {"type": "Missing", "message": f"`{name}` is not defined"}}
            continue
        progress.event(item, "start")
        started = time.perf_counter()
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, call_seconds)
        try:
            result = _HANDLERS[call["type"]](ns, call, inputs, arrays)
            result["ok"] = True
        except CallTimeout:
            result = {"ok": False, "error": {"type": "Timeout", "message": f"did not return within {call_seconds:g} s"}}
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are answers too
            result = {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)[:500]}}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        result["seconds"] = round(time.perf_counter() - started, 3)
        results[call["id"]] = result
        progress.event(item, "end")
    tmp = os.path.join(out_dir, "arrays.tmp.npz")
    _savez(tmp, **arrays.store)
    os.replace(tmp, os.path.join(out_dir, "arrays.npz"))
    with open(os.path.join(out_dir, "probe.tmp.json"), "w", encoding="utf-8") as fh:
        fh.write(_dumps({"complete": True, "results": results}))
    os.replace(os.path.join(out_dir, "probe.tmp.json"), os.path.join(out_dir, "probe.json"))
