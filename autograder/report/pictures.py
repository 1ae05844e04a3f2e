"""The feedback's picture of a failed question, drawn from the result alone (`QuestionResult.picture`).

The data was taken from the question's public case at comparison (`questions/pictures.py`), so a
batch report or a regrade's report draws without the plan, the reference or the sandbox. The
data is treated as hostile here too (a results folder is files on disk): every number is checked,
lengths are bounded, and anything odd gives a short note instead of a picture, never an error.
The picture is an SVG embedded as a `data:` URI in an `<img>` with alt text saying what it shows
and where the student's values differ, for readers who cannot see it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Sequence
from typing import Any

from .common import esc
from .svg import BLUE, EXPECTED_DASH, GREY, RED, Panel, document, legend, span, text, widen

MAX_VALUES = 400
W, H = 520, 270


class Undrawable(ValueError):
    """The picture's data is not what its kind needs."""


def _nums(value: Any, at_most: int = MAX_VALUES) -> list[float | None]:
    if not isinstance(value, list) or len(value) > at_most:
        raise Undrawable("not a short list")
    out: list[float | None] = []
    for v in value:
        if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v)):
            out.append(None)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise Undrawable("not a number")
    return out


def _pairs(a: Sequence[float | None], b: Sequence[float | None]) -> None:
    if len(a) != len(b) or not a:
        raise Undrawable("series of different lengths")


def _differences(expected: Sequence[float | None], got: Sequence[float | None]) -> list[int]:
    return [
        i
        for i, (e, g) in enumerate(zip(expected, got))
        if e is None or g is None or abs(e - g) > 1e-5 * max(1.0, abs(e))
    ]


def _notes(panel: Panel, xs: Sequence[float | None], ys: Sequence[float | None]) -> str:
    """What the picture cannot show in place, said on it (arrows and a note, `Panel.beyond`) and
    returned for the alt text."""
    bad = sum(y is None for y in ys)
    beyond = panel.beyond(xs, ys, RED)
    return "".join(
        [
            f" {bad} of your values are nan or inf (not drawn)." if bad else "",
            f" {beyond[0].upper()}{beyond[1:]}." if beyond else "",
        ]
    )


def _curve(qid: str, d: dict[str, Any]) -> tuple[str, str]:
    x, exp, got = _nums(d["x"]), _nums(d["expected"]), _nums(d["got"])
    _pairs(x, exp), _pairs(x, got)
    p = Panel(56, 26, W - 190, H - 68, span(x, 0.0), widen(span(exp), got))
    p.axes("input z", f"{qid}(z)")
    p.line(x, exp, GREY, 3, dash=EXPECTED_DASH)
    p.line(x, got, RED, 1.8, dots=True)
    notes = _notes(p, x, got)
    wrong = _differences(exp, got)
    alt = (
        f"Plot of your {qid} (red, solid) against the expected values (grey, dashed) on {len(x)} public inputs from "
        f"{x[0]:g} to {x[-1]:g}: they differ at {len(wrong)} of them"
    )
    if wrong:
        i = max(wrong, key=lambda k: abs((exp[k] or 0) - (got[k] or 0)) if got[k] is not None else math.inf)
        alt += f", most at z = {x[i]:g} (expected {exp[i]:.4g}, yours {got[i] if got[i] is None else f'{got[i]:.4g}'})"
    svg = document(W, H, [*p.parts, legend(W - 122, 40, [("expected", GREY, EXPECTED_DASH), ("yours", RED)])], alt)
    return svg, alt + "." + notes


def _trajectory(qid: str, d: dict[str, Any]) -> tuple[str, str]:
    dims = [int(v) for v in d["dims"]][:2]
    a, c, start = _nums(d["a"], 2), _nums(d["c"], 2), _nums(d["start"], 2)
    exp = [_nums(s) for s in d["expected"][:2]]
    got = [_nums(s) for s in d["got"][:2]]
    if len(dims) != 2 or None in a + c + start or min(a) <= 0:
        raise Undrawable("not a bowl")
    _pairs(exp[0], exp[1]), _pairs(exp[0], got[0]), _pairs(got[0], got[1])
    centre = [c[i] / a[i] for i in range(2)]
    xs, ys = [start[0], *exp[0], centre[0]], [start[1], *exp[1], centre[1]]
    p = Panel(56, 26, W - 190, H - 68, widen(span(xs), got[0], 1.0), widen(span(ys), got[1], 1.0))
    p.axes(f"theta[{dims[0]}]", f"theta[{dims[1]}]")
    level = sum(0.5 * a[i] * (start[i] - centre[i]) ** 2 for i in range(2))
    for k in range(6):  # contours of the bowl through the start, each level 0.35x the last
        f = level * 0.35**k
        ring = [
            (
                centre[0] + math.sqrt(2 * f / a[0]) * math.cos(t / 24 * math.pi),
                centre[1] + math.sqrt(2 * f / a[1]) * math.sin(t / 24 * math.pi),
            )
            for t in range(49)
        ]
        p.line([r[0] for r in ring], [r[1] for r in ring], "#afb8c1", 1.0, dash="3,3")
    p.line([start[0], *exp[0]], [start[1], *exp[1]], GREY, 3, dots=True, dash=EXPECTED_DASH)
    p.line([start[0], *got[0]], [start[1], *got[1]], RED, 1.8, dots=True)
    p.dot(start[0], start[1], BLUE, 4)
    notes = _notes(p, got[0], got[1])
    steps = len(exp[0])
    first = next((k for k in range(steps) if _differences([exp[0][k], exp[1][k]], [got[0][k], got[1][k]])), None)
    alt = (
        f"Path of theta[{dims[0]}] and theta[{dims[1]}] over {steps} steps of your {qid} (red, solid) and the "
        f"expected path (grey, dashed) on the public bowl, from the start (blue) toward its minimum; dashed: the bowl's contours"
    )
    alt += f"; the paths part at step {first + 1}" if first is not None else "; these two coordinates agree"
    items = [("expected", GREY, EXPECTED_DASH), ("yours", RED), ("start", BLUE)]
    svg = document(W, H, [*p.parts, legend(W - 122, 40, items)], alt)
    return svg, alt + "." + notes


def _distribution(qid: str, d: dict[str, Any]) -> tuple[str, str]:
    counts, exp = _nums(d["counts"]), _nums(d["expected"])
    _pairs(counts, exp)
    if None in counts or None in exp:
        raise Undrawable("a count is missing")
    top = max(max(counts), max(exp)) * 1.1 or 1.0
    if "edges" in d:  # a histogram of samples
        edges = _nums(d["edges"], MAX_VALUES + 1)
        if len(edges) != len(counts) + 1 or None in edges:
            raise Undrawable("bad bins")
        p = Panel(64, 26, W - 200, H - 68, (edges[0], edges[-1]), (0.0, top))
        p.axes("sample value", "count")
        for lo, hi, n in zip(edges, edges[1:], counts):
            p.bar(lo, hi, n, BLUE)
        p.line([(lo + hi) / 2 for lo, hi in zip(edges, edges[1:])], exp, RED, 2)
        what = f"the target {d.get('target', 'distribution')}" if isinstance(d.get("target"), str) else "the target"
        alt = (
            f"Histogram of your {qid}'s {sum(counts):,.0f} samples (blue bars) against the counts {what} "
            f"expects in each bin (red line), from {edges[0]:.3g} to {edges[-1]:.3g}"
        )
    else:  # counts per category
        names = [str(v)[:24] for v in d["labels"]][: len(counts)]
        if len(names) != len(counts):
            raise Undrawable("labels")
        p = Panel(64, 26, W - 200, H - 68, (0.0, float(len(counts))), (0.0, top))
        p.axes("", "count", [i + 0.5 for i in range(len(counts))], names)
        for i, (n, e) in enumerate(zip(counts, exp)):
            p.bar(i + 0.15, i + 0.85, n, BLUE)
            p.line([i + 0.05, i + 0.95], [e, e], RED, 3)
        alt = f"Bars: how your {qid} treated the values (blue) against what is expected (red marks): " + "; ".join(
            f"{name}: {n:,.0f} (expected {e:,.0f})" for name, n, e in zip(names, counts, exp)
        )
    svg = document(W, H, [*p.parts, legend(W - 130, 40, [("yours", BLUE), ("expected", RED)])], alt)
    return svg, alt + "."


def _features(qid: str, d: dict[str, Any]) -> tuple[str, str]:
    series = d["series"][:4]
    if not isinstance(series, list) or not series:
        raise Undrawable("no series")
    canvas = max(W, 60 + 170 * len(series))
    width = (canvas - 40) / len(series)
    parts, said = [], []
    for k, s in enumerate(series):
        exp, got = _nums(s["expected"], 64), _nums(s["got"], 64)
        _pairs(exp, got)
        xs = [float(i + 1) for i in range(len(exp))]
        p = Panel(48 + k * width, 26, width - 62, H - 90, (0.5, len(exp) + 0.5), widen(span(exp), got))
        p.axes("feature", str(s.get("label", ""))[:40], xs, [f"{i:g}" for i in xs])
        for x, e, g in zip(xs, exp, got):
            if e is not None:
                p.dot(x, e, GREY, 6, hollow=True)
            if g is not None:
                p.dot(x, g, RED, 3)
        parts += p.parts
        wrong = _differences(exp, got)
        said.append(f"{s.get('label', '')}: {len(wrong)} of {len(exp)} features differ")
    parts.append(
        legend(canvas - 150, H - 22, [("expected (circles)", GREY)]) + legend(canvas - 300, H - 22, [("yours", RED)])
    )
    alt = f"Per-feature statistics of your {qid}'s output (red dots) against the expected (grey circles); " + "; ".join(
        said
    )
    return document(canvas, H, parts, alt), alt + "."


def _accuracy(qid: str, d: dict[str, Any]) -> tuple[str, str]:
    acc, need = _nums([d["accuracy"], d["threshold"]])
    classes = [str(c)[:14] for c in d["classes"]][:10]
    rows = d["confusion"][: len(classes)]
    matrix = [_nums(r, len(classes)) for r in rows]
    if acc is None or need is None or len(matrix) != len(classes) or any(len(r) != len(classes) for r in matrix):
        raise Undrawable("confusion")
    bar = Panel(40, 40, 110, H - 90, (0.0, 1.0), (0.0, 1.0))
    bar.axes("", "test accuracy", [0.5], [f"{acc:.3f}"])
    bar.bar(0.2, 0.8, acc, BLUE)
    bar.line([0.05, 0.95], [need, need], RED, 3)
    parts = [*bar.parts, text(150, bar.py(need) + 4, f"required {need:.2f}", colour=RED)]
    cell = min(20.0, (H - 70) / len(classes))
    left, top = W - 20 - cell * len(classes), 40.0
    for i, row in enumerate(matrix):
        total = sum(v or 0 for v in row) or 1.0
        parts.append(text(left - 4, top + cell * i + cell * 0.7, classes[i], anchor="end", size=9))
        for j, v in enumerate(row):
            share = (v or 0) / total
            colour = "#1a7f37" if i == j else RED
            parts.append(
                f'<rect x="{left + cell * j:.1f}" y="{top + cell * i:.1f}" width="{cell:.1f}" '
                f'height="{cell:.1f}" fill="{colour}" fill-opacity="{0.08 + 0.8 * share:.2f}" '
                f'stroke="#ffffff"/>'
            )
            if v:
                parts.append(text(left + cell * (j + 0.5), top + cell * (i + 0.68), f"{v:.0f}", "middle", 7))
    parts.append(
        text(
            left + cell * len(classes) / 2,
            top - 8,
            "predicted class (columns) per true class (rows)",
            anchor="middle",
            size=10,
        )
    )
    worst = max(range(len(classes)), key=lambda i: 1 - (matrix[i][i] or 0) / (sum(v or 0 for v in matrix[i]) or 1))
    alt = (
        f"Bar: your {qid}'s accuracy on the real test split, {acc:.4f}, against the required {need:.2f} (red line); "
        f"its confusion matrix (counts of test images per true and predicted class); the class most often "
        f"mistaken is {classes[worst]}"
    )
    return document(W, H, parts, alt), alt + "."


DRAW: dict[str, Callable[[str, dict[str, Any]], tuple[str, str]]] = {
    "curve": _curve,
    "trajectory": _trajectory,
    "distribution": _distribution,
    "features": _features,
    "accuracy": _accuracy,
}

MARKDOWN_NOTE = "See the HTML feedback for a picture of this question."


def svg_and_alt(qid: str, data: Any) -> tuple[str, str] | str:
    """(SVG, alt text), or the note to show instead (the data's own note, or why it cannot be drawn)."""
    if not isinstance(data, dict):
        return "no picture"
    if isinstance(data.get("note"), str):
        return f"No picture: {data['note'][:300]}"
    draw = DRAW.get(data.get("kind"))  # type: ignore[arg-type]
    try:
        if draw is None:
            raise Undrawable("unknown kind")
        return draw(qid, data)
    except Exception:  # noqa: BLE001 - a picture is a courtesy: never a broken report
        return "No picture: its data could not be drawn."


def picture_html(qid: str, data: Any) -> str:
    """The question's picture as a `<figure>` with an embedded SVG, or a short note."""
    drawn = svg_and_alt(qid, data)
    if isinstance(drawn, str):
        return f'<p class="meta">{esc(drawn)}</p>\n'
    svg, alt = drawn
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    caption = f"Public case: {data.get('description', '')}" if isinstance(data.get("description"), str) else ""
    return (
        f'<figure class="picture"><img class="picture" src="{uri}" alt="{esc(alt)}">'
        f'<figcaption class="meta">{esc(caption[:300])}</figcaption></figure>\n'
    )
