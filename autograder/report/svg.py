"""A few SVG primitives for the feedback's pictures: a panel with axes and ticks, lines, dots, bars.

Hand-written rather than matplotlib: a feedback picture is a line or a few bars, and writing its
SVG takes well under a millisecond where a matplotlib figure takes tens (`benchmarks/report_pictures.py`);
the text is the grader's own (labels from declarations, numbers formatted here) and escaped.
Coordinates are clipped to the panel, so a student's 1e308 lands on its edge, not off the canvas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

GREY, RED, BLUE, INK, FAINT = "#57606a", "#cf222e", "#0969da", "#1f2328", "#d0d7de"
# The expected series is drawn dashed, the student's solid with dots: told apart without colour.
EXPECTED_DASH = "7,4"
FONT = "font-family:system-ui,Arial,sans-serif"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 12) for k in range(first, int(math.floor(hi / step + 1e-9)) + 1)]


def label(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:,.0f}" if 1e3 <= abs(value) < 1e7 else f"{value:.3g}"


def span(values: Iterable[float | None], pad: float = 0.08) -> tuple[float, float]:
    """The padded range of the finite values (a unit range around a constant, (0, 1) if none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    floor = 0.1 * max(abs(lo), abs(hi)) or 1.0  # values equal to rounding show as equal, not spread out
    if hi - lo < floor:
        middle = (lo + hi) / 2
        lo, hi = middle - floor / 2, middle + floor / 2
    width = hi - lo
    return lo - pad * width, hi + pad * width


def widen(base: tuple[float, float], extra: Iterable[float | None], factor: float = 2.0) -> tuple[float, float]:
    """`base` grown to show `extra` (the student's values), but by at most `factor` times its own
    width on each side: beyond that a value is drawn on the edge (and counted as clipped)."""
    lo, hi = base
    width = hi - lo
    for v in extra:
        if v is not None and math.isfinite(v):
            lo, hi = min(lo, max(v, base[0] - factor * width)), max(hi, min(v, base[1] + factor * width))
    return lo, hi


@dataclass
class Panel:
    """One plot area at (left, top) of size (width, height) in the canvas, mapping data ranges."""

    left: float
    top: float
    width: float
    height: float
    x: tuple[float, float]
    y: tuple[float, float]
    parts: list[str] = field(default_factory=list)

    def px(self, v: float) -> float:
        lo, hi = self.x
        return self.left + self.width * (min(max(v, lo), hi) - lo) / ((hi - lo) or 1.0)

    def py(self, v: float) -> float:
        lo, hi = self.y
        return self.top + self.height * (1 - (min(max(v, lo), hi) - lo) / ((hi - lo) or 1.0))

    def inside(self, x: float, y: float) -> bool:
        return self.x[0] <= x <= self.x[1] and self.y[0] <= y <= self.y[1]

    def axes(self, xlabel: str, ylabel: str, xticks: Sequence[float] | None = None, xnames: Sequence[str] = ()) -> None:
        b = self.top + self.height
        self.parts.append(
            f'<rect x="{self.left:.1f}" y="{self.top:.1f}" width="{self.width:.1f}" '
            f'height="{self.height:.1f}" fill="none" stroke="{FAINT}"/>'
        )
        ticks = nice_ticks(*self.x) if xticks is None else list(xticks)
        for i, t in enumerate(ticks):
            name = xnames[i] if i < len(xnames) else label(t)
            self.parts.append(
                f'<line x1="{self.px(t):.1f}" x2="{self.px(t):.1f}" y1="{b:.1f}" y2="{b + 4:.1f}" '
                f'stroke="{GREY}"/>' + text(self.px(t), b + 15, name, anchor="middle")
            )
        for t in nice_ticks(*self.y):
            self.parts.append(
                f'<line x1="{self.left:.1f}" x2="{self.left + self.width:.1f}" y1="{self.py(t):.1f}" '
                f'y2="{self.py(t):.1f}" stroke="{FAINT}" stroke-dasharray="2,3"/>'
                + text(self.left - 4, self.py(t) + 4, label(t), anchor="end")
            )
        self.parts.append(text(self.left + self.width / 2, b + 30, xlabel, anchor="middle"))
        self.parts.append(text(self.left, self.top - 6, ylabel))

    def line(
        self,
        xs: Sequence[float | None],
        ys: Sequence[float | None],
        colour: str,
        width: float = 2.0,
        dots: bool = False,
        dash: str = "",
    ) -> None:
        """A polyline through the finite points; a None or non-finite value breaks it."""
        run: list[str] = []
        for x, y in [*zip(xs, ys), (None, None)]:
            if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
                if len(run) > 1:
                    self.parts.append(
                        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                        f'stroke-width="{width}"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                    )
                run = []
                continue
            run.append(f"{self.px(x):.1f},{self.py(y):.1f}")
            if dots:
                self.dot(x, y, colour, 2.5)

    def dot(self, x: float, y: float, colour: str, r: float = 3.0, hollow: bool = False) -> None:
        fill = "none" if hollow else colour
        self.parts.append(
            f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{r}" fill="{fill}" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )

    def beyond(self, xs: Sequence[float | None], ys: Sequence[float | None], colour: str, whose: str = "your") -> str:
        """Mark the points outside the frame with an arrow on its edge, pointing their way, and say
        on the picture how many lie beyond each side; the note's text is returned for the alt text."""
        sides = {"above": 0, "below": 0, "right of": 0, "left of": 0}
        for x, y in zip(xs, ys):
            if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)) or self.inside(x, y):
                continue
            cx, cy = self.px(x), self.py(y)
            if y > self.y[1] or y < self.y[0]:
                side, d = ("above", -1) if y > self.y[1] else ("below", 1)
                tip = f"{cx:.1f},{cy + 7 * d:.1f} {cx - 4:.1f},{cy:.1f} {cx + 4:.1f},{cy:.1f}"
            else:
                side, d = ("right of", 1) if x > self.x[1] else ("left of", -1)
                tip = f"{cx + 7 * d:.1f},{cy:.1f} {cx:.1f},{cy - 4:.1f} {cx:.1f},{cy + 4:.1f}"
            sides[side] += 1
            self.parts.append(f'<polygon points="{tip}" fill="{colour}"/>')
        counts = [f"{n} {side}" for side, n in sides.items() if n]
        if not counts:
            return ""
        total = sum(sides.values())
        note = f"{total} of {whose} values beyond the plot ({', '.join(counts)} it; arrows on its edge)"
        self.parts.append(
            f'<rect x="{self.left + 2:.1f}" y="{self.top + 2:.1f}" width="{min(self.width - 4, 7.0 * len(note)):.1f}" '
            f'height="16" fill="#ffffff" fill-opacity="0.85"/>'
            + text(self.left + 6, self.top + 14, note, size=10, colour=colour)
        )
        return note

    def bar(self, x0: float, x1: float, y: float, colour: str) -> None:
        top, base = self.py(max(y, self.y[0])), self.py(self.y[0])
        self.parts.append(
            f'<rect x="{self.px(x0):.1f}" y="{top:.1f}" width="{max(0.0, self.px(x1) - self.px(x0)):.1f}" '
            f'height="{max(0.0, base - top):.1f}" fill="{colour}" fill-opacity="0.75"/>'
        )


def text(x: float, y: float, value: str, anchor: str = "start", size: int = 11, colour: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{colour}" '
        f'style="{FONT}">{escape(value)}</text>'
    )


def legend(x: float, y: float, items: Sequence[tuple[str, str] | tuple[str, str, str]]) -> str:
    """One line per item: (name, colour) or (name, colour, dash), drawn as the series is."""
    out = []
    for i, item in enumerate(items):
        name, colour = item[0], item[1]
        dash = f' stroke-dasharray="{item[2]}"' if len(item) > 2 else ""
        yy = y + 14 * i
        out.append(
            f'<line x1="{x:.1f}" x2="{x + 22:.1f}" y1="{yy - 4:.1f}" y2="{yy - 4:.1f}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>' + text(x + 26, yy, name)
        )
    return "".join(out)


def document(width: int, height: int, parts: Iterable[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>{"".join(parts)}</svg>'
    )
