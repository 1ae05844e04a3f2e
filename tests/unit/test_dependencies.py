"""Every third-party module the project imports is declared in pyproject.toml.

A package installed by hand makes every local check green and the first fresh machine fail (the
demo died on matplotlib that way). This reads the imports of the package, the notebooks, the
tests, the benchmarks and the examples as text (nothing is run), maps each module to the
distribution that provides it in this environment, and checks it against what pyproject.toml
declares, following the declared distributions' own requirements:

- the package, `solutions/` and `assignments/` are what the grader and the students run: core
  dependencies, except an import inside `try: ... except ImportError` in the package, which is an
  optional part (the Dask backend) that turns a missing extra into a clear error; it must be in
  an extra;
- the tests, benchmarks and examples may also rely on the extras.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = ("autograder", "solutions", "assignments")
EXTRA_OK = ("tests", "benchmarks", "examples")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return norm(re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0])


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project.get("dependencies", [])}
    extras = {
        name: {requirement_name(r) for r in reqs} for name, reqs in project.get("optional-dependencies", {}).items()
    }
    return core, extras


def closure(names: set[str]) -> set[str]:
    """The distributions named and all they require (requirements behind extras markers skipped),
    with the project's own name standing for its extras."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [requirement_name(r) for r in reqs if "extra ==" not in r]
    return seen


def _guarded(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside `try: ... except ImportError` (optional parts)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            for inner in node.body:
                lines |= {n.lineno for n in ast.walk(inner) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return lines


def imports_of(source: str) -> list[tuple[str, bool]]:
    """(top-level module, guarded) for every absolute import in `source`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    guarded = _guarded(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.split(".")[0]))
    return [(module, line in guarded) for line, module in sorted(found)]


def notebook_source(path: Path) -> str:
    """The code cells, with IPython's `%magic` and `!shell` lines left out (not Python)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (ValueError, KeyError, TypeError):
        return ""  # a deliberately broken upload (examples/class): nothing runs it
    lines = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            lines += [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def sources(folder: str) -> list[tuple[Path, str]]:
    root = REPO / folder
    found = [(p, p.read_text(encoding="utf-8")) for p in sorted(root.rglob("*.py"))]
    found += [(p, notebook_source(p)) for p in sorted(root.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    return found


def local_modules() -> set[str]:
    names = {p.stem for p in REPO.glob("*.py")} | {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()}
    names |= {p.stem for p in (REPO / "autograder" / "runtime").glob("*.py")}  # the sandbox's own imports
    names |= {p.stem for p in (REPO / "benchmarks").glob("*.py")}  # a benchmark may import its siblings
    return names | {"autograder", "tests"}


def undeclared(core: set[str], extras: dict[str, set[str]]) -> list[str]:
    providers = metadata.packages_distributions()
    own = norm(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"])
    core_ok = closure(core)
    any_ok = closure(core | set().union(*extras.values()) - {own})
    skip = set(sys.stdlib_module_names) | local_modules() | {"__future__"}
    problems = []
    for folders, must_be_core in ((CORE, True), (EXTRA_OK, False)):
        for folder in folders:
            for path, source in sources(folder):
                for module, guarded in imports_of(source):
                    if module in skip:
                        continue
                    dists = {norm(d) for d in providers.get(module, [])}
                    where = f"{path.relative_to(REPO)}: {module}"
                    if not dists:
                        problems.append(f"{where}: no installed distribution provides it")
                    elif must_be_core and not guarded and not dists & core_ok:
                        problems.append(f"{where} ({', '.join(sorted(dists))}): not a core dependency")
                    elif not dists & any_ok:
                        problems.append(f"{where} ({', '.join(sorted(dists))}): not declared at all")
    return problems


def test_every_import_is_declared():
    core, extras = declared()
    assert undeclared(core, extras) == []


def test_the_scan_catches_a_missing_core_dependency():
    """Without matplotlib in the core dependencies, notebook 04 and the reports are flagged."""
    core, extras = declared()
    if "matplotlib" not in core:
        pytest.fail("matplotlib is not a core dependency")
    problems = undeclared(core - {"matplotlib"}, extras)
    flagged = {p.split(":")[0] for p in problems}
    assert "solutions/04_optimizers.ipynb" in flagged and "autograder/report/charts.py" in flagged


def test_optional_imports_are_guarded_and_in_an_extra():
    core, extras = declared()
    assert {"distributed", "dask-jobqueue"} <= extras["dask"]
    assert "distributed" not in closure(core)
    guarded = {m for p, s in sources("autograder") for m, g in imports_of(s) if g}
    assert "distributed" in guarded


def test_guarded_imports_are_recognised():
    src = "try:\n    import a\nexcept ImportError:\n    pass\nimport b\nfrom c.d import e\nfrom . import f\n"
    assert imports_of(src) == [("a", True), ("b", False), ("c", False)]
