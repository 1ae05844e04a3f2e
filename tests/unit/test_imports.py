"""Every module of the package imports on its own, in a fresh interpreter.

An import cycle hides as long as some module happens to be imported first (the package's
`__init__` used to import `build`, which imported the questions before the checks); a module
imported alone, first thing in a new interpreter, meets the cycle and fails. `__main__` runs the CLI when
imported and the runtime files run inside the sandbox as scripts: both are left out.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import autograder

ROOT = Path(autograder.__file__).parent


def modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages([str(ROOT)], "autograder.")]
    return sorted(n for n in names if not n.startswith("autograder.runtime.") and n != "autograder.__main__")


def test_the_package_has_the_modules_this_test_expects():
    found = modules()
    assert {"autograder.judging.checks", "autograder.questions.base", "autograder.grading.grade"} <= set(found)
    assert len(found) > 30


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, from every import statement of its source, those
    inside functions included (a lazy import hides a cycle from the fresh-interpreter test below)."""
    paths = {
        ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in ROOT.rglob("*.py")
        if "runtime" not in p.parts
    }
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + [node.module] if node.module else base) if node.level else node.module or ""
                found = {f"{target}.{a.name}" if f"{target}.{a.name}" in paths else target for a in node.names}
            elif isinstance(node, ast.Import):
                found = {a.name for a in node.names}
            else:
                continue
            graph[name] |= {t for t in found if t in paths and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_not_even_inside_functions():
    graph = import_graph()
    assert "autograder.grading.compare" in graph["autograder.grading.grade"]  # the graph sees imports
    assert not cycles(graph)


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


# The package's layers, lowest first (docs/architecture.md): a module imports its own folder and
# the layers below it, never one above. `autograder` is the package itself (its `__version__`).
LAYERS = (
    {"autograder", "errors", "files", "wire", "data"},
    {"sandbox", "judging"},
    {"result", "questions"},
    {"course"},
    {"grading"},
    {"handout", "report"},
    {"similarity"},
    {"batch", "gradescope"},
    {"cli", "__main__"},
)


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else module
    return next(i for i, names in enumerate(LAYERS) if part in names)


def test_layers_import_downward_only():
    upward = [
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(source)
    ]
    assert not upward


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter():
    script = (
        "import importlib, sys, traceback\n"
        "name = sys.argv[1]\n"
        "try:\n    importlib.import_module(name)\n"
        "except Exception:\n    traceback.print_exc(limit=-3); sys.exit(1)\n"
    )
    failures = {}
    for name in modules():
        run = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, timeout=120)
        if run.returncode:
            failures[name] = run.stderr.strip().splitlines()[-1]
    assert not failures, failures


def test_the_judging_layer_never_imports_the_questions():
    """`questions/` is built on `judging/`; the reverse would be the cycle again."""
    for path in (ROOT / "judging").glob("*.py"):
        text = path.read_text()
        assert "questions" not in "".join(
            line for line in text.splitlines(True) if line.lstrip().startswith(("from ", "import "))
        ), path.name
