"""No hidden input or expected value reaches anything a student reads.

Real notebooks through the sandbox: buggy submissions that fail hidden cases, the unwritten
stubs, the red team's leaking notebooks (exception messages, exception class names) and one that
tries every other way out (a cell's exception and printed output made from the job's input file;
a function that keeps what hidden cases passed it and shows it in the other functions' public
cases, returned, raised and warned, also as `float.hex()`, which only the order of calls stops). Every student-facing output is rendered (HTML and Markdown feedback, the
gradebook's comments, Gradescope's results.json) and searched for the hidden values' digits,
written several ways. The numbers searched for: every non-integer hidden input, inline argument
and reference answer that the public cases do not also have, with 7 or more significant digits
(fewer would match public values by chance).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from autograder import wire
from autograder.gradescope.export import to_gradescope
from autograder.grading.grade import grade, prepare_assignment
from autograder.grading.prepare import call_id
from autograder.report import write_reports
from autograder.sandbox import bubblewrap_available
from autograder.wire import Raised
from tests.conftest import REPO, make_variant
from tests.submissions.hostile import LEAKS_EVERYWHERE
from tests.submissions.variants import BUGGY

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap cannot sandbox here")]
SEED = 3
A04, A05 = "04_optimizers", "05_regularisation"

REDTEAM = REPO / "tests" / "redteam" / "notebooks"
LARGE = 10_000
FAILING = {A04: ["adam_without_bias_correction", "momentum_modifies_input"], A05: ["dropout_keeps_rate"]}


def _numbers(value) -> Iterator[float]:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            yield from (float(x) for x in np.unique(v[np.isfinite(v)]) if x != round(x))
        elif isinstance(v, float) and np.isfinite(v) and v != round(v):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def hidden_values(prepared) -> set[float]:
    """The hidden cases' numbers (inputs, inline arguments, reference answers) the public ones lack,
    but for arrays of more than `LARGE` values: the noise statistics questions are tried on (a
    dropout's 60,000 inputs), which `grading/hidden.py` does not guard either."""
    plan, reference = prepared.plan, prepared.reference
    found: dict[bool, set[float]] = {True: set(), False: set()}
    for q in plan.assignment.questions:
        for case in plan.cases[q.id]:
            doc = case.call.to_json()
            arrays = [plan.inputs[k] for k in wire.array_keys(doc) if k in plan.inputs]
            answer = reference.get(call_id(q.id, case.id))
            answers = [] if answer is None or isinstance(answer.value, Raised) else [answer.value]
            for value in [*arrays, *answers, doc]:
                if case.public or not (isinstance(value, np.ndarray) and value.size > LARGE):
                    found[case.public] |= set(_numbers(value))
    return found[False] - found[True]


def forms(value: float) -> set[str]:
    """How a hidden value may be written: with 7 or more significant digits, as a digit run, or
    as `float.hex()` (which no filter of decimal digits reads: only the order of calls keeps it out)."""
    a = abs(value)
    written = {repr(a), f"{a:.7g}", f"{a:.8g}", f"{a:.10g}", f"{a:.17g}", str(np.float32(a))}
    written |= {np.array2string(np.array([a]), precision=p)[1:-1].strip() for p in (8, 17)}
    written = {w for w in written if len(re.sub(r"^0\.0*|[.e+-]", "", w.split("e")[0])) >= 7}
    if not written:
        return set()
    return written | {f"{a:.16e}".split("e")[0].replace(".", "")[:9], float(a).hex()}


def student_texts(results, out: Path) -> dict[str, str]:
    """Everything a student reads, by where: the HTML (pictures decoded) and Markdown feedback,
    the gradebook's comments and Gradescope's results.json."""
    write_reports(results, out)
    texts = {}
    for path in sorted((out / "feedback").iterdir()):
        text = path.read_text(encoding="utf-8")
        for uri in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", text):
            text += base64.b64decode(uri).decode("utf-8")
        texts[path.name] = text
    for path in sorted(out.glob("*.csv")):
        texts[path.name] = path.read_text(encoding="utf-8")
    for r in results:
        texts[f"{r.student}/results.json"] = json.dumps(to_gradescope(r))
    return texts


def leaks(texts: dict[str, str], values: set[float]) -> list[str]:
    """Where a hidden value is written: a number of the text (decimal or `float.hex()`) equal to
    one of its `forms`, or a run of digits holding its first 9 digits."""
    wanted = {w: v for v in values for w in forms(v)}
    found = []
    for where, text in texts.items():
        numbers = {t.lstrip("+-").rstrip(".eE+-") for t in re.findall(r"[0-9.][0-9.eE+-]*", text)}
        numbers |= set(re.findall(r"0x[0-9a-f]+(?:\.[0-9a-f]*)?p[-+][0-9]+", text))  # float.hex()
        windows = {run[i : i + 9] for run in re.findall(r"[0-9]{9,}", text) for i in range(len(run) - 8)}
        found += [f"{where}: {w} (hidden {wanted[w]!r})" for w in sorted((numbers | windows) & wanted.keys())]
    return found


@pytest.mark.parametrize("assignment", [A04, A05])
def test_no_hidden_value_reaches_a_student(assignment, config, tmp_path):
    prepared = prepare_assignment(assignment, config, seed=SEED)
    values = hidden_values(prepared)
    assert len(values) > 20, "the test must have hidden values to look for"
    notebooks = [make_variant(v, tmp_path) for v in BUGGY if v.name in FAILING[assignment]]
    notebooks.append(REPO / "assignments" / f"{assignment}.ipynb")  # every function unwritten
    notebooks += sorted(REDTEAM.glob(f"leaks_hidden_inputs*_{assignment[:2]}.ipynb"))
    if assignment == A05:
        notebooks.append(make_variant(LEAKS_EVERYWHERE, tmp_path))
    results = [grade(nb, prepared, student=nb.stem) for nb in notebooks]
    assert all(r.score < r.max_score for r in results), [(r.student, r.score) for r in results]
    texts = student_texts(results, tmp_path / "out")
    assert sum("LEAK" in t for t in texts.values()) >= 2, "the leaking notebooks ran and were reported"
    assert any("hidden case" in t for t in texts.values())
    assert leaks(texts, values) == []
