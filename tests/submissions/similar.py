"""A synthetic class for the similarity report: independent correct solutions and disguised copies.

Independent students: the reference solution (the solution notebook's code cells, its solution
markers removed, as a student's notebook would hold it) and each correct alternative of
`variants.ALTERNATIVES`, written into the assignment notebook's stubs (the given code plus that
student's own functions only: the alternatives replace functions of the reference, and the rest
of the reference would make them copies of it). Copies: one of those, disguised by renaming its
variables, reformatting (`ast.unparse`, comments added), and reordering its functions and cells.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tests.submissions.variants import ALTERNATIVES, Variant

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^\s*# (BEGIN|END) SOLUTION\s*$\n?", re.M)


@dataclass(frozen=True)
class Student:
    name: str
    assignment: str
    cells: tuple[str, ...]
    copy_of: str | None = None  # the student this one copied


def notebook_code(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
    ]


def given(assignment: str) -> list[str]:
    return notebook_code(REPO / "assignments" / f"{assignment}.ipynb")


def reference(assignment: str) -> list[str]:
    return [MARKER.sub("", source) for source in notebook_code(REPO / "solutions" / f"{assignment}.ipynb")]


def alternative(variant: Variant) -> list[str]:
    cells = given(variant.assignment)
    for name, source in variant.replace.items():
        cells = [source if re.search(rf"^def {re.escape(name)}\(", c, re.M) else c for c in cells]
    return cells


def _locals(source: str) -> set[str]:
    """Arguments and assigned names inside functions: what a copier renames."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        names |= {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        names |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def rename(cells: list[str]) -> list[str]:
    out = []
    for source in cells:
        for number, name in enumerate(sorted(_locals(source))):
            source = re.sub(rf"(?<![\w.]){re.escape(name)}\b", f"{name[:1]}v{number}", source)
        out.append(source)
    return out


def reformat(cells: list[str]) -> list[str]:
    out = []
    for source in cells:
        try:
            source = ast.unparse(ast.parse(source))
        except SyntaxError:
            pass
        out.append("# my own work\n" + source.replace("\n", "\n\n", 3) + "\n# done")
    return out


def reorder(cells: list[str]) -> list[str]:
    """Functions of a cell in reverse order, and every cell after the first in reverse order."""
    out = []
    for source in cells:
        try:
            body = ast.parse(source).body
        except SyntaxError:
            out.append(source)
            continue
        defs = [n for n in body if isinstance(n, ast.FunctionDef)]
        others = [n for n in body if not isinstance(n, ast.FunctionDef)]
        out.append(source if len(defs) < 2 else ast.unparse(ast.Module(defs[::-1] + others, [])))
    return out[:1] + out[1:][::-1]


def disguise(cells: list[str], how: str) -> list[str]:
    for step in how.split("+"):
        cells = {"rename": rename, "reformat": reformat, "reorder": reorder}[step](cells)
    return cells


def synthetic_class() -> list[Student]:
    """Per assignment with correct alternatives: the reference, each alternative, and copies."""
    students: list[Student] = []
    for assignment in sorted({v.assignment for v in ALTERNATIVES}):
        originals = [Student(f"reference_{assignment[:2]}", assignment, tuple(reference(assignment)))]
        originals += [
            Student(v.name, assignment, tuple(alternative(v))) for v in ALTERNATIVES if v.assignment == assignment
        ]
        students += originals
        for how, source in (
            ("rename+reformat", originals[0]),
            ("reorder+rename", originals[-1]),
            ("reformat+reorder", originals[0]),
        ):
            students.append(
                Student(
                    f"copy_{how.replace('+', '_')}_of_{source.name}",
                    assignment,
                    tuple(disguise(list(source.cells), how)),
                    copy_of=source.name,
                )
            )
    return students
