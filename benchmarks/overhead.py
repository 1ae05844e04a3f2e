"""Grading time vs plain execution of the same notebook (issue: overhead goal <= 10 %).

For each notebook: the median of N runs of `jupyter nbconvert --to notebook --execute` (plain
execution, a Jupyter kernel, no sandbox), and of `autograder grade` on the same file (sandbox,
probe, comparison; the reference is cached by a warm-up run first, as it is for every submission
after the first in a batch). Usage:

    python benchmarks/overhead.py [--runs 3] [NOTEBOOK ...]     (default: all five solutions)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env_path: str | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    notebooks = args.notebooks or sorted((REPO / "solutions").glob("*.ipynb"))
    print("| notebook | nbconvert --execute (s) | autograder grade (s) | overhead |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            grade = [sys.executable, "-m", "autograder", "grade", str(nb), "--out", tmp, "--seed", "1"]
            plain = [
                str(Path(sys.executable).parent / "jupyter"),
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                str(nb),
                "--output-dir",
                tmp,
                "--output",
                "executed.ipynb",
                "--ExecutePreprocessor.timeout=900",
            ]
            timed(grade)  # warm the reference cache and the sandbox's data copy
            runs_plain, runs_grade = [], []
            for _ in range(args.runs):
                runs_plain.append(timed(plain))
                runs_grade.append(timed(grade))
            p, g = statistics.median(runs_plain), statistics.median(runs_grade)
            print(f"| {nb.name} | {p:.1f} | {g:.1f} | {100 * (g - p) / p:+.0f} % |", flush=True)


if __name__ == "__main__":
    main()
