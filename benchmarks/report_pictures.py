"""What the feedback's pictures cost: the report stage of a class of 300 submissions, and compare.

The class is built from a real comparison: the assignment's plan (public and hidden cases of one
seed), the reference outputs of `solutions/` (run in the sandbox once, then cached), and student
outputs that are the reference's perturbed per student (scaled by 1.05-1.35, so every case of a
failing question fails; a trained model is a random, untrained one). Student i fails question j
unless (i + j) % 3 == 0 (about 2/3 of the questions, with pictures where declared), or every
question with `--all-fail`. Each result then goes through the real `compare`, and the 300 results
through the real report stage (`write_reports`: gradebooks, summary, 300 feedback pages).

Timed, best of `--runs` in this process: the report stage with the pictures, and the same
results with `picture=None` (the report stage as before); `compare` of one submission with and
without the pictures' extraction. For scale, one curve drawn as matplotlib PNG (Agg, one reused
small figure) against the same curve as SVG.

    python benchmarks/report_pictures.py [--assignment ID] [--n 300] [--runs 3] [--all-fail]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import __version__  # noqa: E402
from autograder.course.config import load_config  # noqa: E402
from autograder.grading.compare import compare  # noqa: E402
from autograder.grading.prepare import Plan, call_id, make_plan  # noqa: E402
from autograder.grading.reference import reference_outputs  # noqa: E402
from autograder.questions import get_assignment  # noqa: E402
from autograder.report import write_reports  # noqa: E402
from autograder.report.pictures import svg_and_alt  # noqa: E402
from autograder.result import Result  # noqa: E402
from autograder.sandbox import bubblewrap_available  # noqa: E402
from autograder.wire import CallOutput  # noqa: E402


def perturbed(value: Any, factor: float) -> Any:
    """A wrong answer of the same type and shape as the reference's."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value * factor + 0.01 * factor
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, tuple):
        return tuple(perturbed(v, factor) for v in value)
    if isinstance(value, dict):
        return {k: perturbed(v, factor) for k, v in value.items()}
    return value


def untrained(classes: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "class": "Sequential",
        "layers": [
            {"class": "Flatten", "config": {}, "weights": []},
            {
                "class": "Dense",
                "config": {"activation": "softmax"},
                "weights": [rng.normal(0, 0.05, (784, classes)), np.zeros(classes)],
            },
        ],
    }


def student_outputs(plan: Plan, reference: dict[str, CallOutput], i: int, all_fail: bool) -> dict[str, CallOutput]:
    out = {}
    for j, question in enumerate(plan.assignment.questions):
        fails = all_fail or (i + j) % 3 != 0
        for case in plan.cases[question.id]:
            cid = call_id(question.id, case.id)
            if not question.uses_reference:  # a trained model: random (fails) or the grader's own (none to give)
                classes = 2 if "task B" in case.description else 8 if "task A" in case.description else 10
                out[cid] = CallOutput(untrained(classes, i) if fails else untrained(classes, 0))
            else:
                value = reference[cid].value
                out[cid] = CallOutput(perturbed(value, 1.05 + 0.3 * (i % 7) / 6) if fails else value)
    return out


def best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matplotlib_curve_seconds(x: list, exp: list, got: list, runs: int = 20) -> float:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 2.7), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    def one() -> None:
        ax.clear()
        ax.plot(x, exp, color="#57606a", lw=4)
        ax.plot(x, got, color="#cf222e", lw=1.8, marker="o", ms=3)
        fig.savefig(io.BytesIO(), format="png")

    one()  # the first draw pays for fonts and caches
    return best(one, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="01_activations_and_initialisation")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--all-fail", action="store_true")
    args = parser.parse_args()

    config = load_config(REPO)
    assignment = get_assignment(args.assignment)
    plan = make_plan(assignment, 2026)
    reference = reference_outputs(plan, config, use_sandbox=bubblewrap_available())
    bare = Plan(
        replace(assignment, questions=tuple(replace(q, picture=None) for q in assignment.questions)),
        plan.seed,
        plan.cases,
        plan.inputs,
    )
    outputs = [student_outputs(plan, reference, i, args.all_fail) for i in range(args.n)]

    def result(i: int, questions: list) -> Result:
        return Result(
            assignment.id,
            f"s{i:03d}_{assignment.id}.ipynb",
            f"s{i:03d}",
            sum(q.score for q in questions),
            assignment.max_score,
            plan.seed,
            __version__,
            True,
            tuple(questions),
            None,
        )

    results = [result(i, compare(plan, out, reference)) for i, out in enumerate(outputs)]
    plain = [replace(r, questions=tuple(replace(q, picture=None) for q in r.questions)) for r in results]
    drawn = sum(q.picture is not None and "note" not in q.picture for r in results for q in r.questions)
    compare_with = best(lambda: [compare(plan, out, reference) for out in outputs[:20]], args.runs) / 20
    compare_without = best(lambda: [compare(bare, out, reference) for out in outputs[:20]], args.runs) / 20

    with tempfile.TemporaryDirectory(prefix="report-pictures-") as tmp:
        with_pictures = best(lambda: write_reports(results, Path(tmp) / "with"), args.runs)
        without = best(lambda: write_reports(plain, Path(tmp) / "without"), args.runs)
        size = sum(p.stat().st_size for p in (Path(tmp) / "with" / "feedback").glob("*.html"))

    curve = next(
        (
            q.picture
            for r in results
            for q in r.questions
            if q.picture is not None and q.picture.get("kind") == "curve" and "note" not in q.picture
        ),
        None,
    )
    print(
        f"{assignment.id}: {args.n} results, {drawn} pictures ({drawn / args.n:.1f} per student), "
        f"feedback HTML {size / 1e6:.1f} MB"
    )
    print(
        f"report stage: {with_pictures:.2f} s with pictures, {without:.2f} s without "
        f"(+{with_pictures - without:.2f} s, {(with_pictures - without) / args.n * 1e3:.1f} ms per student)"
    )
    print(
        f"compare per submission: {compare_with * 1e3:.1f} ms with the pictures' data, "
        f"{compare_without * 1e3:.1f} ms without"
    )
    if curve is not None:
        svg = best(lambda: svg_and_alt("q", curve), 50)
        mpl = matplotlib_curve_seconds(curve["x"], curve["expected"], curve["got"])
        print(f"one curve: SVG {svg * 1e3:.2f} ms, matplotlib PNG (Agg, reused figure) {mpl * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
