"""A single uncached grade vs plain execution of the same notebook (goal: at most 1.0x).

The first grade of a notebook with a seed the reference cache has not seen must also compute the
solution's outputs for that seed. `grade_notebook` computes them in a thread beside the
submission's own sandboxed run, so that the grade should take no longer than running the notebook
with `jupyter nbconvert --execute`. This measures it:

- A: `autograder grade NOTEBOOK --assignment ASSIGNMENT --out OUT --seed S`, a seed never used
  before on every run (`--cold`: also an empty cache folder, so the solution's timing is
  computed too, before the run, as on a course's very first grade);
- B: `jupyter nbconvert --to notebook --execute NOTEBOOK`,
- W: the same grade with the seed of the untimed first run (its reference cached): what the
  grade costs when nothing is computed beside it,

interleaved A B W A B W ... so that whatever else the machine does hits all alike; the ratio of
the medians is printed (A - W is what computing the reference adds), with the load average at the
start and the end (`os.getloadavg`). Usage:

    python benchmarks/uncached.py [--runs 5] [--cold] [--assignment 04_optimizers] [NOTEBOOK]

(default notebook: the assignment's solution).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{done.stdout[-1000:]}\n{done.stderr[-2000:]}")
    return elapsed


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--assignment", default="04_optimizers")
    parser.add_argument("--cold", action="store_true", help="an empty cache folder for every grade")
    parser.add_argument("notebook", nargs="?", type=Path)
    args = parser.parse_args()
    notebook = args.notebook or REPO / "solutions" / f"{args.assignment}.ipynb"
    bin_dir = Path(sys.executable).parent
    plain = [
        str(bin_dir / "jupyter"),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        str(notebook),
        "--ExecutePreprocessor.timeout=900",
    ]
    seeds = random.Random(time.time_ns()).sample(range(10_000, 2**31 - 1), args.runs + 1)
    print(f"load average at the start: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dnn-grader-bench-") as tmp:
        base = Path(tmp)
        env = {**os.environ}
        out = base / "out"

        def grade_argv(seed: int) -> list[str]:
            return [
                str(bin_dir / "autograder"),
                "grade",
                str(notebook),
                "--assignment",
                args.assignment,
                "--out",
                str(out),
                "--seed",
                str(seed),
            ]

        # one grade first, not timed: the solution's timing and the sandbox's data copy exist in
        # the shared cache afterwards (what a course has once its first notebook is graded)
        timed(grade_argv(seeds[0]), env)
        timed([*plain, "--output-dir", str(base), "--output", "executed.ipynb"], env)
        grades, plains, warm = [], [], []
        for k, seed in enumerate(seeds[1:]):
            grade_env = env
            if args.cold:
                grade_env = {**env, "XDG_CACHE_HOME": str(base / f"cache{k}")}
            grades.append(timed(grade_argv(seed), grade_env))
            plains.append(timed([*plain, "--output-dir", str(base), "--output", "executed.ipynb"], env))
            warm.append(timed(grade_argv(seeds[0]), env))
            print(
                f"run {k + 1}: uncached grade {grades[-1]:.2f} s, nbconvert {plains[-1]:.2f} s, "
                f"cached grade {warm[-1]:.2f} s",
                flush=True,
            )
    g, p, w = statistics.median(grades), statistics.median(plains), statistics.median(warm)
    print(f"load average at the end: {load()}")
    cold = ", empty cache" if args.cold else ""
    print(
        f"{notebook.name}: uncached grade (new seed{cold}) median {g:.2f} s, "
        f"nbconvert --execute {p:.2f} s, cached grade {w:.2f} s"
    )
    print(f"ratio {g / p:.2f}x (cached: {w / p:.2f}x) over {args.runs} interleaved runs")


if __name__ == "__main__":
    main()
