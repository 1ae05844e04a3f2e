"""solutions/ -> assignments/: the student notebooks, generated, never edited by hand.

Each `# BEGIN SOLUTION` ... `# END SOLUTION` block becomes `raise NotImplementedError(...)`.
Every graded function must be defined inside such a block's cell: a graded function written
without markers is a build error (otter-assign copies such a cell silently). After generating,
a leak check makes sure no solution line survives in the student notebook.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import wire
from ..course.config import find_pyproject
from ..errors import BuildError
from ..grading.notebook import META_KEY, TAG_SELF_CHECK, TAG_TRAIN, read_notebook, tags
from ..grading.prepare import Plan, make_plan
from ..questions import ASSIGNMENTS
from ..questions.base import Assignment
from ..wire import CallOutput
from .precision import same_within_tolerance
from .requirements import declared_versions, install_line
from .selfcheck import OTTER_KEY, SHARED_KEY, runtime_source, self_checks, setup_source

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^(\s*)# END SOLUTION\s*$")
HEADER_TAG = "autograder-generated"


@dataclass(frozen=True)
class Built:
    assignment: str
    path: Path
    text: str
    solution_lines: frozenset[str]


def graded_functions(assignment: Assignment) -> set[str]:
    """Names the student writes: every question that calls a function (not trained-model questions)."""
    plan = make_plan(assignment, seed=0, hidden=False)
    return {c.call.function for cases in plan.cases.values() for c in cases if not isinstance(c.call, wire.Trained)}


def strip_solutions(source: str, where: str) -> tuple[str, list[str]]:
    """The cell's source with each solution block replaced, and the removed lines."""
    out: list[str] = []
    removed: list[str] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        begin = BEGIN.match(lines[i])
        if END.match(lines[i]):
            raise BuildError(f"{where}: '# END SOLUTION' without a BEGIN")
        if not begin:
            out.append(lines[i])
            i += 1
            continue
        indent = begin.group(1)
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise BuildError(f"{where}: nested '# BEGIN SOLUTION'")
            j += 1
        if j == len(lines):
            raise BuildError(f"{where}: '# BEGIN SOLUTION' without an END")
        removed += lines[i + 1 : j]
        name = _enclosing_function(lines[:i])
        out += [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{name}")']
        i = j + 1
    return "\n".join(out), removed


def _enclosing_function(previous: list[str]) -> str:
    for line in reversed(previous):
        match = re.match(r"\s*def\s+(\w+)", line)
        if match:
            return match.group(1)
    return "this exercise"


def defined_functions(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def build_one(
    solution: Path,
    assignment: Assignment,
    out_dir: Path,
    reference: dict[str, CallOutput],
    versions: Mapping[str, str] | None = None,
) -> Built:
    """The student notebook, its self-check tests in its metadata, from one solution notebook.

    `reference` holds the solution's outputs on the public cases (see `reference.py`); they are
    embedded in the self-check tests, which is fine: public cases are public. `versions`: the
    course's declared requirements, for the install line (`requirements.py`).
    """
    nb = read_notebook(solution, whole=True)
    where = solution.name
    stamped = nb.metadata.get(META_KEY, {}).get("assignment")
    if stamped != assignment.id:
        raise BuildError(f"{where}: metadata.{META_KEY}.assignment is {stamped!r}, expected {assignment.id!r}")
    graded = graded_functions(assignment)
    seen: set[str] = set()
    removed: list[str] = []
    kept: set[str] = set()
    cells = []
    placed: list[str] = []
    for index, original in enumerate(nb.cells):
        cell = copy.deepcopy(original)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell_where = f"{where} cell {index}"
        new_source, cell_removed = strip_solutions(cell.source, cell_where)
        defined = sorted(defined_functions(cell.source) & graded, key=cell.source.index)
        if defined and not cell_removed:
            raise BuildError(
                f"{cell_where}: defines graded {defined} without '# BEGIN SOLUTION' markers; "
                "it would be copied to students with its solution"
            )
        seen |= set(defined)
        removed += cell_removed
        if cell.cell_type == "code":
            kept |= {line.strip() for line in new_source.split("\n")}
        cell.source = new_source
        cells.append(cell)
        trained = [
            q.id
            for q in assignment.questions
            if q.id not in graded
            and q.id not in placed
            and TAG_TRAIN in tags(cell)
            and re.search(rf"^{re.escape(q.id)}\s*=", cell.source, re.M)
        ]
        cells += [_self_check_cell(f'grader.check("{qid}")', qid, nb) for qid in defined + trained]
        placed += defined + trained
    missing = graded - seen
    if missing:
        raise BuildError(f"{where}: no solution cell defines {sorted(missing)}")
    unchecked = [q.id for q in assignment.questions if q.id not in placed]
    if unchecked:
        raise BuildError(f"{where}: no cell defines or trains {unchecked} (a `train` cell must assign `name = ...`)")
    header = nbformat.v4.new_markdown_cell(
        f"*Generated by `autograder build` from `solutions/{solution.name}`. Do not edit the generated file "
        "itself: course staff edit the solution and rebuild. Students: write your code where it says "
        "`# YOUR CODE HERE`, keep every function name and signature, and run the `grader.check(...)` cell after "
        "each exercise: it tries your code on the public cases (your grade also uses hidden ones).*"
    )
    header.metadata["tags"] = [HEADER_TAG]
    _stable_id(header, "autograder-header", nb)
    line = install_line((c.source for c in cells if c.cell_type == "code"), versions or {}, where)
    setup = _self_check_cell(setup_source(f"{assignment.id}.ipynb", line), "setup", nb)
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, setup)
    cells.insert(0, header)
    cells.append(_self_check_cell("grader.check_all()", "all", nb))
    student = copy.deepcopy(nb)
    student.cells = cells
    student.metadata[META_KEY] = {"assignment": assignment.id, "generated": True}
    student.metadata[OTTER_KEY], student.metadata[SHARED_KEY] = self_checks(assignment, reference)
    text = nbformat.writes(student) + "\n"
    return Built(
        assignment.id,
        out_dir / f"{assignment.id}.ipynb",
        text,
        frozenset(line.strip() for line in removed if _significant(line)) - kept,
    )


def _stable_id(cell: nbformat.NotebookNode, key: str, nb: nbformat.NotebookNode) -> None:
    """Stable ids keep rebuilds byte-identical; cell ids only exist from nbformat 4.5 on."""
    if (nb.nbformat, nb.nbformat_minor) >= (4, 5):
        cell.id = key[:64].replace("_", "-")
    else:
        cell.pop("id", None)


def _self_check_cell(source: str, key: str, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [TAG_SELF_CHECK]
    _stable_id(cell, f"self-check-{key}", nb)
    return cell


def _significant(line: str) -> bool:
    """A solution line worth looking for in the student notebook (not blank, short or a comment)."""
    text = line.strip()
    return len(text) >= 8 and not text.startswith("#")


def leaks(built: Built) -> list[str]:
    """Solution lines (that the solution has nowhere but in its solution blocks) found in the
    student notebook's code: a build bug, or a solution block that lost its markers."""
    doc = json.loads(built.text)
    code_lines = {
        line.strip()
        for cell in doc["cells"]
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).split("\n")
    }
    # The self-check tests and their shared checker travel too; the checker (the runtime) is reviewed
    # code, not the solution's.
    sources = list(doc["metadata"].get(OTTER_KEY, {}).get("tests", {}).values())
    sources.append(doc["metadata"].get(SHARED_KEY, {}).get("code", ""))
    runtime = {line.strip() for line in runtime_source().split("\n")}
    code_lines |= {line.strip() for source in sources for line in source.split("\n")} - runtime
    return sorted(built.solution_lines & code_lines)


def build(
    solutions_dir: Path,
    assignments_dir: Path,
    reference: Callable[[Plan], dict[str, CallOutput]],
    *,
    check_only: bool = False,
    assignments: Iterable[Assignment] | None = None,
) -> list[str]:
    """Regenerate every assignment notebook; with check_only, write nothing.

    `assignments`: as the course grades them (`Config.assignment`: its points and thresholds),
    default the declarations. The course's numbers are baked into the notebooks because the
    self-checks show them to a student who has nothing but the notebook (no grader, no
    pyproject.toml); so changing them in pyproject.toml means rebuilding, and until then
    `build --check` and `verify` report assignments/ as out of date. Limits are not baked in:
    no notebook shows them.

    A notebook that differs only in expected values within a small share of their check's
    tolerance is in sync, and is not rewritten (`precision.same_within_tolerance`).

    Returns the files that differ (with check_only: would differ), including anything left in
    `assignments/tests/`, where self-check files lived before they moved into the notebooks.
    """
    drift: list[str] = []
    course = find_pyproject(solutions_dir.resolve())
    versions = declared_versions(course) if course else {}
    for assignment in ASSIGNMENTS.values() if assignments is None else assignments:
        public = reference(make_plan(assignment, seed=0, hidden=False))
        built = build_one(solutions_dir / f"{assignment.id}.ipynb", assignment, assignments_dir, public, versions)
        leaked = leaks(built)
        if leaked:
            raise BuildError(f"{built.path.name}: solution lines leak into the student notebook: {leaked[:3]}")
        current = built.path.read_text() if built.path.is_file() else None
        # Expected values a few ulps apart (another CPU) keep the committed file: `precision.py`.
        if current is None or (current != built.text and not same_within_tolerance(current, built.text)):
            drift.append(str(built.path))
            if not check_only:
                built.path.parent.mkdir(parents=True, exist_ok=True)
                built.path.write_text(built.text)
    stale = assignments_dir / "tests"
    if stale.exists():
        drift.append(str(stale))
        if not check_only:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    return drift
