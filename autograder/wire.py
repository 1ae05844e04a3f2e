"""What crosses the sandbox boundary: the calls the probe makes and the encoding of their values.

One module, on both sides of the trust boundary: the grader imports it to declare cases and read
answers, the sandbox's runner loads a private copy before any student code runs (runtime/runner.py),
and the self-check pastes it into each notebook (selfcheck.py). That is why it imports only the
standard library and numpy, and why it does not use `from __future__ import annotations` (a
dataclass whose annotations are strings cannot be created in a module absent from `sys.modules`,
which is what the runner's private copy is).

A call kind is a frozen dataclass with `to_json`/`from_json`; calls.json holds `{"id", "type", ...}`
per call, in exactly the shape `to_json` writes. Adding a kind: a dataclass here (listed in `KINDS`),
a handler in the sandbox (`runtime/handlers.py`, or a `*_calls.py` file beside the question module
that needs it), a `CaseBuilder` method (`questions/base.py`); `compare` explains a failed `Call` or
`Trajectory` in detail and any other kind by its check's message.

Argument encodings (grader -> sandbox): JSON scalars and lists as they are; `{"$array": key}` an
array of inputs.npz; `{"$tuple": [...]}` a tuple; `{"$rng": seed}` a fresh numpy Generator, with
`"shared": true` inside a `Calls` case one Generator per seed for the whole case (consecutive calls
continue its stream). Returned values (sandbox -> grader): `{"$array": key}` into arrays.npz,
`{"$tuple": [...]}`, `{"$list": [...]}` (a list that is not one array), `{"$str": s}`, `{"$none": true}`.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ARRAY, TUPLE, RNG, SHARED = "$array", "$tuple", "$rng", "shared"
LIST, STR, NONE = "$list", "$str", "$none"

# Bound when this module is loaded: in the sandbox that is before any student code runs, so a
# notebook that patches numpy afterwards does not change how arguments are made.
_copy_array = np.array
_default_rng = np.random.default_rng
_str_copy = str.__str__


# --- what comes back for one call ---------------------------------------------------------------


# Raised types that mean "the probe got no answer", as opposed to an exception the code raised.
NO_ANSWER = {"Missing", "NoOutput", "Timeout", "BadOutput"}


@dataclass(frozen=True)
class Raised:
    """What a call raised (or why it gave no answer), in place of a value."""

    type: str
    message: str = ""


@dataclass(frozen=True)
class Warned:
    """A warning a call raised, `count` times: its category's name and its message, as the
    student's code made them (student text: `grading.compare` decides what of it may be shown)."""

    category: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class CallOutput:
    """One call's answer as the grader reads it: the decoded value, or a `Raised`, whether the
    call modified an array reachable from its arguments, and the warnings it raised."""

    value: Any
    modified_input: bool = False
    warnings: tuple[Warned, ...] = ()


# --- argument encoding --------------------------------------------------------------------------


def array_ref(key: str) -> dict[str, str]:
    return {ARRAY: key}


def tuple_ref(items: Any) -> dict[str, list[Any]]:
    return {TUPLE: list(items)}


def rng_ref(seed: int, shared: bool = False) -> dict[str, Any]:
    """A generator argument: fresh, or (shared) one generator for every call of a `Calls` case."""
    return {RNG: int(seed), SHARED: True} if shared else {RNG: int(seed)}


def array_key(arg: Any) -> str | None:
    """The inputs.npz key an argument refers to, or None if it is not an array reference."""
    return arg[ARRAY] if isinstance(arg, dict) and ARRAY in arg else None


def array_keys(spec: Any) -> list[str]:
    """Every array a call's JSON refers to (what a self-check must embed for it)."""
    if isinstance(spec, dict):
        return [spec[ARRAY]] if set(spec) == {ARRAY} else [k for v in spec.values() for k in array_keys(v)]
    if isinstance(spec, list):
        return [k for v in spec for k in array_keys(v)]
    return []


@dataclass(frozen=True)
class Rng:
    """A generator argument as a check sees it: its seed (the check never draws from it)."""

    seed: int
    shared: bool = False


def decode_arg(arg: Any, inputs: dict[str, Any], make_rng: Any = None) -> Any:
    """An encoded argument as the function receives it: arrays copied from `inputs` (a function
    that changes its input changes a copy), tuples as tuples, generators made by `make_rng(seed,
    shared)` (the probe's live generators), or `Rng` markers when no `make_rng` is given."""
    if isinstance(arg, dict):
        if ARRAY in arg:
            return _copy_array(inputs[arg[ARRAY]], copy=True)
        if RNG in arg:
            seed, shared = int(arg[RNG]), arg.get(SHARED) is True
            return make_rng(seed, shared) if make_rng is not None else Rng(seed, shared)
        if TUPLE in arg:
            return tuple(decode_arg(a, inputs, make_rng) for a in arg[TUPLE])
    if isinstance(arg, list):
        return [decode_arg(a, inputs, make_rng) for a in arg]
    return arg


def generators() -> Any:
    """A `make_rng` for one case: fresh generators, except that a shared seed gives the same
    generator to every call of the case."""
    shared: dict[int, Any] = {}

    def make(seed: int, is_shared: bool) -> Any:
        if not is_shared:
            return _default_rng(seed)
        if seed not in shared:
            shared[seed] = _default_rng(seed)
        return shared[seed]

    return make


def encode_value(value: Any, add_array: Any, depth: int = 0) -> Any:
    """A returned value as JSON with array references (`add_array(value)` stores one array and
    returns its reference, or raises TypeError/ValueError for what is not numbers)."""
    if depth > 3:
        raise ValueError("returned a value nested too deeply")
    if value is None:
        return {NONE: True}
    if isinstance(value, str):
        return {STR: _str_copy(value)[:200]}
    if type(value) is tuple:
        if len(value) > 64:
            raise ValueError("returned a tuple that is too long")
        return {TUPLE: [encode_value(v, add_array, depth + 1) for v in value]}
    if type(value) is list and 0 < len(value) <= 64:
        try:
            return add_array(value)
        except (TypeError, ValueError):
            return {LIST: [encode_value(v, add_array, depth + 1) for v in value]}
    return add_array(value)


# --- call kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """`function(*args, **kwargs)` -> its return value (and whether it changed an input array)."""

    function: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    kind = "call"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "function": self.function, "args": list(self.args), "kwargs": dict(self.kwargs)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Call":
        return cls(str(doc["function"]), tuple(doc.get("args", [])), dict(doc.get("kwargs", {})))

    def decoded_args(self, inputs: dict[str, Any], make_rng: Any = None) -> list[Any]:
        return [decode_arg(a, inputs, make_rng) for a in self.args]

    def decoded_kwargs(self, inputs: dict[str, Any], make_rng: Any = None) -> dict[str, Any]:
        return {k: decode_arg(v, inputs, make_rng) for k, v in self.kwargs.items()}


@dataclass(frozen=True)
class Trajectory:
    """`steps` calls of an optimizer step on the bowl 1/2 a theta^2 - b theta, each fed the state
    the previous one returned -> {state name: its history, shape (steps, ...)}. `args` tokens:
    "@name" a state variable, "@grad" the gradient a*theta - b at theta, "@grad_fn" that gradient
    as a callable, "@t" the step number; anything else is passed as it is."""

    function: str
    steps: int
    state: dict[str, Any]
    args: tuple[Any, ...]
    returns: tuple[str, ...]
    a: Any
    b: Any
    kind = "trajectory"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "function": self.function,
            "steps": self.steps,
            "state": dict(self.state),
            "args": list(self.args),
            "returns": list(self.returns),
            "grad": {"a": self.a, "b": self.b},
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Trajectory":
        return cls(
            str(doc["function"]),
            int(doc["steps"]),
            dict(doc["state"]),
            tuple(doc["args"]),
            tuple(str(r) for r in doc["returns"]),
            doc["grad"]["a"],
            doc["grad"]["b"],
        )


@dataclass(frozen=True)
class Initializer:
    """`function()(shape)` -> the samples of the initializer it returns, and its config."""

    function: str
    shape: tuple[int, ...]
    kind = "initializer"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "function": self.function, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Initializer":
        return cls(str(doc["function"]), tuple(int(d) for d in doc["shape"]))


@dataclass(frozen=True)
class Model:
    """`function()` -> the architecture of the Keras model it returns."""

    function: str
    kind = "model"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "function": self.function}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Model":
        return cls(str(doc["function"]))


@dataclass(frozen=True)
class Trained:
    """The notebook's variable `name` (a trained model) -> its architecture and weights."""

    name: str
    kind = "trained"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "name": self.name}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Trained":
        return cls(str(doc["name"]))


@dataclass(frozen=True)
class BOnA:
    """`function(model_A)` with a model_A the grader builds from `base` and `seed` -> the new
    model's architecture, and whether building or training it changed model_A (notebook 03)."""

    function: str
    base: dict[str, Any]
    seed: int
    kind = "b_on_a"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "function": self.function, "base": self.base, "seed": self.seed}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "BOnA":
        return cls(str(doc["function"]), dict(doc["base"]), int(doc["seed"]))


@dataclass(frozen=True)
class Calls:
    """Several calls of one function, made one after another in one case -> a tuple of their
    values: how a random function is judged (the same seed twice, other seeds, consecutive draws).
    Each sub-call is a `Call` or an `Initializer` of `function`."""

    function: str
    calls: tuple[Any, ...]
    kind = "calls"

    def to_json(self) -> dict[str, Any]:
        subs = [{k: v for k, v in c.to_json().items() if k != "function"} for c in self.calls]
        return {"type": self.kind, "function": self.function, "calls": subs}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Calls":
        function = str(doc["function"])
        subs = [from_json({**sub, "function": function}) for sub in doc["calls"][:64]]
        if not all(isinstance(s, (Call, Initializer)) for s in subs):
            raise ValueError("a `calls` case holds calls and initializers only")
        return cls(function, tuple(subs))


def target(call: Any) -> str:
    """The name a call needs the notebook to define."""
    return call.name if isinstance(call, Trained) else call.function


KINDS = {cls.kind: cls for cls in (Call, Trajectory, Initializer, Model, Trained, BOnA, Calls)}


def from_json(doc: dict[str, Any]) -> Any:
    """The call kind a calls.json entry (or a self-check spec) describes; KeyError if unknown."""
    return KINDS[doc["type"]].from_json(doc)
