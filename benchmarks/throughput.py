"""Batch throughput: submissions per minute for 1 and N workers, and `otter run` in a loop.

The class is N copies of a TensorFlow notebook (default: the 02 solution, which imports TF and
trains the BN model for 3 epochs), named like a Canvas download. The otter baseline runs
`otter run -a autograder.zip` on each notebook in turn, with an autograder zip that `otter
generate` builds from this project's own self-check test files (the same public checks), so both
sides execute the same notebook and check the same functions. The grader's reference is computed
once before timing (a batch computes it once too, before its workers start).

    python benchmarks/throughput.py [--n 20] [--workers 1 2] [--tf-threads N] [--skip-otter]
                                    [--notebook solutions/02_batch_normalisation.ipynb] [--hangs K]

`--hangs K` also grades, for each worker count, the same class with K of its notebooks given a
cell that loops forever and swallows interrupts (after the first code cell, as a student's stuck
exercise cell would be; spread evenly through the class, so no hang is the last one started), and
prints that class's time against the clean class's: the price of a hang is the cell limit derived
from the reference (autograder/grading/limits.py) plus a rerun, and the derived limits are printed.

`--tf-threads N` grades with `tf_threads = N` (0: TensorFlow's default) instead of the repository's
setting, through a pyproject.toml of its own that points at this repository's notebooks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HANG = """while True:  # a stuck exercise cell that also swallows the runner's alarm
    try:
        while True:
            n = 0
    except BaseException:
        pass"""


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
    table.update(
        tf_threads=tf_threads,
        solutions_dir=str(REPO / table.get("solutions_dir", "solutions")),
        assignments_dir=str(REPO / table.get("assignments_dir", "assignments")),
    )
    course.mkdir()
    lines = [f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}" for key, value in table.items()]
    (course / "pyproject.toml").write_text("[tool.autograder]\n" + "\n".join(lines) + "\n")
    return course


def write_class(folder: Path, notebook: Path, n: int, hangs: int) -> None:
    """n copies named like a Canvas download; `hangs` of them (evenly spread) get the HANG cell."""
    import nbformat

    folder.mkdir()
    hanging = {int(n * (j + 0.5) / hangs) for j in range(hangs)} if hangs else set()
    for i in range(n):
        target = folder / f"student{i}_{1000 + i}_{5000 + i}_{notebook.stem}.ipynb"
        if i not in hanging:
            shutil.copy(notebook, target)
            continue
        nb = nbformat.read(notebook, as_version=4)
        first = next(k for k, cell in enumerate(nb.cells) if cell.cell_type == "code")
        nb.cells.insert(first + 1, nbformat.v4.new_code_cell(HANG))
        nbformat.write(nb, target)


def hang_summary(out: Path) -> str:
    """The derived limits the results record, and what each hanging submission cost."""
    docs = [json.loads(p.read_text())["execution"] for p in sorted((out / "results").rglob("*.json"))]
    found = sorted({json.dumps(d["limits"], sort_keys=True) for d in docs})
    hung = [
        f"{d['seconds']:.0f} s in {d['passes']} passes"
        for d in docs
        if any(e["status"] == "timeout" for e in d["cell_errors"])
    ]
    honest = sorted(d["seconds"] for d in docs if not d["cell_errors"])
    median = honest[len(honest) // 2] if honest else float("nan")
    return (
        f"hanging submissions: {', '.join(hung) or 'none timed out'}; the others' median {median:.0f} s; "
        f"limits {'; '.join(found)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tf-threads", type=int, default=None)
    parser.add_argument("--notebook", type=Path, default=REPO / "solutions" / "02_batch_normalisation.ipynb")
    parser.add_argument("--skip-otter", action="store_true")
    parser.add_argument("--hangs", type=int, default=0, help="also grade the class with this many hanging notebooks")
    args = parser.parse_args()
    args.notebook = args.notebook.resolve()
    assignment = args.notebook.stem
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp_name:
        tmp = Path(tmp_name)
        klass = tmp / "class"
        write_class(klass, args.notebook, args.n, 0)
        if args.hangs:
            write_class(tmp / "hanging", args.notebook, args.n, args.hangs)
        grader = [sys.executable, "-m", "autograder", "grade", str(klass), "--seed", "1"]
        course = REPO if args.tf_threads is None else settings(tmp / "course", args.tf_threads)
        run([*grader[:4], str(args.notebook), "--out", str(tmp / "warm"), "--seed", "1"], course)  # reference cache
        rows = []
        if not args.skip_otter:
            tests = REPO / "assignments" / "tests" / assignment
            run(
                [
                    "otter",
                    "generate",
                    "-t",
                    str(tests),
                    "-o",
                    str(tmp / "otter.zip"),
                    "--no-requirements",
                    "--no-environment",
                    "--no-config",
                ],
                tmp,
            )
            start = time.perf_counter()
            for i, nb in enumerate(sorted(klass.iterdir())):
                work = tmp / f"otter{i}"
                work.mkdir()
                shutil.copy(nb, work / "submission.ipynb")
                run(["otter", "run", "-a", str(tmp / "otter.zip"), "submission.ipynb"], work)
            rows.append(("otter run in a loop", time.perf_counter() - start))
        threads = "" if args.tf_threads is None else f", tf_threads = {args.tf_threads}"
        ratios = []
        for workers in sorted(set(args.workers)):
            seconds = run([*grader, "--out", str(tmp / f"out{workers}"), "--workers", str(workers)], course)
            rows.append((f"autograder grade --workers {workers}{threads}", seconds))
            if args.hangs:
                out = tmp / f"hang{workers}"
                hung = run(
                    [*grader[:4], str(tmp / "hanging"), *grader[5:], "--out", str(out), "--workers", str(workers)],
                    course,
                )
                rows.append((f"same, {args.hangs} of {args.n} hang, --workers {workers}{threads}", hung))
                ratios.append(f"--workers {workers}: {hung / seconds:.2f}x the clean class; {hang_summary(out)}")
    base = rows[0][1]
    print(f"{args.n} copies of {args.notebook.name}\n")
    print("| run | seconds | submissions / minute | speed-up vs first row |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.0f} | {60 * args.n / seconds:.2f} | {base / seconds:.2f}x |")
    for line in ratios:
        print(f"\nwith hangs, {line}")


if __name__ == "__main__":
    main()
