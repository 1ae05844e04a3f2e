"""From an assignment's declarations and a seed to the calls the probe makes and their inputs.

Public cases never depend on the seed (self-checks stay stable); hidden cases are drawn from
`numpy.random.default_rng([seed, question number])`, so each question's cases depend only on
the seed and its own position, and a regrade with the recorded seed sees the same inputs.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..questions.base import Assignment, Case, CaseBuilder
from .cache import locked


@dataclass(frozen=True)
class Plan:
    assignment: Assignment
    seed: int
    cases: dict[str, tuple[Case, ...]]
    inputs: dict[str, np.ndarray]

    def calls(self, *, reference: bool = False) -> list[dict[str, Any]]:
        """The probe's call list, every question's public cases before any hidden one; the
        reference run leaves out questions judged without one.

        Why public first: what a public case returns or raises is shown to the student at once,
        and a function that saw a hidden case's inputs could keep them for a later public call and
        spell them there in a way no filter of digits reads. After the first hidden call nothing
        the notebook says is shown but what a hidden case may say (`Verdict.hidden`)."""
        calls = []
        for public in (True, False):
            for question in self.assignment.questions:
                if reference and not question.uses_reference:
                    continue
                for case in self.cases[question.id]:
                    if case.public is public:
                        calls.append({"id": call_id(question.id, case.id), **case.call.to_json()})
        return calls

    def fingerprint(self) -> str:
        digest = hashlib.sha256(repr(self.calls()).encode())
        for key in sorted(self.inputs):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(self.inputs[key]).tobytes())
            digest.update(str(self.inputs[key].dtype).encode())
        return digest.hexdigest()


def call_id(question_id: str, case_id: str) -> str:
    return f"{question_id}/{case_id}"


def make_plan(assignment: Assignment, seed: int, *, hidden: bool = True) -> Plan:
    cases: dict[str, tuple[Case, ...]] = {}
    inputs: dict[str, np.ndarray] = {}
    for number, question in enumerate(assignment.questions):
        public = CaseBuilder(question.id, public=True)
        question.make_public(public)
        found = list(public.cases)
        inputs.update(public.arrays)
        if hidden and question.make_hidden is not None:
            secret = CaseBuilder(question.id, public=False)
            question.make_hidden(secret, np.random.default_rng([seed, number]))
            found += secret.cases
            inputs.update(secret.arrays)
        cases[question.id] = tuple(found)
    return Plan(assignment, seed, cases, inputs)


def sandbox_data_dir(cache_dir: Path) -> Path:
    """Fashion-MNIST as the sandbox sees it: the real training split, and a stand-in test split.

    The stand-in is the last 10,000 training images and labels, written as the t10k files, so
    that notebooks run unchanged while no submission can see (and train on) the real test split.
    """
    target = cache_dir / "fashion-mnist-sandbox"
    with locked(target):
        if not (target / "complete").is_file():
            _write_stand_in(cache_dir, target)
    return target


def _write_stand_in(cache_dir: Path, target: Path) -> None:
    (x_train, y_train), _ = data.load_fashion_mnist()
    tmp = cache_dir / "fashion-mnist-sandbox.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    data.write_idx(tmp / data.FILES["x_train"], x_train)
    data.write_idx(tmp / data.FILES["y_train"], y_train)
    data.write_idx(tmp / data.FILES["x_test"], x_train[-10000:])
    data.write_idx(tmp / data.FILES["y_test"], y_train[-10000:])
    (tmp / "complete").write_text("stand-in test split = last 10000 training images\n")
    for path in [tmp, *tmp.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
