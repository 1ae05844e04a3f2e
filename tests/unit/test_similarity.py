"""The similarity report: tokens, winnowing, ranking on a synthetic class, hostile text, the page."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from autograder.batch import Submission
from autograder.cli.main import main
from autograder.course.config import Config, load_config
from autograder.errors import UsageError
from autograder.similarity import analyse, compare, keep_code, ranked_lines, similarity_page
from autograder.similarity.fingerprints import K, W, fingerprints, kgram_hashes, winnow
from autograder.similarity.obfuscation import MAX_FINDINGS, find
from autograder.similarity.pairs import COMMON_MIN, MIN_SHARED, own_kgrams, scores
from autograder.similarity.sources import (
    CODE_DIR,
    MAX_CELL_CHARS,
    MAX_CODE_CHARS,
    Code,
    copy_path,
    load_codes,
    notebook_cells,
)
from autograder.similarity.tokens import MAX_TOKENS, tokenize_cells
from tests.conftest import REPO
from tests.submissions.similar import Student, alternative, disguise, given, reference, synthetic_class
from tests.submissions.variants import ALTERNATIVES

DEFAULT = Config().similarity_threshold


def codes_of(cells: list[str]) -> tuple[int, ...]:
    return tokenize_cells(enumerate(cells)).codes


def as_code(student: Student | str, cells: list[str] | tuple[str, ...] = (), assignment: str = "04_optimizers") -> Code:
    if isinstance(student, Student):
        return Code(student.name, student.assignment, f"{student.name}.ipynb", "sha", tuple(enumerate(student.cells)))
    return Code(student, assignment, f"{student}.ipynb", "sha", tuple(enumerate(cells)))


# --- tokens -----------------------------------------------------------------------------------


def test_names_layout_and_comments_do_not_change_the_tokens():
    a = "def step(theta, grad, lr=0.1):\n    m = theta - lr * grad  # the update\n    return m, 'done'\n"
    b = 'def f( x,g,eta = 3 ):\n\n    # renamed and reformatted\n    y = (x -\n         eta * g)\n    return y, "ok"'
    assert codes_of([a]) == codes_of([b.replace("(x -\n         eta * g)", "x - eta * g")])
    assert codes_of([a]) != codes_of(["def step(theta, grad, lr=0.1):\n    return theta + lr * grad, 'done'"])


def test_keywords_and_operators_stay_what_they_are():
    assert codes_of(["for i in x: y += i"]) != codes_of(["while i in x: y -= i"])


def semicolons(source: str) -> str:
    """A `;` after every line that can take one (not a block's header, a decorator, a continued line)."""
    out = []
    lines = source.split("\n")
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        head = len(nxt) - len(nxt.lstrip()) > len(line) - len(line.lstrip())
        ends = line.rstrip().endswith((":", ",", "(", "[", "{", "\\")) or line.lstrip().startswith(("@", "#"))
        out.append(
            line + ";" if line.strip() and not head and not ends and not line.strip().startswith(('"', ")")) else line
        )
    return "\n".join(out)


def test_statement_separators_and_line_joins_do_not_change_the_tokens():
    plain = "def step(theta, grad, lr):\n    m = theta - lr * grad\n    n = m * 2\n    return m, n\n"
    assert codes_of([plain]) == codes_of(
        ["def step(theta, grad, lr):\n    m = theta - lr * grad; n = m * 2;\n    return m, n;\n"]
    )
    assert codes_of([plain]) == codes_of(
        ["def step(theta, grad, lr):\n    m = \\\n  theta - lr * grad\n    n = (m\n * 2)\n    return (m,\n n)\n"]
    )
    assert codes_of(["y = (a + b) * c"]) == codes_of(["y = a + b * c"])  # grouping is not worth a match
    # a call's and a definition's parentheses stay: they are the shape of the code
    assert codes_of(["y = f(a, b)"]) != codes_of(["y = f, a, b"])
    assert codes_of(["y = f(a)(b)[0](c)"]) != codes_of(["y = f"])


def test_a_copy_with_a_semicolon_after_every_statement_is_the_same_copy():
    ref = reference("04_optimizers")
    disguised = [semicolons(c) for c in ref]
    assert disguised != ref and sum(c.count(";") for c in disguised) > 50
    stub = given("04_optimizers")
    report = compare([as_code("a", ref), as_code("b", disguised)], stub, DEFAULT)
    assert report.pairs[0].flagged and report.pairs[0].similarity == 1.0


def test_a_syntax_error_costs_its_line_only():
    good = "y = np.exp(z) + 1\nreturn_value = y * 2\n"
    for bad in ("x = 'unterminated\n", "   bad_indent = 1\n  worse = 2\n", "x = $ ? 1\n", "def (:\n"):
        got = codes_of([bad + good])
        assert codes_of([good]) == got[len(got) - len(codes_of([good])) :], bad


def test_ipython_syntax_is_skipped():
    assert codes_of(["%matplotlib inline\n!pip install x\nnp.exp?\nx = 1\n"]) == codes_of(["x = 1\n"])


def test_odd_unicode_never_raises_and_keeps_lines_consistent():
    cells = [
        "λ = 1\n变量 = λ + 2\n",
        "s = '\ud800\udfff'\n\x00x = 1\n",
        "x = 1\u2028y = 2\n\u202e z = 3\n",
        "\ufeffimport os\n",
        "(" * 50_000,
        "'''" + "x" * 1000,
        "\r\nx=1\r\n",
        "'''\n" * 2001,
        "x = '''a\ny = \"\"\"b\n" * 500,
    ]
    code = as_code("odd", cells)
    tokens = tokenize_cells(code.joined()[1])
    assert len(tokens.codes) == len(tokens.lines) > 0
    assert all(0 <= line < len(code.joined()[0]) for line in tokens.lines)
    pair = compare([code, as_code("odd2", cells)], [], DEFAULT)
    similarity_page([pair]).encode("utf-8")  # no lone surrogate reaches the page


def test_unterminated_strings_cost_one_reading():
    """Strings that never close, escapes up to the end: each cell is read once, in bounded time."""
    start = time.monotonic()
    for cell in ("'''" + "\\'''" * 12_000, "x = 'a\n" * 12_000, '"""' + "\\" * 50_000):
        assert len(tokenize_cells([(0, cell)]).codes) > 0
    assert time.monotonic() - start < 5


def test_a_huge_cell_is_bounded():
    start = time.monotonic()
    tokens = tokenize_cells([(0, "x = y + 1\n" * 200_000)])
    assert len(tokens.codes) == MAX_TOKENS
    assert time.monotonic() - start < 20


# --- fingerprints -----------------------------------------------------------------------------


def test_winnowing_keeps_a_minimum_of_every_window():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 50, 500).astype(np.uint64)  # many ties: the rightmost minimum is kept
    kept = set(winnow(hashes, W).tolist())
    for i in range(len(hashes) - W + 1):
        window = hashes[i : i + W]
        assert i + W - 1 - int(np.argmin(window[::-1])) in kept


def test_a_shared_run_of_w_plus_k_minus_1_tokens_shares_a_fingerprint():
    rng = random.Random(3)
    for _ in range(50):
        run = [rng.randrange(1000) for _ in range(W + K - 1)]
        a = [rng.randrange(1000, 2000) for _ in range(rng.randrange(50))] + run
        b = run + [rng.randrange(2000, 3000) for _ in range(rng.randrange(50))]
        assert set(fingerprints(a)[0].tolist()) & set(fingerprints(b)[0].tolist())


def test_fewer_than_k_tokens_have_no_fingerprint():
    assert len(kgram_hashes(list(range(K - 1)))) == 0 and len(fingerprints(list(range(K)))[0]) == 1


def test_fingerprints_are_the_same_in_every_process():
    script = (
        "from autograder.similarity.tokens import tokenize_cells\nfrom autograder.similarity.fingerprints "
        "import fingerprints\nprint(fingerprints(tokenize_cells([(0, open('solutions/04_optimizers.ipynb')"
        ".read())]).codes)[0].tolist()[:50])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1


# --- ranking on the synthetic class -----------------------------------------------------------


@pytest.fixture(scope="module")
def ranked():
    students = synthetic_class()
    origin = {s.name: s.copy_of or s.name for s in students}
    out = {}
    for aid in sorted({s.assignment for s in students}):
        group = [as_code(s) for s in students if s.assignment == aid]
        out[aid] = compare(group, given(aid), DEFAULT)
    return out, origin


def test_copies_rank_above_every_independent_pair(ranked):
    reports, origin = ranked
    for aid, report in reports.items():
        copies = [p for p in report.pairs if origin[p.left.student] == origin[p.right.student]]
        independent = [p for p in report.pairs if origin[p.left.student] != origin[p.right.student]]
        assert len(copies) >= 4, aid  # each copy with its original, and the reference's copies together
        assert min(p.similarity for p in copies) > max((p.similarity for p in independent), default=0), aid
        assert report.pairs[: len(copies)] == tuple(sorted(copies, key=lambda p: -p.similarity)), aid


def test_copies_are_flagged_and_independent_solutions_are_not(ranked):
    reports, origin = ranked
    for aid, report in reports.items():
        for pair in report.pairs:
            assert pair.flagged == (origin[pair.left.student] == origin[pair.right.student]), (
                aid,
                pair.left.student,
                pair.right.student,
            )


def test_flagged_pairs_show_the_copied_regions_on_both_sides(ranked):
    reports, _ = ranked
    pair = next(p for p in reports["04_optimizers"].flagged if "reorder" in p.left.student + p.right.student)
    assert pair.fragments and pair.longest >= K
    html = similarity_page([reports["04_optimizers"]])
    for fragment in pair.fragments:
        for code, (first, last) in ((pair.left, fragment.left_lines), (pair.right, fragment.right_lines)):
            assert 0 < first <= last < len(code.joined()[0])
    assert "m = beta * m + learning_rate * grad" in html  # the reference's momentum, shown


def test_the_given_code_is_excluded():
    stub = given("04_optimizers")
    untouched = [as_code("a", stub), as_code("b", stub)]
    report = compare(untouched, stub, DEFAULT)
    assert report.pairs == () and set(report.without_code) == {"a", "b"}
    assert compare(untouched, [], DEFAULT).pairs[0].flagged  # without the exclusion: all of it "shared"
    # every cell touched (so none is skipped as given): the given k-grams inside them still are
    touched = [as_code(name, [c + mine for c in stub]) for name, mine in (("a", "\nx = 1"), ("b", "\nwhile x: pass"))]
    assert not compare(touched, stub, DEFAULT).flagged


def test_no_kgram_touching_given_code_is_the_students_own():
    hashes = np.arange(40, dtype=np.uint64)
    own = own_kgrams(hashes, np.array([20], dtype=np.uint64), k=5)  # k-gram 20 covers tokens 20-24
    assert own.tolist() == [i + 5 <= 20 or i > 24 for i in range(40)]
    assert own_kgrams(hashes, np.zeros(0, dtype=np.uint64), k=5).all()


def test_given_code_next_to_a_students_own_never_matches():
    """Two independent students who each wrote their own function into the cell of the given
    `run_momentum_variant` (so the cell is not skipped as given) and end it alike share only
    k-grams that run from their own last line into the given code: none of them counts."""
    stub = given("04_optimizers")
    helper = next(c for c in stub if c.startswith("def run_momentum_variant"))
    mine = {
        "a": "def mine(v):\n    w = [t for t in v if t]\n    return theta, m\n\n",
        "b": "class Other:\n    size = {1: 2}\n    return theta, m\n\n",
    }
    codes = [as_code(name, [c if c != helper else own + helper for c in stub]) for name, own in mine.items()]
    assert scores(codes, stub) == {}
    # the same two with their shared ending longer than a k-gram: that is their own, and counts
    longer = "    x = np.sqrt(theta * m) + np.sqrt(m * theta)\n    return theta, m\n\n"
    codes = [
        as_code(n, [c if c != helper else own.replace("    return theta, m\n\n", longer) + helper for c in stub])
        for n, own in mine.items()
    ]
    assert scores(codes, stub)


def test_a_kept_given_cell_and_a_touched_one_compare_alike():
    """A cell left as given is not tokenized; one touched (a comment added) is, and its tokens
    are all given. Either way no k-gram runs from the cell before it into the cell after it, so
    the two students have the same fingerprints: each side's share in common is 1."""
    stub = given("04_optimizers")
    kept = reference("04_optimizers")
    touched = [c + "\n# seen" if c.strip() in {g.strip() for g in stub} else c for c in kept]
    assert touched != kept
    pair = compare([as_code("a", kept), as_code("b", touched)], stub, DEFAULT).pairs[0]
    assert pair.left_share == pair.right_share == 1.0
    # own cells that do not start with given code (a stub's header) on both sides of it
    helper = "for kind in ('momentum', 'nesterov'):\n    print(kind, run_momentum_variant(kind))\n"
    own = [
        "w = np.linalg.solve(X.T @ X + alpha * np.eye(n), X.T @ y)\nr = y - X @ w",
        "z = [v ** 2 for v in r if v > 0]\ns = sum(z) / len(z)",
    ]
    pair = compare(
        [as_code("a", [own[0], helper, own[1]]), as_code("b", [own[0], helper + "# seen", own[1]])], [helper], DEFAULT
    ).pairs[0]
    assert pair.left_share == pair.right_share == 1.0


def test_matching_regions_of_copies_never_show_the_given_helper():
    """Copies that touched every cell (a `;` after each statement, the given cells too) still
    match the given code, and no region shown side by side runs into the given helper cell."""
    stub = given("04_optimizers")
    ref = [semicolons(c) for c in reference("04_optimizers")]
    other = [semicolons(c).replace("# ", "#  ") for c in reference("04_optimizers")]
    report = compare([as_code("a", ref), as_code("b", other)], stub, DEFAULT)
    pair = report.pairs[0]
    assert pair.flagged and pair.fragments
    for code, spans in (
        (pair.left, [f.left_lines for f in pair.fragments]),
        (pair.right, [f.right_lines for f in pair.fragments]),
    ):
        lines = code.joined()[0]
        for first, last in spans:
            assert not any("def run_momentum_variant" in line for line in lines[first : last + 1])


def test_a_fingerprint_in_too_many_submissions_is_common_idiom():
    body = reference("04_optimizers")
    many = [as_code(f"s{i:02d}", body) for i in range(COMMON_MIN + 1)]
    assert compare(many, given("04_optimizers"), DEFAULT).pairs == ()
    assert compare(many[:COMMON_MIN], given("04_optimizers"), DEFAULT).pairs[0].similarity == 1.0


def test_a_line_in_common_is_not_flagged():
    line = "x = np.maximum(0.0, np.asarray(z, dtype=float)) * scale\n"
    report = compare([as_code("a", [line]), as_code("b", [line])], [], DEFAULT)
    assert report.pairs[0].similarity == 1.0 and report.pairs[0].shared < MIN_SHARED
    assert not report.pairs[0].flagged


def test_hostile_code_is_escaped_on_the_page():
    evil = "  # </pre><script>alert(1)</script><img src=x onerror=y>"
    cells = [
        c.replace("m = beta * m + learning_rate * grad", "m = beta * m + learning_rate * grad" + evil)
        for c in reference("04_optimizers")
    ]
    assert evil in "".join(cells)
    report = compare([as_code("<b>a</b>", cells), as_code("b", cells)], given("04_optimizers"), DEFAULT)
    html = similarity_page([report])
    assert report.flagged and "<script" not in html and "<img" not in html and "<b>a</b>" not in html
    assert "&lt;/pre&gt;&lt;script&gt;" in html and "&lt;b&gt;a&lt;/b&gt;" in html


# --- code copies ------------------------------------------------------------------------------


def write_result(out: Path, student: str, assignment: str, sha: str) -> None:
    path = out / "results" / student / f"{assignment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"submission_sha256": sha}))


def graded_class(tmp_path: Path, students: list[Student]) -> Path:
    """An out folder as `autograder grade` leaves it: notebooks' copies and matching results."""
    out = tmp_path / "out"
    subs = []
    for s in students:
        nb = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"c{i}",
                    "source": c,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for i, c in enumerate(s.cells)
            ],
        }
        path = tmp_path / f"{s.name}_{s.assignment}.ipynb"
        path.write_text(json.dumps(nb))
        subs.append(Submission(path, s.name, s.assignment))
    assert keep_code(subs, out) == len(subs)
    assert keep_code(subs, out) == 0  # kept: the same files
    for sub in subs:
        doc = json.loads(copy_path(out, sub.student, sub.assignment).read_text())
        write_result(out, sub.student, sub.assignment, doc["submission_sha256"])
    return out


def test_copies_of_code_are_bounded_and_used_only_for_the_file_graded(tmp_path):
    big = Student("big", "04_optimizers", ("x = 1\n" * MAX_CELL_CHARS, "y = 2\n" * (4 * MAX_CELL_CHARS)))
    small = Student("small", "04_optimizers", ("import numpy as np",))
    out = graded_class(tmp_path, [big, small])
    cells, truncated = notebook_cells(tmp_path / "big_04_optimizers.ipynb")
    assert truncated and all(len(s) <= MAX_CELL_CHARS for _, s in cells)
    assert sum(len(s) for _, s in cells) <= MAX_CODE_CHARS
    codes, skipped = load_codes(out)
    assert {c.student for c in codes} == {"big", "small"} and skipped == []
    write_result(out, "small", "04_optimizers", "another file")  # regraded since: the copy is stale
    (out / CODE_DIR / "big" / "04_optimizers.json").write_text("{not json")
    codes, skipped = load_codes(out)
    assert codes == [] and len(skipped) == 2


def test_analyse_reads_the_class_and_the_assignment_notebook(tmp_path):
    students = [s for s in synthetic_class() if s.assignment == "04_optimizers"]
    out = graded_class(tmp_path, students)
    reports, skipped = analyse(out, load_config(REPO))
    assert [r.assignment for r in reports] == ["04_optimizers"] and skipped == []
    assert len(reports[0].flagged) == sum(1 for s in students if s.copy_of) + 1  # the two copies of one


def test_the_command_writes_the_page_and_says_no_verdict(tmp_path, capsys):
    out = graded_class(tmp_path, [s for s in synthetic_class() if s.assignment == "05_regularisation"])
    assert main(["--course", str(REPO), "similarity", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "flagged" in printed and "not a verdict" in printed
    html = (out / "similarity.html").read_text()
    assert "matching region" in html and "<script" not in html
    assert main(["--course", str(REPO), "similarity", str(tmp_path / "nothing")]) == 2


def test_a_failure_of_the_report_does_not_stop_the_batch(tmp_path, monkeypatch):
    from autograder import similarity

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of the grader's own")

    monkeypatch.setattr(similarity, "write_report", broken)
    done = similarity.after_batch([], tmp_path, load_config(REPO))
    assert done.path is None and done.section == "" and "a bug of the grader's own" in done.error


@pytest.mark.parametrize("value", [0, -0.1, 1.5, "0.4", True])
def test_the_threshold_is_validated(tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.autograder]\nsimilarity_threshold = {json.dumps(value)}\n")
    with pytest.raises(UsageError, match="similarity_threshold"):
        load_config(tmp_path)


def test_disguises_change_the_text():
    cells = reference("04_optimizers")
    for how in ("rename", "reformat", "reorder"):
        assert disguise(list(cells), how) != cells, how


# --- code run from strings ---------------------------------------------------------------------


HIDDEN = [
    ("exec('def momentum_step(t, g, m, lr, beta=0.9):\\n    return t, m')", "exec of a string literal"),
    ("f = eval('lambda z: 1 / (1 + np.exp(-z))')", "eval of a string literal"),
    ("code = compile('x = 1', 'x', 'exec')", "compile of a string literal"),
    ("import base64\nexec(base64.b64decode('eCA9IDE='))", "exec of an encoded literal (b64decode)"),
    ("exec(bytes.fromhex('78203d2031').decode())", "exec of an encoded literal (decode, fromhex)"),
    ("exec(''.join(chr(c) for c in [120, 61, 49]))", "exec of an encoded literal (chr, join)"),
    ("builtins.exec(s)", "exec of a computed value"),
    ("run = getattr(builtins, 'exec')", "exec reached by getattr"),
    ("__builtins__['eval']('1')", "eval reached through __builtins__"),
    ("run = exec\nrun(s)", "exec passed on as a value"),
    ("x = 1\nexec(s  # a cell that does not parse\n", "exec call in a cell Python cannot parse"),
]


@pytest.mark.parametrize(("cell", "what"), HIDDEN, ids=[w for _, w in HIDDEN])
def test_code_run_from_a_string_is_found(cell, what):
    found = find(as_code("a", ["import numpy as np", cell]))
    assert [(o.student, o.cell, o.what) for o in found] == [("a", 1, what)]
    assert found[0].line == cell.count("\n", 0, cell.index(what.split()[0])) + 1


_BLOB = base64.b64encode(zlib.compress(os.urandom(200))).decode()
_HEX = os.urandom(150).hex()
_LONG_BLOB = base64.b64encode(os.urandom(300)).decode()
_ZLIB = zlib.compress(os.urandom(400))
_MODULE = "def f(x):\n    return x + 1\n" * 10

# The runner reached without its name in the cell's text, and data or code hidden in literals:
# (cell, the line listed, what is listed there)
UNNAMED = [
    ("import builtins as B\ngetattr(B, 'ex' + 'ec')(s)", 2, "a builtin reached by getattr with a computed name"),
    ("getattr(__builtins__, name)(s)", 1, "a builtin reached by getattr with a computed name"),
    ("import builtins\nrun = vars(builtins)[k]", 2, "the builtins' namespace read by vars()"),
    ("import builtins\nrun = builtins.__dict__[k]", 2, "reflection through __dict__"),
    ("from builtins import *", 1, "import from builtins"),
    ("run = globals()['__builtins__']", 1, "__builtins__ looked up in globals()"),
    ("run = globals()[name]", 1, "globals() looked up by a computed key"),
    ("run = locals().get('ex' + 'ec')", 1, "locals() looked up by a computed key"),
    ("z = __import__('zlib')", 1, "__import__ used"),
    (
        "import importlib\nm = importlib.import_module('buil' + 'tins')",
        2,
        "a module imported by a computed name (import_module)",
    ),
    ("import marshal", 1, "import of marshal"),
    ("import pickle", 1, "import of pickle"),
    ("k = ().__class__.__base__.__subclasses__()", 1, "reflection through __subclasses__"),
    ("f = (lambda: 0).__globals__", 1, "reflection through __globals__"),
    ("t = types.CodeType(*args)", 1, "CodeType used"),
    ("get_ipython().run_cell(s)", 1, "get_ipython used"),
    (f"def f():\n    {_MODULE!r}\n\nf.write(f.__doc__)", 4, "reflection through __doc__"),
    ("import builtins as B\ngetattr(B, n)(s)\nreturn", 2, "a builtin reached by getattr with a computed name"),
    ("x = 1\n%run helper.py", 2, "IPython line '%run helper.py'"),
    ("\uff45\uff58\uff45\uff43(s)", 1, "exec of a computed value"),  # fullwidth letters: Python reads `exec`
    (f"blob = {_BLOB!r}", 1, f"encoded data in string literals ({len(_BLOB):,} characters)"),
    (
        "blob = (\n" + "\n".join(f"    {_LONG_BLOB[i : i + 20]!r}" for i in range(0, 300, 20)) + "\n)",
        2,
        "encoded data in string literals (300 characters)",
    ),
    (f"blob = bytes.fromhex({_HEX!r})", 1, "encoded data in string literals (300 characters)"),
    ("blob = 'QUJD' * 100", 1, "encoded data in string literals (400 characters)"),  # as the compiler folds it
    (f"blob = {_ZLIB!r}", 1, f"encoded data in string literals ({len(_ZLIB):,} characters)"),
    ("f = open('helpers.py', 'w')", 1, "a Python file named ('helpers.py')"),
    (f"f.write({_MODULE!r})", 1, f"a string literal that is Python code ({len(_MODULE)} characters)"),
    # runners and ways to the builtins that name none of the above
    ("import sys\nrun = getattr(sys.modules['builtins'], 'ex' + 'ec')", 2, "the module table (sys.modules)"),
    ("import timeit\ntimeit.timeit(s, number=1, globals=globals())", 1, "import of timeit"),
    ("import cProfile\ncProfile.run(s)", 1, "import of cProfile"),
    ("import doctest\ndoctest.run_docstring_examples(f, globals())", 1, "import of doctest"),
    ("from pdb import run", 1, "import from pdb"),
    ("import os, sys\nsys.path.insert(0, os.getcwd())\nfrom helpers import *", 2, "sys.path changed (insert)"),
    ("s = util.spec_from_file_location('m', name)", 1, "spec_from_file_location used"),
    ("spec.loader.exec_module(m)", 1, "exec_module used"),
    ("import imp\nm = imp.load_source('m', name)", 2, "load_source used"),
    ("import sys\nsys.meta_path.insert(0, Finder())", 2, "the import system changed (sys.meta_path)"),
]


@pytest.mark.parametrize(("cell", "line", "what"), UNNAMED, ids=[w for _, _, w in UNNAMED])
def test_code_reached_without_its_name_is_found(cell, line, what):
    found = find(as_code("a", ["import numpy as np", cell]))
    assert (found[-1].cell, found[-1].line, found[-1].what) == (1, line, what)


def test_the_unnamed_runner_of_the_red_team_is_listed():
    source = "def l1_penalty(theta):\n    return 0.01 * np.sum(np.abs(theta))\n"
    blob = base64.b64encode(zlib.compress(source.encode())).decode()
    cell = (
        "import base64 as _b, zlib as _z, builtins as _B\n"
        f"getattr(_B, 'ex' + 'ec')(_z.decompress(_b.b64decode({blob!r})).decode())"
    )
    assert [(o.line, o.what) for o in find(as_code("erin", [cell]))] == [
        (1, "import of builtins"),
        (2, "a builtin reached by getattr with a computed name"),
    ]


def test_the_copy_written_as_a_module_of_the_red_team_is_listed():
    """Round 5 (`copy_through_a_module_05`): the copy as a rot13 string (spaces kept, it does not
    parse: neither encoded-looking nor code), written to a file whose name is joined at run time,
    imported from a path the cell adds. No runner, no reflection; the path is the way in."""
    import codecs

    text = codecs.encode("def l1_penalty(theta):\n    return 0.01 * np.sum(np.abs(theta))\n" * 20, "rot13")
    cell = (
        "import codecs, os, sys\n"
        f"open('.'.join(['helpers', 'py']), 'w').write(codecs.decode({text!r}, 'rot13'))\n"
        "sys.path.insert(0, os.getcwd())\n"
        "from helpers import *\n"
    )
    assert [(o.line, o.what) for o in find(as_code("carol", [cell]))] == [(3, "sys.path changed (insert)")]


def test_what_honest_notebooks_hold_is_not_code_from_a_string():
    honest = [
        "model.compile(optimizer='sgd', loss='mse')",
        "pattern = re.compile('[a-z]+')",
        "value = self.eval_step(x)",
        "evaluation = model.evaluate(X, y)",
        "print('exec(x) is not used here')",
        "# exec(base64.b64decode(...)) in a comment",
        'if "model_A" not in globals():\n    model_A = None',
        "opt = getattr(keras.optimizers, name)()",
        "%matplotlib inline\n!pip install -q numpy",
        "import importlib\nimportlib.reload(helpers)\nm = importlib.import_module('numpy')",
        "class Layer:\n    def __init__(self):\n        super().__init__()\n        self.name = type(self).__name__",
        "loss = 'sparse_categorical_crossentropy'\nURL = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz'",
        "SHA = 'a3f9c1e2b4d5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d'",
        'def f(x):\n    """' + "Returns the value of x, as the lecture's formula says:\n    " * 8 + '"""\n    return x',
        "x = [" + ", ".join(str(i) for i in range(300)) + "]",
    ]
    assert find(as_code("a", honest)) == []
    for aid in (
        "01_activations_and_initialisation",
        "02_batch_normalisation",
        "03_transfer_learning",
        "04_optimizers",
        "05_regularisation",
    ):
        assert find(as_code("ref", reference(aid))) == [], aid
        assert find(as_code("handout", given(aid))) == [], aid
    for variant in ALTERNATIVES:
        assert find(as_code("alt", alternative(variant))) == [], variant
    for path in sorted((REPO / "benchmarks" / "similarity_data").glob("*/*.py")):
        assert find(as_code("hand", [path.read_text()])) == [], path


def test_the_report_lists_code_run_from_strings():
    stub = given("04_optimizers")
    hidden = "import base64\nexec(base64.b64decode('ZGVmIG1vbWVudHVtX3N0ZXAoKTogcGFzcw=='))"
    cells = [hidden if c.startswith("def momentum_step") else c for c in reference("04_optimizers")]
    report = compare([as_code("<i>evil</i>", cells), as_code("b", reference("04_optimizers"))], stub, DEFAULT)
    assert [(o.student, o.what) for o in report.obfuscated] == [
        ("<i>evil</i>", "exec of an encoded literal (b64decode)")
    ]
    html = similarity_page([report])
    assert "Code run from strings" in html and "b64decode" in html and "<i>evil" not in html
    # a given cell is the course's: not listed even if it held such a call
    assert find(as_code("c", ["exec('x = 1')"]), given={"exec('x = 1')"}) == []


def test_findings_are_bounded():
    found = find(as_code("a", ["exec('1')\n" * 1000]))
    assert len(found) == MAX_FINDINGS


def test_the_command_names_every_student_with_code_from_strings():
    stub = given("05_regularisation")
    hidden = [f"exec({c!r})" for c in reference("05_regularisation")]  # every cell: 13 places
    unnamed = ["import builtins as B\ngetattr(B, 'ex' + 'ec')(s)"]
    report = compare([as_code("carol", hidden), as_code("erin", unnamed)], stub, DEFAULT)
    lines = [line for line in ranked_lines([report], 1) if "from a string" in line]
    assert [line.split(",")[0].split()[-1] for line in lines] == ["carol"]  # top 1
    lines = [line for line in ranked_lines([report], 10) if "from a string" in line]
    assert len(lines) == 2 and "erin, cell 0 line 1: import of builtins (and 1 more places)" in lines[1]
