"""Batch throughput: submissions per minute for 1 and N workers, and `otter run` in a loop.

The class is N copies of a TensorFlow notebook (default: the 02 solution, which imports TF and
trains the BN model for 3 epochs), named like a Canvas download. The otter baseline runs
`otter run -a autograder.zip` on each notebook in turn, with an autograder zip that `otter
generate` builds from this project's own self-check test files (the same public checks), so both
sides execute the same notebook and check the same functions. The grader's reference is computed
once before timing (a batch computes it once too, before its workers start).

    python benchmarks/throughput.py [--n 20] [--workers 2] [--notebook solutions/02_batch_normalisation.ipynb]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(argv: list[str], cwd: Path, ok=(0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode not in ok:
        sys.exit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--notebook", type=Path, default=REPO / "solutions" / "02_batch_normalisation.ipynb")
    parser.add_argument("--skip-otter", action="store_true")
    args = parser.parse_args()
    assignment = args.notebook.stem
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        klass = tmp / "class"
        klass.mkdir()
        for i in range(args.n):
            shutil.copy(args.notebook, klass / f"student{i}_{1000 + i}_{5000 + i}_{assignment}.ipynb")
        grader = [sys.executable, "-m", "autograder", "grade", str(klass), "--seed", "1"]
        run([*grader[:4], str(args.notebook), "--out", str(tmp / "warm"), "--seed", "1"], REPO)  # reference cache
        rows = []
        if not args.skip_otter:
            tests = REPO / "assignments" / "tests" / assignment
            run(["otter", "generate", "-t", str(tests), "-o", str(tmp / "otter.zip"), "--no-requirements",
                 "--no-environment", "--no-config"], tmp)
            start = time.perf_counter()
            for i, nb in enumerate(sorted(klass.iterdir())):
                work = tmp / f"otter{i}"
                work.mkdir()
                shutil.copy(nb, work / "submission.ipynb")
                run(["otter", "run", "-a", str(tmp / "otter.zip"), "submission.ipynb"], work)
            rows.append(("otter run in a loop", time.perf_counter() - start))
        for workers in sorted({1, args.workers}):
            seconds = run([*grader, "--out", str(tmp / f"out{workers}"), "--workers", str(workers)], REPO)
            rows.append((f"autograder grade --workers {workers}", seconds))
    base = rows[0][1]
    print(f"{args.n} copies of {args.notebook.name}\n")
    print("| run | seconds | submissions / minute | speed-up vs first row |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.0f} | {60 * args.n / seconds:.2f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
