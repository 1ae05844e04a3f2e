"""What the similarity report costs a batch: 300 submissions of one assignment, start to end.

The report stage as `autograder grade` runs it after grading: the code copies (`keep_code`: each
notebook read again, hashed, its code cells written), then `write_report` (reading the copies,
tokenizing, fingerprints, the index, ranking, the page). Three classes of 300 submissions of
notebook 01 (the largest: 29 code cells, 4,500 tokens in the reference):

  class      each student's code is the reference's with statements of other shapes inserted at
             random (one per three lines), so students share stretches of it, and 10 pairs are
             copies (disguised: renamed, reformatted, reordered). Fingerprints of the reference
             are in most submissions (common idiom, dropped); what is left is compared by pairs.
  clusters   10 groups of 30 copies each: every fingerprint is in exactly `common_limit(300)` = 30
             submissions, the most the index counts, so every pair of a group is counted for every
             fingerprint (the index's worst case).
  identical  300 copies of the reference: every fingerprint is common, nothing is compared.
  bounds     the hostile worst case: 10 groups of 30 copies, each submission a cell of random
             expressions up to the token bound (`tokens.MAX_TOKENS`) of code of its own, nothing
             common: the most tokenizing and the most counting the bounds allow.

    python benchmarks/similarity.py [--n 300] [--case class clusters identical] [--assignment ID]

(`--assignment 05_regularisation`: the fastest notebook to grade, so the largest share of a batch.)

Prints per case the seconds of the two steps and the number of flagged pairs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.batch import Submission  # noqa: E402
from autograder.course.config import load_config  # noqa: E402
from autograder.similarity import keep_code, write_report  # noqa: E402
from autograder.similarity.pairs import common_limit  # noqa: E402
from autograder.similarity.tokens import MAX_TOKENS  # noqa: E402
from tests.submissions.similar import disguise, given, reference  # noqa: E402

ASSIGNMENT = "01_activations_and_initialisation"  # --assignment changes it
SHAPES = [
    "v = a + b * 2",
    "v = a[i] - b",
    "if v > 0:\n    v = -v",
    "v = [x for x in a if x]",
    "v = (a, b, 1)",
    "v = a.b(c=1)",
    "assert v is not None",
    "v = {'k': a}",
    "v = a ** 2 / b",
    "while False:\n    pass",
    "v = not a or b",
    "v = lambda t: t + 1",
    "v = a % 3",
    "v = a // 2 + b",
    "v -= 1",
    "v = a if b else c",
    "v = a[1:3]",
    "v = a @ b",
    "v = str(a) + 'x'",
    "try:\n    v = a\nexcept Exception:\n    v = b",
    "for t in range(3):\n    v += t",
    "del v",
    "with a as b:\n    pass",
    "v = a < b <= c",
    "v |= a & b",
]


def noisy(cells: list[str], rng: random.Random, stub: set[str]) -> list[str]:
    """The cells with a random statement inserted before about one line in three of each cell
    that is not given (at that line's indentation)."""
    out = []
    for source in cells:
        if source.strip() in stub:
            out.append(source)
            continue
        lines = []
        for line in source.split("\n"):
            indent = line[: len(line) - len(line.lstrip())]
            if (
                line.strip()
                and not line.lstrip().startswith(("def ", "@", ")", "]", "}", "else", "elif", "except", "finally"))
                and rng.random() < 1 / 3
                and indent
            ):
                lines += [indent + s for s in rng.choice(SHAPES).split("\n")]
            lines.append(line)
        out.append("\n".join(lines))
    return out


TERMS = ["a", "c[0]", "d.e", "1", "f(g)", "-h"]


def random_code(rng: random.Random, tokens: int) -> str:
    """Statements of random expressions (few k-grams repeat), about `tokens` tokens in all."""
    ops = ["+", "-", "*", "/", "%", "//", "**", "@", "&", "|", "^", "<<", ">>", "<", ">", "==", "and", "or"]
    lines, count = [], 0
    while count < tokens:
        terms = rng.randrange(3, 9)
        expr = " ".join(f"{rng.choice(TERMS)} {rng.choice(ops)}" for _ in range(terms)) + " z"
        lines.append(f"v = {expr}")
        count += 2 + 2 * terms + 1
    return "\n".join(lines)


def make_class(case: str, n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    ref = reference(ASSIGNMENT)
    stub = {c.strip() for c in given(ASSIGNMENT)}
    if case == "bounds":
        size = common_limit(n)
        heads = [random_code(rng, MAX_TOKENS + 100) for _ in range((n + size - 1) // size)]
        return [[heads[i // size]] for i in range(n)]
    if case == "identical":
        return [list(ref) for _ in range(n)]
    if case == "clusters":
        size = common_limit(n)
        heads = [noisy(ref, rng, stub) for _ in range((n + size - 1) // size)]
        return [disguise(list(heads[i // size]), "rename") for i in range(n)]
    students = [noisy(ref, rng, stub) for _ in range(n)]
    for i in range(0, min(20, n - 1), 2):  # 10 disguised copies
        students[i + 1] = disguise(list(students[i]), rng.choice(["rename+reformat", "reorder+rename", "reformat"]))
    return students


def write_notebooks(folder: Path, students: list[list[str]]) -> list[Submission]:
    subs = []
    for i, cells in enumerate(students):
        nb = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"c{j}",
                    "source": c,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for j, c in enumerate(cells)
            ],
        }
        path = folder / f"s{i:03d}_{ASSIGNMENT}.ipynb"
        path.write_text(json.dumps(nb))
        subs.append(Submission(path, f"s{i:03d}", ASSIGNMENT))
    return subs


def run(case: str, n: int) -> dict[str, float]:
    config = load_config(REPO)
    with tempfile.TemporaryDirectory(prefix="similarity-bench-") as tmp:
        root = Path(tmp)
        subs = write_notebooks(root, make_class(case, n))
        out = root / "out"
        start = time.perf_counter()
        keep_code(subs, out)
        copies = time.perf_counter() - start
        for sub in subs:  # the batch's results: only their sha256 is read
            doc = json.loads((out / "code" / sub.student / f"{ASSIGNMENT}.json").read_text())
            result = out / "results" / sub.student / f"{ASSIGNMENT}.json"
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_text(json.dumps({"submission_sha256": doc["submission_sha256"]}))
        start = time.perf_counter()
        path, reports, _ = write_report(out, config)
        report = time.perf_counter() - start
        return {
            "copies_s": copies,
            "report_s": report,
            "flagged": len(reports[0].flagged),
            "page_kb": path.stat().st_size / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--case", nargs="*", default=["class", "clusters", "identical", "bounds"])
    parser.add_argument("--assignment", default=ASSIGNMENT)
    args = parser.parse_args()
    globals()["ASSIGNMENT"] = args.assignment
    print(f"{args.assignment}, {args.n} submissions")
    print(
        f"{'case':10} {'n':>4} {'copies (s)':>10} {'report (s)':>10} {'total (s)':>9} {'flagged':>7} {'page (KB)':>9}"
    )
    for case in args.case:
        r = run(case, args.n)
        print(
            f"{case:10} {args.n:4d} {r['copies_s']:10.2f} {r['report_s']:10.2f} {r['copies_s'] + r['report_s']:9.2f} "
            f"{r['flagged']:7d} {r['page_kb']:9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
