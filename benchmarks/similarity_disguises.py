"""Disguised copies of a student's code cells, one transform per level, for `similarity_quality.py`.

Each level is what a student who copies and wants it not to show would do, in the order of
effort of the plagiarism literature's taxonomies (Faidhi and Robinson's six levels, extended):

  layout        comments removed and added, blank lines, the code reformatted;
  identifiers   every argument and local variable renamed;
  order         functions of a cell and cells reordered, independent statements swapped;
  joins         `;` between statements, `\\` line continuations, expressions wrapped in parentheses;
  restructure   operands of + and * swapped, `x = x + y` <-> `x += y`, comparisons mirrored,
                `for ... in range` loops turned into `while` loops;
  dead_code     statements that do nothing inserted in every function, and an unused helper;
  inline_extract  single-use temporaries inlined into their use, then expressions extracted into
                helper functions;
  all           every one of the above, in that order.

Transforms are on the AST (`ast.unparse` writes the result) so every copy is still valid Python
and, run, computes what the original computes; they are deterministic (a seeded `random`).
Only the student's own cells are changed: cells left as given are copied as they are.
"""

from __future__ import annotations

import ast
import copy
import random
import re

LEVELS = ("layout", "identifiers", "order", "joins", "restructure", "dead_code", "inline_extract", "all")
_COMMENTS = ("# compute the update", "# see lecture", "# TODO tidy", "# works", "# step", "# vectorised")


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _functions(tree: ast.AST) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]


def _bodies(tree: ast.AST) -> list[list[ast.stmt]]:
    """Every statement list inside functions (bodies of defs, loops, ifs, withs)."""
    out = []
    for fn in _functions(tree):
        for node in ast.walk(fn):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    out.append(block)
    return out


def comments(source: str, rng: random.Random) -> str:
    """Comment lines and blank lines added (never inside a continued line)."""
    out: list[str] = []
    in_string = False  # a docstring's lines are text, not places for a comment
    for line in source.splitlines():
        joined = out and out[-1].rstrip().endswith(("\\", "(", ","))
        if line.count('"""') % 2:
            in_string = not in_string
        elif not joined and not in_string and line.strip() and rng.random() < 0.3:
            out.append(re.match(r"\s*", line).group(0) + rng.choice(_COMMENTS))
        out.append(line)
        if not in_string and not line.rstrip().endswith(("\\", "(", ",")) and rng.random() < 0.2:
            out.append("")
    return "\n".join(out)


def layout(source: str, rng: random.Random) -> str:
    """Comments dropped (the code reformatted), others added."""
    tree = _parse(source)
    return source if tree is None else comments(ast.unparse(tree), rng)


def identifiers(source: str, rng: random.Random) -> str:
    tree = _parse(source)
    if tree is None:
        return source
    names: set[str] = set()
    for fn in _functions(tree):
        names |= {a.arg for a in fn.args.args + fn.args.kwonlyargs}
        names |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    words = ["val", "tmp", "arr", "res", "acc", "buf", "cur", "nxt", "q", "z"]
    mapping = {n: f"{rng.choice(words)}_{i}" for i, n in enumerate(sorted(names))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, ast.arg) and node.arg in mapping:
            node.arg = mapping[node.arg]
    return ast.unparse(tree)


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _writes(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _simple(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) and not (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    )


def order(source: str, rng: random.Random) -> str:
    """Functions of the cell in reverse order; adjacent independent assignments swapped."""
    tree = _parse(source)
    if tree is None:
        return source
    for block in _bodies(tree):
        i = 0
        while i + 1 < len(block):
            a, b = block[i], block[i + 1]
            independent = (
                _simple(a)
                and _simple(b)
                and not (_writes(a) & (_reads(b) | _writes(b)))
                and not (_writes(b) & _reads(a))
                and not isinstance(a, ast.Expr)
                and not isinstance(b, ast.Expr)
            )
            if independent:
                block[i], block[i + 1] = b, a
                i += 2
            else:
                i += 1
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    if len(defs) >= 2:
        tree.body = others[: len(others) // 2] + defs[::-1] + others[len(others) // 2 :]
    return ast.unparse(tree)


def joins(source: str, rng: random.Random) -> str:
    """Simple statements of a block on one line with `;`, every assignment's value after a `\\`,
    returned values in parentheses over two lines."""
    tree = _parse(source)
    if tree is None:
        return source
    lines = ast.unparse(tree).splitlines()
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        simple = bool(re.match(r"[\w.\[\], ]+ (=|\+=|-=|\*=) ", stripped)) and not stripped.endswith(":")
        if simple and rng.random() < 0.5:
            target, op, value = re.split(r" (=|\+=|-=|\*=) ", stripped, maxsplit=1)
            stripped = f"{target} {op} \\\n{indent}    {value}"
        elif stripped.startswith("return ") and "\n" not in stripped:
            stripped = f"return (\n{indent}    {stripped[7:]}\n{indent})"
        prev = out[-1] if out else ""
        prev_indent = prev[: len(prev) - len(prev.lstrip())]
        if (
            simple
            and out
            and prev_indent == indent
            and not prev.rstrip().endswith((":", "\\", "("))
            and "\n" not in prev
            and re.match(r"[\w.\[\], ]+ (=|\+=|-=|\*=) ", prev.strip())
        ):
            out[-1] = f"{prev}; {stripped}"
        else:
            out.append(f"{indent}{stripped}")
    return "\n".join(out)


class _Restructure(ast.NodeTransformer):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, (ast.Add, ast.Mult)) and not any(
            isinstance(s, ast.Constant) and isinstance(s.value, str) for s in (node.left, node.right)
        ):
            node.left, node.right = node.right, node.left
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        mirror = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Eq: ast.Eq}
        if len(node.ops) == 1 and type(node.ops[0]) in mirror:
            return ast.Compare(node.comparators[0], [mirror[type(node.ops[0])]()], [node.left])
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            load = ast.Name(node.target.id, ast.Load())
            return ast.Assign([node.target], ast.BinOp(load, node.op, node.value))
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        t, v = node.targets, node.value
        if (
            len(t) == 1
            and isinstance(t[0], ast.Name)
            and isinstance(v, ast.BinOp)
            and isinstance(v.left, ast.Name)
            and v.left.id == t[0].id
            and isinstance(v.op, (ast.Sub, ast.Div))
        ):
            return ast.AugAssign(ast.Name(t[0].id, ast.Store()), v.op, v.right)
        return node

    def visit_For(self, node: ast.For) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        it = node.iter
        if (
            isinstance(node.target, ast.Name)
            and isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and 1 <= len(it.args) <= 2
            and not node.orelse
            and not any(isinstance(n, (ast.Continue, ast.Break)) for n in ast.walk(node))
        ):
            start, stop = (ast.Constant(0), it.args[0]) if len(it.args) == 1 else it.args
            var = node.target.id
            init = ast.Assign([ast.Name(var, ast.Store())], start)
            step = ast.AugAssign(ast.Name(var, ast.Store()), ast.Add(), ast.Constant(1))
            loop = ast.While(ast.Compare(ast.Name(var, ast.Load()), [ast.Lt()], [stop]), node.body + [step], [])
            return [init, loop]
        return node


def restructure(source: str, rng: random.Random) -> str:
    tree = _parse(source)
    if tree is None:
        return source
    tree = ast.fix_missing_locations(_Restructure(rng).visit(tree))
    return ast.unparse(tree)


_DEAD = (
    "_unused = len([])",
    "if False:\n    print('debug')",
    "debug_info = {'step': 0}",
    "assert True",
    "_ = None",
    "for _k in range(0):\n    pass",
)


def dead_code(source: str, rng: random.Random) -> str:
    tree = _parse(source)
    if tree is None:
        return source
    for fn in _functions(tree):
        body = fn.body
        for i in range(len(body) - 1, 0, -2):
            body.insert(i, ast.parse(rng.choice(_DEAD)).body[0])
    if _functions(tree):
        tree.body.append(ast.parse("def _check_shapes(a, b):\n    return np.shape(a) == np.shape(b)").body[0])
    return ast.unparse(tree)


def _uses(body: list[ast.stmt], name: str) -> int:
    return sum(1 for s in body for n in ast.walk(s) if isinstance(n, ast.Name) and n.id == name)


class _Replace(ast.NodeTransformer):
    def __init__(self, name: str, value: ast.expr) -> None:
        self.name, self.value = name, value

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == self.name and isinstance(node.ctx, ast.Load):
            return copy.deepcopy(self.value)
        return node


def inline_extract(source: str, rng: random.Random) -> str:
    """Temporaries used once are inlined; then the value of each remaining assignment that reads
    two or more local names becomes a helper function of its own."""
    tree = _parse(source)
    if tree is None:
        return source
    helpers: list[ast.stmt] = []
    for fn in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
        body = fn.body
        i = 0
        while i < len(body):
            s = body[i]
            if (
                isinstance(s, ast.Assign)
                and len(s.targets) == 1
                and isinstance(s.targets[0], ast.Name)
                and _uses(body[i + 1 :], s.targets[0].id) == 1
                and _uses(body[:i], s.targets[0].id) == 0
                and not (_reads(s.value) & set().union(*(_writes(t) for t in body[i + 1 :])))
            ):
                rest = [_Replace(s.targets[0].id, s.value).visit(t) for t in body[i + 1 :]]
                body[i:] = rest
                continue
            i += 1
        args = {a.arg for a in fn.args.args}
        known = args | set().union(*(_writes(s) for s in body))
        for k, s in enumerate(body):
            if isinstance(s, ast.Assign) and isinstance(s.value, (ast.BinOp, ast.Call)):
                free = sorted(_reads(s.value) & known)
                if len(free) >= 2:
                    name = f"_{fn.name}_part{k}"
                    helper = ast.FunctionDef(
                        name,
                        ast.arguments([], [ast.arg(f) for f in free], None, [], [], None, []),
                        [ast.Return(s.value)],
                        [],
                        None,
                    )
                    helpers.append(helper)
                    s.value = ast.Call(ast.Name(name, ast.Load()), [ast.Name(f, ast.Load()) for f in free], [])
    tree.body = helpers + tree.body
    return ast.unparse(ast.fix_missing_locations(tree))


_TRANSFORMS = {
    "layout": layout,
    "identifiers": identifiers,
    "order": order,
    "joins": joins,
    "restructure": restructure,
    "dead_code": dead_code,
    "inline_extract": inline_extract,
    "comments": comments,
}


def disguise(cells: list[str], own: list[bool], level: str, seed: int) -> list[str]:
    """The cells with the student's own ones (`own[i]`) disguised at `level`; `order` and `all`
    also move the own cells among themselves."""
    rng = random.Random(f"{level}/{seed}")
    if level == "all":
        steps = ["identifiers", "order", "restructure", "dead_code", "inline_extract", "joins", "comments"]
    else:
        steps = [level]
    out = list(cells)
    for step in steps:
        out = [_TRANSFORMS[step](c, rng) if mine else c for c, mine in zip(out, own)]
    if level in ("order", "all"):
        mine = [i for i, m in enumerate(own) if m]
        moved = [out[i] for i in mine]
        rng.shuffle(moved)
        for i, c in zip(mine, moved):
            out[i] = c
    return out
