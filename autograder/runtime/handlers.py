"""How the probe makes each kind of call (see `wire.py` for the kinds). UNTRUSTED SIDE.

A handler takes the notebook's namespace, the call (a `wire` dataclass), the inputs and the
output `Arrays`, and returns `{"value": <encoded value>, ...}`; the probe (probe.py) gives each
call its alarm, its try/except and its JSON. Handlers register themselves with `@handles(kind)`;
a kind one notebook alone needs lives beside that notebook's question module (e.g.
`questions/a03_calls.py`), and the runner loads it before the probe (runner.py).
"""

from ..wire import Call, Calls, Initializer, Model, Trained, Trajectory, decode_arg, encode_value, generators, tuple_ref
from .safe import (
    MAX_LIST,
    _array,
    _asarray,
    _float_copy,
    _int_copy,
    _str_copy,
    jsonable,
    modified,
    name,
    numbers,
    snapshot,
    text,
)

HANDLERS: dict = {}


def handles(kind):
    """Register the decorated function as the handler of the call kind `kind` (a wire class)."""

    def register(fn):
        HANDLERS[kind.kind] = fn
        return fn

    return register


@handles(Call)
def do_call(ns, call, inputs, arrays, make_rng=None):
    make_rng = make_rng or generators()
    fn = ns[call.function]
    args = call.decoded_args(inputs, make_rng)
    kwargs = call.decoded_kwargs(inputs, make_rng)
    passed = args + list(kwargs.values())
    before = snapshot(passed)
    value = fn(*args, **kwargs)
    result = {"value": encode_value(value, arrays.add)}
    result["modified_input"] = modified(passed, before)
    return result


@handles(Trajectory)
def do_trajectory(ns, call, inputs, arrays):
    fn = ns[call.function]
    state = {k: _asarray(decode_arg(v, inputs), dtype=float) for k, v in call.state.items()}
    a = _asarray(decode_arg(call.a, inputs), dtype=float)
    b = _asarray(decode_arg(call.b, inputs), dtype=float)
    history: dict[str, list] = {key: [] for key in call.returns}
    for t in range(1, call.steps + 1):
        theta = state["theta"]

        def grad_fn(x, a=a, b=b):
            return a * _asarray(x, dtype=float) - b

        args = []
        for token in call.args:
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
        if type(out) not in (tuple, list) or len(out) != len(call.returns):
            raise ValueError(
                f"step {t}: expected a tuple of {len(call.returns)} values "
                f"({', '.join(call.returns)}), got {name(type(out))}"
            )
        for key, value in zip(call.returns, out):
            arr = numbers(value, f"step {t}: {key} has a value")  # the self-check's wording
            state[key] = _array(arr, dtype=float, copy=True, subok=False)
            history[key].append(state[key])
    try:
        stacked = {key: _asarray(values) for key, values in history.items()}
    except ValueError as exc:
        raise ValueError(f"the returned shapes change between steps: {text(exc)}") from None
    return {"value": {key: arrays.add(v) for key, v in stacked.items()}}


def _initializer_info(init):
    info = {"class": name(type(init))}
    try:
        info["config"] = jsonable(init.get_config())
    except Exception as exc:  # noqa: BLE001
        info["config_error"] = f"{name(type(exc))}: {text(exc, 250)}"
    return info


@handles(Initializer)
def do_initializer(ns, call, inputs, arrays):
    init = ns[call.function]()
    samples = _asarray(init(shape=tuple(call.shape)))
    return {"value": {"samples": arrays.add(samples), "info": _initializer_info(init)}}


@handles(Calls)
def do_calls(ns, call, inputs, arrays):
    """Several calls of one function as one case: a random function is judged on how its draws
    relate (a seed reproduces, other seeds and consecutive calls differ), which no single call shows."""
    make_rng, values, changed = generators(), [], False
    for sub in call.calls[:MAX_LIST]:
        result = (
            do_call(ns, sub, inputs, arrays, make_rng)
            if isinstance(sub, Call)
            else do_initializer(ns, sub, inputs, arrays)
        )
        values.append(result["value"])
        changed = changed or bool(result.get("modified_input"))
    return {"value": tuple_ref(values), "modified_input": changed}


def describe_model(model, arrays=None):
    layers = []
    every_layer = list(model.layers)
    for layer in every_layer[:64]:
        entry = {"class": name(type(layer)), "trainable": bool(layer.trainable)}
        try:
            entry["config"] = jsonable(layer.get_config())
        except Exception as exc:  # noqa: BLE001
            entry["config_error"] = text(exc, 300)
        try:
            entry["params"] = _int_copy(int(layer.count_params()))
        except Exception:  # noqa: BLE001 - an unbuilt layer has no params yet
            entry["params"] = None
        if arrays is not None:
            entry["weights"] = [arrays.add(w) for w in layer.get_weights()]
        layers.append(entry)
    info = {"class": name(type(model)), "layers": layers}
    if len(every_layer) > 64:  # only what was cut off is said: the grader must not judge a model by its start
        info["layers_total"] = len(every_layer)
    try:
        info["input_shape"] = jsonable(list(model.input_shape))
    except Exception:  # noqa: BLE001
        info["input_shape"] = None
    compiled = {}
    try:
        loss = getattr(model, "loss", None)
        compiled["loss"] = _str_copy(loss) if isinstance(loss, str) else name(type(loss)) if loss is not None else None
        opt = getattr(model, "optimizer", None)
        if opt is not None:
            compiled["optimizer"] = name(type(opt))
            compiled["learning_rate"] = _float_copy(float(_asarray(opt.learning_rate)))
    except Exception as exc:  # noqa: BLE001
        compiled["error"] = text(exc, 300)
    info["compiled"] = jsonable(compiled)
    return info


@handles(Model)
def do_model(ns, call, inputs, arrays):
    return {"value": describe_model(ns[call.function]())}


@handles(Trained)
def do_trained(ns, call, inputs, arrays):
    return {"value": describe_model(ns[call.name], arrays)}
