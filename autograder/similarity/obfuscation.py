"""Code run from strings, and the ways to reach a runner without naming it.

Token fingerprints compare the code a student wrote; code hidden in a string (`exec(base64.
b64decode("..."))`, `eval("lambda z: ...")`) is one string token for them, so a copy passed
through `exec` would share nothing with its source. No honest notebook of this course runs code
from a string (none of the reference solutions does; Keras' `model.compile` and `re.compile` are
methods, not the builtin), nor reaches Python's machinery by reflection, so every such place is
listed on the report for a person to read, as obfuscation, next to the ranked pairs.

Deny by default: the runner's name need not appear (`getattr(builtins, 'ex' + 'ec')`), so what is
listed is every way in, not only the three names. Per code cell (read with `ast`, never run):
- a call of the builtin `exec`, `eval` or `compile` (by name, or as an attribute of `builtins` /
  `__builtins__`), saying whether its code is a string literal, an encoded literal (a literal
  passed through a decoder: base64, hex, zlib, codecs, bytes, `chr`, `join`...) or computed;
- the builtin reached another way: `getattr(..., "exec")`, `__builtins__["eval"]`, or the name
  passed on as a value (`run = exec`), since each is a way to call it under another name;
- the builtins reached at all: an import of `builtins`, any use of `__builtins__`, `getattr` of
  the builtins with a name that is not a literal, `vars(builtins)` or `builtins.__dict__`, and
  the namespaces looked up by a computed key (`globals()[name]`, `vars()[...]`,
  `locals().get(...)`); `"model_A" in globals()`, which honest notebooks use, is not a lookup;
- imports by a computed name: `__import__` (any use), `importlib.import_module(name)`, and the
  modules that turn bytes into code or calls (`marshal`, `runpy`, `code`, `codeop`, `pickle`,
  `dill`, `cloudpickle`, `shelve`) or run a string themselves (`timeit`, `cProfile`, `profile`,
  `pdb`, `bdb`, `doctest`, `trace`); `get_ipython` (its `run_cell` runs a string), `CodeType`,
  `FunctionType`, a module file loaded by its location (`spec_from_file_location`, `exec_module`,
  `SourceFileLoader`, `load_module`, `imp.load_source`), `sys.modules` (the builtins module
  without its name), the import system's finders (`sys.meta_path`, `sys.path_hooks`) and a
  change to `sys.path` (only the notebook is in the sandbox: a module found on a new path is one
  it wrote), and IPython lines other than the harmless ones (`%run`, `%%writefile`, `!`);
- the attributes of Python's reflection (`__dict__`, `__globals__`, `__code__`,
  `__subclasses__`, `__mro__`, `__bases__`, `__base__`, `__getattribute__`, `__loader__`,
  `__spec__`, `__closure__`, `__doc__`), through which any builtin is one walk away;
- a Python file named in a literal (`open("m.py", "w")`, `%run m.py`): a module written from a
  string and imported runs code the tokens never saw;
- data hidden in literals: string or bytes literals of a cell that look encoded (base64, hex,
  escaped binary) adding up to `ENCODED_CHARS` or more, and a literal of at least
  `CODE_LITERAL_CHARS` that is itself Python code (a module written to a file and imported).
Literals are read as the compiler folds them (`'ex' + 'ec'`, `'AB' 'CD'` and `'A' * 300` are one
constant). Each cell is compiled (never run) first: its names as Python reads them (`ｅｘｅｃ` is
`exec`) and its constants decide whether its syntax tree is walked for the findings, so most
cells cost a compile. A cell `ast` cannot read (a syntax error: the notebook would fail there
too) is searched for the runners' names followed by `(` instead. Student text is hostile: each cell is bounded by the code copy's
caps (`sources.py`), and at most `MAX_FINDINGS` findings are kept per submission.
"""

from __future__ import annotations

import ast
import inspect
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import CodeType

from .sources import Code
from .tokens import IPYTHON_LINE

BUILTINS = frozenset({"exec", "eval", "compile"})
_MODULES = frozenset({"builtins", "__builtins__"})
_NAMESPACES = frozenset({"globals", "locals", "vars"})
_CODE_MODULES = frozenset(
    {"builtins", "importlib", "marshal", "runpy", "code", "codeop", "pickle", "dill", "cloudpickle", "shelve"}
    # the standard library's other runners of a string: `timeit.timeit(s, globals=globals())`,
    # `cProfile.run(s)`, `pdb.run(s)`, `doctest` on a docstring's `>>>` lines, `trace`
    | {"timeit", "cProfile", "profile", "pdb", "bdb", "doctest", "trace"}
)  # the runner reached through a module, or bytes turned into code or calls
# ... and a module file loaded by its location (`spec.loader.exec_module(m)`): the file's code,
# written from a string, is never a cell's
_LOADERS = frozenset({"exec_module", "spec_from_file_location", "SourceFileLoader", "load_module", "load_source"})
_IMPORT_SYSTEM = frozenset({"meta_path", "path_hooks", "path_importer_cache"})  # `sys.<these>`: own finders
_CODE_NAMES = frozenset({"get_ipython", "CodeType", "FunctionType", "__builtins__", "__import__"}) | _LOADERS
_SYS_PATH_CHANGES = frozenset({"insert", "append", "extend"})
_MAGICS = frozenset({"matplotlib", "time", "timeit", "pip", "load_ext", "autoreload", "config"})  # %, %% or !
_REFLECTION = frozenset(
    {
        "__dict__",
        "__globals__",
        "__code__",
        "__subclasses__",
        "__mro__",
        "__bases__",
        "__base__",
        "__getattribute__",
        "__loader__",
        "__spec__",
        "__closure__",
        "__builtins__",
        "__import__",
        "__doc__",
    }
)
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
ENCODED_CHARS = 256  # encoded-looking literal characters in one cell; the course's longest is none
CODE_LITERAL_CHARS = 200  # a literal this long that parses as statements is code in a string
_ENCODED_PIECE = 16  # shorter literals are names, keys, formats: never counted as encoded
_ALPHABET = re.compile(r"[A-Za-z0-9+/=_\-]+")  # base64 (both alphabets), hex, decimal digits
_PY_FILE = re.compile(r"\.py[cw]?$|\.pth$")  # a module written, run (%run) or imported from the folder
_FALLBACK = re.compile(r"(?<![\w.])(exec|eval|compile|__import__|getattr)\s*\(")
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


def _text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


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


def _encoded(value: str | bytes) -> int:
    """How many characters of a literal look like encoded data (0 if it does not): a piece of at
    least `_ENCODED_PIECE` characters of the base64/hex alphabet, almost no whitespace, with a
    digit (or long: prose and identifiers have spaces or no digits), or mostly not printable."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) < _ENCODED_PIECE:
        return 0
    packed = "".join(text.split())
    if len(packed) < _ENCODED_PIECE or len(packed) < 0.9 * len(text):
        return 0
    if _ALPHABET.fullmatch(packed) and (len(packed) >= 64 or any(c.isdigit() for c in packed)):
        return len(text)
    if packed.isascii() and packed.isprintable():  # most literals: not binary, no count needed
        return 0
    unprintable = sum(1 for c in packed if not (" " < c < "\x7f"))
    return len(text) if unprintable >= 0.2 * len(packed) else 0


def _is_code(value: str) -> bool:
    """Whether a long string literal is Python statements (a def, class, import or assignment),
    not prose: a docstring does not parse, or parses as an expression."""
    if len(value) < CODE_LITERAL_CHARS or "\n" not in value.strip():
        return False
    try:
        body = ast.parse(value).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(not isinstance(s, ast.Expr) for s in body)


def _computed(node: ast.expr | None) -> bool:
    return node is not None and not _text(node)


def _findings(tree: ast.AST, consts: list[str | bytes], docstrings: Sequence[str] = ()) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    called: set[int] = set()
    aliases = set(_MODULES)  # names the builtins module is bound to in this cell
    nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                if top == "builtins":
                    aliases.add(a.asname or top)
                if top in _CODE_MODULES and top != "importlib":
                    found.append((node.lineno, f"import of {top}"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _CODE_MODULES - {"importlib"}:
            found.append((node.lineno, f"import from {(node.module or '').split('.')[0]}"))
    for node in nodes:
        if isinstance(node, ast.Call):
            name = _builtin_name(node.func)
            fname = _called_name(node.func)
            if name is not None:
                called.add(id(node.func))
                found.append((node.lineno, f"{name} of {_source_kind(node.args[0] if node.args else None)}"))
            elif isinstance(node.func, ast.Name) and fname == "getattr" and len(node.args) >= 2:
                target, key = node.args[0], node.args[1]
                if _text(key) and key.value in BUILTINS:  # type: ignore[attr-defined]
                    found.append((node.lineno, f"{key.value} reached by getattr"))  # type: ignore[attr-defined]
                elif isinstance(target, ast.Name) and target.id in aliases:
                    what = "a computed name" if _computed(key) else "a literal name"
                    found.append((node.lineno, f"a builtin reached by getattr with {what}"))
            elif fname == "vars" and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases:
                found.append((node.lineno, "the builtins' namespace read by vars()"))
            elif fname == "import_module" and _computed(node.args[0] if node.args else None):
                found.append((node.lineno, "a module imported by a computed name (import_module)"))
            elif (
                fname == "get"
                and isinstance(node.func, ast.Attribute)
                and _namespace(node.func.value)
                and _computed(node.args[0] if node.args else None)
            ):
                found.append((node.lineno, f"{_namespace(node.func.value)}() looked up by a computed key"))
        elif isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(node.value, ast.Name) and node.value.id in _MODULES and _text(key) and key.value in BUILTINS:
                found.append((node.lineno, f"{key.value} reached through {node.value.id}"))  # type: ignore[attr-defined]
            elif _namespace(node.value) and _computed(key):
                found.append((node.lineno, f"{_namespace(node.value)}() looked up by a computed key"))
            elif _namespace(node.value) and key.value in _CODE_NAMES:  # type: ignore[attr-defined]
                found.append((node.lineno, f"{key.value} looked up in {_namespace(node.value)}()"))  # type: ignore[attr-defined]
        elif isinstance(node, ast.Attribute) and node.attr in _REFLECTION:
            found.append((node.lineno, f"reflection through {node.attr}"))
        elif isinstance(node, ast.Attribute) and _is_sys(node, "modules"):  # every module, builtins too
            found.append((node.lineno, "the module table (sys.modules)"))
        elif isinstance(node, ast.Attribute) and any(_is_sys(node, a) for a in _IMPORT_SYSTEM):
            found.append((node.lineno, f"the import system changed (sys.{node.attr})"))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in _SYS_PATH_CHANGES
            and isinstance(node.value, ast.Attribute)
            and _is_sys(node.value, "path")
        ):  # nothing but the notebook is in the sandbox: a module imported from a new path, it wrote
            found.append((node.lineno, f"sys.path changed ({node.attr})"))
        elif isinstance(node, ast.Name) and node.id in _CODE_NAMES or _called_name(node) in _CODE_NAMES - _REFLECTION:
            found.append((node.lineno, f"{_called_name(node)} used"))
    for what, value in _literal_findings(consts, docstrings):
        found.append((_line_of(value, nodes), what))
    for node in nodes:  # the builtin as a value: called later under another name
        name = _builtin_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name is not None and id(node) not in called and isinstance(getattr(node, "ctx", None), ast.Load):
            found.append((node.lineno, f"{name} passed on as a value"))
    return found


_GENERIC = (" used", "reflection through", "import ")


def _one_per_line(found: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """One finding per line, the most telling: `__builtins__['eval']` is "eval reached through
    __builtins__", not also "__builtins__ used"."""
    best: dict[int, str] = {}
    for line, what in found:
        if line not in best or _generic(best[line]) and not _generic(what):
            best[line] = what
    return sorted(best.items())


def _generic(what: str) -> bool:
    return any(g in what for g in _GENERIC)


def _is_sys(node: ast.Attribute, attr: str) -> bool:
    return node.attr == attr and isinstance(node.value, ast.Name) and node.value.id == "sys"


def _namespace(node: ast.expr) -> str:
    """`globals` for `globals()` (and `locals()`, `vars()` without an argument); else ""."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _NAMESPACES:
        return node.func.id if not node.args else ""
    return ""


_IPYTHON = re.compile(r"^\s*[%!]", re.M)
_MAGIC = re.compile(r"^\s*(?:%%?|!)\s*([\w.-]*)")


def _magic(line: str) -> str | None:
    """The command of an IPython line that is not among the course's harmless ones (`%run`,
    `%%writefile`, `!python -c ...` run or write code the tokens never see); None otherwise."""
    m = _MAGIC.match(line)
    if m is None or not IPYTHON_LINE.match(line):
        return None
    command = m.group(1)
    return None if command in _MAGICS else line.strip()[:40]


def _literal_findings(consts: list[str | bytes], docstrings: Sequence[str] = ()) -> list[tuple[str, str | bytes]]:
    """(what, the literal) for the data and code hidden in a cell's literals, as the compiler
    folded them (`'ex' + 'ec'` and `'AB' 'CD'` are one constant, `'A' * 300` too)."""
    found: list[tuple[str, str | bytes]] = []
    encoded, first = 0, None
    for value, is_doc in [*((c, False) for c in consts), *((d, True) for d in docstrings)]:
        count = _encoded(value)
        if count:
            encoded += count
            first = value if first is None else first
        if isinstance(value, str) and _PY_FILE.search(value):
            found.append((f"a Python file named ({value[:40]!r})", value))
        elif isinstance(value, str) and not is_doc and _is_code(value):  # prose; read through `__doc__` only
            found.append((f"a string literal that is Python code ({len(value):,} characters)", value))
    if encoded >= ENCODED_CHARS and first is not None:
        found.append((f"encoded data in string literals ({encoded:,} characters)", first))
    return found


def _line_of(value: str | bytes, nodes: list[ast.AST]) -> int:
    """The line of the first literal that is (part of) a folded constant; 1 if none is."""
    for node in nodes:
        if (
            isinstance(node, ast.Constant) and type(node.value) is type(value) and node.value and node.value in value  # type: ignore[operator]
        ):
            return node.lineno
    return 1


_TRIGGERS = (
    BUILTINS | _MODULES | _NAMESPACES | _CODE_MODULES | _CODE_NAMES | _REFLECTION | {"getattr", "import_module", "sys"}
)


def _compiled(text: str) -> tuple[set[str], list[str | bytes], list[str]]:
    """Every name a cell uses (variables, attributes, modules: as Python reads them, `ｅｘｅｃ`
    folded to `exec`) and every string or bytes constant, as the compiler folded them. Compiling
    (never running) costs about what parsing does, and spares most cells the walk of their
    syntax tree: a cell with none of `_TRIGGERS` and no suspicious literal has nothing to list."""
    names: set[str] = set()
    consts: list[str | bytes] = []
    docstrings: list[str] = []
    stack: list[object] = [compile(text, "<cell>", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)]
    while stack:
        item = stack.pop()
        if isinstance(item, CodeType):
            names.update(item.co_names, item.co_varnames, item.co_cellvars, item.co_freevars)
            first = item.co_consts[:1]
            if item.co_flags & inspect.CO_NEWLOCALS and first and isinstance(first[0], str):
                docstrings.append(first[0])  # a function's docstring, or None, comes first
                stack.extend(item.co_consts[1:])
            else:
                stack.extend(item.co_consts)
        elif isinstance(item, (str, bytes)):
            consts.append(item)
        elif isinstance(item, (tuple, frozenset)):
            stack.extend(item)
    return names, consts, docstrings


_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


def _cell_findings(source: str) -> list[tuple[int, str]]:
    """(line, what) of one cell, one per line."""
    lines = ["" if IPYTHON_LINE.match(line) else line for line in source.splitlines()]
    text = "\n".join(lines)
    found = []
    if _IPYTHON.search(source):  # most cells have no IPython line: not looked at line by line
        found = [(n, f"IPython line {m!r}") for n, line in enumerate(source.splitlines(), 1) if (m := _magic(line))]
    try:
        names, consts, docstrings = _compiled(text)
        if names & _TRIGGERS or _literal_findings(consts, docstrings):
            found += _findings(ast.parse(text), consts, docstrings)
    except _PARSE_ERRORS:  # not compiled (`return` outside a function): its syntax tree, if any
        try:
            tree = ast.parse(text)
            values = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
            found += _findings(tree, [v for v in values if isinstance(v, (str, bytes))])
        except _PARSE_ERRORS:
            found += [
                (number, f"{m.group(1)} call in a cell Python cannot parse")
                for number, line in enumerate(lines, 1)
                for m in _FALLBACK.finditer(line)
            ]
    return _one_per_line(found)


def find(code: Code, given: set[str] | frozenset[str] = frozenset()) -> list[Obfuscation]:
    """Every place in a submission's code cells that runs code from a string or reaches the
    machinery that does, in cell order; cells left as given (their stripped source in `given`)
    are the course's, not looked at."""
    out: list[Obfuscation] = []
    with warnings.catch_warnings():  # an invalid escape in a student's string: not ours to print
        warnings.simplefilter("ignore")
        for index, source in code.cells:
            if source.strip() in given:
                continue
            out += [Obfuscation(code.student, index, line, what) for line, what in _cell_findings(source)]
            if len(out) >= MAX_FINDINGS:
                return out[:MAX_FINDINGS]
    return out
