"""Code run from strings: `exec`, `eval` or `compile` of a literal or an encoded literal.

Token fingerprints compare the code a student wrote; code hidden in a string (`exec(base64.
b64decode("..."))`, `eval("lambda z: ...")`) is one string token for them, so a copy passed
through `exec` would share nothing with its source. No honest notebook of this course runs code
from a string (none of the reference solutions does; Keras' `model.compile` and `re.compile` are
methods, not the builtin), so every such call is listed on the report for a person to read, as
obfuscation, next to the ranked pairs.

What is listed, per code cell (read with `ast`, never run):
- a call of the builtin `exec`, `eval` or `compile` (by name, or as an attribute of `builtins` /
  `__builtins__`), saying whether its code is a string literal, an encoded literal (a literal
  passed through a decoder: base64, hex, zlib, codecs, bytes, `chr`, `join`...) or computed;
- the builtin reached another way: `getattr(..., "exec")`, `__builtins__["eval"]`, or the name
  passed on as a value (`run = exec`), since each is a way to call it under another name.
A cell `ast` cannot read (a syntax error: the notebook would fail there too) is searched for the
three names followed by `(` instead. Student text is hostile: each cell is bounded by the code
copy's caps (`sources.py`), and at most `MAX_FINDINGS` findings are kept per submission.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .sources import Code
from .tokens import IPYTHON_LINE

BUILTINS = frozenset({"exec", "eval", "compile"})
_MODULES = frozenset({"builtins", "__builtins__"})
_DECODERS = frozenset(
    {
        "b64decode",
        "b32decode",
        "b16decode",
        "b85decode",
        "a85decode",
        "urlsafe_b64decode",
        "decodebytes",
        "decode",
        "decompress",
        "unhexlify",
        "fromhex",
        "loads",
        "bytes",
        "bytearray",
        "chr",
        "join",
        "reversed",
    }
)
_NAMES = re.compile(r"exec|eval|compile")  # every finding's text has one of them
_FALLBACK = re.compile(r"(?<![\w.])(exec|eval|compile)\s*\(")
MAX_FINDINGS = 20


@dataclass(frozen=True)
class Obfuscation:
    student: str
    cell: int  # the cell's index in the notebook
    line: int  # 1-based, in that cell
    what: str  # e.g. "exec of an encoded literal (b64decode)"


def _builtin_name(node: ast.expr) -> str | None:
    """`exec` for `exec`, `builtins.exec` or `__builtins__.exec`; else None."""
    if isinstance(node, ast.Name) and node.id in BUILTINS:
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and node.attr in BUILTINS
        and isinstance(node.value, ast.Name)
        and node.value.id in _MODULES
    ):
        return node.attr
    return None


def _literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) or isinstance(node, ast.JoinedStr)


def _called_name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _source_kind(arg: ast.expr | None) -> str:
    """What the code run is: a literal, an encoded literal (decoders over literals), or computed."""
    if arg is None:
        return "no argument"
    if _literal(arg):
        return "a string literal"
    decoders = [_called_name(n.func) for n in ast.walk(arg) if isinstance(n, ast.Call)]
    literals = any(_literal(n) for n in ast.walk(arg))
    used = sorted({d for d in decoders if d in _DECODERS})
    if literals and used:
        return f"an encoded literal ({', '.join(used[:3])})"
    return "a computed value"


def _findings(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    called: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _builtin_name(node.func)
            if name is not None:
                called.add(id(node.func))
                found.append((node.lineno, f"{name} of {_source_kind(node.args[0] if node.args else None)}"))
            elif (
                isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in BUILTINS
            ):
                found.append((node.lineno, f"{node.args[1].value} reached by getattr"))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value in BUILTINS
            and isinstance(node.value, ast.Name)
            and node.value.id in _MODULES
        ):
            found.append((node.lineno, f"{node.slice.value} reached through {node.value.id}"))
    for node in ast.walk(tree):  # the builtin as a value: called later under another name
        name = _builtin_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name is not None and id(node) not in called and isinstance(getattr(node, "ctx", None), ast.Load):
            found.append((node.lineno, f"{name} passed on as a value"))
    return found


def find(code: Code, given: set[str] | frozenset[str] = frozenset()) -> list[Obfuscation]:
    """Every place in a submission's code cells that runs code from a string, in cell order;
    cells left as given (their stripped source in `given`) are the course's, not looked at."""
    out: list[Obfuscation] = []
    for index, source in code.cells:
        if source.strip() in given or not _NAMES.search(source):  # most cells: no parse needed
            continue
        lines = ["" if IPYTHON_LINE.match(line) else line for line in source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
            found = sorted(_findings(tree))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            found = [
                (number, f"{m.group(1)} call in a cell Python cannot parse")
                for number, line in enumerate(lines, 1)
                for m in _FALLBACK.finditer(line)
            ]
        out += [Obfuscation(code.student, index, line, what) for line, what in found]
        if len(out) >= MAX_FINDINGS:
            return out[:MAX_FINDINGS]
    return out
