"""What a student installs to run one notebook: its install line, derived from its own imports.

A student has the notebook and nothing else: the line in its first code cell is all they install.
A hand-kept line drifted (`otter-grader numpy` for notebooks that import matplotlib and keras:
the import cell failed, `np` was never defined and a correct function failed its self-check with
`NameError`), so the line is computed from the notebook's code cells (their AST, IPython magics
translated first): every top-level module imported, minus the standard library, mapped to the
PyPI distributions that provide it, each with the version the course's pyproject.toml declares.
An import inside `try: ... except ImportError` is optional (the course's offline data loader,
with keras' download as the fallback) and is not named. An import this module cannot map is a
build error, never a silently short line.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import BuildError

# Top-level module -> the distributions a student installs for it. Keras 3 needs a backend: the
# course's is TensorFlow (CPU build, as pyproject.toml declares it).
PACKAGES: dict[str, tuple[str, ...]] = {
    "otter": ("otter-grader",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "matplotlib": ("matplotlib",),
    "keras": ("keras", "tensorflow-cpu"),
    "tensorflow": ("tensorflow-cpu",),
}
ALWAYS = ("otter-grader", "numpy")  # the self-check itself: otter's API, and the checker needs numpy
OPTIONAL = ("ImportError", "ModuleNotFoundError")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_versions(pyproject: Path) -> dict[str, str]:
    """Distribution (normalised) -> its requirement as the course's pyproject.toml declares it
    (`numpy>=1.26`), core dependencies only; empty without a [project] table."""
    if not pyproject.is_file():
        return {}
    try:
        project = tomllib.loads(pyproject.read_text()).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{pyproject}: {exc}") from None
    found = {}
    for requirement in project.get("dependencies", []):
        text = requirement.split(";", 1)[0].split("#", 1)[0].strip()
        name = re.split(r"[\s<>=!~\[(]", text, maxsplit=1)[0]
        found[norm(name)] = re.sub(r"\s+", "", text)
    return found


def python_source(cell_source: str) -> str:
    """A code cell as plain Python (`%matplotlib inline`, `!pip ...` become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def imported_modules(sources: Iterable[str], where: str = "notebook") -> set[str]:
    """Top-level modules the code imports (absolute imports), leaving out optional ones."""
    found: set[str] = set()
    for index, source in enumerate(sources):
        try:
            tree = ast.parse(python_source(source))
        except SyntaxError as exc:
            raise BuildError(f"{where} code cell {index}: cannot read its imports ({exc.msg})") from None
        optional = {
            id(node)
            for handler_owner in ast.walk(tree)
            if isinstance(handler_owner, ast.Try) and any(_catches_import_error(h) for h in handler_owner.handlers)
            for inner in handler_owner.body
            for node in ast.walk(inner)
        }
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in OPTIONAL for t in types)


def distributions(modules: Iterable[str], where: str = "notebook") -> list[str]:
    """The distributions a student installs for these modules (sorted, the self-check's first)."""
    needed = set(ALWAYS)
    for module in sorted(set(modules)):
        if module in sys.stdlib_module_names or module == "__future__":
            continue
        if module not in PACKAGES:
            raise BuildError(
                f"{where} imports {module!r}, which its install line has no PyPI name for: add it to "
                "PACKAGES in autograder/handout/requirements.py (and to pyproject.toml)"
            )
        needed |= set(PACKAGES[module])
    return [*ALWAYS, *sorted(needed - set(ALWAYS))]


def install_line(cell_sources: Iterable[str], versions: Mapping[str, str], where: str = "notebook") -> str:
    """`pip install "otter-grader>=6.0" "numpy>=1.26" ...` for the notebook's code cells: each
    distribution with the course's declared version (bare where the course declares none). Double
    quotes: one word each in bash, zsh, PowerShell and cmd alike."""
    words = []
    for name in distributions(imported_modules(cell_sources, where), where):
        requirement = versions.get(norm(name), name)
        words.append(f'"{requirement}"' if re.search(r"[^A-Za-z0-9_.-]", requirement) else requirement)
    return "pip install " + " ".join(words)
