"""Gradescope export: `Result` -> results.json, and the autograder zip Gradescope builds its image from.

**Conversion** (`to_gradescope`): one test per question and kind of case. The public cases of a
question are a "visible" test worth their share of the points (input, expected and got, as in the
feedback); its hidden cases are an "after_published" test worth the rest, shown only once the
instructor publishes grades. A question with one kind of case is one test. The top-level score is
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
  `python -m autograder.gradescope results TMP/<stem>.json /autograder/results/results.json`, and
  always leaves a results.json: a missing or ambiguous notebook, an unknown assignment or a grader
  failure gives score 0 with the reason. When bubblewrap cannot make a sandbox in the container, it
  grades with `--no-sandbox` and says so in the output.
- the package source (`autograder/`), `pyproject.toml`, `README.md`, and `solutions/`: the reference
  notebooks. They sit in `/autograder/source`, which the sandbox never mounts (it sees `/usr`, the
  Python installation with the grader's own package masked, and the job's folders only); reference
  outputs are computed from them by the same sandboxed runner, and kept in the grader's cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from .errors import UsageError
from .result import QuestionResult, Result

ROOT_ENV = "GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
VISIBLE, AFTER_PUBLISHED, HIDDEN = "visible", "after_published", "hidden"
MAX_EXECUTION_LINES = 10
PLACEHOLDER = "@ASSIGNMENT@"


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
    lines = [f"{result.assignment}: " + (
        "public cases below; hidden cases (other shapes, dtypes, magnitudes, seeds) count too, their "
        "results are shown when grades are published." if has_hidden
        else f"{_num(result.score)} / {_num(result.max_score)} points.")]
    if not result.sandboxed:
        lines.append("Note: graded WITHOUT the bubblewrap sandbox (it cannot run in this container).")
    if result.isolation is not None:
        lines += [f"Note: {m}." for m in result.isolation.shortfalls()]
    problems = execution_problems(result)
    if problems:
        lines += ["", "Problems while running your notebook:", *(f"- {p}" for p in problems)]
    doc: dict[str, Any] = {
        "score": result.score,
        "output": "\n".join(lines),
        "visibility": VISIBLE,
        "stdout_visibility": HIDDEN,   # the grader's log prints every score, hidden ones included
        "tests": tests,
    }
    if result.execution is not None:
        doc["execution_time"] = int(round(result.execution.seconds))
    return doc


def failure(reason: str) -> dict[str, Any]:
    """results.json when there is no result to convert (no notebook, grader failure): score 0."""
    return {"score": 0.0, "output": f"This submission was not graded: {reason}", "visibility": VISIBLE,
            "stdout_visibility": HIDDEN, "tests": []}


def _question_tests(q: QuestionResult) -> list[dict[str, Any]]:
    public = [c for c in q.cases if c.public]
    hidden = [c for c in q.cases if not c.public]
    public_feedback = [f for f in q.feedback if f.startswith("public case")]
    other_feedback = [f for f in q.feedback if not f.startswith("public case")]  # hidden + anything else
    if not public or not hidden:
        # one kind of case (or none): the whole question is one test, hidden iff its cases are
        only_hidden = bool(hidden)
        kind = "hidden" if only_hidden else "public"
        passed = sum(c.passed for c in q.cases)
        head = (f"{passed}/{len(q.cases)} {kind} cases passed" if q.cases else f"status: {q.status}")
        return [_test(f"{q.id} ({kind} cases)" if q.cases else q.id, q.score, q.max_score,
                      q.status == "passed", [head, *q.feedback], AFTER_PUBLISHED if only_hidden else VISIBLE)]
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
    public_output = [f"{public_passed}/{len(public)} public cases passed",
                     *public_feedback,
                     f"(this question also has {len(hidden)} hidden case{'s' if len(hidden) > 1 else ''} worth "
                     f"{_num(hidden_max)} points; they are shown when grades are published)"]
    hidden_output = [f"{hidden_passed}/{len(hidden)} hidden cases passed", *other_feedback]
    return [
        _test(f"{q.id} (public cases)", public_score, public_max, public_passed == len(public), public_output,
              VISIBLE),
        _test(f"{q.id} (hidden cases)", hidden_score, hidden_max, hidden_passed == len(hidden), hidden_output,
              AFTER_PUBLISHED),
    ]


def _clamp(value: float, top: float) -> float:
    return min(max(round(value, 4), 0.0), top)


def _test(name: str, score: float, max_score: float, passed: bool, lines: list[str], visibility: str) -> dict[str, Any]:
    return {"name": name, "score": score, "max_score": max_score, "status": "passed" if passed else "failed",
            "output": "\n\n".join(lines), "visibility": visibility}


def _unreadable(result: Result) -> dict[str, Any]:
    reason = f"the notebook could not be read: {result.error}"
    tests = [_test(q.id, 0.0, q.max_score, False, ["not graded: " + reason], VISIBLE) for q in result.questions]
    doc = failure(reason)
    doc["output"] += f"\nScore 0 / {_num(result.max_score)}. Check that you uploaded the .ipynb file you saved."
    doc["tests"] = tests
    return doc


def execution_problems(result: Result) -> list[str]:
    """What went wrong while running the notebook, for the student (cells counted from 1, text
    cells included, as they see them when scrolling)."""
    ex = result.execution
    if ex is None:
        return []
    lines = []
    if ex.timed_out:
        lines.append("the notebook did not finish within its total time limit")
    if ex.memory_exceeded:
        lines.append("the notebook used more memory than allowed")
    errors = list(ex.cell_errors)
    for err in errors[:MAX_EXECUTION_LINES]:
        where = f"cell {_cell_number(err)}"
        status = err.get("status")
        if status == "timeout":
            lines.append(f"{where} did not finish in time (it was skipped on a rerun)")
        elif status == "killed":
            lines.append(f"the Python process died in {where} (it was skipped on a rerun)")
        else:
            evalue = " ".join(str(err.get("evalue", "")).split())
            evalue = evalue if len(evalue) <= 200 else evalue[:199] + "…"
            lines.append(f"{where} raised {err.get('ename') or 'an error'}" + (f": {evalue}" if evalue else ""))
    if len(errors) > MAX_EXECUTION_LINES:
        lines.append(f"and {len(errors) - MAX_EXECUTION_LINES} more cell errors")
    named = {_cell_number(e) - 1 for e in errors}
    for item in ex.skipped:
        kind, _, rest = item.partition(":")
        if kind == "cell" and rest.isdigit():
            if int(rest) not in named:
                lines.append(f"cell {int(rest) + 1} was skipped on a rerun (it hung or ended the Python process)")
        elif kind == "probe" and rest:
            function, _, case = rest.partition("/")
            which = "a hidden case" if case.startswith("hidden") else f"case {case}" if case else "a case"
            lines.append(f"calling {function} on {which} hung or ended the Python process; it was skipped")
        else:
            lines.append(f"{item} was skipped on a rerun")
    if ex.killed and not ex.timed_out and not any("died" in line or "hung" in line for line in lines):
        lines.append("the Python process was killed")
    return lines


def _cell_number(error: dict[str, Any]) -> int:
    try:
        return int(error.get("cell", 0)) + 1
    except (TypeError, ValueError):
        return 0


def _num(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------------------------
# The autograder zip
# --------------------------------------------------------------------------------------------

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# Generated by `autograder export gradescope` (dnn-grader @VERSION@).
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
# bubblewrap: the sandbox; util-linux: setpriv (drops to an unprivileged uid inside it)
apt-get install -y -qq bubblewrap python3-pip python3-venv util-linux
# offline Fashion-MNIST (assignments 02, 03, 05); not every release packages it
apt-get install -y -qq dataset-fashion-mnist \
    || echo "setup: no dataset-fashion-mnist package here; Fashion-MNIST is fetched through keras below"

# a Python >= 3.11 (pyproject's requires-python); Ubuntu 22.04's python3 is 3.10
PY=""
for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PY="$(command -v "$candidate")"
        break
    fi
done
if [ -z "$PY" ]; then
    apt-get install -y -qq python3.11 python3.11-venv
    PY="$(command -v python3.11)"
fi
apt-get install -y -qq "$(basename "$PY")-venv" >/dev/null 2>&1 || true

# a virtual environment: Ubuntu 24.04's system Python refuses `pip install` (PEP 668)
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$ROOT/venv/bin/python" -m pip install -q --disable-pip-version-check "$SOURCE"

cd "$SOURCE"
"$ROOT/venv/bin/python" -c "from autograder.data import load_fashion_mnist; load_fashion_mnist()" \
    || echo "setup: WARNING: Fashion-MNIST is not available; assignments 02, 03 and 05 cannot be graded"
if "$ROOT/venv/bin/python" -m autograder.gradescope can-sandbox; then
    echo "setup: bubblewrap can sandbox here"
else
    echo "setup: WARNING: bubblewrap cannot sandbox in this image; run_autograder will grade with --no-sandbox"
fi
echo "setup: done ($("$ROOT/venv/bin/autograder" --version))"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It always leaves $ROOT/results/results.json.
# Generated by `autograder export gradescope` (dnn-grader @VERSION@).
set -uo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
ASSIGNMENT="@ASSIGNMENT@"   # empty: from the notebook's metadata, else its file name
ALLOW_UNSANDBOXED="@ALLOW_UNSANDBOXED@"   # 1: grade without bubblewrap if it cannot run (export --allow-unsandboxed)
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
WORK="$(mktemp -d)"
DONE=0   # set once results.json is ours: a file the notebook wrote there (unsandboxed) never counts

last_resort() {  # Python itself failed: a fixed, valid results.json
    if [ "$DONE" != 1 ]; then
        cat >"$RESULTS" <<'JSON'
{"score": 0.0, "output": "This submission was not graded: the autograder failed. This is not a problem with your notebook; please tell your instructor.", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
JSON
    fi
    rm -rf "$WORK"
}
trap last_resort EXIT

# the grader reads [tool.autograder] (solutions/, limits) from the pyproject.toml here
cd "$SOURCE" || exit 0
# setup.sh's virtual environment, else an installed `autograder`, else the package in this folder
if [ -x "$ROOT/venv/bin/autograder" ]; then
    GRADE=("$ROOT/venv/bin/autograder"); PY="$ROOT/venv/bin/python"
elif command -v autograder >/dev/null 2>&1; then
    GRADE=(autograder); PY=python3
else
    GRADE=(python3 -m autograder); PY=python3
fi

fail() {
    echo "run_autograder: $1"
    "$PY" -m autograder.gradescope fail "$RESULTS" "$1" && DONE=1
    exit 0
}

NOTEBOOKS=()
while IFS= read -r -d '' nb; do NOTEBOOKS+=("$nb"); done < <(
    find "$ROOT/submission" -type f -iname '*.ipynb' -not -path '*/.ipynb_checkpoints/*' \
        -not -path '*/__MACOSX/*' -print0 2>/dev/null | sort -z)
if [ "${#NOTEBOOKS[@]}" -ne 1 ]; then
    found=""
    for nb in "${NOTEBOOKS[@]}"; do found="$found ${nb#"$ROOT/submission/"}"; done
    fail "expected exactly one .ipynb notebook in the submission, found ${#NOTEBOOKS[@]}${found:+:$found}. \
Upload the one notebook to grade."
fi
NB="${NOTEBOOKS[0]}"
echo "run_autograder: grading ${NB#"$ROOT/submission/"}"

OPTIONS=()
[ -n "$ASSIGNMENT" ] && OPTIONS+=(--assignment "$ASSIGNMENT")
if ! "$PY" -m autograder.gradescope can-sandbox; then
    if [ "$ALLOW_UNSANDBOXED" != 1 ]; then
        fail "the autograder cannot create its sandbox in this container, and grading without it was not allowed \
(autograder export gradescope --allow-unsandboxed). This is not a problem with your notebook; please tell your instructor."
    fi
    echo "run_autograder: WARNING: bubblewrap cannot create a sandbox in this container; grading with --no-sandbox"
    OPTIONS+=(--no-sandbox)
fi

mkdir -p "$WORK/out"
"${GRADE[@]}" grade "$NB" --out "$WORK/out" "${OPTIONS[@]}" 2>"$WORK/stderr"
code=$?
cat "$WORK/stderr" >&2
RESULT="$(find "$WORK/out" -maxdepth 1 -name '*.json' | head -n 1)"
if [ -z "$RESULT" ]; then
    reason="$(grep '^error:' "$WORK/stderr" | tail -n 1 | sed 's/^error: *//')"
    if [ "$code" = 2 ]; then
        fail "${reason:-the notebook could not be graded (exit code $code)}"
    fi
    # the reason (paths of this server, a missing package) is for the instructor: in the log only
    echo "run_autograder: the grader failed (exit code $code): ${reason:-see above}" >&2
    fail "the autograder failed (exit code $code). \
This is not a problem with your notebook; please tell your instructor."
fi
"$PY" -m autograder.gradescope results "$RESULT" "$RESULTS" \
    || fail "the autograder could not convert its result. Please tell your instructor."
DONE=1
echo "run_autograder: wrote $RESULTS"
"""


def build_autograder_zip(out: Path, repo_root: Path, *, assignment: str | None = None,
                         allow_unsandboxed: bool = False) -> Path:
    """Write Gradescope's autograder zip to `out` and return it.

    `repo_root` is the course: the folder of `pyproject.toml`, `README.md` and `solutions/`; the
    package is this one's own source (a checkout's or an installed wheel's). With
    `assignment`, every submission is graded as that assignment (a Gradescope assignment is one
    notebook; students' file names and metadata are then irrelevant); without, it is told from
    the notebook's metadata or file name, as `autograder grade` does. `solutions/` goes into
    `/autograder/source`, which no sandbox ever mounts. Where bubblewrap cannot run in the
    container, submissions score 0 with an explanation unless `allow_unsandboxed`: unsandboxed,
    the notebook runs as root beside `solutions/` and the grader, and could forge its score. The zip is reproducible (fixed dates, sorted).
    """
    from . import __version__
    from .questions import ASSIGNMENTS

    repo_root = Path(repo_root)
    solutions = repo_root / "solutions"
    package = Path(__file__).resolve().parent  # the grader that exports is the grader that runs there
    for needed in (repo_root / "pyproject.toml", repo_root / "README.md"):
        if not needed.is_file():
            raise UsageError(f"{needed} is missing: is {repo_root} a dnn-grader course?")
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise UsageError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    wanted = [assignment] if assignment else list(ASSIGNMENTS)
    missing = [a for a in wanted if not (solutions / f"{a}.ipynb").is_file()]
    if missing:
        raise UsageError(f"no reference notebook for {', '.join(missing)} in {solutions}")

    files: dict[str, bytes] = {}
    for name, folder in (("autograder", package), ("solutions", solutions)):
        for path in sorted(folder.rglob("*")):
            rel = Path(name) / path.relative_to(folder)
            if path.is_file() and not _excluded(rel):
                files[rel.as_posix()] = path.read_bytes()
    for name in ("pyproject.toml", "README.md"):
        files[name] = (repo_root / name).read_bytes()
    scripts = {
        "setup.sh": SETUP_SH.replace("@VERSION@", __version__),
        "run_autograder": RUN_AUTOGRADER.replace("@VERSION@", __version__).replace(PLACEHOLDER, assignment or "")
        .replace("@ALLOW_UNSANDBOXED@", "1" if allow_unsandboxed else ""),
    }

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in scripts.items():
            _add(zf, name, text.encode(), executable=True)
        for name in sorted(files):
            _add(zf, name, files[name], executable=False)
    os.replace(tmp, out)
    return out


def _excluded(rel: Path) -> bool:
    return any(part in ("__pycache__", ".ipynb_checkpoints") or part.startswith(".") for part in rel.parts) \
        or rel.suffix in (".pyc", ".pyo")


def _add(zf: zipfile.ZipFile, name: str, data: bytes, *, executable: bool) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix, so that unzip keeps the modes
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


# --------------------------------------------------------------------------------------------
# python -m autograder.gradescope ...  (called by run_autograder)
# --------------------------------------------------------------------------------------------

def root() -> Path:
    """Gradescope's folder, `$GRADESCOPE_ROOT` or /autograder."""
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope",
                                     description="Gradescope helpers used by run_autograder.")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("results", help="convert a result JSON (autograder grade) to Gradescope's results.json")
    r.add_argument("result", type=Path)
    r.add_argument("results_json", type=Path)
    f = sub.add_parser("fail", help="write a results.json with score 0 and this reason")
    f.add_argument("results_json", type=Path)
    f.add_argument("reason")
    sub.add_parser("can-sandbox", help="exit 0 if bubblewrap can create a sandbox here, else 1")
    args = parser.parse_args(argv)

    if args.command == "can-sandbox":
        from .sandbox import bubblewrap_available

        return 0 if bubblewrap_available() else 1
    if args.command == "fail":
        _write(args.results_json, failure(args.reason))
        return 0
    try:
        result = Result.from_dict(json.loads(args.result.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"error: cannot read the result {args.result}: {exc}", file=sys.stderr)
        _write(args.results_json, failure("the autograder could not read its own result. This is not a problem "
                                          "with your notebook; please tell your instructor."))
        return 1
    _write(args.results_json, to_gradescope(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
