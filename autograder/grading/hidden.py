"""The hidden cases' numbers, and a filter that keeps them out of anything a student reads.

Hidden cases say what kind of input failed, never the input or the expected value. The grader's
own words keep to that (`compare`), but some text that reaches the feedback is the notebook's:
a public case's exception message and returned value, a failing cell's exception message. Two
structural rules keep hidden inputs out of that text: no cell can read them (the supervisor
hands them to the probe after the last cell), and every public call comes before any hidden one
(`Plan.calls`), so no function has seen one when its public answer is taken. This filter is what
is left for the numbers of a hidden case itself, and for a rule broken: `HiddenValues.redact`
replaces every number in such text that equals a hidden input or expected value (rounded or cut
to 6 significant digits or more), and every run of digits holding 9 of a hidden value's digits in
a row, by `SHOWN_INSTEAD`.

It is a filter on decimal digits: a notebook that spells its digits out another way (letters,
one digit per word) gets past it. Values with few significant digits (0.5, 3, a shape) are not
secret and are left alone; so are those the public cases use too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from .. import wire
from ..wire import CallOutput, Raised
from .prepare import Plan, call_id

MIN_DIGITS = 6  # a number shown with fewer significant digits is not taken for a hidden value
RUN_DIGITS = 9  # a digit run holding this many of a hidden value's digits in a row is one
SHOWN_INSTEAD = "[hidden value]"
MAX_ARRAY = 10_000  # larger hidden arrays are random noise for statistics questions (see `_numbers`)
MAX_TEXT = 100_000  # what is filtered of one text (the texts that reach it are bounded far below)

_NUMBER = re.compile(r"(?<![0-9.])(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
_RUN = re.compile(rf"[0-9]{{{RUN_DIGITS},}}")


def _numbers(value: Any) -> Iterator[float]:
    """Every finite, non-integer-valued float in a decoded value or a call's JSON (arrays,
    nested lists, tuples and dicts), and integers long enough to be a seed; other integers are
    sizes, counts and classes. Arrays larger than `MAX_ARRAY` are left out: the noise a
    statistics question is tried on is no secret worth a second of work per assignment."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, np.ndarray):
            if v.dtype.kind == "f" and v.size <= MAX_ARRAY:
                flat = np.unique(v[np.isfinite(v)].astype(float))
                yield from (float(x) for x in flat if x != round(x))
        elif isinstance(v, (float, np.floating)) and np.isfinite(v) and v != round(v):
            yield float(v)
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** (MIN_DIGITS - 1):
            yield float(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def _keys(value: float) -> set[str]:
    """The forms of `value` a text could show with `MIN_DIGITS` or more significant digits:
    rounded and cut, as "<digits>e<exponent of the first digit>"."""
    mantissa, exponent = f"{abs(value):.16e}".split("e")
    digits, exp = mantissa.replace(".", ""), int(exponent)
    keys = set()
    for k in range(MIN_DIGITS, 18):
        mantissa, exponent = f"{abs(value):.{k - 1}e}".split("e")
        shown = mantissa.replace(".", "").rstrip("0")
        if len(shown) >= MIN_DIGITS:
            keys.add(f"{shown}e{int(exponent)}")
        cut = digits[:k].rstrip("0")
        if len(cut) >= MIN_DIGITS:
            keys.add(f"{cut}e{exp}")
    return keys


def _runs(value: float) -> set[str]:
    digits = f"{abs(value):.16e}".split("e")[0].replace(".", "")
    rounded = f"{abs(value):.{RUN_DIGITS - 1}e}".split("e")[0].replace(".", "")
    return {digits[:RUN_DIGITS], rounded}


def _token_key(token: str) -> str | None:
    """A number as text, in the form of `_keys` (None: too few significant digits to tell)."""
    try:
        number = Decimal(token).normalize()
    except InvalidOperation:
        return None
    digits = "".join(str(d) for d in number.as_tuple().digits).lstrip("0")
    if len(digits) < MIN_DIGITS or not number:
        return None
    return f"{digits}e{number.adjusted()}"


class HiddenValues:
    """The numbers of a plan's hidden cases (inputs, inline arguments, the reference's answers),
    minus those the public cases have too, in the forms `redact` looks for."""

    def __init__(self, secret: Iterable[float], public: Iterable[float] = ()) -> None:
        known = set(public)
        values = set(secret) - known
        self._keys: set[str] = set()
        self._runs: set[str] = set()
        for v in values:
            single = float(np.float32(v))  # as a notebook computing in float32 would show it
            self._keys |= _keys(v) | _keys(single)
            self._runs |= _runs(v) | _runs(single)
        self.count = len(values)

    @classmethod
    def of(cls, plan: Plan, reference: Mapping[str, CallOutput]) -> HiddenValues:
        secret: list[float] = []
        public: list[float] = []
        for question in plan.assignment.questions:
            for case in plan.cases[question.id]:
                found = public if case.public else secret
                doc = case.call.to_json()
                found.extend(_numbers([plan.inputs[k] for k in wire.array_keys(doc) if k in plan.inputs]))
                found.extend(_numbers(doc))
                answer = reference.get(call_id(question.id, case.id))
                if answer is not None and not isinstance(answer.value, Raised):
                    found.extend(_numbers(answer.value))
        return cls(secret, public)

    def redact(self, text: str) -> str:
        """`text` with every hidden value it shows replaced by `SHOWN_INSTEAD`."""
        if not self.count:
            return text
        text = text[:MAX_TEXT]

        def number(m: re.Match[str]) -> str:
            return SHOWN_INSTEAD if _token_key(m.group(0)) in self._keys else m.group(0)

        def run(m: re.Match[str]) -> str:
            digits = m.group(0)
            windows = (digits[i : i + RUN_DIGITS] for i in range(len(digits) - RUN_DIGITS + 1))
            return SHOWN_INSTEAD if any(w in self._runs for w in windows) else digits

        return _RUN.sub(run, _NUMBER.sub(number, text))


NOTHING_HIDDEN = HiddenValues(())
