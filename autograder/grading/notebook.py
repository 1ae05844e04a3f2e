"""Reading notebooks; the only module that knows metadata keys and cell tags.

Submissions arrive in every state (empty, binary, nbformat 3, 50 MB of outputs, invalid JSON):
`read_notebook` either returns a v4 notebook or raises `SubmissionUnreadable` with a message a
student understands.

Grading reads code and tags, never outputs or attachments (cells are run afresh), yet they are
most of a notebook's bytes and, as a million tiny outputs, most of its objects: parsing them whole
and validating them with nbformat took 5.6 GB and two minutes on a notebook under the size cap.
So they are dropped while the JSON is decoded (`_drop_outputs`, a hook called per object as it is
built: an output becomes `None` before the next one is read) and only the small remainder is
validated. The cost of reading is then the file's bytes, its text and the code
(`benchmarks/grader_limits.py` measures it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from ..errors import SubmissionUnreadable
from .untrusted import clean_text

META_KEY = "autograder"  # notebook.metadata[META_KEY] = {"assignment": id, ...}
TAG_TRAIN = "train"  # given cells that load data or train models (skipped by the reference run)
TAG_SELF_CHECK = "autograder-self-check"  # cells inserted by build; never run while grading
MAX_NOTEBOOK_BYTES = 200 * 1024**2


@dataclass(frozen=True)
class CodeCell:
    index: int
    source: str
    tags: tuple[str, ...]


def read_notebook(path: Path, *, whole: bool = False) -> nbformat.NotebookNode:
    """The notebook at `path` as v4, outputs and attachments dropped unless `whole` (the course's
    own solutions, whose pictures the handout keeps); a student's is never read whole."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionUnreadable(f"{path}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise SubmissionUnreadable(f"{path.name}: the file is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionUnreadable(
            f"{path.name}: {size / 1024**2:.0f} MB is larger than the {MAX_NOTEBOOK_BYTES // 1024**2} MB limit"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark (some Windows editors add one) is not damage
    except UnicodeDecodeError as exc:
        raise SubmissionUnreadable(f"{path.name}: not UTF-8 text (byte {exc.start}); is it a notebook?") from None
    except OSError as exc:
        raise SubmissionUnreadable(f"{path}: cannot read ({exc.strerror})") from None
    try:
        doc = json.loads(text) if whole else json.loads(text, object_pairs_hook=_drop_outputs)
        del text  # the remainder is what is validated below; the file's text can go
    except (ValueError, RecursionError) as exc:
        raise SubmissionUnreadable(f"{path.name}: not valid JSON ({exc}); the notebook file is damaged") from None
    if not isinstance(doc, dict) or "cells" not in doc and "worksheets" not in doc:
        raise SubmissionUnreadable(f"{path.name}: JSON, but not a Jupyter notebook (no cells)")
    major = doc.get("nbformat")
    if major not in (3, 4):
        raise SubmissionUnreadable(f"{path.name}: notebook format {major!r} is not supported (expected 4, or 3)")
    try:
        nb = nbformat.reads(json.dumps(doc), as_version=4)
    except Exception as exc:  # nbformat raises many types for damaged structure
        raise SubmissionUnreadable(f"{path.name}: damaged notebook structure ({type(exc).__name__}: {exc})") from None
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str):
            raise SubmissionUnreadable(f"{path.name}: a cell's source is not text")
    return nb


def _drop_outputs(pairs: list[tuple[str, Any]]) -> Any:
    """One JSON object as decoded: an output (it has `output_type`) becomes `None`; a cell's
    `outputs` become `[]` and its `attachments` go. Called innermost first, so each output is
    dropped as soon as it is decoded, and a cell never holds more than a list of `None`s."""
    obj = dict(pairs)
    if "output_type" in obj:
        return None
    if "cell_type" in obj:
        if "outputs" in obj:
            obj["outputs"] = []
        obj.pop("attachments", None)
    return obj


def stamped_assignment(nb: nbformat.NotebookNode) -> str | None:
    meta = nb.metadata.get(META_KEY)
    if isinstance(meta, dict) and isinstance(meta.get("assignment"), str):
        return meta["assignment"]
    return None


def assignment_from_name(name: str, known: list[str]) -> str | None:
    """The assignment whose id (or its number prefix '03_') appears in a file name."""
    lower = name.lower()
    for aid in known:
        if aid.lower() in lower:
            return aid
    for aid in known:
        number = aid.split("_", 1)[0]
        if re.search(rf"(?<!\d){re.escape(number)}_", lower):
            return aid
    return None


_DEFINES = re.compile(r"^[ \t]*(?:async[ \t]+)?(def|class)[ \t]+([A-Za-z_][A-Za-z0-9_]{0,60})", re.MULTILINE)
_SHOWN = 60


def _code_lines(cell: Any) -> list[str]:
    """A cell's lines of code (no blank or comment lines), cleaned and with spaces collapsed."""
    source = cell.get("source", "")
    source = (source if isinstance(source, str) else "".join(str(s) for s in source))[:20_000]
    lines = (" ".join(clean_text(line, 400, one_line=True).split()) for line in source.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _shown(line: str) -> str:
    return (line if len(line) <= _SHOWN else line[: _SHOWN - 1] + "…").replace("`", "'")


def cell_name(nb: nbformat.NotebookNode, index: int) -> str:
    """A cell as the student finds it in Jupyter, which numbers no cells: by the function (or
    class) it defines, else by its first line of code (and, when other cells start alike, its
    first line no other code cell has), else by its place among the code cells. Student text:
    bounded here, escaped by each renderer."""
    if not 0 <= index < len(nb.cells):
        return f"cell {index + 1}"
    cell = nb.cells[index]
    lines = _code_lines(cell)
    source = "\n".join(lines)
    defined = _DEFINES.search(source)
    if defined:
        kind, name = defined.groups()
        return f"the `{kind} {name}{'(...)' if kind == 'def' else ''}` cell"
    if not lines:
        place = sum(1 for c in nb.cells[: index + 1] if c.get("cell_type") == "code")
        return f"code cell {place} (no code)"
    name = f"the cell that starts `{_shown(lines[0])}`"
    others = [_code_lines(c) for j, c in enumerate(nb.cells) if j != index and c.get("cell_type") == "code"]
    if any(o and o[0] == lines[0] for o in others):
        elsewhere = {line for o in others for line in o}
        own = next((line for line in lines if line not in elsewhere), None)
        if own is not None:
            name += f" and has `{_shown(own)}`"
    return name


def tags(cell: Any) -> tuple[str, ...]:
    value = cell.get("metadata", {}).get("tags", [])
    return tuple(t for t in value if isinstance(t, str)) if isinstance(value, list) else ()


def code_cells(nb: nbformat.NotebookNode, *, skip_training: bool = False) -> list[CodeCell]:
    """Code cells to run while grading: self-check cells never, `train` cells unless skipped."""
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        cell_tags = tags(cell)
        if TAG_SELF_CHECK in cell_tags or (skip_training and TAG_TRAIN in cell_tags):
            continue
        cells.append(CodeCell(index, cell.get("source", ""), cell_tags))
    return cells
