"""How well the similarity report separates copies from independent work, beside copydetect and Dolos.

A labelled benchmark of this course's notebooks (01, 04, 05), every tool fed the same files:

  originals   independent correct solutions of one assignment: the reference (the solution
              notebook), the correct alternatives of `tests/submissions/variants.py`, and the
              hand-written solutions of `benchmarks/similarity_data/<assignment>/*.py` (each a
              student's functions, written into the assignment notebook's stubs; helpers and
              imports in a cell of their own after the first). Independent pairs of these are the
              negatives that matter most: the same exercise solved twice, to the same docstring.
  copies      each original disguised at each level of `similarity_disguises.py` (layout,
              identifiers, order, joins, restructure, dead_code, inline_extract, all).

One class per (assignment, level): the originals and one copy of each, so a class looks like a
real one (a few copies among independent work; the report's common-idiom rule sees the size of
a class). Every pair of a class is labelled: a copy and its original, or two copies of one
original, are *copied*; anything else is *independent*.

What each tool reads: every notebook's code cells as one `.py` (IPython lines removed, a `# %%`
line before each cell), and the given code (the assignment notebook's code cells, self-checks
included) as one `.py`: this project's report as `compare` does, copydetect as its boilerplate
folder, Dolos as its ignore file.

Measured: AUC-PR (average precision over the ranked pairs of all classes), the share of
independent pairs flagged at each tool's threshold (false flags) and the share of copies flagged
(recall), per level too; the false-flag rate at the threshold that finds 90 % of copies (the
comparison no default can bias); and the seconds for a class of 300 and of 1,000 notebooks
(`--speed`).

    python benchmarks/similarity_quality.py [--tools ours copydetect dolos] [--speed 300 1000]

copydetect comes with `pip install -e '.[bench]'`; Dolos with Node 20 and npm (installed under
`benchmarks/dolos/` on first use). A tool that is missing is skipped, and said so.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from similarity_disguises import LEVELS, disguise  # noqa: E402

from autograder.course.config import load_config  # noqa: E402
from autograder.grading.notebook import TAG_SELF_CHECK  # noqa: E402
from autograder.similarity.pairs import scores  # noqa: E402
from autograder.similarity.sources import Code  # noqa: E402
from tests.submissions.similar import MARKER  # noqa: E402
from tests.submissions.variants import ALTERNATIVES  # noqa: E402

ASSIGNMENTS = ("01_activations_and_initialisation", "04_optimizers", "05_regularisation")
DATA = HERE / "similarity_data"
DOLOS = HERE / "dolos"
CELL = "# %%"
IPYTHON_LINE = re.compile(r"^\s*(?:[%!]|[\w.]+\?{1,2}\s*$)")
COPYDETECT_THRESHOLD = 0.33  # its `display_t` default: a pair is reported from 33 % of either side
DOLOS_THRESHOLD = 0.5  # Dolos has no fixed cut-off (its web app lets the user slide one): 0.5, its midpoint
TIMEOUT = 900


@dataclass(frozen=True)
class Student:
    name: str
    cells: tuple[str, ...]
    own: tuple[bool, ...]  # which cells are the student's (not as given)
    root: str  # the original this one is or was copied from


def _cells(path: Path, drop_self_checks: bool = True) -> list[str]:
    nb = json.loads(path.read_text())
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and not (drop_self_checks and TAG_SELF_CHECK in c.get("metadata", {}).get("tags", []))
    ]


def given_code(assignment: str) -> list[str]:
    """The assignment notebook's code cells as handed out, self-checks included (all given)."""
    return _cells(REPO / "assignments" / f"{assignment}.ipynb", drop_self_checks=False)


def _student(name: str, cells: list[str], assignment: str) -> Student:
    given = {c.strip() for c in given_code(assignment)}
    return Student(name, tuple(cells), tuple(c.strip() not in given for c in cells), name)


def _fill(assignment: str, functions: dict[str, str], extra: list[str]) -> list[str]:
    """The handed-out notebook (self-checks dropped, as the report drops them) with the stubs of
    `functions` replaced, and `extra` cells after the first."""
    cells = _cells(REPO / "assignments" / f"{assignment}.ipynb")
    for name, source in functions.items():
        cells = [source if re.search(rf"^def {re.escape(name)}\(", c, re.M) else c for c in cells]
    return cells[:1] + extra + cells[1:]


def hand_written(path: Path, assignment: str) -> list[str]:
    source = path.read_text()
    tree = ast.parse(source)
    stubs = "\n".join(given_code(assignment))
    functions: dict[str, str] = {}
    extra: list[str] = []
    for node in tree.body:
        text = ast.get_source_segment(source, node) or ""
        if isinstance(node, ast.FunctionDef) and re.search(rf"^def {node.name}\(", stubs, re.M):
            functions[node.name] = text
        else:
            extra.append(text)
    return _fill(assignment, functions, ["\n\n".join(extra)] if extra else [])


def originals(assignment: str) -> list[Student]:
    ref = [MARKER.sub("", c) for c in _cells(REPO / "solutions" / f"{assignment}.ipynb")]
    out = [_student("reference", ref, assignment)]
    out += [
        _student(v.name, _fill(assignment, v.replace, []), assignment)
        for v in ALTERNATIVES
        if v.assignment == assignment
    ]
    out += [_student(p.stem, hand_written(p, assignment), assignment) for p in sorted((DATA / assignment).glob("*.py"))]
    return out


def classes() -> list[tuple[str, str, list[Student]]]:
    """(assignment, level, students) for every class of the benchmark."""
    out = []
    for assignment in ASSIGNMENTS:
        base = originals(assignment)
        for k, level in enumerate(LEVELS):
            copies = [
                Student(
                    f"{s.name}__{level}", tuple(disguise(list(s.cells), list(s.own), level, k * 100 + i)), s.own, s.name
                )
                for i, s in enumerate(base)
            ]
            out.append((assignment, level, base + copies))
    return out


def as_py(cells: list[str] | tuple[str, ...]) -> str:
    """The code cells as one file, the extraction every tool reads."""
    parts = []
    for source in cells:
        kept = "\n".join("" if IPYTHON_LINE.match(line) else line for line in source.splitlines())
        parts.append(f"{CELL}\n{kept}\n")
    return "".join(parts)


def from_py(text: str) -> list[str]:
    cells, current = [], None
    for line in text.splitlines():
        if line == CELL:
            if current is not None:
                cells.append("\n".join(current))
            current = []
        elif current is not None:
            current.append(line)
    if current is not None:
        cells.append("\n".join(current))
    return cells


# --- the tools: each takes the class's files and the given file, and returns every pair's score


Scores = dict[frozenset[str], float]


def run_ours(files: list[Path], given: Path) -> Scores:
    codes = [Code(p.stem, "x", p.name, "", tuple(enumerate(from_py(p.read_text())))) for p in sorted(files)]
    found = scores(codes, from_py(given.read_text()))
    return {frozenset(k): s for k, (s, _) in found.items()}


def ours_threshold() -> float:
    return load_config(REPO).similarity_threshold


def run_copydetect(files: list[Path], given: Path) -> Scores:
    from copydetect import CopyDetector

    folder = files[0].parent
    detector = CopyDetector(
        test_dirs=[str(folder)],
        boilerplate_dirs=[str(given.parent)],
        extensions=["py"],
        display_t=COPYDETECT_THRESHOLD,
        silent=True,
        autoopen=False,
    )
    detector.run()
    names = [Path(f).stem for f in detector.test_files]
    matrix = detector.similarity_matrix
    out: Scores = {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            # [i, j] holds (share of i in common, share of j in common); copydetect reports a pair
            # when either is over its threshold, so the larger one is its score
            out[frozenset((names[i], names[j]))] = float(max(matrix[i, j, 0], matrix[i, j, 1]))
    return out


def _dolos_loads() -> bool:
    probe = subprocess.run(
        ["node", "--input-type=module", "-e", "await import('@dodona/dolos-lib')"],
        cwd=DOLOS,
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def dolos_ready() -> bool:
    """Dolos installed under benchmarks/dolos/ (npm, the version of its package.json), once.
    tree-sitter's prebuilt binary needs a newer libstdc++ than some machines have (GLIBCXX_3.4.31);
    npm 11 does not run its install script, so it is built from source when the import fails."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return False
    if not (DOLOS / "node_modules" / "@dodona" / "dolos-lib").is_dir():
        print("installing @dodona/dolos-lib under benchmarks/dolos (npm; minutes: it compiles parsers) ...", flush=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=DOLOS, capture_output=True, text=True)
    if _dolos_loads():
        return True
    for package in ("tree-sitter", "tree-sitter-compat"):
        folder = DOLOS / "node_modules" / package
        if folder.is_dir():
            print(f"building {package} from source (node-gyp) ...", flush=True)
            subprocess.run(["npx", "--yes", "node-gyp", "rebuild"], cwd=folder, capture_output=True, text=True)
    return _dolos_loads()


def run_dolos(files: list[Path], given: Path) -> Scores:
    listing = files[0].parent.parent / f"{files[0].parent.name}-files.json"
    listing.write_text(json.dumps([str(p) for p in files]))
    done = subprocess.run(
        ["node", str(DOLOS / "dolos_pairs.mjs"), str(listing), str(given)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return {
        frozenset((Path(p["left"]).stem, Path(p["right"]).stem)): float(p["similarity"])
        for p in json.loads(done.stdout)
    }


def _copydetect_ready() -> bool:
    try:
        import copydetect  # noqa: F401
    except ImportError:
        return False
    return True


TOOLS: dict[str, tuple[Callable[[list[Path], Path], Scores], Callable[[], float], Callable[[], bool]]] = {
    "ours": (run_ours, ours_threshold, lambda: True),
    "copydetect": (run_copydetect, lambda: COPYDETECT_THRESHOLD, _copydetect_ready),
    "dolos": (run_dolos, lambda: DOLOS_THRESHOLD, dolos_ready),
}


# --- metrics


def average_precision(labelled: list[tuple[float, bool]]) -> float:
    """Area under the precision-recall curve as average precision; tied scores are one step
    (taken together), so no order among ties is assumed."""
    positives = sum(1 for _, y in labelled if y)
    if positives == 0:
        return float("nan")
    groups: dict[float, list[bool]] = {}
    for score, y in labelled:
        groups.setdefault(score, []).append(y)
    seen = hits = 0
    area = 0.0
    for score in sorted(groups, reverse=True):
        ys = groups[score]
        seen += len(ys)
        new = sum(ys)
        hits += new
        area += (new / positives) * (hits / seen)
    return area


def threshold_for_recall(labelled: list[tuple[float, bool]], recall: float) -> float:
    pos = sorted((s for s, y in labelled if y), reverse=True)
    return pos[max(0, int(round(recall * len(pos))) - 1)] if pos else 1.0


@dataclass
class Row:
    tool: str
    threshold: float
    ap: float
    false_flags: float
    recall: float
    ff_at_90: float
    negatives: int
    positives: int
    by_level: dict[str, float]
    seconds: float


def evaluate(tool: str, folder: Path, built: list[tuple[str, str, list[Student]]]) -> Row:
    run, threshold_of, _ = TOOLS[tool]
    threshold = threshold_of()
    labelled: list[tuple[float, bool]] = []
    per_level: dict[str, list[bool]] = {}
    seconds = 0.0
    for assignment, level, students in built:
        files = [folder / assignment / level / f"{s.name}.py" for s in students]
        start = time.perf_counter()
        found = run(files, folder / assignment / "given" / "given.py")
        seconds += time.perf_counter() - start
        for i, a in enumerate(students):
            for b in students[i + 1 :]:
                copied = a.root == b.root
                score = found.get(frozenset((a.name, b.name)), 0.0)
                labelled.append((score, copied))
                if copied and a.name != a.root or copied and b.name != b.root:
                    per_level.setdefault(level, []).append(score >= threshold)
    negatives = [s for s, y in labelled if not y]
    positives = [s for s, y in labelled if y]
    t90 = threshold_for_recall(labelled, 0.9)
    return Row(
        tool,
        threshold,
        average_precision(labelled),
        sum(s >= threshold for s in negatives) / len(negatives),
        sum(s >= threshold for s in positives) / len(positives),
        sum(s >= t90 for s in negatives) / len(negatives),
        len(negatives),
        len(positives),
        {lv: sum(v) / len(v) for lv, v in per_level.items()},
        seconds,
    )


def write_benchmark(folder: Path) -> list[tuple[str, str, list[Student]]]:
    built = classes()
    for assignment, level, students in built:
        (folder / assignment / level).mkdir(parents=True, exist_ok=True)
        for s in students:
            (folder / assignment / level / f"{s.name}.py").write_text(as_py(s.cells))
        (folder / assignment / "given").mkdir(exist_ok=True)
        (folder / assignment / "given" / "given.py").write_text(as_py(given_code(assignment)))
    return built


# --- speed: one class of n notebooks of 01, the largest


def speed_class(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n notebooks of 01: each an original with statements inserted at random (so no two are
    the same, as `benchmarks/similarity.py` makes them), one in ten a disguised copy of another."""
    from similarity import noisy  # the same inserted statements as the speed benchmark

    rng = random.Random(seed)
    assignment = ASSIGNMENTS[0]
    base = originals(assignment)
    stub = {c.strip() for c in given_code(assignment)}
    folder.mkdir(parents=True, exist_ok=True)
    students: list[list[str]] = []
    for i in range(n):
        if i % 10 == 9:
            source = students[rng.randrange(len(students))]
            students.append(disguise(source, [c.strip() not in stub for c in source], rng.choice(LEVELS), i))
        else:
            students.append(noisy(list(base[i % len(base)].cells), rng, stub))
    paths = []
    for i, cells in enumerate(students):
        path = folder / f"s{i:04d}.py"
        path.write_text(as_py(cells))
        paths.append(path)
    given = folder.parent / f"given-{n}" / "given.py"
    given.parent.mkdir(exist_ok=True)
    given.write_text(as_py(given_code(assignment)))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", nargs="*", default=list(TOOLS))
    parser.add_argument("--speed", nargs="*", type=int, default=[], help="class sizes to time, e.g. 300 1000")
    parser.add_argument("--keep", type=Path, help="write the benchmark's files here (kept)")
    args = parser.parse_args()
    tools = []
    for tool in args.tools:
        if TOOLS[tool][2]():
            tools.append(tool)
        else:
            print(f"{tool}: not available, skipped (copydetect: pip install -e '.[bench]'; dolos: node and npm)")
    with tempfile.TemporaryDirectory(prefix="similarity-quality-") as tmp:
        folder = args.keep or Path(tmp)
        built = write_benchmark(folder)
        n_students = sum(len(s) for _, _, s in built)
        print(f"{len(built)} classes, {n_students} notebooks, assignments {', '.join(ASSIGNMENTS)}", flush=True)
        rows = [evaluate(tool, folder, built) for tool in tools]
        print()
        print("| tool | threshold | AUC-PR | false flags | copies flagged | false flags at 90 % of copies | seconds |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r.tool} | {r.threshold:g} | {r.ap:.3f} | {r.false_flags:.1%} ({r.negatives} pairs) | "
                f"{r.recall:.1%} ({r.positives}) | {r.ff_at_90:.1%} | {r.seconds:.1f} |"
            )
        print()
        print("| copies flagged per level | " + " | ".join(r.tool for r in rows) + " |")
        print("|---|" + "---|" * len(rows))
        for level in LEVELS:
            print(f"| {level} | " + " | ".join(f"{r.by_level.get(level, 0):.0%}" for r in rows) + " |")
        for n in args.speed:
            files = speed_class(folder / f"speed-{n}", n)
            given = folder / f"given-{n}" / "given.py"
            for tool in tools:
                start = time.perf_counter()
                try:
                    TOOLS[tool][0](files, given)
                    took = f"{time.perf_counter() - start:.1f}"
                except subprocess.TimeoutExpired:
                    took = f"> {TIMEOUT}"
                print(f"speed: {tool:10} {n:5d} notebooks {took} s", flush=True)


if __name__ == "__main__":
    main()
