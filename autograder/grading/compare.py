"""Score a submission's outputs against the reference outputs (trusted side).

Per question, every case is judged by the question's check. The score is the question's points
times the fraction of cases passed. Feedback shows input, expected and got for public cases, and
for hidden cases only what kind of case failed and what went wrong, never the values.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import wire
from ..errors import InfrastructureError
from ..judging.verdict import CaseContext, Verdict, fixed_failure
from ..questions.base import Question
from ..questions.pictures import picture_data
from ..result import CaseResult, QuestionResult, QuestionStatus
from ..wire import NO_ANSWER, CallOutput, Raised
from .hidden import HiddenValues
from .prepare import Plan, call_id


def compare(
    plan: Plan,
    student: Mapping[str, CallOutput],
    reference: Mapping[str, CallOutput],
    hidden: HiddenValues | None = None,
) -> list[QuestionResult]:
    """Every question scored; `hidden` (made from the plan and the reference if not given) keeps
    the hidden cases' numbers out of the notebook's own text in the feedback."""
    hidden = hidden if hidden is not None else HiddenValues.of(plan, reference)
    return [score_question(q, plan, student, reference, hidden) for q in plan.assignment.questions]


def score_question(
    question: Question,
    plan: Plan,
    student: Mapping[str, CallOutput],
    reference: Mapping[str, CallOutput],
    hidden: HiddenValues | None = None,
) -> QuestionResult:
    hidden = hidden if hidden is not None else HiddenValues.of(plan, reference)
    cases = plan.cases[question.id]
    results: list[CaseResult] = []
    failures: list[_Failure] = []
    kinds: list[str] = []
    picture: dict[str, Any] | None = None
    for case in cases:
        cid = call_id(question.id, case.id)
        got = student.get(cid, CallOutput(Raised("NoOutput", "no output")))
        expected = None
        if question.uses_reference:
            expected = reference[cid].value
            if isinstance(expected, Raised) and expected.type in NO_ANSWER:
                raise InfrastructureError(
                    f"the reference solution gave no answer for {cid}: {expected.type}: {expected.message}"
                )
        cause = None
        if isinstance(got.value, Raised) and got.value.type in NO_ANSWER:
            kinds.append(got.value.type)
            verdict = Verdict(False, _no_answer_message(question.id, got.value))
            cause = _cause(question.id, got.value, expected)
        else:
            kinds.append("raised" if isinstance(got.value, Raised) else "answer")
            ctx = CaseContext(case, plan.inputs, expected, got.value, {"modified_input": got.modified_input})
            verdict = _safe_check(question, ctx)
            if verdict.passed and question.warning_free and got.warnings:
                verdict = _warned(got.warnings, question.warning_free)
            if not verdict.passed and _pictured(question, case.public, case.description):
                picture = picture_data(question.picture, ctx)
            if not verdict.passed and isinstance(got.value, Raised):
                cause = _cause(question.id, got.value, expected)
        if not case.public and not verdict.passed and isinstance(got.value, Raised):
            verdict = Verdict(False, _hidden_raise(question.id, got.value, expected))
        elif not case.public and not verdict.passed:
            verdict = Verdict(False, verdict.hidden or HIDDEN_WRONG)
        if not verdict.passed:  # a public case's message may hold the notebook's text: no hidden value in it
            hint = "" if cause is not None else question.hints.get(case.description, "")
            verdict = Verdict(False, hidden.redact(_with_hint(verdict.message, hint)))
        results.append(CaseResult(case.id, case.public, verdict.passed, case.description, verdict.message))
        if not verdict.passed:
            line = hidden.redact(
                _explain(case.public, case.description, verdict.message, case.call, plan.inputs, expected, got.value)
            )
            failures.append(_Failure(case.public, case.description, verdict.message, line, cause))
    feedback = _one_line_per_cause(failures, len(cases))
    passed = sum(r.passed for r in results)
    total = len(results)
    score = round(question.points * passed / total, 4) if total else 0.0
    return QuestionResult(
        question.id,
        score,
        question.points,
        _status(passed, total, kinds),
        passed,
        total,
        tuple(feedback),
        tuple(results),
        picture,
    )


def _pictured(question: Question, public: bool, description: str) -> bool:
    """Is this the case the question's picture is drawn from? Only ever a public one."""
    return question.picture is not None and public and description == question.picture.case


def _safe_check(question: Question, ctx: CaseContext) -> Verdict:
    """A check must not crash on strange student data; if it does, the case fails, visibly."""
    try:
        return question.check(ctx)
    except Exception as exc:  # noqa: BLE001 - any failure to judge is a failed case, not a crash
        return fixed_failure(f"the returned value could not be checked ({type(exc).__name__})")


def _status(passed: int, total: int, kinds: list[str]) -> QuestionStatus:
    if total and passed == total:
        return QuestionStatus.PASSED
    if passed:
        return QuestionStatus.PARTIAL
    if kinds and all(k == "Missing" for k in kinds):
        return QuestionStatus.MISSING
    if "Timeout" in kinds:
        return QuestionStatus.TIMEOUT
    if kinds and all(k != "answer" for k in kinds):
        return QuestionStatus.ERROR
    return QuestionStatus.FAILED


# What a hidden case says when its check has no words for it that an answer cannot choose
# (`Verdict.hidden`): a statistic, a shape or a text of the answer could carry the hidden inputs.
HIDDEN_WRONG = "wrong answer (a hidden case shows no detail of it: the detail could carry the case's inputs)"

# What a hidden case that raised may say: the student's code chose the exception's message and its
# class's name, and it saw the hidden inputs, so either could carry them to the feedback. Only a
# builtin exception's name is shown, and the grader's own words for a case with no answer.
BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)
HIDDEN_NO_ANSWER = {
    "NoOutput": "no output for this case",
    "Timeout": "did not finish within its time limit",
    "BadOutput": "its answer is not plain data within the grader's bounds",
}


# The probe's and the collector's own words for a case without an answer (runtime/probe.py,
# collect.NO_OUTPUT): a hidden case shows one of these as it is, any other text by its kind only.
_OWN_WORDS = re.compile(
    r"did not return within \d{1,4}(\.\d)? s"  # a limit in seconds, no room for a value
    r"|did not finish within its time limit and had to be stopped from outside; skipped in a rerun"
    r"|not run: another case of this function hung in an earlier attempt"
    r"|the notebook did not get as far as this check \(see the execution errors\)"
)


def _cause(qid: str, raised: Raised, expected: Any) -> str:
    """Why a case that raised (or gave no answer) failed, in words safe for a hidden case: the
    same for every case that failed the same way, so that they can share one line."""
    if raised.type == "Missing":
        return _no_answer_message(qid, raised)
    if raised.type in HIDDEN_NO_ANSWER:
        return raised.message if _OWN_WORDS.fullmatch(raised.message) else HIDDEN_NO_ANSWER[raised.type]
    name = raised.type if raised.type in BUILTIN_EXCEPTIONS else "an exception of the notebook's own class"
    if isinstance(expected, Raised):
        return f"raised {name}, expected {expected.type}"
    return f"raised {name}"


def _hidden_raise(qid: str, raised: Raised, expected: Any) -> str:
    cause = _cause(qid, raised, expected)
    if raised.type in NO_ANSWER or isinstance(expected, Raised):
        return cause
    return f"{cause} (a hidden case's message is not shown: it could carry the case's inputs)"


def _no_answer_message(qid: str, raised: Raised) -> str:
    if raised.type == "Missing":
        return (
            f"`{qid}` is not defined: did the cell that defines it run without error, and is the name spelled exactly?"
        )
    return raised.message


def _show(value: Any, limit: int = 300) -> str:
    if isinstance(value, Raised):
        return f"raises {value.type}" if value.type not in NO_ANSWER else value.message
    if isinstance(value, np.ndarray):
        for edge in (3, 2, 1):
            text = np.array2string(value, threshold=12, edgeitems=edge, precision=6, max_line_width=120)
            if len(text) <= limit:
                break
        else:  # never cut a number in half: say what it is instead
            return f"array of shape {value.shape}, dtype {value.dtype}"
        return text if value.ndim == 0 else f"{text} (shape {value.shape})"
    if isinstance(value, wire.Rng):
        return f"np.random.default_rng({value.seed})"
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, (tuple, list)):
        return (
            ("(" if isinstance(value, tuple) else "[") + _show_items(value) + (")" if isinstance(value, tuple) else "]")
        )
    return repr(value)[:limit]


def _show_items(items: list | tuple, shown: int = 8) -> str:
    """The first few items of a sequence: a student's list may be thousands long, feedback is not."""
    text = ", ".join(_show(v, 120) for v in items[:shown])
    return text + (f", ... ({len(items):,} items)" if len(items) > shown else "")


def _call_detail(call: wire.Call, inputs: dict[str, np.ndarray], expected: Any, got: Any) -> str:
    """For a public call: the input, what was expected (if the question has a reference) and what came back."""
    parts = [_show(a, 200) for a in call.decoded_args(inputs)]
    parts += [f"{k}={_show(v, 200)}" for k, v in call.decoded_kwargs(inputs).items()]
    text = f"\n  input:    {call.function}({', '.join(parts)})"
    if expected is not None:
        text += f"\n  expected: {_show(expected)}"
    return text + f"\n  got:      {_show(got)}"


def _explain(
    public: bool, description: str, message: str, call: Any, inputs: dict[str, np.ndarray], expected: Any, got: Any
) -> str:
    """A failed case's line of feedback: for a public case, the detail its kind has (`DETAILS`);
    other kinds (models, initializers, `Calls`) say it all in their check's message."""
    if not public:
        return f"hidden case ({description}): {message}"
    text = f"public case ({description}): {message}"
    detail = DETAILS.get(type(call))
    if detail is not None:
        try:
            text += detail(call, inputs, expected, got)
        except Exception:  # the detail is a courtesy: odd student values must not cost the verdict
            pass
    return text


def _trajectory_detail(call: wire.Trajectory, inputs: dict[str, np.ndarray], expected: Any, got: Any) -> str:
    """For a public trajectory: the start, and every state at the first step that differs."""
    if not (isinstance(expected, dict) and isinstance(got, dict)):
        return ""
    state = {k: _show(wire.decode_arg(v, inputs), 120) for k, v in call.state.items()}
    steps = len(next(iter(expected.values())))
    for step in range(steps):
        wrong = []
        for name in sorted(expected, key=lambda n: (n != "theta", n)):
            mine = got.get(name)
            if (
                not isinstance(mine, np.ndarray)
                or mine.shape != expected[name].shape
                or not np.allclose(mine[step], expected[name][step], rtol=1e-6, atol=1e-10)
            ):
                wrong.append(name)
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


DETAILS = {wire.Call: _call_detail, wire.Trajectory: _trajectory_detail}


@dataclass(frozen=True)
class _Failure:
    """A failed case as the feedback tells it: `line` is its own line of feedback; `cause` (a case
    that raised or gave no answer) is what it has in common with others that failed the same way,
    in words safe for a hidden case."""

    public: bool
    description: str
    message: str
    line: str
    cause: str | None


def _one_line_per_cause(failures: list[_Failure], total: int) -> list[str]:
    """The feedback lines of a question's failed cases, one per cause: the cases that raised the
    same exception (or gave no answer for the same reason) share one line with a count; every
    other failed case keeps its own line, with what its kind of input catches. In the order of
    each cause's first case."""
    by_cause: dict[str, list[_Failure]] = {}
    for f in failures:
        if f.cause is not None:
            by_cause.setdefault(f.cause, []).append(f)
    lines: list[str] = []
    for f in failures:
        group = by_cause.get(f.cause, []) if f.cause is not None else []
        if len(group) > 1:
            if f is group[0]:
                lines.append(_cause_line(f.cause, group, total))  # type: ignore[arg-type]
        else:
            lines.append(f.line)
    return list(dict.fromkeys(lines))


# Where a cause's line names its first public case: "raised X in 6 of 6 cases; public case (...): ..."
# (the Gradescope export finds the public words there for its visible test).
SHARED_CAUSE = "; public case ("


def _cause_line(cause: str, group: list[_Failure], total: int) -> str:
    """One line for every case that failed for `cause`; the first public one's own message is
    added when it says more (a public case may show the student's exception message)."""
    count = f"{len(group)} of {total} cases"
    text = f"{cause} ({count})" if cause.endswith(("?", ".", ")")) else f"{cause} in {count}"
    public = next((g for g in group if g.public), None)
    if public is not None and public.message != cause:
        text += f"{SHARED_CAUSE}{public.description}): {public.message}"
    return text


def _with_hint(message: str, hint: str) -> str:
    return f"{message} (hint: {hint})" if hint else message


# The warnings whose message may be shown as it is: NumPy's floating-point warnings name a ufunc.
_UFUNCS = "|".join(sorted((n for n in dir(np) if isinstance(getattr(np, n), np.ufunc)), key=len, reverse=True))
_NUMPY_WARNING = re.compile(
    rf"(overflow|underflow|divide by zero|invalid value) encountered in (scalar )?({_UFUNCS}|cast|reduce)"
)


def _category(w: wire.Warned) -> str:
    return w.category if w.category in BUILTIN_EXCEPTIONS else "a warning of the notebook's own class"


def _warned(warned: tuple[wire.Warned, ...], promise: str) -> Verdict:
    """A case failed for warning: which warnings, in words the student's code cannot choose (it saw
    the case's inputs): a builtin category's name, NumPy's own floating-point messages; how many
    times only for a public case (a count is a number the code chooses). A hidden case names its
    first warning's category and kind only (`RuntimeWarning: overflow encountered`): which of
    NumPy's messages (4 kinds x 100 ufuncs x "scalar ") is the code's choice, and four of them in
    the order first seen can spell a hidden input's digits in its line."""
    counted = [
        _category(w)
        + (f": {w.message}" if _NUMPY_WARNING.fullmatch(w.message) else "")
        + (f" ({w.count} times)" if w.count > 1 else "")
        for w in warned
    ]
    kind = _NUMPY_WARNING.fullmatch(warned[0].message)
    hidden = _category(warned[0]) + (f": {kind.group(1)} encountered" if kind else "")
    more = " and others" if len(warned) > 1 else ""
    return Verdict(
        False, f"warned {'; '.join(counted)}, although {promise}", f"warned {hidden}{more}, although {promise}"
    )
