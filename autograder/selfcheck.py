"""Students' self-checks: the public cases, run in the student's own notebook through otter.

`build` writes one otter test file per question (exception-style, `OK_FORMAT = False`) into
`assignments/tests/<assignment>/`. Each calls `run_public_checks` here with the notebook's
globals and the public expected values embedded in the file. The cases, the probe's way of
calling a function and the checks are the grader's own, so a self-check and the grade cannot
disagree on a public case. Nothing hidden is involved: no hidden case, no seed, no reference
beyond the public expected values.

This runs in the student's kernel by design (it is a convenience, not a grade): the grade is
computed by the sandboxed pipeline, never by these tests.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .collect import CallOutput, Raised, decode
from .compare import NO_ANSWER, score_question
from .prepare import call_id, make_plan
from .questions import get_assignment
from .runtime import probe

SIGNIFICANT_DIGITS = 10  # embedded values are rounded: rebuilds stay byte-identical across CPUs


def encode_expected(value: Any) -> Any:
    """Plain JSON for an expected value (arrays as nested lists with their dtype)."""
    if isinstance(value, Raised):
        return {"$raised": value.type}
    if isinstance(value, np.ndarray):
        data = value.astype(float) if value.dtype.kind == "f" else value
        if data.dtype.kind == "f":
            data = np.vectorize(lambda v: float(f"{v:.{SIGNIFICANT_DIGITS}g}"), otypes=[float])(data) if data.size else data
        return {"$nd": data.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"$tuple": [encode_expected(v) for v in value]}
    if isinstance(value, list):
        return [encode_expected(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_expected(v) for k, v in value.items()}
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def decode_expected(doc: Any) -> Any:
    if isinstance(doc, dict):
        if "$raised" in doc:
            return Raised(doc["$raised"], "")
        if "$nd" in doc:
            return np.array(doc["$nd"], dtype=doc["dtype"]).reshape(doc["shape"])
        if "$tuple" in doc:
            return tuple(decode_expected(v) for v in doc["$tuple"])
        return {k: decode_expected(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [decode_expected(v) for v in doc]
    return doc


def _run_call(env: dict[str, Any], call: dict[str, Any], inputs: dict[str, np.ndarray]) -> CallOutput:
    """One public case, called exactly as the probe calls it in the sandbox."""
    name = call.get("function") or call.get("name")
    if name not in env:
        return CallOutput(Raised("Missing", f"`{name}` is not defined"))
    arrays = probe.Arrays()
    try:
        result = probe._HANDLERS[call["type"]](env, call, inputs, arrays)
    except Exception as exc:  # noqa: BLE001 - the student's exception is the answer
        return CallOutput(Raised(type(exc).__name__, str(exc)[:500]))
    return CallOutput(decode(result["value"], arrays.store), bool(result.get("modified_input")))


def run_public_checks(assignment_id: str, question_id: str, env: dict[str, Any], expected_json: str) -> None:
    """Raise AssertionError with readable feedback unless every public case passes."""
    assignment = get_assignment(assignment_id)
    plan = make_plan(assignment, seed=0, hidden=False)
    question = assignment.question(question_id)
    expected = {cid: decode_expected(v) for cid, v in json.loads(expected_json).items()}
    student: dict[str, CallOutput] = {}
    for case in plan.cases[question_id]:
        cid = call_id(question_id, case.id)
        student[cid] = _run_call(env, {"id": cid, **case.call}, plan.inputs)
    reference = {cid: CallOutput(value) for cid, value in expected.items()}
    for case in plan.cases[question_id]:
        reference.setdefault(call_id(question_id, case.id), CallOutput(None))
    result = score_question(question, plan, student, reference)
    if result.cases_passed != result.cases_total:
        raise AssertionError(f"{question_id}: {result.cases_passed} of {result.cases_total} public cases pass\n"
                             + "\n".join(result.feedback))


def public_expected(question_id: str, reference: dict[str, CallOutput], plan_cases: Any,
                    keep_values: bool) -> dict[str, Any]:
    """What a self-check file embeds: every public case's expected value, or only the exceptions
    expected where the check does not compare values (random functions: no samples embedded)."""
    out = {}
    for case in plan_cases:
        cid = call_id(question_id, case.id)
        value = reference[cid].value if cid in reference else None
        if isinstance(value, Raised) and value.type in NO_ANSWER:
            raise ValueError(f"the reference gave no answer for {cid}")
        if keep_values or isinstance(value, Raised):
            out[cid] = encode_expected(value)
    return out
