"""Gradescope export: `Result` -> results.json, and the autograder zip Gradescope builds its image from.

**Conversion** (`to_gradescope`): one test per question and kind of case. The public cases of a
question are a "visible" test worth their share of the points (input, expected and got, as in the
feedback); its hidden cases are an "after_published" test worth the rest, shown only once the
instructor publishes grades. A question with one kind of case is one test. How the run was
confined, where weaker than a full sandbox, is a "hidden" test worth 0 of 0 (instructors only). The top-level score is
`result.score` and the tests add up to it. The top-level output (always visible) says what went
wrong while running the notebook (cell errors, timeouts, kills, an unreadable file) but never the
total while hidden cases count, since the total would give the hidden results away.

**The zip** (`build_autograder_zip`), in Gradescope's layout (everything under `/autograder`, or
under `$GRADESCOPE_ROOT` so that it can be tested anywhere):

- `setup.sh` (run once, as root, when Gradescope builds the image): apt-get installs bubblewrap,
  pip and venv (and the Fashion-MNIST package when the release has it), makes a virtual
  environment `/autograder/venv` with a Python >= 3.11 and pip-installs the bundled package into it.
- `run_autograder` (run for every submission): finds the one `.ipynb` under
  `/autograder/submission`, runs `autograder grade NB --out TMP` from `/autograder/source`
  (where `pyproject.toml` points the grader at `solutions/`), converts the result with
  `autograder export gradescope-results TMP/<stem>.json /autograder/results/results.json`, and
  always leaves a results.json: a missing or ambiguous notebook, an unknown assignment or a grader
  failure gives score 0 with the reason. When bubblewrap cannot make namespaces in the container
  (Docker's default seccomp), it grades at the no-namespace level (`--no-namespaces`: an
  unprivileged uid, secrets closed by file modes, no network isolation), never as root, and the
  output says which limits were missing.
- the package source (`autograder/`), `pyproject.toml`, `README.md`, and `solutions/`: the reference
  notebooks. They sit in `/autograder/source`, which the sandbox never mounts (it sees `/usr`, the
  Python installation with the grader's own package masked, and the job's folders only); reference
  outputs are computed from them by the same sandboxed runner, and kept in the grader's cache.

The zip itself is built in `gradescope_zip.py`, its limits sized in `gradescope_settings.py`; the
commands the scripts call (`autograder export gradescope-...`) are in `gradescope_cli.py`.
"""

from __future__ import annotations

from typing import Any

from ..grading.compare import SHARED_CAUSE
from ..grading.problems import lines as problem_lines
from ..result import QuestionResult, QuestionStatus, Result
from .package import build_autograder_zip

__all__ = ["build_autograder_zip", "failure", "instructor_notes", "to_gradescope"]

VISIBLE, AFTER_PUBLISHED, HIDDEN = "visible", "after_published", "hidden"


# --------------------------------------------------------------------------------------------
# Result -> results.json
# --------------------------------------------------------------------------------------------


def to_gradescope(result: Result) -> dict[str, Any]:
    """Gradescope's results.json for one graded submission (see the module docstring)."""
    if result.error:
        return _unreadable(result)
    tests: list[dict[str, Any]] = []
    for question in result.questions:
        tests += _question_tests(question)
    has_hidden = any(t["visibility"] != VISIBLE for t in tests)
    lines = [
        f"{result.assignment}: "
        + (
            "public cases below; hidden cases (other shapes, dtypes, magnitudes, seeds) count too, their "
            "results are shown when grades are published."
            if has_hidden
            else f"{_num(result.score)} / {_num(result.max_score)} points."
        )
    ]
    problems = problem_lines(result)
    if problems:
        lines += ["", "Problems while running your notebook:", *(f"- {p}" for p in problems)]
    doc: dict[str, Any] = {
        "score": result.score,
        "output": "\n".join(lines),
        "visibility": VISIBLE,
        "stdout_visibility": HIDDEN,  # the grader's log prints every score, hidden ones included
        "tests": tests,
    }
    notes = instructor_notes(result)
    if notes:
        tests.append(_test(ENVIRONMENT_TEST, 0.0, 0.0, True, notes, HIDDEN))
    if result.execution is not None:
        doc["execution_time"] = int(round(result.execution.seconds))
    return doc


ENVIRONMENT_TEST = "Grading environment (instructors only)"


def instructor_notes(result: Result) -> list[str]:
    """How the run was confined, where weaker than a full sandbox: for the instructor, not the
    student (a note on the grader's container is not about the notebook). Gradescope shows them
    in a test whose visibility is "hidden" (never shown to students) worth 0 of 0, so the
    total is unchanged; `gradescope-results` prints them to the stdout instructors see too."""
    notes = []
    if not result.sandboxed:
        notes.append("Note: graded WITHOUT the bubblewrap sandbox (it cannot run in this container).")
    if result.isolation is not None:
        notes += [f"Note: {m}." for m in result.isolation.shortfalls()]
    return notes


def failure(reason: str) -> dict[str, Any]:
    """results.json when there is no result to convert (no notebook, grader failure): score 0."""
    return {
        "score": 0.0,
        "output": f"This submission was not graded: {reason}",
        "visibility": VISIBLE,
        "stdout_visibility": HIDDEN,
        "tests": [],
    }


def _question_tests(q: QuestionResult) -> list[dict[str, Any]]:
    public = [c for c in q.cases if c.public]
    hidden = [c for c in q.cases if not c.public]
    public_feedback: list[str] = []
    other_feedback: list[str] = []  # hidden, a cause shared by several cases, anything else
    for line in q.feedback:
        if line.startswith("public case"):
            public_feedback.append(line)
            continue
        other_feedback.append(line)
        shared = line.find(SHARED_CAUSE)
        if shared >= 0:  # a cause public cases share with others: the visible test keeps its words
            public_feedback.append(line[shared + 2 :])
    if not public or not hidden:
        # one kind of case (or none): the whole question is one test, hidden iff its cases are
        only_hidden = bool(hidden)
        kind = "hidden" if only_hidden else "public"
        passed = sum(c.passed for c in q.cases)
        head = f"{passed}/{len(q.cases)} {kind} cases passed" if q.cases else f"status: {q.status}"
        return [
            _test(
                f"{q.id} ({kind} cases)" if q.cases else q.id,
                q.score,
                q.max_score,
                q.status == QuestionStatus.PASSED,
                [head, *q.feedback],
                AFTER_PUBLISHED if only_hidden else VISIBLE,
            )
        ]
    total = len(q.cases)
    public_passed = sum(c.passed for c in public)
    hidden_passed = sum(c.passed for c in hidden)
    # each case is worth max_score / total (compare.py). One part gets its own share and the other
    # exactly the rest of the question's score, so the two add up to it whatever the rounding; a
    # part whose cases all passed is the one given its full share (never 0.3181 of 0.3182).
    public_max = round(q.max_score * len(public) / total, 4)
    hidden_max = round(q.max_score - public_max, 4)
    if hidden_passed == len(hidden):
        hidden_score = min(hidden_max, q.score)
        public_score = _clamp(q.score - hidden_score, public_max)
    else:
        public_score = public_max if public_passed == len(public) else round(q.max_score * public_passed / total, 4)
        public_score = min(public_score, q.score)
        hidden_score = _clamp(q.score - public_score, hidden_max)
    public_output = [
        f"{public_passed}/{len(public)} public cases passed",
        *public_feedback,
        f"(this question also has {len(hidden)} hidden case{'s' if len(hidden) > 1 else ''} worth "
        f"{_num(hidden_max)} points; they are shown when grades are published)",
    ]
    hidden_output = [f"{hidden_passed}/{len(hidden)} hidden cases passed", *other_feedback]
    return [
        _test(f"{q.id} (public cases)", public_score, public_max, public_passed == len(public), public_output, VISIBLE),
        _test(
            f"{q.id} (hidden cases)",
            hidden_score,
            hidden_max,
            hidden_passed == len(hidden),
            hidden_output,
            AFTER_PUBLISHED,
        ),
    ]


def _clamp(value: float, top: float) -> float:
    return min(max(round(value, 4), 0.0), top)


def _test(name: str, score: float, max_score: float, passed: bool, lines: list[str], visibility: str) -> dict[str, Any]:
    return {
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": "passed" if passed else "failed",
        "output": "\n\n".join(lines),
        "visibility": visibility,
    }


def _unreadable(result: Result) -> dict[str, Any]:
    reason = result.error or ""  # why it was not graded: unreadable, refused, another assignment's
    tests = [_test(q.id, 0.0, q.max_score, False, ["not graded: " + reason], VISIBLE) for q in result.questions]
    doc = failure(reason)
    doc["output"] += f"\nScore 0 / {_num(result.max_score)}. Check that you uploaded the .ipynb file you saved."
    doc["tests"] = tests
    return doc


def _num(value: float) -> str:
    return f"{value:g}"
