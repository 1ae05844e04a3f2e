"""Students' self-checks: otter tests of the public cases, stored in the notebook's own metadata.

Why in the metadata: a student gets one notebook (a download, an LMS attachment) and installs
what its first cell names (`requirements.py`: what the notebook imports, `otter-grader` and
`numpy` always). otter 7.0.0's `otter.Notebook(nb_path)`
reads `metadata.otter.tests` of that notebook when its `tests_dir` does not exist (the cell passes
`tests_dir=""`, so a stray `tests/` folder cannot shadow them), and with `OK_FORMAT: false` each
test is the source text of an exception-style test file, compiled on the student's Python; so no
tests folder travels with the notebook and nothing depends on this package being installed.

Each test's source is the question's public cases (the call as the probe makes it, the
reference's public output, the check's parameters and the numbers the grader's check computes
for that case, see selfcheck_data.py) and a loader; the checker they share (`EMBEDDED`: the wire,
the grader's own judging modules and selfcheck_runtime.py, numpy only, relative imports removed)
and every public input are stored once, in `metadata.autograder_selfcheck`: otter has no shared
code for metadata tests, so each test reads them from the notebook file otter read it from
(otter 7 compiles a metadata test with the notebook's path as its file name). Only public cases
are used: the plan is made with `hidden=False`, and for random functions (checks that do not
compare values) no reference sample is embedded, only an expected exception. The grade is never
computed here.
"""

from __future__ import annotations

import ast
import base64
import inspect
import io
import json
import tokenize
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import wire
from ..errors import BuildError
from ..grading.prepare import call_id, make_plan
from ..questions.base import Assignment, Question
from ..wire import NO_ANSWER, CallOutput, Raised
from .precision import rounded
from .selfcheck_data import case_data, formula_leaks, randomness_spec, task_labels

INLINE_ELEMENTS = 64  # larger input arrays are embedded as compressed bytes, not as JSON lists
OTTER_KEY = "otter"  # otter.utils.NOTEBOOK_METADATA_KEY
SHARED_KEY = "autograder_selfcheck"  # the checker and the public inputs, once per notebook


def encode_expected(value: Any) -> Any:
    """Plain JSON for an expected value (arrays as nested lists with their dtype, floats rounded:
    `precision.py` says why rebuilds on another CPU stay in sync all the same)."""
    if isinstance(value, Raised):
        return {"$raised": value.type}
    if isinstance(value, np.ndarray):
        data = value.astype(float) if value.dtype.kind == "f" else value
        if data.dtype.kind == "f" and data.size:
            data = np.vectorize(lambda v: rounded(float(v)), otypes=[float])(data)
        return {"$nd": data.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, tuple):
        return wire.tuple_ref(encode_expected(v) for v in value)
    if isinstance(value, list):
        return [encode_expected(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_expected(v) for k, v in value.items()}
    return value  # plain floats are configs (epsilon, learning rate), compared exactly: not rounded


def encode_input(value: np.ndarray) -> dict[str, Any]:
    """An input array exactly: the self-check must call the student's code on the grader's input."""
    dtype = value.dtype.newbyteorder("<")
    if value.size <= INLINE_ELEMENTS:
        return {"$nd": value.tolist(), "dtype": dtype.str, "shape": list(value.shape)}
    raw = zlib.compress(np.ascontiguousarray(value, dtype=dtype).tobytes(), 9)
    return {"$b64": base64.b64encode(raw).decode(), "dtype": dtype.str, "shape": list(value.shape)}


# The grader's check factories the self-check rebuilds (selfcheck_runtime.grader_check), by name.
SIMPLE = {"b_on_a": "b_on_a"}
RANDOM = {
    "variance_scaling_check": "variance_scaling",
    "he_avg_check": "he_avg",
    "dropout_check": "dropout",
    "augment_check": "augment",
}


def check_spec(question: Question) -> dict[str, Any]:
    """The self-check's name and parameters for the question's check, read off the check itself
    (the factories' closures), so a changed tolerance or threshold reaches the self-check too."""
    check = question.check
    name = check.__qualname__.replace(".<locals>.check", "")
    free = inspect.getclosurevars(check).nonlocals
    if name == "allclose":
        return {
            "kind": "allclose",
            "rtol": free["rtol"],
            "atol": free["atol"],
            "same_shape": free["same_shape"],
            "returns": free["returns"],
        }
    if name == "architecture":
        return {"kind": "architecture", "compare_compile": free["compare_compile"]}
    if name == "exact":
        return {"kind": "exact", "returns": free["returns"]}
    if name == "trained":
        return {
            "kind": "trained",
            "task": free["threshold"].task,
            "minimum": free["threshold"].minimum,
            "labels": task_labels(free["threshold"].task),
        }
    if name in RANDOM:
        return {"kind": RANDOM[name], "randomness": randomness_spec(free["randomness"])}
    if name not in SIMPLE:
        raise BuildError(
            f"{question.id}: the self-check has no counterpart of the check {check.__qualname__}; "
            "add one to selfcheck_runtime.grader_check"
        )
    return {"kind": SIMPLE[name]}


def public_cases(assignment: Assignment, question: Question, reference: dict[str, CallOutput]) -> tuple[list, dict]:
    """The question's public cases as the self-check embeds them, and the input arrays they use."""
    plan = make_plan(assignment, seed=0, hidden=False)
    keep = question.compares_values and question.uses_reference
    spec = check_spec(question)
    cases, used = [], {}
    for case in plan.cases[question.id]:
        if not case.public:  # cannot happen with hidden=False; a hidden case must never travel
            raise BuildError(f"{call_id(question.id, case.id)} is hidden and cannot go into a self-check")
        entry: dict[str, Any] = {"question": question.id, "description": case.description, "call": case.call.to_json()}
        value = None
        if question.uses_reference:
            value = (
                reference[call_id(question.id, case.id)].value if call_id(question.id, case.id) in reference else None
            )
            if isinstance(value, Raised) and value.type in NO_ANSWER:
                raise BuildError(f"the reference gave no answer for {call_id(question.id, case.id)}")
            if keep or isinstance(value, Raised):
                entry["expected"] = encode_expected(value)
        entry["check"] = {**spec, **case_data(question.check, spec, case, plan.inputs, isinstance(value, Raised))}
        cases.append(entry)
        used.update({key: encode_input(plan.inputs[key]) for key in wire.array_keys(case.call.to_json())})
    return cases, dict(sorted(used.items()))


# What the self-check's code is made of, in this order (each sees the names of those before it).
EMBEDDED = (
    "../wire.py",
    "../judging/verdict.py",
    "../judging/stats.py",
    "../judging/architecture.py",
    "../judging/checks.py",
    "../judging/randomness.py",
    "../judging/draws.py",
    "selfcheck_runtime.py",
)


def runtime_source() -> str:
    """The wire, the grader's judging modules and the self-check's runtime, as pasted into every
    notebook (relative imports removed)."""
    here = Path(__file__).parent
    return "\n\n".join(_without_docs(_without_relative_imports((here / name).read_text())) for name in EMBEDDED)


def _without_relative_imports(source: str) -> str:
    """The source without its `from .x import ...` statements (whole, however they are wrapped):
    pasted one after another, the files see each other's names directly."""
    drop = {
        line
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.level
        for line in range(node.lineno, node.end_lineno + 1)
    }
    return "\n".join(line for number, line in enumerate(source.splitlines(), 1) if number not in drop)


def _without_docs(source: str) -> str:
    """The source without its docstrings, comment lines and blank lines: they are for the
    package's readers (the notebook's metadata is not read as source), and a fifth of every
    notebook's size. A docstring that is a body's only statement stays; code lines are unchanged."""
    drop = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and len(body) > 1:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                drop.update(range(first.lineno, first.end_lineno + 1))
    code: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            code.update(range(token.start[0], token.end[0] + 1))
    return "\n".join(line for n, line in enumerate(source.splitlines(), 1) if n in code and n not in drop)


_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


LOADER = '''
_SHARED = {}


def shared():
    """The checker and the public inputs, stored once per notebook (metadata.%s) rather than in
    each of its tests. otter 7 compiles a metadata test with the notebook's path as its file name,
    so that is the file read (else the notebook named in the setup cell, in the current folder)."""
    if not _SHARED:
        path = shared.__code__.co_filename
        path = path if path.endswith(".ipynb") and os.path.isfile(path) else NOTEBOOK
        try:
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)["metadata"][%r]
        except (OSError, ValueError, KeyError) as exc:
            raise AssertionError(f"the self-check reads its code from the notebook file {path}, which it cannot "
                                 f"read ({type(exc).__name__}): save the notebook and run it from its folder") from None
        checker = {"__name__": "selfcheck"}
        exec(compile(stored["code"], path, "exec", dont_inherit=True), checker)
        _SHARED.update(checker=checker, inputs=json.loads(stored["inputs"]))
    stored = _SHARED["inputs"]
    return _SHARED["checker"], {key: stored[stored[key].get("$same", key)] for key in USES}
'''


def test_source(notebook: str, question: Question, cases: list, uses: list[str]) -> str:
    """One otter exception-style test: the question's public cases, one test case each, judged by
    the checker `shared()` loads from the notebook (its source is in `LOADER`)."""
    dump = lambda doc: repr(json.dumps(doc, separators=(",", ":")))  # noqa: E731 - key order: the call's
    lines = [
        f'"""Self-check of `{question.id}` on its {len(cases)} public case(s) (nothing hidden). Generated by '
        "`autograder build` from autograder/handout/selfcheck.py and the question's public cases; the checker "
        f'(the grader\'s autograder/judging/ and autograder/handout/selfcheck_runtime.py) is in the notebook\'s metadata.{SHARED_KEY}: do not edit."""',
        "",
        "import json",
        "import os",
        "",
        "from otter.test_files import test_case",
        "",
        f"name = {question.id!r}",
        f"points = {question.points!r}",
        f"NOTEBOOK = {notebook!r}",
        f"USES = {uses!r}",
        f"CASES = json.loads({dump(cases)})",
        LOADER % (SHARED_KEY, SHARED_KEY),
    ]
    for i, case in enumerate(cases):
        label = f"{question.id}: public case {i + 1} ({case['description']})"
        lines += [
            "",
            f"@test_case(name={label!r}, hidden=False)",
            f"def public_case_{i + 1}(env):",
            "    checker, inputs = shared()",
            f"    checker['check_case'](env, CASES[{i}], inputs)",
        ]
    return "\n".join(lines) + "\n"


def self_checks(assignment: Assignment, reference: dict[str, CallOutput]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`metadata.otter` of the student notebook (every question's test, exception-style) and
    `metadata.autograder_selfcheck` (the checker's code and every public input, once, as JSON text)."""
    leaked = formula_leaks(runtime_source())
    if leaked:
        raise BuildError(f"the self-check's code contains {', '.join(leaked)}: embed the grader's numbers instead")
    tests, inputs = {}, {}
    for question in assignment.questions:
        cases, used = public_cases(assignment, question, reference)
        tests[question.id] = test_source(f"{assignment.id}.ipynb", question, cases, sorted(used))
        inputs.update(used)
    first: dict[str, str] = {}  # an input two questions share (05's dropout input) is stored once
    shared = {}
    for key, value in sorted(inputs.items()):
        text = json.dumps(value, sort_keys=True)
        shared[key] = {"$same": first[text]} if text in first else value
        first.setdefault(text, key)
    compact = json.dumps(shared, separators=(",", ":"))  # a string: nbformat would indent every number
    return {"OK_FORMAT": False, "tests": tests}, {"code": runtime_source(), "inputs": compact}


def setup_source(notebook_name: str, install: str) -> str:
    """The first self-check cell: what to install (`requirements.install_line`: everything the
    notebook imports, not only the self-check's own needs), and how otter finds the tests."""
    return (
        "# To run this notebook (its exercises and its self-checks), install:\n"
        f"#   {install}\n"
        "# Self-check (public cases only): the checks are stored in this notebook,\n"
        "# so otter reads this file: keep the name below equal to the notebook's file name.\n"
        '# (tests_dir="": the notebook\'s own checks, even if a tests/ folder is nearby.)\n'
        f'import otter\ngrader = otter.Notebook("{notebook_name}", tests_dir="")'
    )
