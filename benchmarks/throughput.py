"""Batch throughput: submissions per minute for 1 and N workers, and `otter run` in a loop.

The class is N copies of a TensorFlow notebook (default: the 02 solution, which imports TF and
trains the BN model for 3 epochs), named like a Canvas download. The otter baseline runs
`otter run -a autograder.zip` on each notebook in turn, with an autograder zip that `otter
generate` builds from this project's own self-check test files (the same public checks), so both
sides execute the same notebook and check the same functions. The grader's reference is computed
once before timing (a batch computes it once too, before its workers start).

    python benchmarks/throughput.py [--n 20] [--workers 1 2] [--tf-threads N] [--skip-otter]
                                    [--notebook solutions/02_batch_normalisation.ipynb]

`--tf-threads N` grades with `tf_threads = N` (0: TensorFlow's default) instead of the repository's
setting, through a pyproject.toml of its own that points at this repository's notebooks.
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


def settings(course: Path, tf_threads: int) -> Path:
    """A folder whose pyproject.toml is the repository's settings with another `tf_threads`."""
    import tomllib

    table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["autograder"]
    table.update(tf_threads=tf_threads, solutions_dir=str(REPO / table.get("solutions_dir", "solutions")),
                 assignments_dir=str(REPO / table.get("assignments_dir", "assignments")))
    course.mkdir()
    lines = [f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}" for key, value in table.items()]
    (course / "pyproject.toml").write_text("[tool.autograder]\n" + "\n".join(lines) + "\n")
    return course


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tf-threads", type=int, default=None)
    parser.add_argument("--notebook", type=Path, default=REPO / "solutions" / "02_batch_normalisation.ipynb")
    parser.add_argument("--skip-otter", action="store_true")
    args = parser.parse_args()
    args.notebook = args.notebook.resolve()
    assignment = args.notebook.stem
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        klass = tmp / "class"
        klass.mkdir()
        for i in range(args.n):
            shutil.copy(args.notebook, klass / f"student{i}_{1000 + i}_{5000 + i}_{assignment}.ipynb")
        grader = [sys.executable, "-m", "autograder", "grade", str(klass), "--seed", "1"]
        course = REPO if args.tf_threads is None else settings(tmp / "course", args.tf_threads)
        run([*grader[:4], str(args.notebook), "--out", str(tmp / "warm"), "--seed", "1"], course)  # reference cache
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
        threads = "" if args.tf_threads is None else f", tf_threads = {args.tf_threads}"
        for workers in sorted(set(args.workers)):
            seconds = run([*grader, "--out", str(tmp / f"out{workers}"), "--workers", str(workers)], course)
            rows.append((f"autograder grade --workers {workers}{threads}", seconds))
    base = rows[0][1]
    print(f"{args.n} copies of {args.notebook.name}\n")
    print("| run | seconds | submissions / minute | speed-up vs first row |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.0f} | {60 * args.n / seconds:.2f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
