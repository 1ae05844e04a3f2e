"""One way from untrusted text to a file name: `files.safe_name` and `files.unique_names`.

Student ids, roster names and zip entries are text the students chose. A roster name of
`../../x` once made the grader (root) write outside `--out`, and a 300-byte name ended a batch
with `File name too long`; the AST test below keeps every path the package builds from such
text going through `files`.
"""

from __future__ import annotations

import ast
import unicodedata
from pathlib import Path

import pytest

import autograder
from autograder.files import MAX_NAME_BYTES, safe_name, unique_names

HOSTILE = [
    "../../../../escaped",
    "..",
    ".",
    ".hidden",
    "",
    "a/b\\c",
    "x\x00y",
    "tab\there\nnewline\r",
    "\u202eevil\u200b",  # a right-to-left override and a zero-width space
    "no\u00a0break",
    "CON",
    "nul.txt",
    "김" * 100,  # 300 bytes of UTF-8
    "ü" * 300,
    "a" * 283,
    "\udcff lone surrogate",
    "trailing dots...",
]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("portable", [False, True])
def test_a_safe_name_is_one_bounded_component(text, portable, tmp_path):
    name = safe_name(text, portable=portable)
    raw = name.encode("utf-8")  # no lone surrogate survives: it would not encode
    assert 0 < len(raw) <= MAX_NAME_BYTES
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert not any(unicodedata.category(c)[0] == "C" for c in name)
    assert name.split(".")[0].casefold() not in ("con", "nul")
    # and the file system takes it, with the longest suffix the writer adds
    target = tmp_path / f".{name}.json.abcdefgh.tmp"
    target.write_text("")
    assert target.parent == tmp_path


def test_names_keep_letters_and_cut_on_a_character_with_a_hash():
    assert safe_name("Zoë Ångström") == "Zoë Ångström"
    assert safe_name("alice_1001") == "alice_1001"
    long_a, long_b = "김" * 100, "김" * 99 + "이"
    cut_a, cut_b = safe_name(long_a), safe_name(long_b)
    assert cut_a != cut_b and cut_a.startswith("김" * 30)
    assert cut_a == safe_name(long_a)  # deterministic: a resumed batch finds its files
    # NFC and NFD spellings of one name are one name (a zip made on macOS decomposes)
    assert safe_name(unicodedata.normalize("NFD", "Müller")) == safe_name("Müller")


def test_names_of_one_folder_never_collide_even_ignoring_case():
    texts = ["Ann", "ann", "a/b", "a_b", "a\\b", "ok", "Müller", unicodedata.normalize("NFD", "müller")]
    names = unique_names(texts)
    assert len({unicodedata.normalize("NFKC", n).casefold() for n in names.values()}) == len(set(texts))
    assert names["ok"] == "ok"
    assert unique_names([*texts, "x:y"])["Ann"] == names["Ann"]  # a newcomer renames nobody
    crafted = names["Ann"]  # a student naming themselves like another's suffixed name
    again = unique_names([*texts, crafted])
    assert len({n.casefold() for n in again.values()}) == len(set(texts)) + 1


# --- no other way: every path the package builds from untrusted text goes through files ----------

# Names that hold a student's, a roster's or an archive's text wherever they appear in the package.
TAINTED = {"student", "name", "stem", "filename", "upload", "parts", "label", "lms", "person", "rel", "info", "key"}
# What turns such text into a name: a call of these, or a lookup in a mapping they made.
SAFE_CALLS = {"safe_name", "unique_names", "sanitise", "file_names", "folders"}
SAFE_MAPS = {"names", "named", "folder"}  # locals holding what SAFE_CALLS returned
PACKAGE = Path(autograder.__file__).parent
OUT_OF_SCOPE = {PACKAGE / "files.py"}
# Where student, roster and archive text is handled; grading/, handout/ and sandbox/ join only
# the course's own names (solutions, assignment ids) and the grader's (job folders, cgroups).
SCANNED = {"batch", "report", "similarity", "gradescope", "cli"}
# Joins of names that are not untrusted text, though they are spelled like it (module, expression).
ALLOWED = {
    # a template the package ships, and `autograder`, `solutions`: the folders the export packs
    ("gradescope/package.py", "name"),
    # a code copy's folder and file, read back from `code/`: names the batch made (`folders`)
    ("similarity/sources.py", "path.parent.name"),
    ("similarity/sources.py", "path.name"),
}


def _mentions(node: ast.AST) -> set[str]:
    """Tainted identifiers an expression reads, not counting what passes through SAFE_CALLS."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
        called = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        if called in SAFE_CALLS:
            return set()
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in SAFE_MAPS:
        return set()
    if isinstance(node, ast.Name):
        return {node.id} & TAINTED
    if isinstance(node, ast.Attribute):
        return ({node.attr} & TAINTED) | _mentions(node.value)
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        found |= _mentions(child)
    return found


def _joins(tree: ast.AST) -> list[tuple[int, ast.expr]]:
    """Every right side of `path / x`, argument of `Path(...)`, `.joinpath(...)`, `open(...)`."""
    joined: list[tuple[int, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            joined.append((node.lineno, node.right))
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in ("Path", "joinpath", "with_name", "with_stem"):  # a PurePath only parses
                joined += [(node.lineno, arg) for arg in node.args]
    return joined


def test_no_path_is_joined_from_untrusted_text_outside_files():
    offenders = []
    for source in sorted(PACKAGE.rglob("*.py")):
        if source in OUT_OF_SCOPE or source.relative_to(PACKAGE).parts[0] not in SCANNED:
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for line, expr in _joins(tree):
            if isinstance(expr, ast.Constant):
                continue
            tainted = _mentions(expr)
            if tainted and (str(source.relative_to(PACKAGE)), ast.unparse(expr)) not in ALLOWED:
                offenders.append(f"{source.relative_to(PACKAGE)}:{line}: {ast.unparse(expr)} ({', '.join(tainted)})")
    assert offenders == [], "\n".join(offenders)


def test_the_scan_sees_a_join_of_student_text():
    """The scan itself can fail: a join of a student id, as the batch once wrote results."""
    tree = ast.parse('out / "results" / sub.student / f"{sub.assignment}.json"')
    assert any(_mentions(expr) == {"student"} for _, expr in _joins(tree))
    assert not any(_mentions(expr) for _, expr in _joins(ast.parse("out / safe_name(sub.student)")))
