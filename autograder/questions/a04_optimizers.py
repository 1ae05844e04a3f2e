"""04: optimizers, graded on multi-step trajectories (a state bug shows from step 2 on)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..judging.checks import allclose
from .base import Assignment, CaseBuilder, Picture, Question

TOL = allclose(rtol=1e-6, atol=1e-10)
STEPS = 10


@dataclass(frozen=True)
class Optimizer:
    function: str
    states: tuple[str, ...]  # state variables besides theta, in argument order
    gradient: str  # "@grad" (an array) or "@grad_fn" (a callable)
    hyper: tuple[str, ...]  # names of the positional hyper-parameters after the states
    with_step: bool = False  # adam takes t after its states

    def args(self) -> list[str]:
        return ["@theta", self.gradient, *(f"@{s}" for s in self.states), *(["@t"] if self.with_step else [])]


OPTIMIZERS = {
    "momentum_step": Optimizer("momentum_step", ("m",), "@grad", ("learning_rate", "beta")),
    "nesterov_step": Optimizer("nesterov_step", ("m",), "@grad_fn", ("learning_rate", "beta")),
    "adagrad_step": Optimizer("adagrad_step", ("s",), "@grad", ("learning_rate", "epsilon")),
    "rmsprop_step": Optimizer("rmsprop_step", ("s",), "@grad", ("learning_rate", "beta", "epsilon")),
    "adam_step": Optimizer("adam_step", ("m", "s"), "@grad", ("learning_rate", "beta1", "beta2", "epsilon"), True),
}
DEFAULTS = {
    "momentum_step": {"learning_rate": 0.05, "beta": 0.9},
    "nesterov_step": {"learning_rate": 0.05, "beta": 0.9},
    "adagrad_step": {"learning_rate": 0.5, "epsilon": 1e-10},
    "rmsprop_step": {"learning_rate": 0.05, "beta": 0.9, "epsilon": 1e-10},
    "adam_step": {"learning_rate": 0.1, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-10},
}


def trajectory(
    b: CaseBuilder, description: str, opt: Optimizer, theta: np.ndarray, a: np.ndarray, c: np.ndarray, **hyper: float
) -> None:
    """`STEPS` steps on the quadratic bowl 1/2 a theta^2 - c theta (gradient a*theta - c)."""
    values = {**DEFAULTS[opt.function], **hyper}
    theta = np.asarray(theta, dtype=float)
    b.trajectory(
        description,
        opt.function,
        steps=STEPS,
        state={"theta": theta, **{s: np.zeros_like(theta) for s in opt.states}},
        args=[*opt.args(), *(values[h] for h in opt.hyper)],
        returns=["theta", *opt.states],
        a=a,
        b=c,
    )


PUBLIC_BOWL = f"{STEPS} steps on an elongated bowl, 3 parameters, starting at [1, -2, 0.5]"


def _public(opt: Optimizer):
    def make(b: CaseBuilder) -> None:
        trajectory(
            b, PUBLIC_BOWL, opt, np.array([1.0, -2.0, 0.5]), np.array([1.0, 10.0, 0.1]), np.array([0.0, 1.0, 0.0])
        )

    return make


def _hidden(opt: Optimizer):
    def make(b: CaseBuilder, rng: np.random.Generator) -> None:
        shape = (3, 4)
        trajectory(
            b, "2-D parameters", opt, rng.normal(0, 2, shape), rng.uniform(0.1, 5, shape), rng.normal(0, 1, shape)
        )
        trajectory(b, "0-d parameter", opt, np.array(rng.normal(0, 2)), np.array(2.0), np.array(0.5))
        trajectory(b, "tiny gradients", opt, rng.normal(0, 1e-6, 5), np.full(5, 1e-3), np.zeros(5))
        other = {h: DEFAULTS[opt.function][h] for h in opt.hyper}
        for h in opt.hyper:
            if h == "epsilon":
                other[h] = 0.5
            elif h.startswith("beta"):
                other[h] = float(np.round(rng.uniform(0.5, 0.95), 3))
            else:
                other[h] = float(np.round(rng.uniform(0.01, 0.2), 3))
        trajectory(
            b,
            "other hyper-parameters (a large epsilon)" if "epsilon" in other else "other hyper-parameters",
            opt,
            rng.normal(0, 2, 6),
            rng.uniform(0.1, 5, 6),
            rng.normal(0, 1, 6),
            **other,
        )
        if opt.gradient == "@grad_fn":
            return  # a callable cannot travel as plain data to a plain call; the trajectories cover it
        theta, grad = rng.normal(0, 1, 4), rng.normal(0, 1, 4)
        states = [rng.uniform(0.1, 1, 4) for _ in opt.states]
        b.call(
            "one step from a non-zero state (must not modify its inputs)",
            opt.function,
            theta,
            grad,
            *states,
            *([3] if opt.with_step else []),
            *(DEFAULTS[opt.function][h] for h in opt.hyper),
        )

    return make


# What each hidden trajectory catches, said without its values.
HINTS = {
    "2-D parameters": "parameters of any shape: element-wise updates, the state keeps theta's shape",
    "0-d parameter": "a 0-d parameter: no indexing or len()",
    "tiny gradients": "with tiny gradients epsilon's place shows: inside the square root, as the contract says",
    "other hyper-parameters (a large epsilon)": (
        "use every hyper-parameter passed; a large epsilon shows whether it is inside the square root"
    ),
    "other hyper-parameters": "use every hyper-parameter passed, not the defaults",
    "one step from a non-zero state (must not modify its inputs)": (
        "start from the state given and return new arrays instead of updating the inputs in place"
    ),
}

ASSIGNMENT = Assignment(
    id="04_optimizers",
    title="Optimizers",
    questions=tuple(
        Question(
            id=name,
            points=2.0,
            make_public=_public(opt),
            make_hidden=_hidden(opt),
            check=TOL,
            picture=Picture("trajectory", PUBLIC_BOWL),
            hints=HINTS,
        )
        for name, opt in OPTIMIZERS.items()
    ),
)
