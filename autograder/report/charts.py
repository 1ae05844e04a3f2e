"""The summary's charts, as PNG bytes ready to embed as `data:` URIs.

Figures are made with matplotlib's object API on the Agg canvas, never pyplot: no GUI backend,
no global figure state, safe in a process that also runs grading threads. PNG metadata is
stripped of the matplotlib version so the same numbers give the same bytes. No student text is
drawn (ids could contain `$`, which matplotlib would parse as math), only assignment data.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..result import QuestionStatus, Result

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BLUE, GREEN, AMBER, GREY = "#0969da", "#2da44e", "#d4a72c", "#8c959f"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def assignment_figure(results: Sequence[Result], max_score: float) -> bytes:
    """Three panels for one assignment: score histogram, pass rate per question, grading time.
    matplotlib is imported here, when a chart is drawn: every command imports this module (through
    the report's package), and half a second of matplotlib would be in each one's start."""
    from matplotlib.figure import Figure

    questions = [q.id for q in results[0].questions] if results else []
    for r in results:  # keep the declaration order, add any question another result has
        questions += [q.id for q in r.questions if q.id not in questions]
    height = max(3.4, 0.32 * len(questions) + 1.4)
    fig = Figure(figsize=(13.5, height), layout="constrained")
    hist, rate, time = fig.subplots(1, 3, width_ratios=[1, 1.15, 1])
    _histogram(hist, [r.score for r in results], max_score)
    _pass_rate(rate, results, questions)
    _times(time, [(r.student, r.execution.seconds) for r in results if r.execution is not None], len(results))
    return _png(fig)


def _histogram(ax: Axes, scores: list[float], max_score: float) -> None:
    from matplotlib.ticker import MaxNLocator

    top = max(max_score, max(scores, default=0.0), 1e-9)
    bins = int(top) if float(top).is_integer() and 2 <= top <= 20 else 10
    counts, _, _ = ax.hist(np.clip(scores, 0, top), bins=np.linspace(0, top, bins + 1), color=BLUE, edgecolor="white")
    ax.set_ylim(0, max(float(np.max(counts)) if len(scores) else 0.0, 1.0) * 1.18)  # room for the mean label
    if scores:
        mean = float(np.mean(scores))
        ax.axvline(mean, color="#1f2328", linestyle="--", linewidth=1)
        right = mean > 0.6 * top  # label on the side with room
        ax.text(
            mean,
            0.98,
            f" mean {mean:.3g} ",
            transform=ax.get_xaxis_transform(),
            va="top",
            ha="right" if right else "left",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    ax.set_xlim(0, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Scores\n(n = {len(scores)})", fontsize=11)
    ax.set_xlabel(f"score out of {max_score:g}")
    ax.set_ylabel("submissions")


def _pass_rate(ax: Axes, results: Sequence[Result], questions: list[str]) -> None:
    from matplotlib.transforms import offset_copy

    n = max(len(results), 1)
    passed = (
        np.array(
            [
                sum(1 for r in results for q in r.questions if q.id == qid and q.status == QuestionStatus.PASSED)
                for qid in questions
            ]
        )
        / n
    )
    partial = (
        np.array(
            [
                sum(1 for r in results for q in r.questions if q.id == qid and q.status == QuestionStatus.PARTIAL)
                for qid in questions
            ]
        )
        / n
    )
    y = np.arange(len(questions))
    ax.barh(y, passed * 100, color=GREEN, label="passed")
    ax.barh(y, partial * 100, left=passed * 100, color=AMBER, label="partial")
    for i, (p, part) in enumerate(zip(passed, partial)):
        ax.text((p + part) * 100 + 1.5, i, f"{p * 100:.0f}%", va="center", fontsize=8)
    ax.set_yticks(y, [q.replace("$", r"\$") for q in questions], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of submissions")
    ax.set_title(f"Pass rate per question\n(n = {len(results)})", fontsize=11)
    if questions:
        below_label = offset_copy(ax.transAxes, fig=ax.figure, y=-34, units="points")  # fixed gap, any height
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below_label, ncol=2, fontsize=8, frameon=False
        )


# Bars labelled by student up to this many submissions; past it, the slowest few are named on their bars.
LABELLED_BARS = 30
NAMED_SLOWEST = 5


def chart_text(text: str, limit: int = 16) -> str:
    """Student text (an id) as matplotlib draws it literally: `$` would start mathtext, which can
    fail to parse and take the whole chart with it; bounded so that a label stays a label."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _times(ax: Axes, timed: list[tuple[str, float]], total: int) -> None:
    from matplotlib.ticker import MaxNLocator

    not_run = f"; {total - len(timed)} unreadable, not run" if len(timed) < total else ""
    ax.set_title(f"Grading time per submission\n(n = {len(timed)}{not_run})", fontsize=11)
    if not timed:
        ax.text(0.5, 0.5, "no submission ran", ha="center", va="center", transform=ax.transAxes, color=GREY)
        ax.set_axis_off()
        return
    timed = sorted(timed, key=lambda t: -t[1])
    ordered = [s for _, s in timed]
    x = np.arange(1, len(ordered) + 1)
    ax.bar(x, ordered, color=BLUE, width=0.8 if len(ordered) < 60 else 1.0)
    median = float(np.median(ordered))
    ax.axhline(median, color="#1f2328", linestyle="--", linewidth=1)
    ax.text(len(ordered) + 0.5, median, f"median {median:.3g} s", ha="right", va="bottom", fontsize=9)
    if len(ordered) <= LABELLED_BARS:
        ax.set_xticks(x, [chart_text(name) for name, _ in timed], rotation=60, ha="right", fontsize=8)
        ax.set_xlabel("student, slowest first")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for i, (name, s) in enumerate(timed[:NAMED_SLOWEST]):
            ax.text(i + 1, s, chart_text(name, 12), rotation=90, ha="center", va="bottom", fontsize=7)
        ax.set_xlabel(f"submissions, slowest first (the {NAMED_SLOWEST} slowest named)")
    ax.set_xlim(0.4, len(ordered) + 0.6)
    ax.set_ylim(0, ordered[0] * (1.45 if len(ordered) > LABELLED_BARS else 1.18) or 1.0)  # room for the labels
    ax.set_ylabel("seconds")
