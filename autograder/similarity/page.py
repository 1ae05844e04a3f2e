"""`similarity.html` and the similarity section of `summary.html`: a ranked list, not a verdict.

Per assignment, the pairs in rank order (flagged ones, then a few below the threshold for scale),
and for each flagged pair its matching regions side by side, the longest first. Everything shown
is student text: cleaned when read (`sources.py`), escaped here, each region cut at
`MAX_REGION_LINES` lines of `MAX_LINE_CHARS` characters, so a page stays readable and bounded
whatever a notebook holds. The pages are self-contained like every report (no scripts, no
remote loads: `report.common.page`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..grading.untrusted import clean_text
from ..report.common import esc, page
from .pairs import MAX_DETAILED, AssignmentPairs, Pair
from .sources import Code

MAX_REGION_LINES = 40
MAX_LINE_CHARS = 160
STYLE = """<style>
table.sbs { table-layout: fixed; width: 100%; }
table.sbs td { width: 50%; padding: 0 .3rem; }
table.sbs pre { margin: .2rem 0; background: #fff8c5; }
.flag { color: #9a6700; font-weight: 600; }
</style>
"""
HOW_TO_READ = (
    "Pairs of submissions of one assignment that share code of their own (the given code of the "
    "assignment notebook is left out), found by token fingerprints that survive renaming, "
    "reformatting, comments and reordering. <b>Similarity</b> is the share of the smaller submission's "
    "fingerprints found in the other (1 = all of it; the larger of the two shares); <b>share</b> is "
    'that share for each side. A pair is <span class="flag">flagged</span> at similarity {threshold} or more (config '
    "<code>similarity_threshold</code>). This is a ranked list for a person to read, not a verdict: "
    "short functions specified to the formula can look alike, and students may have worked together "
    "as allowed. Fingerprints found in more than {common} submissions are ignored as common idiom."
)


def anchor(aid: str, rank: int) -> str:
    return f"pair-{re.sub(r'[^A-Za-z0-9_-]', '', aid)}-{rank}"


def _table(report: AssignmentPairs, link: str, limit: int | None) -> str:
    if not report.pairs:
        return "<p>No two submissions share code of their own.</p>\n"
    rows = []
    for rank, p in enumerate(report.pairs[:limit], 1):
        flag = '<span class="flag">flagged</span>' if p.flagged else ""
        name = f"#{rank}" if not p.fragments else f'<a href="{link}#{anchor(report.assignment, rank)}">#{rank}</a>'
        rows.append(
            f'<tr><td class="num">{name}</td><td class="break"><code>{esc(p.left.student)}</code></td>'
            f'<td class="break"><code>{esc(p.right.student)}</code></td>'
            f'<td class="num">{p.similarity:.2f}</td>'
            f'<td class="num">{p.left_share:.0%} / {p.right_share:.0%}</td><td class="num">{p.shared}</td>'
            f"<td>{flag}</td></tr>\n"
        )
    return (
        '<table>\n<tr><th>Rank</th><th>Student</th><th>Student</th><th class="num">Similarity</th>'
        '<th class="num">Share (each)</th><th class="num" title="shared fingerprints">Shared</th>'
        "<th></th></tr>\n"
        f"{''.join(rows)}</table>\n{_more(report, limit, link)}"
    )


def _more(report: AssignmentPairs, limit: int | None, link: str) -> str:
    notes = []
    if limit is not None and len(report.pairs) > limit:
        notes.append(f'{len(report.pairs) - limit} more pairs in <a href="{link}">{esc(link)}</a>')
    undetailed = sum(1 for p in report.pairs if p.flagged and not p.fragments)
    if undetailed:
        notes.append(f"regions are shown for the first {MAX_DETAILED} flagged pairs; {undetailed} more are only listed")
    return f'<p class="meta">{"; ".join(notes)}.</p>\n' if notes else ""


def _obfuscated(report: AssignmentPairs) -> str:
    """Code run from strings: no honest notebook of the course has any (`obfuscation.py`)."""
    if not report.obfuscated:
        return ""
    rows = "".join(
        f'<tr><td class="break"><code>{esc(o.student)}</code></td><td class="num">{o.cell}</td>'
        f'<td class="num">{o.line}</td><td>{esc(o.what)}</td></tr>\n'
        for o in report.obfuscated
    )
    return (
        f'<p><span class="flag">Code run from strings</span> ({len(report.obfuscated)}): <code>exec</code>, '
        "<code>eval</code> or <code>compile</code>, the builtins reached under another name, Python's "
        "reflection, and data or code kept in literals hide code from the comparison above; no honest "
        "notebook of this course needs them. Read these cells.</p>\n"
        '<table>\n<tr><th>Student</th><th class="num">Cell</th><th class="num">Line</th><th>What</th></tr>\n'
        f"{rows}</table>\n"
    )


def _heading(report: AssignmentPairs) -> str:
    flagged = len(report.flagged)
    empty = (
        f" · {len(report.without_code)} with nothing of their own to compare (only given code or common idiom)"
        if report.without_code
        else ""
    )
    return (
        f'<h3>{esc(report.assignment)}</h3>\n<p class="meta">{report.submissions} submissions compared · '
        f"{flagged} pair{'s' if flagged != 1 else ''} flagged at {report.threshold:g}{esc(empty)}</p>\n"
    )


def section(
    reports: Sequence[AssignmentPairs],
    skipped: Sequence[tuple[str, str]] = (),
    link: str = "similarity.html",
    limit: int | None = 50,
    heading: bool = True,
) -> str:
    """The ranked lists, for `summary.html` (the first `limit` pairs of each); flagged pairs link
    to their regions in `link`."""
    threshold = reports[0].threshold if reports else 0.0
    common = reports[0].common_limit if reports else 0
    body = [
        STYLE,
        "<h2>Similar code</h2>\n" if heading else "",
        f'<p class="meta">{HOW_TO_READ.format(threshold=f"{threshold:g}", common=common)}</p>\n',
    ]
    if not reports:
        body.append("<p>No code copies to compare (the batch keeps them in <code>code/</code>).</p>\n")
    for report in reports:
        body += [_heading(report), _table(report, link, limit), _obfuscated(report)]
    if skipped:
        items = "".join(f"<li><code>{esc(f)}</code>: {esc(why)}</li>" for f, why in skipped[:50])
        more = f"<li>and {len(skipped) - 50} more</li>" if len(skipped) > 50 else ""
        body.append(f"<details><summary>Not compared ({len(skipped)})</summary><ul>{items}{more}</ul></details>\n")
    return "".join(body)


def _where(code: Code, first: int, last: int) -> str:
    cell, line = code.locate(first)
    end_cell, end_line = code.locate(last)
    return (
        f"cell {cell}, lines {line}-{end_line}"
        if cell == end_cell
        else f"cell {cell} line {line} to cell {end_cell} line {end_line}"
    )


def _region(code: Code, lines: list[str], span: tuple[int, int]) -> str:
    first, last = span
    shown = lines[first : min(last, first + MAX_REGION_LINES - 1) + 1]
    text = "\n".join(line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …" for line in shown)
    text = clean_text(text, limit=len(text) + 1)  # sources.py cleaned it when read; a Code made elsewhere may not be
    more = last - first + 1 - len(shown)
    cut = f"\n… {more} more line{'s' if more != 1 else ''}" if more > 0 else ""
    return (
        f'<small class="meta">{esc(code.student)} · {esc(_where(code, first, last))}</small>'
        f"<pre>{esc(text)}{esc(cut)}</pre>"
    )


def _detail(aid: str, rank: int, pair: Pair) -> str:
    left_lines, right_lines = pair.left.joined()[0], pair.right.joined()[0]
    rows = "".join(
        f"<tr><td>{_region(pair.left, left_lines, f.left_lines)}</td>"
        f"<td>{_region(pair.right, right_lines, f.right_lines)}</td></tr>\n"
        for f in pair.fragments
    )
    truncated = [c.student for c in (pair.left, pair.right) if c.truncated]
    note = f'<p class="meta">Code cut at the size bound for: {esc(", ".join(truncated))}</p>\n' if truncated else ""
    return (
        f'<h4 id="{anchor(aid, rank)}">#{rank} <code>{esc(pair.left.student)}</code> and '
        f"<code>{esc(pair.right.student)}</code>: similarity {pair.similarity:.2f}</h4>\n"
        f'<p class="meta">{esc(pair.left.submission)} · {esc(pair.right.submission)} · '
        f"{len(pair.fragments)} matching region{'s' if len(pair.fragments) != 1 else ''}, the longest "
        f'{pair.longest} tokens</p>\n{note}<table class="sbs">\n{rows}</table>\n'
    )


def similarity_page(reports: Sequence[AssignmentPairs], skipped: Sequence[tuple[str, str]] = ()) -> str:
    """The whole report: the ranked lists, then every flagged pair's regions side by side."""
    body = [section(reports, skipped, link="", limit=None, heading=False)]
    for report in reports:
        if report.flagged:
            body.append(f"<h2>{esc(report.assignment)}: flagged pairs</h2>\n")
        body += [_detail(report.assignment, rank, p) for rank, p in enumerate(report.pairs, 1) if p.fragments]
    return page("Similar code", "".join(body))
