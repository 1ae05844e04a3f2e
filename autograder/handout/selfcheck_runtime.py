"""The code of students' self-checks that is not the grader's: calling the student's code and
explaining a failed case. Pasted, after the wire and the judging modules, into each notebook.

`build` (selfcheck.py) pastes `wire.py`, the judging modules (`judging/verdict.py`, `stats.py`,
`architecture.py`, `checks.py`, `randomness.py`, `draws.py`: the grader's own checks, numpy only)
and this file into the notebook's metadata, followed by each question's public cases. A student
with only numpy and otter-grader (and what the notebook itself imports: keras for models and
initializers) can therefore check a notebook opened on its own. Each public case is judged by the
grader's check, built here from the parameters `build` read off the question's check and the
numbers it computed for the case (selfcheck_data.py). What is here mirrors, for the public cases
only, how the probe calls student code (`runtime/probe.py`) and how compare.py explains a case;
`tests/unit/test_selfcheck.py` holds the self-check to the grade on every public case of every
question, on the solutions and on the buggy variants. No hidden case, seed or hidden value ever
gets here.
"""

import base64
import json
import zlib

import numpy as np

# isort: off
# In the package only: build pastes the wire and the judging modules above this file.
from ..judging.checks import accuracy_verdict, allclose, architecture, b_on_a, exact
from ..judging.draws import (
    augment_check,
    augment_decoder,
    dropout_check,
    dropout_rate,
    he_avg_check,
    mask_decoder,
    max_shift,
    variance_scaling_check,
)
from ..judging.randomness import calls_shape, choices_check, mask_check, matrix_check
from ..judging.verdict import Case, CaseContext, Verdict
from ..wire import NO_ANSWER, TUPLE, Calls, Raised, Rng, array_key, decode_arg, from_json, generators
# isort: on


def unpack(doc):
    """Embedded JSON back to values: arrays exactly (dtype, shape), tuples, exceptions."""
    if isinstance(doc, dict):
        if "$b64" in doc:
            raw = zlib.decompress(base64.b64decode(doc["$b64"]))
            return np.frombuffer(raw, dtype=np.dtype(doc["dtype"]).newbyteorder("<")).reshape(doc["shape"]).copy()
        if "$nd" in doc:
            return np.array(doc["$nd"], dtype=doc["dtype"]).reshape(doc["shape"])
        if TUPLE in doc and len(doc) == 1:
            return tuple(unpack(v) for v in doc[TUPLE])
        if "$raised" in doc:
            return Raised(doc["$raised"])
        return {k: unpack(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [unpack(v) for v in doc]
    return doc


# --- calling the student's code as the probe does ---------------------------------------------


def _numbers(value, what="returned a value"):
    arr = np.array(value, copy=True, subok=False)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} of dtype {arr.dtype} (expected numbers)")
    return arr


def _value(value, depth=0):
    """A returned value as the grader receives it (arrays, tuples, lists, str, None)."""
    if depth > 3:
        raise ValueError("returned a value nested too deeply")
    if value is None or isinstance(value, str):
        return value if value is None else value[:200]
    if type(value) is tuple:
        return tuple(_value(v, depth + 1) for v in value)
    if type(value) is list and 0 < len(value) <= 64:
        try:
            return _numbers(value)
        except (TypeError, ValueError):
            return [_value(v, depth + 1) for v in value]
    return _numbers(value)


def _call(env, call, inputs, make_rng=None):
    fn = env[call["function"]]
    make_rng = make_rng or generators()
    args = [decode_arg(a, inputs, make_rng) for a in call.get("args", [])]
    kwargs = {k: decode_arg(v, inputs, make_rng) for k, v in call.get("kwargs", {}).items()}
    before = _snapshot(args + list(kwargs.values()))
    value = _value(fn(*args, **kwargs))
    return value, _modified(before)


def _snapshot(values, depth=0):
    """Copies of every array reachable from the arguments through lists, tuples and dicts, and the
    items of every list and dict: runtime/safe.py's `snapshot`, which the probe uses."""
    found = []
    for v in values:
        if type(v) is np.ndarray:
            found.append((v, v.copy()))
        elif depth < 8 and type(v) in (list, tuple, dict):
            if type(v) is not tuple:
                found.append((v, v.copy()))
            found.extend(_snapshot(list(v.values()) if type(v) is dict else v, depth + 1))
    return found


def _modified(before):
    """Did the call change an array, or replace, add or remove an item of a list or dict?"""
    for v, saved in before:
        if type(saved) is np.ndarray:
            changed = not (v.shape == saved.shape and v.dtype == saved.dtype and v.tobytes() == saved.tobytes())
        elif type(saved) is list:
            changed = len(v) != len(saved) or any(a is not b for a, b in zip(v, saved))
        else:
            changed = set(v) != set(saved) or any(v[k] is not saved[k] for k in saved)
        if changed:
            return True
    return False


def _trajectory(env, call, inputs):
    fn = env[call["function"]]
    state = {k: np.asarray(decode_arg(v, inputs), dtype=float) for k, v in call["state"].items()}
    a, b = (np.asarray(decode_arg(call["grad"][k], inputs), dtype=float) for k in ("a", "b"))
    history = {name: [] for name in call["returns"]}
    for t in range(1, int(call["steps"]) + 1):

        def grad_fn(x):
            return a * np.asarray(x, dtype=float) - b

        special = {"@grad": lambda: grad_fn(state["theta"]), "@grad_fn": lambda: grad_fn, "@t": lambda t=t: t}
        args = [
            special[tok]()
            if tok in special
            else np.array(state[tok[1:]], copy=True)
            if isinstance(tok, str) and tok.startswith("@")
            else tok
            for tok in call["args"]
        ]
        out = fn(*args)
        if type(out) not in (tuple, list) or len(out) != len(call["returns"]):
            raise ValueError(
                f"step {t}: expected a tuple of {len(call['returns'])} values "
                f"({', '.join(call['returns'])}), got {type(out).__name__}"
            )
        for key, value in zip(call["returns"], out):
            state[key] = _numbers(value, f"step {t}: {key} has a value").astype(float)
            history[key].append(state[key])
    try:
        return {key: np.asarray(values) for key, values in history.items()}, False
    except ValueError as exc:
        raise ValueError(f"the returned shapes change between steps: {exc}") from None


def _plain(value):
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else type(v).__name__))


def _describe(model):
    layers = []
    for layer in list(model.layers)[:64]:
        entry = {"class": type(layer).__name__, "trainable": bool(layer.trainable)}
        try:
            entry["config"] = _plain(layer.get_config())
        except Exception as exc:  # noqa: BLE001 - mirrored from the probe: a broken layer is a finding
            entry["config_error"] = str(exc)[:300]
        try:
            entry["params"] = int(layer.count_params())
        except Exception:  # noqa: BLE001 - an unbuilt layer has no params yet
            entry["params"] = None
        layers.append(entry)
    info = {"class": type(model).__name__, "layers": layers}
    try:
        info["input_shape"] = _plain(list(model.input_shape))
    except Exception:  # noqa: BLE001
        info["input_shape"] = None
    loss, opt = getattr(model, "loss", None), getattr(model, "optimizer", None)
    info["compiled"] = {"loss": loss if isinstance(loss, str) or loss is None else type(loss).__name__}
    if opt is not None:
        info["compiled"].update(optimizer=type(opt).__name__, learning_rate=float(np.asarray(opt.learning_rate)))
    return info


def _b_on_a(env, call, inputs):
    import keras

    spec = call["base"]
    keras.utils.set_random_seed(int(call["seed"]))
    model_a = keras.Sequential(
        [
            keras.Input(shape=tuple(spec["input_shape"])),
            keras.layers.Flatten(),
            *(keras.layers.Dense(int(u), activation=f) for u, f in spec["dense"]),
        ]
    )
    model_a.compile(loss=spec["loss"], optimizer=keras.optimizers.SGD(learning_rate=1e-3))
    before = [np.array(w, copy=True) for w in model_a.get_weights()]

    def same(ws, vs):
        return len(ws) == len(vs) and all(w.shape == v.shape and np.array_equal(w, v) for w, v in zip(ws, vs))

    new = env[call["function"]](model_a)
    info = _describe(new)
    reused = [w for layer in new.layers[:-1] for w in layer.get_weights()]
    info["starts_from_model_a"] = same(reused, before[: len(reused)])
    info["model_a_changed_by_build"] = not same(model_a.get_weights(), before)
    for layer in new.layers:
        layer.trainable = True
    new.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.5))
    rng = np.random.default_rng(int(call["seed"]))
    x = rng.random((32, *spec["input_shape"])).astype("float32")
    new.fit(x, (rng.random(32) < 0.5).astype("float32"), epochs=2, batch_size=8, verbose=0)
    info["model_a_changed_by_training"] = not same(model_a.get_weights(), before)
    return info, False


def _initializer(env, call, inputs):
    init = env[call["function"]]()
    info = {"class": type(init).__name__}
    try:
        info["config"] = _plain(init.get_config())
    except Exception as exc:  # noqa: BLE001
        info["config_error"] = f"{type(exc).__name__}: {exc}"
    return {"samples": _numbers(init(shape=tuple(call["shape"]))), "info": info}, False


def _calls(env, call, inputs):
    """Several calls of one function in one case, as the probe makes them: a tuple of their values,
    generators marked `shared` continuing their stream from one call to the next."""
    make_rng, values, modified = generators(), [], False
    for sub in call["calls"][:64]:
        one = {**sub, "function": call["function"]}
        value, changed = _call(env, one, inputs, make_rng) if sub["type"] == "call" else _initializer(env, one, inputs)
        values.append(value)
        modified = modified or changed
    return tuple(values), modified


CALLS = {
    "call": _call,
    "calls": _calls,
    "trajectory": _trajectory,
    "initializer": _initializer,
    "b_on_a": _b_on_a,
    "model": lambda env, call, inputs: (_describe(env[call["function"]]()), False),
    "trained": lambda env, call, inputs: ({**_describe(env[call["name"]]), "model": env[call["name"]]}, False),
}


def run_call(env, call, inputs):
    """(value or Raised, modified_input) of one public case, like the probe's answer."""
    name = call.get("function") or call.get("name")
    if name not in env:
        return Raised("Missing", f"`{name}` is not defined"), False
    try:
        return CALLS[call["type"]](env, call, inputs)
    except BaseException as exc:  # noqa: BLE001 - what the student's code raised is its answer
        if isinstance(exc, KeyboardInterrupt):
            raise
        return Raised(type(exc).__name__, str(exc)[:500]), False


# --- explaining a failed case as compare.py does ---------------------------------------------


def _show(value, limit=300):
    if isinstance(value, Raised):
        return f"raises {value.type}" if value.type not in NO_ANSWER else value.message
    if isinstance(value, np.ndarray):
        for edge in (3, 2, 1):
            text = np.array2string(value, threshold=12, edgeitems=edge, precision=6, max_line_width=120)
            if len(text) <= limit:
                return text if value.ndim == 0 else f"{text} (shape {value.shape})"
        return f"array of shape {value.shape}, dtype {value.dtype}"
    if isinstance(value, Rng):
        return f"np.random.default_rng({value.seed})"
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, (tuple, list)):  # the first 8 items, as compare.py shows them
        inner = ", ".join(_show(v, 120) for v in value[:8]) + (
            f", ... ({len(value):,} items)" if len(value) > 8 else ""
        )
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return repr(value)[:limit]


def _show_arg(arg, inputs):
    return _show(decode_arg(arg, inputs), 200)


def _trajectory_detail(call, inputs, expected, got):
    state = {k: _show(inputs[array_key(v)], 120) for k, v in call["state"].items()}
    for step in range(len(next(iter(expected.values())))):
        wrong = [
            name
            for name in sorted(expected, key=lambda n: (n != "theta", n))
            if not isinstance(got.get(name), np.ndarray)
            or got[name].shape != expected[name].shape
            or not np.allclose(got[name][step], expected[name][step], rtol=1e-6, atol=1e-10)
        ]
        if wrong:
            lines = [f"\n  start:    {', '.join(f'{k}={v}' for k, v in state.items())}", f"\n  step {step + 1}:"]
            for name in wrong:
                mine = got.get(name)
                shown = (
                    _show(mine[step])
                    if isinstance(mine, np.ndarray) and mine.ndim >= 1 and len(mine) > step
                    else _show(mine)
                )
                lines.append(f"\n    {name}: expected {_show(expected[name][step])}, got {shown}")
            return "".join(lines)
    return ""


def explain(case, inputs, message, expected, got):
    """The grader's feedback for a failed public case: what, input, expected, got."""
    call = case["call"]
    text = f"public case ({case['description']}): {message}"
    if call.get("type") == "call":
        parts = [_show_arg(a, inputs) for a in call.get("args", [])]
        parts += [f"{k}={_show_arg(v, inputs)}" for k, v in call.get("kwargs", {}).items()]
        text += f"\n  input:    {call['function']}({', '.join(parts)})"
        if expected is not None:
            text += f"\n  expected: {_show(expected)}"
        text += f"\n  got:      {_show(got)}"
    elif call.get("type") == "trajectory" and isinstance(expected, dict) and isinstance(got, dict):
        try:
            text += _trajectory_detail(call, inputs, expected, got)
        except Exception:  # noqa: BLE001 - the detail is a courtesy, as in compare.py
            pass
    return text


# --- judging a case: the grader's checks, built from what build embedded --------------------------


def task_split(x, y, labels):
    """The images of a task and their labels in it, by the table `build` read off the grader's
    split (models.split_tasks on the ten labels): which labels the task keeps, and as what."""
    table = np.full(10, -1, dtype=np.int64)
    table[labels["keep"]] = labels["as"]
    return x[table[y] >= 0], table[y][table[y] >= 0]


def _trained_check(spec):
    """Accuracy on the real test split (keras' copy), by Keras itself rather than the grader's
    numpy forward pass: the same number for the layers the grader supports."""

    def check(ctx):
        got = ctx.got
        if isinstance(got, Raised):
            return Verdict(False, f"{got.type}: {got.message}")
        import keras

        (_, _), (x, y) = keras.datasets.fashion_mnist.load_data()
        x, y = task_split(x.astype(np.float64) / 255.0, y.astype(np.int64), spec["labels"])
        out = np.asarray(got["model"].predict(x.astype(np.float32), batch_size=2000, verbose=0), dtype=float)
        if out.ndim != 2:
            return Verdict(False, f"the model's output has shape {out.shape[1:]}, expected a vector per image")
        predicted = (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
        return accuracy_verdict(float((predicted == y).mean()), spec["minimum"])

    return check


def _table_of(spec):
    """Augment's digests of call i's candidates, as build stored them for the public inputs."""

    def table(ctx, i):
        call = ctx.case.call.calls[i] if isinstance(ctx.case.call, Calls) else ctx.case.call
        return base64.b64decode(spec["candidates"][f"{array_key(call.args[0])}/{max_shift(ctx, i)}"])

    return table


def grader_check(spec):
    """The grader's check for a case, from its check spec (selfcheck.check_spec + case_data)."""
    kind, params = spec["kind"], spec.get("randomness") or {}
    if kind == "allclose":
        return allclose(spec["rtol"], spec["atol"], spec["same_shape"], spec["returns"])
    if kind == "exact":
        return exact(spec["returns"])
    if kind == "architecture":
        return architecture(spec["compare_compile"])
    if kind == "b_on_a":
        return b_on_a()
    if kind == "trained":
        return _trained_check(spec)
    if kind in ("variance_scaling", "he_avg"):
        made = variance_scaling_check if kind == "variance_scaling" else he_avg_check
        return made(lambda ctx: spec["target"], matrix_check(calls_shape, **params))
    if kind == "dropout":

        def divisor(ctx, i):
            return spec["divisors"][i]

        return dropout_check(divisor, mask_check(**params, decode=mask_decoder(divisor), rate_of=dropout_rate))
    if kind == "augment":
        table = _table_of(spec)
        randomness = choices_check(**params, decode=augment_decoder(table), max_shift_of=lambda ctx: max_shift(ctx, 0))
        return augment_check(table, randomness)
    raise ValueError(f"no check of kind {kind!r}")


def judge(env, case, inputs):
    """(passed, feedback) of one public case on the student's namespace `env`."""
    expected = unpack(case["expected"]) if "expected" in case else None
    got, modified = run_call(env, case["call"], inputs)
    if isinstance(got, Raised) and got.type in NO_ANSWER:
        qid = case["question"]
        message = (
            (
                f"`{qid}` is not defined: did the cell that defines it run without error, and is the name "
                "spelled exactly?"
            )
            if got.type == "Missing"
            else got.message
        )
        passed = False
    else:
        try:
            ctx = CaseContext(
                Case("", from_json(case["call"]), case["description"], True),
                inputs,
                expected,
                got,
                {"modified_input": modified},
            )
            verdict = grader_check(case["check"])(ctx)
            passed, message = verdict.passed, verdict.message
        except Exception as exc:  # noqa: BLE001 - as in compare.py: a crash in a check fails the case
            passed, message = False, f"the returned value could not be checked ({type(exc).__name__})"
    return bool(passed), "" if passed else explain(case, inputs, message, expected, got)


def check_case(env, case, inputs):
    """What each otter test case calls: raise AssertionError with the feedback if it fails."""
    passed, feedback = judge(env, case, {k: unpack(v) for k, v in inputs.items()})
    if not passed:
        raise AssertionError(feedback)
