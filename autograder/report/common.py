"""What the reports share: score formatting, de-duplication, the problems of a run, atomic writes,
and the escaping helpers for HTML and Markdown.

Everything a report shows about a submission may come from the student (ids from file names,
error messages, the `got:` part of feedback), so every string goes through `esc` (HTML) or
`code_span`/`code_block` (Markdown) and is never interpolated raw.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from ..questions import ASSIGNMENTS
from ..result import QuestionStatus, Result


def fmt(score: float) -> str:
    """A score as a short, stable string: at most 4 decimals, no trailing zeros, no `-0`."""
    text = f"{round(float(score), 4) + 0.0:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def title(assignment: str) -> str:
    known = ASSIGNMENTS.get(assignment)
    return known.title if known is not None else assignment


def pick(results: Iterable[Result]) -> list[Result]:
    """One result per (student, assignment), sorted by (student, assignment).

    The batch already keeps one result per pair (the later LMS submission); if a caller passes
    several anyway, the highest score wins (ties: the later submission name), so the choice
    never depends on the order of the input.
    """
    best: dict[tuple[str, str], Result] = {}
    for r in results:
        key = (r.student, r.assignment)
        if key not in best or (r.score, r.submission) > (best[key].score, best[key].submission):
            best[key] = r
    return [best[k] for k in sorted(best)]


def assignments_of(results: Sequence[Result]) -> list[str]:
    return sorted({r.assignment for r in results})


def max_scores(results: Sequence[Result]) -> dict[str, float]:
    """Points possible per assignment, taken from the results (the declaration at grading time)."""
    out: dict[str, float] = {}
    for r in results:
        out[r.assignment] = max(out.get(r.assignment, 0.0), r.max_score)
    return out


def lateness(seconds: float | None) -> str:
    """How late, in the unit a reader thinks in."""
    if seconds is None:
        return "late (LATE marker)"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min late"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h late"
    return f"{seconds / 86400:.1f} days late"


def term_lines(result: Result) -> list[str]:
    """What was applied after grading (`course/term.py`), one sentence each: the graded score, the
    lateness and its penalty, each override with its reason. Empty when nothing was applied."""
    term = result.term
    if term is None:
        return []
    lines = [f"Graded score {fmt(term.raw_score)} / {fmt(result.max_score)}; the score above is after what follows."]
    if (late := term.late) is not None:
        due = f"due {late.due}{' (your extension)' if late.extension else ''}"
        lines.append(
            f"{'Late' if late.seconds is None else lateness(late.seconds).capitalize()} ({due}; from "
            f"{late.source}): penalty {fmt(late.penalty)} "
            f"({late.policy})" + (f". {late.note[0].upper()}{late.note[1:]}." if late.note else ".")
        )
    for o in term.overrides:
        what = "the total" if o.question == "total" else o.question
        lines.append(f"Changed by the instructor: {what} {fmt(o.before)} -> {fmt(o.after)} ({o.reason}).")
    return lines


# --- HTML --------------------------------------------------------------------------------------


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


STATUS_COLOURS = {
    QuestionStatus.PASSED: "#1a7f37",
    QuestionStatus.PARTIAL: "#9a6700",
    QuestionStatus.FAILED: "#cf222e",
    QuestionStatus.ERROR: "#cf222e",
    QuestionStatus.TIMEOUT: "#8250df",
    QuestionStatus.MISSING: "#57606a",
}

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1f2328; background: #fff; margin: 0 auto; padding: 1.5rem 2rem 3rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; padding-bottom: .25rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
h4 { font-size: .95rem; margin: 1rem 0 .3rem; }
.meta { color: #57606a; margin: .2rem 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
            font-size: .85rem; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem .8rem;
      white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0 .6rem; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; color: #fff; font-size: .8rem;
         font-weight: 600; white-space: nowrap; }
.box { border-radius: 6px; padding: .6rem .9rem; margin: .6rem 0; border: 1px solid; }
.box.bad { background: #ffebe9; border-color: #ff8182; }
.box.warn { background: #fff8c5; border-color: #d4a72c; }
.box.good { background: #dafbe1; border-color: #4ac26b; }
.box ul { margin: .2rem 0; padding-left: 1.2rem; }
.score { float: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: .8rem 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem .8rem; min-width: 7rem; }
.card b { display: block; font-size: 1.3rem; }
.card.alert b { color: #cf222e; }
img.chart { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
figure.picture { margin: .3rem 0 1rem; }
img.picture { max-width: 100%; height: auto; display: block; border: 1px solid #d0d7de; border-radius: 6px; }
details { margin: .5rem 0 1rem; }
summary { cursor: pointer; font-weight: 600; }
.break { overflow-wrap: anywhere; }
"""


def page(heading: str, body: str, doc_title: str | None = None) -> str:
    """A self-contained HTML page. The CSP forbids scripts and remote loads (images only as
    data: URIs): a defence in depth should student text ever slip through unescaped."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(doc_title or heading)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(heading)}</h1>\n{body}</body>\n</html>\n"
    )


def badge(status: QuestionStatus) -> str:
    colour = STATUS_COLOURS.get(status, "#57606a")
    return f'<span class="badge" style="background:{colour}">{esc(status)}</span>'


# --- Markdown ----------------------------------------------------------------------------------

_BACKTICKS = re.compile(r"`+")


def code_span(text: str) -> str:
    """Inline code: literal in Markdown (no emphasis, links or raw HTML), whatever `text` holds."""
    text = " ".join(str(text).splitlines()) or " "
    ticks = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def code_block(text: str) -> str:
    """A fenced block whose fence is longer than any backtick run inside, so it cannot be closed early."""
    fence = "`" * max(3, max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    return f"{fence}text\n{text}\n{fence}\n"
